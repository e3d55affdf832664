"""Overdiagnosis typing on hand-built cases: each type, each Type-C relation, a synonym in the past history, the
precedence C > B > A, and the per-run summary."""

from __future__ import annotations

import json

import pytest

from medldr.icd_terms import condition_terms
from medldr.mentions import find_condition
from medldr.schema import Case, CodedDiagnosis
from medldr.score.overdiagnosis import summarize, type_overdiagnoses


def _case(gold: list[str], *, history: list[str] | None = None, pmh: str | None = None, case_id: str = "1/2/0") -> Case:
    return Case.model_validate(
        {
            "case_id": case_id,
            "input_dict": {
                "lab": "The following lab tests are available for the patient:\n",
                "past_medical_history": pmh,
            },
            "output_dict": {"output_icd_id": gold, "output_icd_name": gold, "output_icd_id_and_name": gold},
            "top_1_icd": {"code": gold[0], "name": ""},
            "history_icd": history,
        }
    )


def _typed(case: Case, predictions: list[str], labels: list[str] | None = None) -> list[tuple[str, str, str]]:
    return [(t.code, t.type, t.relation) for t in type_overdiagnoses(case, predictions, labels)]


@pytest.mark.parametrize(
    ("gold", "predicted", "relation"),
    [
        ("42833", "428", "ancestor"),  # a category predicted for its subcode
        ("4282", "42823", "ancestor"),  # a subcode of a gold subcategory (systolic heart failure)
        ("42833", "42823", "same_category"),  # acute on chronic diastolic vs systolic heart failure
        ("5849", "5845", "same_category"),  # acute kidney failure: unspecified vs with tubular necrosis
        ("5849", "586", "same_ccs"),  # CCS 157, acute and unspecified renal failure, another category
        ("486", "4829", "same_ccs"),  # CCS 122, pneumonia
        ("40391", "4019", "same_block"),  # issue 17: typed A; ICD-9 block 401-405 hypertensive disease
        ("5849", "5829", "same_block"),  # 580-589 nephritis, nephrotic syndrome and nephrosis (CCS 157 vs 156)
    ],
)
def test_type_c_relations(gold: str, predicted: str, relation: str) -> None:
    typed = type_overdiagnoses(_case([gold]), [gold, predicted])
    assert [(t.code, t.type, t.relation) for t in typed] == [(predicted, "C", relation)]
    assert gold in typed[0].evidence


def test_an_earlier_stay_the_model_never_saw_is_not_type_b() -> None:
    """Issue 17: a code of an earlier admission (history_icd, never shown to the model) was typed B; it is A under
    its own relation, counted apart."""
    typed = type_overdiagnoses(_case(["486"], history=["25000", "4019"]), ["486", "4019"])
    assert [(t.code, t.type, t.relation) for t in typed] == [("4019", "A", "history_icd")]
    assert "not shown to the model" in typed[0].evidence


def test_type_b_only_from_a_history_the_model_was_shown() -> None:
    """Issue 17: the past-history text made a Type-B whatever the task; a task without that field cannot."""
    case = _case(["486"], pmh="Past Medical History:\nHTN, HLD")
    assert _typed(case, ["486", "4019"]) == [("4019", "B", "past_medical_history")]
    shown_not = type_overdiagnoses(case, ["486", "4019"], history_shown=False)
    assert [(t.code, t.type, t.relation) for t in shown_not] == [("4019", "A", "none")]


def test_codes_coded_below_the_top_3_are_their_own_class() -> None:
    """Issue 17: a label code coded for this stay at seq_num > 3 was typed A (or B): a coding-depth artefact, now S,
    first in precedence, the other findings kept."""
    case = _case(["42833"], history=["42823"])
    case.coded_icd = [CodedDiagnosis(code="42833", seq_num=1), CodedDiagnosis(code="42823", seq_num=5)]
    typed = type_overdiagnoses(case, ["42833", "42823", "486"])
    assert [(t.code, t.type, t.relation) for t in typed] == [("42823", "S", "coded_below_top3"), ("486", "A", "none")]
    assert "position 5" in typed[0].evidence
    assert [(f.type, f.relation) for f in typed[0].also] == [("C", "same_category"), ("A", "history_icd")]


def test_type_b_from_a_synonym_in_the_past_history() -> None:
    case = _case(["486"], pmh="Past Medical History:\nHTN, HLD, s/p CABG 2010, CHF (EF 35%)")
    typed = type_overdiagnoses(case, ["486", "4019", "42832", "2724", "5849"])
    assert [(t.code, t.type, t.relation) for t in typed] == [
        ("4019", "B", "past_medical_history"),
        ("42832", "B", "past_medical_history"),
        ("2724", "B", "past_medical_history"),
        ("5849", "A", "none"),
    ]
    assert "'HTN'" in typed[0].evidence and "'CHF'" in typed[1].evidence and "'HLD'" in typed[2].evidence


def test_negated_history_is_no_evidence() -> None:
    case = _case(["486"], pmh="Denies hypertension. No history of atrial fibrillation; diabetes mellitus type 2.")
    assert _typed(case, ["4019", "42731", "25000"]) == [
        ("4019", "A", "none"),
        ("42731", "A", "none"),
        ("25000", "B", "past_medical_history"),
    ]


def test_family_history_is_not_past_history() -> None:
    case = Case.model_validate(
        {
            "case_id": "1/2/0",
            "input_dict": {"family_history": "Mother with HTN and diabetes"},
            "output_dict": {"output_icd_id": ["486"], "output_icd_name": [""], "output_icd_id_and_name": [""]},
            "top_1_icd": {"code": "486", "name": ""},
        }
    )
    assert _typed(case, ["4019"]) == [("4019", "A", "none")]


def test_precedence_keeps_the_other_findings() -> None:
    typed = type_overdiagnoses(_case(["42833"], history=["42823"]), ["42823"])
    assert (typed[0].type, typed[0].relation) == ("C", "same_category")
    assert [(f.type, f.relation) for f in typed[0].also] == [("A", "history_icd")]


def test_only_overdiagnosed_label_codes_each_once() -> None:
    case = _case(["5849", "486"])
    assert _typed(case, ["5849", "486", "7802", "7802", "99999"], labels=["5849", "486", "7802"]) == [
        ("7802", "A", "none")
    ]
    assert _typed(case, ["5849", "486"]) == []


@pytest.mark.parametrize(
    ("pmh", "predicted"),
    [
        ("Denies CP, SOB, or history of CHF", "4280"),  # negation scope ran to the first comma only
        ("denies fever, chills, hypertension", "4019"),
        ("pulmonary hypertension", "4019"),  # another condition containing the words
        ("Portal hypertension from cirrhosis", "4019"),
        ("Mother with MI and HTN", "4019"),  # family history written inside the past history
        ("FHx: CAD in father", "41401"),
        ("h/o ARF", "5849"),  # acute renal or acute respiratory failure
    ],
)
def test_no_type_b_from_mentions_that_are_not_the_patients_condition(pmh: str, predicted: str) -> None:
    """Issue 17: each was typed B (temporal confusion) by the regular-expression matching."""
    assert _typed(_case(["486"], pmh=pmh), [predicted]) == [(predicted, "A", "none")]


def test_terms_and_matching() -> None:
    assert "HTN" in condition_terms("4019") and "CHF" in condition_terms("42833")
    assert find_condition("5849", "h/o AKI in 2019") == "AKI"
    assert find_condition("5849", "AKIN score") is None  # whole words only
    assert find_condition("4019", "pre-HTN-like") is None


def test_summary_shares_sum_to_one() -> None:
    records = [
        {"case_id": "a", "type": "A", "relation": "none"},
        {"case_id": "a", "type": "C", "relation": "same_ccs"},
        {"case_id": "b", "type": "B", "relation": "past_medical_history"},
        {"case_id": "b", "type": "A", "relation": "none"},
    ]
    summary = summarize(records, n_answers=4, primaries={"a": "486", "b": "5849"})
    assert summary["counts"] == {"A": 2, "B": 1, "C": 1, "S": 0} and summary["per_answer"] == 1.0
    assert summary["shares"] == {"A": 0.5, "B": 0.25, "C": 0.25, "S": 0.0} and sum(summary["shares"].values()) == 1.0
    assert summary["per_disease"] == {"486": {"A": 1, "B": 0, "C": 1, "S": 0}, "5849": {"A": 1, "B": 1, "C": 0, "S": 0}}
    assert summary["relations"]["C"] == {"same_ccs": 1}
    empty = summarize([], n_answers=3, primaries={})
    assert empty["shares"] == {"A": 0.0, "B": 0.0, "C": 0.0, "S": 0.0} and empty["per_answer"] == 0.0


def test_share_intervals_resample_patients() -> None:
    """A type share is a ratio of sums; its interval resamples patients (all of a patient's codes together). By hand:
    patient p1 has 3 A codes, p2 has 1 B code, so every draw's A share is 0 (only p2), 3/4 (one of each) or 1."""
    from medldr.score.overdiagnosis import share_intervals

    records = [{"case_id": "p1/1/0", "type": "A"}] * 3 + [{"case_id": "p2/2/0", "type": "B"}]
    patients = {"p1/1/0": "p1", "p2/2/0": "p2", "p3/3/0": "p3"}  # p3: typed, nothing overdiagnosed
    found = share_intervals(records, patients, n_resamples=2000, seed=1)
    assert found["A"] == [0.0, 1.0] and found["B"] == [0.0, 1.0] and found["C"] == found["S"] == [0.0, 0.0]
    one_patient = share_intervals(records[:3], {"p1/1/0": "p1"}, n_resamples=200)
    assert one_patient["A"] == [1.0, 1.0]
    assert share_intervals([], patients) == {}


@pytest.mark.parametrize(
    ("verdict", "quotes", "counted"),
    [
        ("supported", [], "unsupported-by-quote"),  # issue 17: counted as supported
        ("supported", ["pneumonia in lungs"], "unsupported-by-quote"),  # not in the record
        ("partly", ["Blood", "3.1"], "unsupported-by-quote"),  # in the record, but one word backs nothing
        ("supported", ["Creatinine,Blood,Chemistry,3.1"], "supported"),  # 31 characters, verbatim
        ("partly", ["WBC 14 K/uL"], "partly"),  # three words
        ("unsupported", [], "unsupported"),  # saying no needs no quote
    ],
)
def test_a_verdict_counts_only_with_a_verified_quote(verdict: str, quotes: list[str], counted: str) -> None:
    from medldr.score.judge import check_judgement, summarize_judgements

    record = "Creatinine,Blood,Chemistry,3.1,mg/dL\nWBC 14 K/uL"
    check = check_judgement(json.dumps({"verdict": verdict, "quotes": quotes, "explanation": "x"}), record)
    assert check["verdict"] == counted and check["verdict_given"] == verdict
    assert summarize_judgements([check])["verdicts"][counted] == 1
