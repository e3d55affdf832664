"""Seeded bootstrap percentile intervals, resampling patients (all their cases together) or cases.

Resampling is done on per-group sums with multinomial weights, so 1000 resamples of 100,000 cases are a few matrix
products rather than 1000 passes over the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np

Unit = Literal["patient", "case"]


def group_sums(values: np.ndarray, groups: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """(per-group column sums (G, K), per-group case counts (G,)), groups in sorted order of their names; float32
    values stay float32 (exact for counts)."""
    values = np.asarray(values)
    values = values if values.dtype in (np.float32, np.float64) else values.astype(float)
    _, index = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    n_groups = int(index.max()) + 1 if len(index) else 0
    counts = np.bincount(index, minlength=n_groups).astype(float)
    if not n_groups:
        return np.zeros((0, values.shape[1])), counts
    order = np.argsort(index, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts[:-1]).astype(np.int64)])
    return np.add.reduceat(values[order], starts, axis=0), counts


def resampled_totals(
    matrices: Sequence[np.ndarray],
    groups: Sequence[object],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    chunk: int = 100,
) -> Iterator[tuple[list[np.ndarray], np.ndarray]]:
    """Chunks of ([totals (size, K_m) per matrix], cases (size,)): column sums and case counts of resampled data,
    every matrix (rows = the same cases) resampled with the same draws, for statistics that are not per-case means
    (ratios of sums: micro and macro averages). The same seed draws the same groups as :func:`bootstrap_replicates`.
    """
    summed = [group_sums(matrix, groups) for matrix in matrices]
    counts = summed[0][1]
    n_groups = len(counts)
    rng = np.random.default_rng(seed)
    for start in range(0, n_resamples, chunk):
        size = min(chunk, n_resamples - start)
        weights = _draw_weights(rng, n_groups, size)
        totals = [weights.astype(sums.dtype, copy=False) @ sums for sums, _ in summed]
        yield totals, weights @ counts


def _draw_weights(rng: np.random.Generator, n_groups: int, size: int) -> np.ndarray:
    """(size, n_groups) times each group is drawn in ``size`` resamples of ``n_groups`` draws with replacement
    (multinomial counts, from uniform indices and one bincount: much faster than ``rng.multinomial``)."""
    if not n_groups:
        return np.zeros((size, 0))
    drawn = rng.integers(0, n_groups, size=(size, n_groups)) + (np.arange(size) * n_groups)[:, None]
    return np.bincount(drawn.ravel(), minlength=size * n_groups).reshape(size, n_groups).astype(float)


def bootstrap_replicates(
    values: np.ndarray,
    groups: Sequence[object],
    *,
    how: Sequence[str],
    n_resamples: int = 1000,
    seed: int = 0,
    chunk: int = 100,
) -> np.ndarray:
    """(n_resamples, K) statistics of resampled data: column k is a mean (``how[k] == "mean"``) or a sum.

    ``values`` is (N, K) per-case values; ``groups`` (N,) the resampling unit of each case (patient id, or the case
    itself). The same seed gives the same replicates.
    """
    parts = [
        statistics(totals[0], n_cases, how)
        for totals, n_cases in resampled_totals([values], groups, n_resamples=n_resamples, seed=seed, chunk=chunk)
    ]
    return np.concatenate(parts) if parts else np.empty((0, np.asarray(values).shape[1]))


def statistics(totals: np.ndarray, n_cases: np.ndarray, how: Sequence[str]) -> np.ndarray:
    """Resampled totals -> statistics: column k a mean over the resample's cases (``how[k] == "mean"``) or a sum."""
    is_mean = np.array([h == "mean" for h in how])
    return np.where(is_mean, totals / np.where(n_cases > 0, n_cases, 1)[:, None], totals)


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> np.ndarray:
    """(K, 2) percentile interval of each column.

    >>> np.round(percentile_interval(np.arange(101.0)[:, None]), 6).tolist()
    [[2.5, 97.5]]
    """
    tail = (1 - level) / 2 * 100
    return np.percentile(replicates, [tail, 100 - tail], axis=0).T


def boundary_interval(all_ones: bool, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a proportion observed at 0 of ``n`` (or ``n`` of ``n``): where every
    unit agrees, a percentile bootstrap collapses to [0, 0] (or [1, 1]) and suggests a certainty the sample cannot
    give. With ``n`` patients (units resampled), the bound is 1 - (alpha/2)^(1/n).

    >>> [round(x, 4) for x in boundary_interval(False, 54)]
    [0.0, 0.066]
    >>> [round(x, 4) for x in boundary_interval(True, 10)]
    [0.6915, 1.0]
    """
    bound = (1 - level) / 2
    edge = bound ** (1 / n) if n > 0 else 0.0
    return (edge, 1.0) if all_ones else (0.0, 1 - edge)
