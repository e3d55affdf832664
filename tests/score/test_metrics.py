"""Every metric on hand-worked cases (expected numbers worked from the definitions in README, "Score any model's
outputs")."""

from __future__ import annotations

import math

import pytest

from medldr.errors import MedldrError
from medldr.score import METRICS, get_metric, score_responses
from tests.score.helpers import answer, case, responses, space

LABELS = ["486", "5849", "0389", "4019", "42833", "42731", "5845"]
CASES = [
    case("1/10/0", ["486", "5849"]),  # A
    case("1/11/0", ["0389"]),  # B: invalid answer
    case("2/20/0", ["42833", "5849"]),  # C: dotted / code:name items, codes outside the label space
    case("3/30/0", ["4019"]),  # D: same chapter only
    case("4/40/0", ["5849"]),  # E: same category, no top10
]
ROUND0 = [
    ("1/10/0", 0, answer(["486", "4019", "5849", "9999"], ["486", "4019"])),
    ("1/11/0", 0, "The patient likely has sepsis."),
    ("2/20/0", 0, answer(["428.30", "5849", "42833"], ["428.30", "5849:AKI", "9999"])),
    ("3/30/0", 0, answer(["42731", "4019"], ["42731"])),
    ("4/40/0", 0, answer(None, ["5845"])),
]
EXPECTED = {
    "primary_accuracy": 1 / 5,
    "exact_match": 0.0,
    "jaccard": (1 / 3 + 1 / 2) / 5,
    "precision": (1 / 2 + 1) / 5,
    "recall": (1 / 2 + 1 / 2) / 5,
    "f1": (1 / 2 + 2 / 3) / 5,
    "hamming_loss": 8 / 35,
    "miss_rate": 4 / 5,
    "overdiagnosis_rate": (1 / 2 + 1 + 1) / 5,
    "recall_at_3": 3 / 5,
    "recall_at_5": 3 / 5,
    "recall_at_10": 3 / 5,
    "relevance_1": 1 / 5,
    "relevance_2": 1 / 5,
    "relevance_3": 1 / 5,
    "relevance_4": 2 / 5,
    "invalid_rate": 1 / 5,
    "missed_codes": 5.0,
    "overdiagnosed_codes": 3.0,
    "mean_predictions": 1.0,
}


def test_every_metric_by_hand() -> None:
    scores = score_responses(CASES, responses(*ROUND0), space(LABELS), n_resamples=200).scores
    assert set(EXPECTED) == set(METRICS)
    for key, value in EXPECTED.items():
        assert scores.per_round[0][key] == pytest.approx(value), key
        assert scores.mean[key] == pytest.approx(value), key
    assert scores.reliability is None  # one round
    assert scores.invalid_reasons == {"no parsable answer": 1}


def test_breakdowns_by_hand() -> None:
    scores = score_responses(CASES, responses(*ROUND0), space(LABELS), n_resamples=50).scores
    assert scores.per_disease["486"] == {
        "n": 1,
        "primary_accuracy": 1.0,
        "missed_codes": 1.0,
        "overdiagnosed_codes": 1.0,
    }
    assert scores.per_disease["5849"]["overdiagnosed_codes"] == 1.0  # case E predicted 5845
    label = scores.per_label["5849"]  # gold in A, C, E; predicted in C only
    assert (label["support"], label["tp"], label["fp"], label["fn"]) == (3, 1, 0, 2)
    assert label["precision"] == 1.0 and label["recall"] == pytest.approx(1 / 3) and label["f1"] == pytest.approx(0.5)
    assert scores.per_label["4019"] == pytest.approx(
        {"support": 1, "tp": 0, "fp": 1, "fn": 1, "precision": 0, "recall": 0, "f1": 0}
    )


def test_reliability_by_hand() -> None:
    second = [
        ("1/10/0", 1, answer(["486", "5849", "0389"], ["486"])),
        ("1/11/0", 1, answer(["0389"], ["0389"])),
        ("2/20/0", 1, answer(["5849", "42833"], ["5849"])),
        ("3/30/0", 1, answer(["4019", "42731"], ["4019"])),
        ("4/40/0", 1, answer(None, ["5845"])),
    ]
    scores = score_responses(CASES, responses(*ROUND0, *second), space(LABELS), n_resamples=50).scores
    rel = scores.reliability
    assert rel is not None and rel["n_cases"] == 4  # case B is invalid in round 0
    # A: {486} {486} -> 1; C: {42830} {5849} -> 0; D: {42731} {4019} -> 0; E: no top10 in either round -> 0
    # (rounds that name nothing agree on nothing: emptiness is not rewarded, issue 19; it used to count 1)
    assert rel["topn_jaccard_1"] == pytest.approx(1 / 4)
    # A: {486,4019} vs {486,5849} -> 1/3; C: {42830,5849} vs {5849,42833} -> 1/3; D: 2/2 -> 1; E: 0
    assert rel["topn_jaccard_2"] == pytest.approx((1 / 3 + 1 / 3 + 1 + 0) / 4)
    # A: 486,4019,5849 vs 486,5849,0389 -> 2/4; C: 2/3; D: 1; E: 0
    assert rel["topn_jaccard_3"] == pytest.approx((1 / 2 + 2 / 3 + 1 + 0) / 4)
    # first predictions: A 486/486 yes; C 5849/5849 yes; D 42731/4019 no; E 5845/5845 yes
    assert rel["consistency_top1"] == pytest.approx(3 / 4)
    # A {486,4019} vs {486} -> 1/2; C {5849} vs {5849} -> 1; D -> 0; E -> 1
    assert rel["consistency_all"] == pytest.approx((1 / 2 + 1 + 0 + 1) / 4)
    assert scores.rounds == [0, 1] and len(scores.per_round) == 2
    assert scores.mean["invalid_rate"] == pytest.approx((1 / 5 + 0) / 2)
    low, high = scores.reliability_ci["consistency_top1"]
    assert low <= rel["consistency_top1"] <= high


def test_rounds_that_name_no_label_code_are_not_consistent() -> None:
    """Issue 19: predictions outside the label space in every round left empty sets that counted as fully consistent
    (27.8% set consistency beside 0% top-1 consistency on a demo run)."""
    rows = [(c.case_id, r, answer(["9999", "8888"], ["9999"])) for c in CASES for r in (0, 1)]
    rel = score_responses(CASES, responses(*rows), space(LABELS), n_resamples=0).scores.reliability
    assert rel["consistency_all"] == 0.0 and rel["consistency_top1"] == 0.0
    assert rel["topn_jaccard_2"] == 1.0  # the top-10 is not filtered to the label space: both rounds named 9999, 8888


def test_reliability_reference_follows_the_study() -> None:
    """--extraction reference computes the study's check_consistency.py: top-n overlap |∩ T_r[:n]| / n and prediction
    overlap |∩ P_r| / |P_1| (P_1 as written, repeats kept), not Jaccard."""
    rows = [
        ("1/10/0", 0, answer(["486", "5849", "4019"], ["486", "486"])),
        ("1/10/0", 1, answer(["486", "4019", "0389"], ["486", "5849"])),
        ("2/20/0", 0, answer(["42833", "5849", "4019"], ["42833", "5849"])),
        ("2/20/0", 1, answer(["5849", "42833", "486"], ["5849"])),
    ]
    cases = [CASES[0], CASES[2]]
    study = score_responses(cases, responses(*rows), space(LABELS), mode="reference", n_resamples=0).scores.reliability
    ours = score_responses(cases, responses(*rows), space(LABELS), n_resamples=0).scores.reliability
    # top-3: case 1/10: {486, 4019} shared -> 2/3 (Jaccard 2/4); case 2/20: {42833, 5849} -> 2/3 (Jaccard 2/4)
    assert study["topn_jaccard_3"] == pytest.approx(2 / 3) and ours["topn_jaccard_3"] == pytest.approx(1 / 2)
    # top-1: 1/10: 486 vs 486 -> 1; 2/20: 42833 vs 5849 -> 0 (same in both definitions for lists of one)
    assert study["topn_jaccard_1"] == ours["topn_jaccard_1"] == pytest.approx(1 / 2)
    # all: 1/10: {486} shared / |[486, 486]| = 1/2 (Jaccard {486} / {486, 5849} = 1/2); 2/20: {5849} / 2 = 1/2
    # (Jaccard 1/2); and the first predictions: 486 = 486, 42833 != 5849
    assert study["consistency_all"] == pytest.approx(1 / 2) and study["consistency_top1"] == pytest.approx(1 / 2)
    rows[1] = ("1/10/0", 1, answer(["486"], ["486", "5849", "4019"]))  # |P_1| = 2, shared {486}: 1/2; Jaccard 1/3
    study = score_responses(cases, responses(*rows), space(LABELS), mode="reference", n_resamples=0).scores.reliability
    ours = score_responses(cases, responses(*rows), space(LABELS), n_resamples=0).scores.reliability
    assert study["consistency_all"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert ours["consistency_all"] == pytest.approx((1 / 3 + 1 / 2) / 2)


def test_all_invalid_and_truncated() -> None:
    rows = [(c.case_id, 0, answer(["486"], ["486"])) for c in CASES]
    records = responses(*rows)
    for _, record in records:
        record.finish_reason = "length"
    scores = score_responses(CASES, records, space(LABELS), n_resamples=20).scores
    assert scores.mean["invalid_rate"] == 1.0 and scores.mean["primary_accuracy"] == 0.0
    assert scores.mean["relevance_4"] == 1.0 and scores.mean["precision"] == 0.0
    assert scores.mean["overdiagnosis_rate"] == 0.0 and scores.mean["miss_rate"] == 1.0
    assert scores.invalid_reasons == {"truncated (finish_reason=length)": 5}


def test_duplicate_lines_last_one_counts_and_missing_is_an_error() -> None:
    rows = [*ROUND0, ("1/11/0", 0, answer(["0389"], ["0389"]))]
    scores = score_responses(CASES, responses(*rows), space(LABELS), n_resamples=20).scores
    assert scores.mean["invalid_rate"] == 0.0
    with pytest.raises(MedldrError, match=r"no response for case 4/40/0 in round 0; pass --allow-missing"):
        score_responses(CASES, responses(*ROUND0[:4]), space(LABELS))
    missing = score_responses(CASES, responses(*ROUND0[:4]), space(LABELS), allow_missing=True, n_resamples=20).scores
    assert missing.mean["invalid_rate"] == pytest.approx(2 / 5)
    assert missing.invalid_reasons["missing response"] == 1
    with pytest.raises(MedldrError, match="line 1: case 9/9/0 is not in the cases file"):
        score_responses(CASES, responses(("9/9/0", 0, "x")), space(LABELS))


def test_reference_extraction_changes_only_parsing() -> None:
    commented = ROUND0[0][2].replace('"predictions"', '// most likely first\n"predictions"')
    rows = [(ROUND0[0][0], 0, commented), *ROUND0[1:]]
    robust = score_responses(CASES, responses(*rows), space(LABELS), n_resamples=20).scores
    reference = score_responses(CASES, responses(*rows), space(LABELS), mode="reference", n_resamples=20).scores
    assert robust.mean["invalid_rate"] == pytest.approx(1 / 5)
    # json.loads fails on the // comment, and the study's parser needs a non-empty top10 (case E has none)
    assert reference.mean["invalid_rate"] == pytest.approx(3 / 5)
    assert reference.extraction == "reference"


def test_get_metric_names_the_valid_ones() -> None:
    assert get_metric("jaccard").aggregate == "mean"
    with pytest.raises(MedldrError, match="valid: primary_accuracy, exact_match"):
        get_metric("accuracy")


def test_point_estimate_is_inside_every_interval() -> None:
    scores = score_responses(CASES * 1, responses(*ROUND0), space(LABELS), n_resamples=500, seed=3).scores
    for key, (low, high) in scores.ci.items():
        assert low - 1e-12 <= scores.mean[key] <= high + 1e-12 or math.isclose(low, high), key
