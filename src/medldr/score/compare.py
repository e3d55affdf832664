"""Comparing runs on the same cases: paired bootstrap differences, exact McNemar, group means (RLM vs LLM).

All resampling is paired: one draw of patients is applied to every run, so run-to-run differences keep their
correlation. The p-values are computed correctly (the study's script used 10 resamples, uncentred): the bootstrap
p-value centres the replicates on the observed difference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from medldr.errors import MedldrError
from medldr.score.bootstrap import bootstrap_replicates, percentile_interval
from medldr.score.metrics import BINARY, METRICS, get_metric
from medldr.score.scoring import CaseValues


def aligned(runs: Mapping[str, CaseValues]) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    """(case ids, patients, per-run index arrays) aligning every run on the same cases; refuses differing case sets."""
    names = list(runs)
    reference = runs[names[0]]
    ids = reference.case_ids
    for name in names[1:]:
        other = set(runs[name].case_ids)
        if other != set(ids):
            only_a, only_b = len(set(ids) - other), len(other - set(ids))
            raise MedldrError(
                f"runs {names[0]} and {name} are not on the same cases ({only_a} only in the first, {only_b} only in "
                "the second); compare runs made on one cases file"
            )
    order = {}
    for name in names:
        position = {case_id: i for i, case_id in enumerate(runs[name].case_ids)}
        order[name] = np.array([position[case_id] for case_id in ids], dtype=np.int64)
    return ids, reference.patients, order


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> tuple[int, int, float]:
    """Exact two-sided McNemar test on paired binary outcomes: (b01, b10, p).

    >>> mcnemar_exact(np.array([1, 1, 1, 1, 1, 0]), np.array([0, 0, 0, 0, 0, 0]))
    (5, 0, 0.0625)
    """
    a, b = np.asarray(a).astype(bool), np.asarray(b).astype(bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    if n == 0:
        return only_a, only_b, 1.0
    smaller = min(only_a, only_b)
    if n <= 5000:  # exact integer arithmetic
        tail = sum(math.comb(n, k) for k in range(smaller + 1)) / 2**n
    else:  # log-space binomial terms; exact integers would be too slow
        k = np.arange(smaller + 1)
        log_terms = math.lgamma(n + 1) - np.array([math.lgamma(i + 1) + math.lgamma(n - i + 1) for i in k])
        tail = float(np.exp(log_terms - n * math.log(2)).sum())
    return only_a, only_b, min(1.0, 2 * tail)


def _column(run: CaseValues, metric: str, order: np.ndarray) -> np.ndarray:
    """Per-case values of ``metric`` averaged over the run's rounds, in the aligned case order."""
    return run.values[:, order, list(METRICS).index(metric)].mean(axis=0)


def _centred_p(replicates: np.ndarray, observed: float) -> float:
    """Two-sided bootstrap p-value of 'no difference': share of centred replicates at least as extreme, counted as
    (k + 1) / (B + 1) so that a finite number of resamples never claims p = 0."""
    centred = replicates - replicates.mean()
    extreme = int((np.abs(centred) >= abs(observed) - 1e-12).sum())
    return min(1.0, (extreme + 1) / (len(replicates) + 1))


def compare_runs(
    runs: Mapping[str, CaseValues],
    metric: str,
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    unit: str = "patient",
    level: float = 0.95,
) -> dict[str, object]:
    """Each run's value with a CI; with two runs (or two groups) their paired difference, CI and p-values.

    ``groups`` maps a group name to run names; a group's value is the mean over its models (the study's RLM vs LLM).
    """
    how = get_metric(metric).aggregate
    ids, patients, order = aligned(runs)
    names = list(runs)
    matrix = np.column_stack([_column(runs[name], metric, order[name]) for name in names])
    units = patients if unit == "patient" else ids
    replicates = bootstrap_replicates(matrix, units, how=[how] * len(names), n_resamples=n_resamples, seed=seed)
    point = matrix.sum(axis=0) if how == "sum" else matrix.mean(axis=0)
    interval = percentile_interval(replicates, level)
    result: dict[str, object] = {
        "metric": metric,
        "n_cases": len(ids),
        "bootstrap": {"resamples": n_resamples, "seed": seed, "unit": unit, "level": level},
        "runs": {n: {"value": float(point[i]), "ci": interval[i].tolist()} for i, n in enumerate(names)},
    }
    if groups:
        for group, members in groups.items():
            missing = [m for m in members if m not in runs]
            if missing:
                raise MedldrError(f"group {group}: {', '.join(missing)} is not among the compared runs")
        columns = {g: [names.index(m) for m in members] for g, members in groups.items()}
        group_point = {g: float(point[cols].mean()) for g, cols in columns.items()}
        group_reps = {g: replicates[:, cols].mean(axis=1) for g, cols in columns.items()}
        result["groups"] = {
            g: {
                "runs": list(groups[g]),
                "value": group_point[g],
                "ci": percentile_interval(group_reps[g][:, None], level)[0].tolist(),
            }
            for g in groups
        }
        pair = list(groups)[:2]
        if len(pair) == 2:
            diff_reps = group_reps[pair[0]] - group_reps[pair[1]]
            observed = group_point[pair[0]] - group_point[pair[1]]
            result["difference"] = _difference(pair, observed, diff_reps, level)
    elif len(names) == 2:
        observed = float(point[0] - point[1])
        result["difference"] = _difference(names, observed, replicates[:, 0] - replicates[:, 1], level)
        if metric in BINARY:
            a, b = runs[names[0]], runs[names[1]]
            rounds = min(a.values.shape[0], b.values.shape[0])
            column = list(METRICS).index(metric)
            pooled_a = a.values[:rounds, order[names[0]], column].ravel()
            pooled_b = b.values[:rounds, order[names[1]], column].ravel()
            only_a, only_b, p = mcnemar_exact(pooled_a, pooled_b)
            result["mcnemar"] = {"only_first": only_a, "only_second": only_b, "p": p, "pairs": "(case, round), pooled"}
    return result


def _difference(pair: Sequence[str], observed: float, replicates: np.ndarray, level: float) -> dict[str, object]:
    return {
        "of": f"{pair[0]} - {pair[1]}",
        "value": observed,
        "ci": percentile_interval(replicates[:, None], level)[0].tolist(),
        "p_bootstrap": _centred_p(replicates, observed),
    }
