"""Numbers a reviewer can trust: gold against the label space, the final answer only, the study's counting in
reference mode, the study's paper40 order, micro and macro averages (hand-worked expectations)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medldr.icd import PAPER40
from medldr.schema import BuildManifest, read_cases
from medldr.score import METRICS, score_responses
from medldr.score.files import RunInputs, score_files
from tests.conftest import run_cli
from tests.score.helpers import answer, case, responses, space

LABELS = ["486", "5849", "0389", "4019"]
ACCURACY = [name for name, metric in METRICS.items() if metric.table != "usage" and metric.better == 1]


def test_a_repeated_gold_code_counts_once() -> None:
    cases = [case("1/10/0", ["486", "486", "5849"])]
    scores = score_responses(
        cases, responses(("1/10/0", 0, answer(["486", "5849"], ["486", "5849"]))), space(LABELS)
    ).scores
    assert scores.mean["jaccard"] == scores.mean["precision"] == scores.mean["exact_match"] == 1.0
    assert scores.mean["overdiagnosis_rate"] == 0.0 and scores.mean["missed_codes"] == 0.0
    assert scores.excluded["repeated_gold_codes"] == 1


def test_gold_outside_the_label_space_is_dropped_and_said() -> None:
    cases = [case("1/10/0", ["486", "42833"]), case("2/20/0", ["42833", "486"]), case("3/30/0", ["4019"])]
    rows = [(c.case_id, 0, answer(c.output_dict.output_icd_id, c.output_dict.output_icd_id)) for c in cases]
    scores = score_responses(cases, responses(*rows), space(LABELS), n_resamples=50).scores
    assert scores.n_cases == 2 and scores.n_patients == 2  # 2/20/0's primary 42833 is outside
    assert scores.excluded == {
        "cases_primary_outside_label_space": 1,
        "gold_codes_outside_label_space": 1,
        "cases_with_gold_codes_dropped": 1,
        "repeated_gold_codes": 0,
    }
    for name in ACCURACY:
        assert scores.mean[name] == 1.0, name


def test_a_perfect_key_scores_one_in_any_label_space(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    cases_file = demo_build[0] / "inference.jsonl"
    cases = read_cases(cases_file)
    key = tmp_path / "responses.jsonl"
    lines = []
    for c in cases:
        codes = c.output_dict.output_icd_id
        lines.append(json.dumps({"case_id": c.case_id, "round": 0, "text": answer(codes, codes)}))
    key.write_text("\n".join(lines) + "\n")
    for spec in (None, "paper40"):
        scores = score_files(RunInputs(cases_file, key), label_space=spec, n_resamples=50).scores
        for name in ACCURACY:
            assert scores.mean[name] == pytest.approx(1.0), (spec, name)
        assert scores.n_cases + scores.excluded["cases_primary_outside_label_space"] == len(cases)
    assert scores.excluded["cases_primary_outside_label_space"] > 0  # the demo's top-50 is not paper40
    out = run_cli(
        "score",
        "--cases",
        str(cases_file),
        "--responses",
        str(key),
        "--label-space",
        "paper40",
        "--resamples",
        "20",
        "--out",
        str(tmp_path / "scores.json"),
    )
    assert out.returncode == 0, out.stderr
    assert "cases not scored (primary outside the label space)" in " ".join(out.stdout.split())
    report = run_cli("report", str(tmp_path), "--out", str(tmp_path / "report"), "--resamples", "20", "--quiet")
    assert report.returncode == 0, report.stderr
    note = (tmp_path / "report" / "tables" / "accuracy.md").read_text()
    assert "Set aside against the scoring label space" in note and "cases not scored" in note


def test_an_invalid_answer_contributes_nothing() -> None:
    cases = [case("1/10/0", ["486", "5849"])]
    empty = '{"top10": ["486", "5849", "0389"], "predictions": []}'
    scores = score_responses(cases, responses(("1/10/0", 0, empty)), space(LABELS), n_resamples=20).scores
    assert scores.mean["invalid_rate"] == 1.0
    for name in ("recall_at_3", "recall_at_5", "recall_at_10", "jaccard", "primary_accuracy", "relevance_1"):
        assert scores.mean[name] == 0.0, name


def test_reference_mode_counts_repeats_as_the_study() -> None:
    cases = [case("1/10/0", ["5849"])]
    text = '{"top10": ["486", "486", "486", "5849"], "predictions": ["486", "486", "5849"]}'
    study = score_responses(
        cases, responses(("1/10/0", 0, text)), space(LABELS), mode="reference", n_resamples=0
    ).scores
    assert study.mean["recall_at_3"] == 0.0  # the study's top10[:3] is three times 486
    assert study.mean["overdiagnosis_rate"] == pytest.approx(2 / 3) and study.mean["overdiagnosed_codes"] == 2.0
    assert study.predictions_are_top_prefix == 0.0
    assert study.mean["jaccard"] == 0.5 and study.mean["precision"] == 0.5  # set metrics stay sets
    assert study.label_averages["micro_precision"] == pytest.approx(1 / 3)  # its micro fp counted the repeat too
    ours = score_responses(cases, responses(("1/10/0", 0, text)), space(LABELS), n_resamples=0).scores
    assert ours.mean["recall_at_3"] == 1.0 and ours.mean["overdiagnosis_rate"] == 0.5
    assert ours.predictions_are_top_prefix == 1.0 and ours.label_averages["micro_precision"] == 0.5


def test_micro_and_macro_averages_by_hand() -> None:
    cases = [case("1/10/0", ["486", "5849"]), case("2/20/0", ["0389"]), case("3/30/0", ["486"])]
    rows = [
        ("1/10/0", 0, answer(["486", "4019"], ["486", "4019"])),  # tp 486, fp 4019, fn 5849
        ("2/20/0", 0, answer(["0389"], ["0389"])),  # tp 0389
        ("3/30/0", 0, answer(["5849"], ["5849"])),  # fp 5849, fn 486
    ]
    scores = score_responses(cases, responses(*rows), space(LABELS), n_resamples=200).scores
    expected = {
        "micro_precision": 2 / 4,
        "micro_recall": 2 / 4,
        "micro_f1": 4 / 8,
        "macro_precision": (1 + 0 + 1 + 0) / 4,  # 486 1/1, 5849 0/1, 0389 1/1, 4019 0/1
        "macro_recall": (1 / 2 + 0 + 1) / 3,  # 486 1/2, 5849 0/1, 0389 1/1 (4019 in no gold set)
        "macro_f1": (2 / 3 + 0 + 1 + 0) / 4,
    }
    assert scores.label_averages == pytest.approx(expected)
    for name, value in expected.items():
        low, high = scores.label_averages_ci[name]
        assert low <= value <= high, name
    assert scores.per_label["micro avg"]["precision"] == pytest.approx(0.5)
    assert scores.per_label["macro avg"]["recall"] == pytest.approx(expected["macro_recall"])


def test_paper40_in_the_study_order(tmp_path: Path) -> None:
    # the study's top_40_icd: medldr's former order agreed on the first eight codes only
    assert PAPER40[:2] == ("4589", "27651") and PAPER40[8:12] == ("41401", "29181", "41071", "5845")
    assert PAPER40[-3:] == ("42823", "2761", "5849")
    cases = [case("1/10/0", ["5849"])]
    scores = score_responses(cases, responses(("1/10/0", 0, answer(["5849"], ["5849"]))), space(PAPER40), n_resamples=0)
    assert list(scores.scores.per_label)[:40] == list(PAPER40)
