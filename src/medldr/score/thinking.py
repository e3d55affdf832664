"""What thinking buys: primary accuracy and invalid rate by thinking-length quartile, with patient-clustered CIs.

A response's thinking length is its reasoning tokens as the provider reported them (``usage.reasoning_tokens``), else
an estimate from its captured reasoning text, one token per four characters (the common rule of thumb for English
BPE tokenizers; the JSON says which source was used). Responses with neither are left out; a run where none has one
gets no analysis. Pure: arrays in, a plain dict out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from medldr.schema import ResponseRecord
from medldr.score.bootstrap import resampled_totals

CHARS_PER_TOKEN = 4
QUARTILES = 4


def thinking_length(record: ResponseRecord | None) -> tuple[float, str] | None:
    """(tokens, source) of one response's thinking, or None when it reported and captured none."""
    if record is None:
        return None
    usage = (record.model_extra or {}).get("usage") or {}
    reported = usage.get("reasoning_tokens") if isinstance(usage, dict) else None
    if isinstance(reported, int | float) and reported > 0:
        return float(reported), "usage"
    if record.reasoning:
        return len(record.reasoning) / CHARS_PER_TOKEN, "estimate"
    return None


def by_thinking(
    lengths: np.ndarray,
    correct: np.ndarray,
    invalid: np.ndarray,
    patients: Sequence[object],
    *,
    sources: set[str],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any] | None:
    """Answers binned by thinking-length quartile: per bin its length range, answers, primary accuracy and invalid
    rate, each with a percentile interval over resampled patients (every answer of a patient, all rounds, drawn
    together). ``lengths``, ``correct``, ``invalid``: (rounds, cases) arrays, NaN length for an answer without one;
    ``patients``: each case's patient. None when no answer has a length."""
    rounds = lengths.shape[0]
    keep = ~np.isnan(lengths).ravel()
    if not keep.any():
        return None
    length = lengths.ravel()[keep]
    edges = np.unique(np.quantile(length, np.linspace(0, 1, QUARTILES + 1)))
    inner = edges[1:-1]
    which = np.searchsorted(inner, length, side="right")  # bin index of each answer
    n_bins = len(inner) + 1
    member = np.zeros((len(length), n_bins))
    member[np.arange(len(length)), which] = 1.0
    hit = correct.ravel()[keep][:, None] * member
    bad = invalid.ravel()[keep][:, None] * member
    matrix = np.hstack([member, hit, bad])
    groups = np.tile(np.asarray(patients, dtype=object), rounds)[keep]
    replicates = []
    if n_resamples > 0:
        for totals, _ in resampled_totals([matrix], groups, n_resamples=n_resamples, seed=seed):
            summed = totals[0]
            with np.errstate(invalid="ignore", divide="ignore"):  # a draw without answers in a bin: no value there
                replicates.append(
                    np.hstack([summed[:, n_bins : 2 * n_bins], summed[:, 2 * n_bins :]])
                    / np.hstack([summed[:, :n_bins], summed[:, :n_bins]])
                )
    tail = (1 - level) / 2 * 100
    bounds = np.nanpercentile(np.concatenate(replicates), [tail, 100 - tail], axis=0).T if replicates else None
    sums = matrix.sum(axis=0)
    bins = []
    for b in range(n_bins):
        inside = length[which == b]
        entry: dict[str, Any] = {
            "low": float(inside.min()),
            "high": float(inside.max()),
            "n": int(sums[b]),
            "primary_accuracy": float(sums[n_bins + b] / sums[b]),
            "invalid_rate": float(sums[2 * n_bins + b] / sums[b]),
        }
        if bounds is not None:
            entry["primary_accuracy_ci"] = [float(x) for x in bounds[b]]
            entry["invalid_rate_ci"] = [float(x) for x in bounds[n_bins + b]]
        bins.append(entry)
    source = sources.pop() if len(sources) == 1 else "mixed"
    return {"source": source, "chars_per_token": CHARS_PER_TOKEN, "answers": int(keep.sum()), "bins": bins}
