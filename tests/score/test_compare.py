"""Paired comparisons: bootstrap difference, exact McNemar, group means; refusing different cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medldr.errors import MedldrError
from medldr.score import score_responses
from medldr.score.compare import compare_runs, mcnemar_exact
from tests.score.helpers import answer, case, responses

LABELS = ["486", "5849", "0389"]
CASES = [case(f"{i // 2}/{i}/0", [LABELS[i % 3]]) for i in range(60)]


def _run(hit_every: int, rounds: int = 2):
    rows = []
    for r in range(rounds):
        for i, c in enumerate(CASES):
            code = c.top_1_icd.code if i % hit_every == 0 else LABELS[(LABELS.index(c.top_1_icd.code) + 1) % 3]
            rows.append((c.case_id, r, answer([code], [code])))
    return score_responses(CASES, responses(*rows), LABELS, n_resamples=0)


def test_mcnemar_exact_by_hand() -> None:
    # 3 vs 1 discordant: p = 2 * P(X <= 1), X ~ Bin(4, 1/2) = 2 * 5/16
    a = np.array([1, 1, 1, 0, 1, 0])
    b = np.array([0, 0, 0, 1, 1, 0])
    assert mcnemar_exact(a, b) == (3, 1, 0.625)
    assert mcnemar_exact(a, a)[2] == 1.0
    big = mcnemar_exact(np.ones(3000), np.zeros(3000))
    assert big[2] < 1e-300 or big[2] == 0.0


def test_paired_difference() -> None:
    always, half = _run(1), _run(2)
    result = compare_runs({"a": always, "b": half}, "primary_accuracy", n_resamples=500, seed=1)
    assert result["runs"]["a"]["value"] == 1.0 and result["runs"]["b"]["value"] == 0.5
    diff = result["difference"]
    assert diff["value"] == pytest.approx(0.5)
    assert 0 < diff["ci"][0] <= 0.5 <= diff["ci"][1]
    assert diff["p_bootstrap"] == pytest.approx(1 / 501)  # no centred replicate reaches 0.5
    mc = result["mcnemar"]
    assert (mc["only_first"], mc["only_second"]) == (60, 0)  # 30 cases x 2 rounds
    assert mc["p"] == pytest.approx(2 * 0.5**60)
    same = compare_runs({"a": always, "b": always}, "jaccard", n_resamples=200)
    assert same["difference"]["value"] == 0 and same["difference"]["p_bootstrap"] == 1.0
    assert "mcnemar" not in same  # jaccard is not binary


def test_group_means() -> None:
    runs = {"r1": _run(1), "r2": _run(2), "l1": _run(3), "l2": _run(6)}
    result = compare_runs(runs, "primary_accuracy", groups={"rlm": ["r1", "r2"], "llm": ["l1", "l2"]}, n_resamples=300)
    assert result["groups"]["rlm"]["value"] == pytest.approx((1 + 0.5) / 2)
    assert result["groups"]["llm"]["value"] == pytest.approx((20 / 60 + 10 / 60) / 2)
    assert result["difference"]["of"] == "rlm - llm"
    assert math.isclose(result["difference"]["value"], 0.75 - 0.25)
    with pytest.raises(MedldrError, match="group x: zz is not among the compared runs"):
        compare_runs(runs, "primary_accuracy", groups={"x": ["zz"]})


def test_refuses_runs_on_different_cases() -> None:
    other = score_responses(
        CASES[:10], responses(*[(c.case_id, 0, answer(["486"], ["486"])) for c in CASES[:10]]), LABELS, n_resamples=0
    )
    with pytest.raises(MedldrError, match="not on the same cases"):
        compare_runs({"a": _run(1), "b": other}, "primary_accuracy")
