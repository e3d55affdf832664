"""ICD-9 facts shared by every stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from medldr.errors import MedldrError
from medldr.icd import PAPER40, category, chapter, icd10_to_icd9_table, normalize_code, parse_label_spec


def test_paper40_is_the_studys_list() -> None:
    assert len(PAPER40) == len(set(PAPER40)) == 40
    assert PAPER40[0] == "4589" and PAPER40[-1] == "5849"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("0389", "001-139"),
        ("1419", "140-239"),
        ("25080", "240-279"),
        ("2851", "280-289"),
        ("311", "290-319"),
        ("34830", "320-389"),
        ("4019", "390-459"),
        ("486", "460-519"),
        ("5849", "580-629"),
        ("6827", "680-709"),
        ("7802", "780-799"),
        ("99591", "800-999"),
        ("V4581", "V"),
        ("E8889", "E"),
    ],
)
def test_chapters(code: str, expected: str) -> None:
    assert chapter(code) == expected


def test_category_and_normalisation() -> None:
    assert category("428.33") == "428" and category("E888.9") == "E888"
    assert normalize_code(" 042.0 ") == "0420"
    with pytest.raises(MedldrError, match="not an ICD-9"):
        chapter("XYZ")


def test_icd10_to_icd9_drops_nodx() -> None:
    table = icd10_to_icd9_table()
    assert table["I5033"] == "42833" and table["A419"] in {"0389", "99591"}
    assert "NoDx" not in set(table.values())


def test_label_space_file(tmp_path: Path) -> None:
    path = tmp_path / "codes.txt"
    path.write_text("# my codes\n584.9:Acute kidney failure\n486\n\n486\n")
    parsed = parse_label_spec(str(path))
    assert parsed.codes == ("5849", "486") and parsed.system == "icd9" and parsed.n is None
    path.write_text("58-49\n")
    with pytest.raises(MedldrError, match="line 1"):
        parse_label_spec(str(path))


def test_every_icd9_code_has_a_block() -> None:
    """The shipped block table covers the whole ICD-9-CM diagnosis list (issue 17's block level of Type-C)."""
    from medldr.icd import block, icd9_names

    assert [code for code in icd9_names() if block(code) is None] == []
    assert block("2859") == ("280-289", "Diseases Of The Blood And Blood-Forming Organs")  # a chapter without sections
    assert block("E8889")[0] == "E880-E888" and block("5849")[0] == "580-589"
