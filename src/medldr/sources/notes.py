"""Sectionizer for MIMIC-IV-Note discharge summaries and radiology reports.

Only admission-time sections are ever returned. A section runs from its header to the next known header, and the
headers that open discharge-time content (discharge diagnosis, hospital course, discharge instructions, ...) always
end a section, so that content can never leak into a case.
"""

from __future__ import annotations

import re

# Headers of MIMIC-IV discharge summaries, matched at the start of a line, case-insensitive, followed by a colon.
_HEADERS = (
    r"name",
    r"unit no",
    r"admission date",
    r"discharge date",
    r"date of birth",
    r"sex",
    r"service",
    r"allergies",
    r"attending",
    r"chief complaint",
    r"major surgical or invasive procedure",
    r"history of present illness",
    r"past medical history",
    r"social history",
    r"family history",
    r"physical exam(?:ination)?(?: on admission| at admission)?",
    r"pertinent results",
    r"brief hospital course",
    r"hospital course",
    r"medications on admission",
    r"discharge medications",
    r"discharge disposition",
    r"facility",
    r"discharge diagnos[ie]s",
    r"discharge condition",
    r"discharge instructions",
    r"followup instructions",
    r"follow-up instructions",
)
_HEADER_RE = re.compile(r"^[ \t]*(?P<name>" + "|".join(_HEADERS) + r")[ \t]*:", re.IGNORECASE | re.MULTILINE)
# Any header-like line that announces discharge-time content ends a section, known header or not.
_DISCHARGE_RE = re.compile(
    r"^[ \t]*[A-Za-z /&-]*(discharge|hospital course)[A-Za-z /&-]*:", re.IGNORECASE | re.MULTILINE
)

SECTIONS = {
    "hpi": "history of present illness",
    "past_medical_history": "past medical history",
    "family_history": "family history",
    "physical_exam": "physical exam",
}


def _canonical(name: str) -> str:
    name = " ".join(name.lower().split())
    if name.startswith("physical exam"):
        return "physical exam"
    return name


def split_sections(text: str) -> dict[str, str]:
    """Map each known header (lower-case, canonical) to its stripped body; the first non-empty occurrence wins.

    >>> split_sections("Chief Complaint:\\nchest pain\\n\\nPast Medical History:\\nHTN\\nSocial History:\\n___")
    {'chief complaint': 'chest pain', 'past medical history': 'HTN', 'social history': '___'}
    """
    matches = list(_HEADER_RE.finditer(text))
    sections: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end]
        stop = _DISCHARGE_RE.search(body)
        if stop is not None:
            body = body[: stop.start()]
        name = _canonical(match.group("name"))
        if not sections.get(name):  # the first non-empty occurrence wins
            sections[name] = body.strip()
    return sections


def admission_physical_exam(body: str) -> str:
    """Keep the admission exam: cut at the first line that mentions discharge (the study's rule, line-based).

    >>> admission_physical_exam("ADMISSION EXAM\\nVS: 98.1 80\\nDISCHARGE EXAM\\nVS: 97.9 72")
    'ADMISSION EXAM\\nVS: 98.1 80'
    """
    lines = body.splitlines()
    for index, line in enumerate(lines):
        if "discharge" in line.lower():
            lines = lines[:index]
            break
    return "\n".join(lines).strip()


def discharge_note_sections(text: str | None) -> dict[str, str | None]:
    """The four admission-time sections of a discharge summary; None where the note or the section is missing."""
    found = split_sections(text or "")
    result: dict[str, str | None] = {key: found.get(header) or None for key, header in SECTIONS.items()}
    if result["physical_exam"]:
        result["physical_exam"] = admission_physical_exam(result["physical_exam"]) or None
    return result


_STUDY_FINDINGS_RE = re.compile(r"FINDINGS:.*?(?=IMPRESSION:)", re.DOTALL)
_FINDINGS_RE = re.compile(r"^[ \t]*FINDINGS[ \t]*:.*?(?=^[ \t]*[A-Z][A-Z /&-]{2,}[ \t]*:|\Z)", re.MULTILINE | re.DOTALL)


def drop_findings(report: str, rule: str = "ed") -> str:
    """Remove a radiology report's FINDINGS section. medldr's rule (``ed``): up to the next upper-case header
    such as IMPRESSION (to the end when there is none). The study's rule (``study``): from ``FINDINGS:`` up to the
    next ``IMPRESSION:`` only; with no IMPRESSION after it the text is kept whole.

    >>> drop_findings("EXAMINATION: CXR\\nFINDINGS: lungs clear\\nmore\\nIMPRESSION: no pneumonia")
    'EXAMINATION: CXR\\nIMPRESSION: no pneumonia'
    >>> drop_findings("EXAMINATION: CXR\\nFINDINGS: lungs clear", "study"), drop_findings("FINDINGS: clear", "ed")
    ('EXAMINATION: CXR\\nFINDINGS: lungs clear', '')
    """
    if rule == "study":
        return _STUDY_FINDINGS_RE.sub("", report)
    return _FINDINGS_RE.sub("", report).strip()
