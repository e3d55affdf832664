"""Robustness of a model's answers to perturbed cases, net of its own noise. Pure: answers in, statistics out.

For each perturbed case and each round r, the answer to the perturbed case is compared with the answer to the
original case in the same round r: a **flip** when their primary diagnoses differ (an answer's primary diagnosis is
its first predicted code in the label space; an invalid or empty answer has none, which differs from any code), and
the **set change** 1 - Jaccard of their predicted sets (two empty sets: no change). The two answers are independent
samples of two prompts; the **noise baseline** compares independent samples of the same prompt, the original case's
answers of rounds r != r' (every pair), so the difference is what the perturbation did beyond the model's own
instability. Each quantity is a per-case mean over rounds (pairs), then a mean over cases; intervals resample
patients (all their cases together) with the difference computed inside each resample (paired). The change in
primary accuracy (the study's metric: the gold primary code among the predictions) is paired the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from medldr.score.bootstrap import bootstrap_replicates, percentile_interval

Prediction = tuple[str, ...]
"""One answer's predicted codes in the label space, in the model's order (empty for an invalid answer)."""

COLUMNS = (
    "flip_rate",
    "noise_flip_rate",
    "flip_excess",
    "set_change",
    "noise_set_change",
    "set_change_excess",
    "primary_accuracy_original",
    "primary_accuracy_perturbed",
    "primary_accuracy_change",
)


def _primary(prediction: Prediction) -> str | None:
    return prediction[0] if prediction else None


def _change(a: Prediction, b: Prediction) -> float:
    """1 - Jaccard of two predicted sets; two empty sets are the same answer."""
    union = set(a) | set(b)
    return 1.0 - len(set(a) & set(b)) / len(union) if union else 0.0


def differences(a: Sequence[Prediction], b: Sequence[Prediction]) -> tuple[float, float]:
    """(flip rate, mean set change) between paired answers ``a[i]`` and ``b[i]``.

    >>> differences([("486", "5849"), ("486",)], [("5849", "486"), ("486",)])
    (0.5, 0.0)
    """
    if not a:
        return float("nan"), float("nan")
    flips = [_primary(x) != _primary(y) for x, y in zip(a, b, strict=True)]
    changes = [_change(x, y) for x, y in zip(a, b, strict=True)]
    return float(np.mean(flips)), float(np.mean(changes))


def noise(rounds: Sequence[Prediction]) -> tuple[float, float]:
    """(flip rate, set change) between every pair of one case's answers to the same prompt.

    >>> noise([("486",), ("486",), ("5849",)])
    (0.6666666666666666, 0.6666666666666666)
    """
    pairs = list(combinations(rounds, 2))
    return differences([a for a, _ in pairs], [b for _, b in pairs])


def per_case(
    original: Sequence[Sequence[Prediction]],
    perturbed: Sequence[Sequence[Prediction]],
    gold_primary: Sequence[str],
) -> np.ndarray:
    """(cases, COLUMNS) per-case values. ``original[i]`` and ``perturbed[i]`` are case i's answers by round (the
    perturbed run's rounds are paired with the original's of the same number); the original needs 2 rounds or more."""
    rows = []
    for answers, changed, gold in zip(original, perturbed, gold_primary, strict=True):
        n = min(len(answers), len(changed))
        flip, change = differences(answers[:n], changed[:n])
        noise_flip, noise_change = noise(answers)
        accuracy = float(np.mean([gold in a for a in answers[:n]]))
        accuracy_perturbed = float(np.mean([gold in a for a in changed[:n]]))
        rows.append(
            [
                flip,
                noise_flip,
                flip - noise_flip,
                change,
                noise_change,
                change - noise_change,
                accuracy,
                accuracy_perturbed,
                accuracy_perturbed - accuracy,
            ]
        )
    return np.array(rows, dtype=float).reshape(len(rows), len(COLUMNS))


def verdict(expect: str, excess_interval: Sequence[float]) -> str:
    """What the flip rate's excess over noise says: for an invariant kind, an interval above 0 is fragility; for a
    sensitive kind, an interval not above 0 is insensitivity to the evidence removed."""
    above = excess_interval[0] > 0
    if expect == "invariant":
        return "fragile: flips beyond its own noise" if above else "no flips beyond its own noise"
    return "responds to the evidence" if above else "insensitive: no flips beyond its own noise"


def summarize(
    values: np.ndarray, patients: Sequence[str], *, expect: str, n_resamples: int = 1000, seed: int = 0
) -> dict[str, object]:
    """Means of the per-case values with patient-clustered 95% percentile intervals, and the verdict."""
    means = values.mean(axis=0)
    replicates = bootstrap_replicates(values, patients, how=["mean"] * len(COLUMNS), n_resamples=n_resamples, seed=seed)
    intervals = percentile_interval(replicates)
    out: dict[str, object] = {"n_cases": int(values.shape[0]), "n_patients": len(set(patients))}
    for k, name in enumerate(COLUMNS):
        out[name] = float(means[k])
        out[f"{name}_ci"] = [float(intervals[k, 0]), float(intervals[k, 1])]
    out["verdict"] = verdict(expect, out["flip_excess_ci"])  # type: ignore[arg-type]
    return out
