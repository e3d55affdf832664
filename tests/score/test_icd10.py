"""Relevance in an ICD-10 label space (LDR-eICU): category and chapter are ICD-10's, not ICD-9's read off the same
characters (ICD-9 gives E codes a 4-character category and no chapter to any other letter)."""

from __future__ import annotations

import pytest

from medldr.icd import code_system, icd10_category, icd10_chapter
from medldr.score.encode import encode
from medldr.score.metrics import hierarchy_credit

EICU = ["J9600", "J9691", "J441", "E876", "E870", "I10", "A419"]


@pytest.mark.parametrize(
    ("gold", "predicted", "credit"),
    [
        ("E876", "E870", 0.5),  # hypokalemia / hypernatremia: category E87 (ICD-9 reading: E876 vs E870, chapter E)
        ("J9600", "J9691", 0.5),  # respiratory failure: category J96
        ("J9600", "J441", 0.25),  # chapter J00-J99 (ICD-9 reading: no chapter at all)
        ("J9600", "I10", 0.0),
    ],
)
def test_icd10_relevance(gold: str, predicted: str, credit: float) -> None:
    batch = encode([[gold]], [[predicted]], primary=[gold], labels=EICU, system="icd10")
    assert batch.vocab.system == "icd10"
    assert hierarchy_credit(batch).tolist() == [credit]


def test_icd9_spaces_keep_icd9_rules() -> None:
    assert code_system(["5849", "V4581", "E8889"]) == "icd9"
    batch = encode([["42833"]], [["42823"]], primary=["42833"], labels=["42833", "42823"])
    assert batch.vocab.system == "icd9" and hierarchy_credit(batch).tolist() == [0.5]
    assert icd10_category("E87.6") == "E87" and icd10_chapter("A41.9") == "A00-B99"
