"""The study's LDR-eICU metrics that MedLDR's set lacks, as its eICU evaluation defined them: Recall@k as "any gold
code among the first k of the ranked list" (a hit, not a fraction; k = 20, 10, 5, 3), and the primary- and
major-diagnosis recall: among the cases that have such a diagnosis, the share whose valid predictions (in the label
space) name any of them. Pure functions over plain lists; intervals resample patients like every other metric."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medldr.score.bootstrap import resampled_totals
from medldr.score.metrics import SOURCE_METRICS

EICU_METRICS = SOURCE_METRICS["study_eicu"]
"""Their names, in the registry's order: Recall@20, @10, @5, @3 (any hit), primary- and major-diagnosis recall."""


def eicu_hits(
    gold: Sequence[Sequence[str]],
    primaries: Sequence[Sequence[str]],
    majors: Sequence[Sequence[str]],
    predictions: Sequence[Sequence[str]],
    ranked: Sequence[Sequence[str]],
) -> tuple[np.ndarray, np.ndarray]:
    """(hits, counted): two (N, 6) arrays in ``EICU_METRICS`` order, one round's answers. ``predictions`` are the
    valid predictions in the label space, ``ranked`` the raw top20 list; a case without a primary (major) diagnosis
    is not counted for that recall.

    >>> hits, counted = eicu_hits([["J9600", "A419"]], [["J9600"]], [[]], [["A419"]], [["I10", "A419"]])
    >>> hits.tolist(), counted.tolist()
    ([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]], [[1.0, 1.0, 1.0, 1.0, 1.0, 0.0]])
    """
    n = len(gold)
    hits, counted = np.zeros((n, len(EICU_METRICS))), np.zeros((n, len(EICU_METRICS)))
    for i in range(n):
        truth, named = set(gold[i]), set(predictions[i])
        for column, k in enumerate((20, 10, 5, 3)):
            hits[i, column], counted[i, column] = float(bool(truth & set(ranked[i][:k]))), float(bool(truth))
        for column, group in ((4, primaries[i]), (5, majors[i])):
            counted[i, column] = float(bool(group))
            hits[i, column] = float(bool(group) and bool(set(group) & named))
    return hits, counted


def eicu_summary(
    hits: np.ndarray, counted: np.ndarray, patients: Sequence[str], *, n_resamples: int, seed: int, level: float
) -> dict[str, dict[str, float | list[float]]]:
    """Each metric over the cases it counts (``hits`` and ``counted`` averaged over rounds: (N, 6)), with a
    percentile interval from resampling patients (ratios of resampled sums)."""
    shown: dict[str, dict[str, float | list[float]]] = {}
    totals, n = hits.sum(axis=0), counted.sum(axis=0)
    replicates = []
    if n_resamples > 0 and len(patients):
        for (hit_sums, count_sums), _ in resampled_totals(
            [hits, counted], patients, n_resamples=n_resamples, seed=seed
        ):
            replicates.append(np.divide(hit_sums, count_sums, out=np.full_like(hit_sums, np.nan), where=count_sums > 0))
    tail = (1 - level) / 2 * 100  # a resample may count no case for a metric: its ratio is left out (nan)
    intervals = np.nanpercentile(np.concatenate(replicates), [tail, 100 - tail], axis=0).T if replicates else None
    for column, name in enumerate(EICU_METRICS):
        if n[column] == 0:
            continue  # no case counts: undefined, left out (never a silent 0)
        entry: dict[str, float | list[float]] = {"value": float(totals[column] / n[column]), "n": float(n[column])}
        if intervals is not None:
            entry["ci"] = [float(intervals[column][0]), float(intervals[column][1])]
        shown[name] = entry
    return shown
