"""Comparing runs on the same cases: paired differences with patient-level CIs and p-values that stay valid under
the clustering our data has (several rounds of one case, several admissions of one patient), Holm-adjusted across
every pair and metric shown; group means (the study's RLM vs LLM).

All resampling is paired: one draw of patients is applied to every run, so run-to-run differences keep their
correlation. Every test works on per-patient totals of the per-case differences (each case's value averaged over the
rounds first), so neither a round nor a patient's second admission counts as independent evidence. ``TESTS`` says
what each p-value is.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from medldr.errors import MedldrError
from medldr.score.bootstrap import bootstrap_replicates, group_sums, percentile_interval
from medldr.score.metrics import METRICS, get_metric
from medldr.score.scoring import CaseValues

TESTS = {
    "permutation": "paired sign-flip permutation test over patients (each patient's summed difference kept or "
    "negated): exact under the null that the two runs are exchangeable within a patient",
    "bootstrap": "paired patient bootstrap, two-sided: share of replicates centred on the observed difference at "
    "least as extreme as it",
    "mcnemar_clustered": "clustered McNemar (Durkalski et al. 2003), chi-square with 1 df on per-patient discordance "
    "(binary metrics only)",
    "bootstrap_models": "two-level bootstrap (models within each group, then patients), two-sided, centred: the "
    "question 'are such models in general better', not only these",
}
"""p-value name -> what it is (written into every comparison)."""


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


def sign_flip_p(unit_differences: np.ndarray, *, n_resamples: int, seed: int) -> float:
    """Two-sided paired permutation p-value: each unit's summed difference keeps or flips its sign at random;
    counted as (k + 1) / (B + 1).

    >>> sign_flip_p(np.zeros(5), n_resamples=99, seed=0)
    1.0
    >>> sign_flip_p(np.ones(12), n_resamples=999, seed=0) < 0.01
    True
    """
    d = np.asarray(unit_differences, dtype=float)
    observed = abs(d.sum())
    if observed <= 1e-12:
        return 1.0
    rng = np.random.default_rng([seed, 1])
    extreme = 0
    for start in range(0, n_resamples, 200):
        size = min(200, n_resamples - start)
        signs = rng.integers(0, 2, size=(size, len(d)), dtype=np.int8) * 2 - 1
        extreme += int((np.abs(signs @ d) >= observed - 1e-9).sum())
    return (extreme + 1) / (n_resamples + 1)


def clustered_mcnemar_p(unit_differences: np.ndarray) -> float:
    """Durkalski's clustered McNemar: X² = (Σ d_k)² / Σ d_k² over clusters k, where d_k is the cluster's count of
    pairs only the first got right minus those only the second got right; p from χ² with 1 df.

    >>> round(clustered_mcnemar_p(np.array([1, 1, 1, 1, 1, 0])), 4)  # five patients, one discordant case each
    0.0253
    """
    d = np.asarray(unit_differences, dtype=float)
    denominator = float((d**2).sum())
    if denominator <= 1e-12:
        return 1.0
    statistic = float(d.sum()) ** 2 / denominator
    return math.erfc(math.sqrt(statistic / 2))


def _centred_p(replicates: np.ndarray, observed: float) -> float:
    """Two-sided bootstrap p-value of 'no difference': share of centred replicates at least as extreme, counted as
    (k + 1) / (B + 1) so that a finite number of resamples never claims p = 0."""
    centred = replicates - replicates.mean()
    extreme = int((np.abs(centred) >= abs(observed) - 1e-12).sum())
    return min(1.0, (extreme + 1) / (len(replicates) + 1))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment (family-wise error), in the input order.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    adjusted = [0.0] * len(pvalues)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[index]))
        adjusted[index] = round(running, 12)
    return adjusted


def _columns(runs: Mapping[str, CaseValues], metric: str, order: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N, M) per-case values of ``metric`` averaged over each run's rounds, in the aligned case order; a source's
    metric from the runs' own per-case columns (NaN where a case is not counted), refused where a run lacks it."""
    if get_metric(metric).scope == "case":
        column = list(METRICS).index(metric)
        return np.column_stack([runs[name].values[:, order[name], column].mean(axis=0) for name in runs])
    lacking = [name for name in runs if metric not in runs[name].extra]
    if lacking:
        raise MedldrError(f"--metric {metric}: {lacking[0]} has no per-case {metric} (another source's run)")
    return np.column_stack([runs[name].extra[metric][:, order[name]].mean(axis=0) for name in runs])


def compare_runs(
    runs: Mapping[str, CaseValues],
    metrics: str | Sequence[str],
    *,
    groups: Mapping[str, Sequence[str]] | None = None,
    resample_models: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    unit: str = "patient",
    level: float = 0.95,
) -> dict[str, object]:
    """Each run's (or group's) value with a CI, then every pair's paired difference with its CI, its p-values
    (``TESTS``) and their Holm adjustment across all pairs and metrics.

    ``groups`` maps a group name to run names; a group's value is the mean over its models. Its CI resamples patients
    only (conditional on the chosen models) unless ``resample_models``: then models within each group too.
    """
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    for metric in metrics:
        if get_metric(metric).scope == "label":
            raise MedldrError(
                f"--metric {metric}: a label-space average (a ratio of totals over codes, no per-case value to pair); "
                f"compare takes per-case metrics and a source's own: {', '.join(METRICS)}, ..."
            )
    ids, patients, order = aligned(runs)
    names = list(runs)
    if groups:
        for group, members in groups.items():
            missing = [m for m in members if m not in runs]
            if missing:
                raise MedldrError(f"group {group}: {', '.join(missing)} is not among the compared runs")
    all_units = patients if unit == "patient" else ids
    result: dict[str, object] = {
        "metrics": metrics,
        "n_cases": len(ids),
        "n_units": len(set(all_units)),
        "bootstrap": {"resamples": n_resamples, "seed": seed, "unit": unit, "level": level},
        "tests": {},
        "runs": {},
        "differences": [],
    }
    differences: list[dict[str, object]] = []
    for metric in metrics:
        how = get_metric(metric).aggregate
        matrix = _columns(runs, metric, order)
        counted = ~np.isnan(matrix).any(axis=1)  # a source's recall counts some cases only (the same in every run)
        if not counted.all():
            result.setdefault("n_counted", {})[metric] = int(counted.sum())  # type: ignore[union-attr]
        matrix = matrix[counted]
        units = [u for u, keep in zip(all_units, counted, strict=True) if keep]
        replicates = bootstrap_replicates(matrix, units, how=[how] * len(names), n_resamples=n_resamples, seed=seed)
        point = matrix.sum(axis=0) if how == "sum" else matrix.mean(axis=0)
        interval = percentile_interval(replicates, level)
        result["runs"][metric] = {  # type: ignore[index]
            n: {"value": float(point[i]), "ci": interval[i].tolist()} for i, n in enumerate(names)
        }
        if groups:
            sides = _group_sides(groups, names, matrix, point, replicates, resample_models, seed)
            result.setdefault("groups", {})[metric] = {  # type: ignore[union-attr]
                g: {"runs": list(groups[g]), "value": v, "ci": percentile_interval(r[:, None], level)[0].tolist()}
                for g, (v, r, _) in sides.items()
            }
        else:
            sides = {n: (float(point[i]), replicates[:, i], matrix[:, i]) for i, n in enumerate(names)}
        for a, b in itertools.combinations(sides, 2):
            (value_a, reps_a, per_case_a), (value_b, reps_b, per_case_b) = sides[a], sides[b]
            observed = value_a - value_b
            reps = reps_a - reps_b
            unit_diffs = group_sums((per_case_a - per_case_b)[:, None], units)[0][:, 0]
            p = {"permutation": sign_flip_p(unit_diffs, n_resamples=n_resamples, seed=seed)}
            p["bootstrap_models" if groups and resample_models else "bootstrap"] = _centred_p(reps, observed)
            if get_metric(metric).binary:
                p["mcnemar_clustered"] = clustered_mcnemar_p(unit_diffs)
            differences.append(
                {
                    "metric": metric,
                    "of": f"{a} - {b}",
                    "value": observed,
                    "ci": percentile_interval(reps[:, None], level)[0].tolist(),
                    "p": p,
                }
            )
    for test in TESTS:
        rows = [d for d in differences if test in d["p"]]  # type: ignore[operator]
        for row, adjusted in zip(rows, holm([row["p"][test] for row in rows]), strict=True):  # type: ignore[index]
            row.setdefault("p_holm", {})[test] = adjusted  # type: ignore[union-attr]
    result["differences"] = differences
    result["tests"] = {t: TESTS[t] for t in TESTS if any(t in d["p"] for d in differences)}  # type: ignore[operator]
    if groups:
        result["group_ci"] = (
            "models resampled within each group, then patients: about such models in general"
            if resample_models
            else "patients resampled, models fixed: conditional on the chosen models"
        )
    return result


def _group_sides(
    groups: Mapping[str, Sequence[str]],
    names: list[str],
    matrix: np.ndarray,
    point: np.ndarray,
    replicates: np.ndarray,
    resample_models: bool,
    seed: int,
) -> dict[str, tuple[float, np.ndarray, np.ndarray]]:
    """Per group: (value, replicates, per-case values), the mean over its runs; with ``resample_models`` each
    replicate averages a resample (with replacement) of the group's runs."""
    rng = np.random.default_rng([seed, 2])
    out = {}
    for group, members in groups.items():
        columns = np.array([names.index(m) for m in members])
        if resample_models:
            drawn = columns[rng.integers(0, len(columns), size=(len(replicates), len(columns)))]
            reps = replicates[np.arange(len(replicates))[:, None], drawn].mean(axis=1)
        else:
            reps = replicates[:, columns].mean(axis=1)
        out[group] = (float(point[columns].mean()), reps, matrix[:, columns].mean(axis=1))
    return out
