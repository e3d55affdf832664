"""Paired comparisons: differences with patient-clustered p-values, Holm across pairs and metrics, group means with
and without resampling the models; refusing different cases; calibration under a clustered null."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medldr.errors import MedldrError
from medldr.score import score_responses
from medldr.score.compare import clustered_mcnemar_p, compare_runs, holm, sign_flip_p
from medldr.score.null_simulation import null_runs
from tests.score.helpers import answer, case, responses, space

LABELS = ["486", "5849", "0389"]
CASES = [case(f"{i // 2}/{i}/0", [LABELS[i % 3]]) for i in range(60)]  # 30 patients, two admissions each


def _run(hit_every: int, rounds: int = 2):
    rows = []
    for r in range(rounds):
        for i, c in enumerate(CASES):
            code = c.top_1_icd.code if i % hit_every == 0 else LABELS[(LABELS.index(c.top_1_icd.code) + 1) % 3]
            rows.append((c.case_id, r, answer([code], [code])))
    return score_responses(CASES, responses(*rows), space(LABELS), n_resamples=0)


def test_clustered_tests_by_hand() -> None:
    # Durkalski: d = per-patient (only first right) - (only second right); X2 = (sum d)^2 / sum d^2
    d = np.array([2.0, 1.0, 0.0, -1.0, 2.0])
    assert clustered_mcnemar_p(d) == pytest.approx(math.erfc(math.sqrt((4**2 / 10) / 2)))
    assert clustered_mcnemar_p(np.zeros(4)) == 1.0
    # sign flips of 3 equal patients: 2 of 8 sign patterns reach |sum| = 3
    assert sign_flip_p(np.ones(3), n_resamples=20000, seed=0) == pytest.approx(0.25, abs=0.01)
    assert holm([0.01, 0.04, 0.03, 0.5]) == [0.04, 0.09, 0.09, 0.5]


def test_paired_difference() -> None:
    always, half = _run(1), _run(2)
    result = compare_runs({"a": always, "b": half}, "primary_accuracy", n_resamples=500, seed=1)
    assert result["runs"]["primary_accuracy"]["a"]["value"] == 1.0
    assert result["runs"]["primary_accuracy"]["b"]["value"] == 0.5
    (diff,) = result["differences"]
    assert diff["of"] == "a - b" and diff["value"] == pytest.approx(0.5)
    assert 0 < diff["ci"][0] <= 0.5 <= diff["ci"][1]
    assert diff["p"]["bootstrap"] == pytest.approx(1 / 501)  # no centred replicate reaches 0.5
    assert diff["p"]["permutation"] == pytest.approx(1 / 501)  # 30 patients all one way: 2 / 2^30 of the flips
    # 30 patients, each with one case only the first gets right (the second admission both get right)
    assert diff["p"]["mcnemar_clustered"] == pytest.approx(math.erfc(math.sqrt(30 / 2)))
    assert set(result["tests"]) == {"permutation", "bootstrap", "mcnemar_clustered"}
    same = compare_runs({"a": always, "b": always}, "jaccard", n_resamples=200)
    assert same["differences"][0]["value"] == 0 and same["differences"][0]["p"]["bootstrap"] == 1.0
    assert "mcnemar_clustered" not in same["differences"][0]["p"]  # jaccard is not binary


def test_identical_rounds_add_no_evidence() -> None:
    """Three copies of one round must give the same p-values as the round alone (the pooled McNemar went from
    0.099 to 0.002)."""
    runs_1 = {"a": _run(2, rounds=1), "b": _run(3, rounds=1)}
    runs_3 = {"a": _run(2, rounds=3), "b": _run(3, rounds=3)}
    one = compare_runs(runs_1, "primary_accuracy", n_resamples=400, seed=3)["differences"][0]["p"]
    three = compare_runs(runs_3, "primary_accuracy", n_resamples=400, seed=3)["differences"][0]["p"]
    assert one == pytest.approx(three)


def test_holm_across_pairs_and_metrics() -> None:
    runs = {"a": _run(1), "b": _run(2), "c": _run(3)}
    result = compare_runs(runs, ["primary_accuracy", "jaccard"], n_resamples=300)
    assert [(d["metric"], d["of"]) for d in result["differences"]] == [
        (m, pair) for m in ("primary_accuracy", "jaccard") for pair in ("a - b", "a - c", "b - c")
    ]
    for test in ("permutation", "bootstrap"):
        raw = [d["p"][test] for d in result["differences"]]
        assert [d["p_holm"][test] for d in result["differences"]] == holm(raw)
        assert all(d["p_holm"][test] >= d["p"][test] for d in result["differences"])


def test_group_means() -> None:
    runs = {"r1": _run(1), "r2": _run(2), "l1": _run(3), "l2": _run(6)}
    groups = {"rlm": ["r1", "r2"], "llm": ["l1", "l2"]}
    result = compare_runs(runs, "primary_accuracy", groups=groups, n_resamples=300)
    side = result["groups"]["primary_accuracy"]
    assert side["rlm"]["value"] == pytest.approx((1 + 0.5) / 2)
    assert side["llm"]["value"] == pytest.approx((20 / 60 + 10 / 60) / 2)
    (diff,) = result["differences"]
    assert diff["of"] == "rlm - llm" and math.isclose(diff["value"], 0.75 - 0.25)
    assert "conditional on the chosen models" in result["group_ci"]
    wide = compare_runs(runs, "primary_accuracy", groups=groups, resample_models=True, n_resamples=300)
    assert "models resampled" in wide["group_ci"] and "bootstrap_models" in wide["differences"][0]["p"]
    narrow_ci, wide_ci = side["rlm"]["ci"], wide["groups"]["primary_accuracy"]["rlm"]["ci"]
    assert wide_ci[1] - wide_ci[0] > narrow_ci[1] - narrow_ci[0]  # between-model spread now counts
    with pytest.raises(MedldrError, match="group x: zz is not among the compared runs"):
        compare_runs(runs, "primary_accuracy", groups={"x": ["zz"]})


def test_refuses_runs_on_different_cases() -> None:
    other = score_responses(
        CASES[:10],
        responses(*[(c.case_id, 0, answer(["486"], ["486"])) for c in CASES[:10]]),
        space(LABELS),
        n_resamples=0,
    )
    with pytest.raises(MedldrError, match="not on the same cases"):
        compare_runs({"a": _run(1), "b": other}, "primary_accuracy")


def test_every_p_value_is_calibrated_under_a_clustered_null() -> None:
    """250 seeded null datasets (patients with 1-4 admissions, 3 near-identical rounds, each side right on its own
    half of the patients): every reported p-value rejects at 0.05 within 0.03 of 0.05."""
    rng = np.random.default_rng(20261130)
    rejections: dict[str, int] = {}
    n = 250
    for i in range(n):
        per_side = 1 + i % 3
        runs, sides = null_runs(rng, per_side=per_side)
        result = compare_runs(
            runs,
            "primary_accuracy",
            groups=sides if per_side > 1 else None,
            resample_models=per_side == 3,
            n_resamples=299,
            seed=i,
        )
        for test, p in result["differences"][0]["p"].items():
            rejections[test] = rejections.get(test, 0) + (p < 0.05)
    counted = {"permutation": n, "bootstrap": n - n // 3, "mcnemar_clustered": n, "bootstrap_models": n // 3}
    for test, hits in rejections.items():
        assert abs(hits / counted[test] - 0.05) <= 0.03, (test, hits / counted[test])
