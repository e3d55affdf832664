"""The discharge-summary sectionizer on realistic note text (written here, in MIMIC-IV-Note's style)."""

from __future__ import annotations

from medldr.sources import discharge_note_sections, drop_findings, split_sections
from tests.mimic_tables import DISCHARGE_NOTE


def test_admission_sections_of_a_discharge_summary() -> None:
    sections = discharge_note_sections(DISCHARGE_NOTE)
    assert sections["hpi"] == (
        "Mr. ___ is a ___ year old man with HFpEF and CKD stage III who\npresents with 3 days of worsening dyspnea "
        "on exertion and\nbilateral leg swelling after running out of his torsemide."
    )
    assert sections["past_medical_history"].splitlines() == [
        "- Hypertension",
        "- Type 2 diabetes mellitus, diet controlled",
        "- Chronic kidney disease stage III (baseline Cr 1.3)",
        "PAST SURGICAL HISTORY:",
        "- Appendectomy",
    ]
    assert sections["family_history"].startswith("Mother with coronary artery disease")
    assert sections["physical_exam"].splitlines()[0] == "ADMISSION PHYSICAL EXAM:"
    assert "Bibasilar crackles" in sections["physical_exam"]
    assert all("LEAKSENTINEL" not in text for text in sections.values() if text)


def test_discharge_content_never_bleeds_into_a_section() -> None:
    """A note that skips Social History: the section still ends before any discharge-time header."""
    note = (
        "Past Medical History:\nCOPD on 2L home O2\n\nDISCHARGE DIAGNOSES:\nCOPD exacerbation\n\n"
        "Family History:\nNon-contributory\nHospital Course:\nTreated with steroids\n"
    )
    sections = discharge_note_sections(note)
    assert sections["past_medical_history"] == "COPD on 2L home O2"
    assert sections["family_history"] == "Non-contributory"
    assert sections["hpi"] is None and sections["physical_exam"] is None
    assert "discharge diagnoses" in split_sections(note)


def test_missing_note_and_sections() -> None:
    assert discharge_note_sections(None) == dict.fromkeys(
        ("hpi", "past_medical_history", "family_history", "physical_exam")
    )
    assert discharge_note_sections("Physical Exam:\nDischarge exam only: VS stable\n")["physical_exam"] is None


def test_radiology_findings_are_dropped() -> None:
    report = "EXAMINATION: CT HEAD\n\nFINDINGS:\nNo hemorrhage.\nNo mass effect.\n\nIMPRESSION:\nNo acute process."
    assert drop_findings(report) == "EXAMINATION: CT HEAD\n\nIMPRESSION:\nNo acute process."
    assert drop_findings("FINDINGS: only findings here") == ""
    assert drop_findings("IMPRESSION: no findings section") == "IMPRESSION: no findings section"
