"""Every per-case metric of the MedLDR study, vectorised: ``f(batch) -> (N,) array`` of per-case values.

A run's score for a metric is the mean of its per-case values (or, for totals, the sum), so the bootstrap can wrap
any of them. Undefined values follow an explicit ``zero_division`` choice, never a crash and never a silent guess:
precision and the overdiagnosis rate of an empty prediction are 0, as in the study.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np

from medldr.errors import MedldrError
from medldr.score.encode import Batch, member

Aggregate = Literal["mean", "sum"]


def _sizes(batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gold_n = (batch.gold >= 0).sum(axis=1)
    pred_n = (batch.pred >= 0).sum(axis=1)
    inter = member(batch.gold, batch.pred).sum(axis=1)
    return gold_n.astype(float), pred_n.astype(float), inter.astype(float)


def _div(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    out = np.full(num.shape, float(zero_division))
    np.divide(num, den, out=out, where=den > 0)
    return out


def primary_accuracy(batch: Batch) -> np.ndarray:
    """1 when the primary gold code is among the predictions.

    >>> from medldr.score.encode import encode
    >>> primary_accuracy(encode([["486", "5849"]], [["5849", "486"]], primary=["486"], labels=["486", "5849"]))
    array([1.])
    """
    return (batch.pred == batch.primary[:, None]).any(axis=1).astype(float)


def exact_match(batch: Batch) -> np.ndarray:
    """1 when the set of predictions equals the gold set."""
    gold_n, pred_n, inter = _sizes(batch)
    return ((inter == gold_n) & (inter == pred_n)).astype(float)


def jaccard(batch: Batch) -> np.ndarray:
    """|P ∩ G| / |P ∪ G| (the gold set is never empty, so the union never is)."""
    gold_n, pred_n, inter = _sizes(batch)
    return _div(inter, gold_n + pred_n - inter, 0.0)


def precision(batch: Batch, zero_division: float = 0.0) -> np.ndarray:
    """|P ∩ G| / |P|; ``zero_division`` for an empty P."""
    _, pred_n, inter = _sizes(batch)
    return _div(inter, pred_n, zero_division)


def recall(batch: Batch) -> np.ndarray:
    """|P ∩ G| / |G|."""
    gold_n, _, inter = _sizes(batch)
    return _div(inter, gold_n, 0.0)


def f1(batch: Batch) -> np.ndarray:
    """Sample F1: 2 |P ∩ G| / (|P| + |G|)."""
    gold_n, pred_n, inter = _sizes(batch)
    return _div(2 * inter, gold_n + pred_n, 0.0)


def hamming_loss(batch: Batch) -> np.ndarray:
    """|P Δ G| / N_labels."""
    gold_n, pred_n, inter = _sizes(batch)
    return (gold_n + pred_n - 2 * inter) / max(batch.n_labels, 1)


def miss_rate(batch: Batch) -> np.ndarray:
    """|G \\ P| / |G|."""
    gold_n, _, inter = _sizes(batch)
    return _div(gold_n - inter, gold_n, 0.0)


def overdiagnosis_rate(batch: Batch, zero_division: float = 0.0) -> np.ndarray:
    """|P \\ G| / |P|; ``zero_division`` (0, as in the study) for an empty P."""
    _, pred_n, inter = _sizes(batch)
    return _div(pred_n - inter, pred_n, zero_division)


def recall_at(k: int) -> Callable[[Batch], np.ndarray]:
    """|G ∩ set(T[:k])| / |G| over the raw top-10 list (not filtered to the label space, as in the study)."""

    def metric(batch: Batch) -> np.ndarray:
        gold_n = (batch.gold >= 0).sum(axis=1).astype(float)
        return _div(member(batch.gold, batch.top10[:, :k]).sum(axis=1).astype(float), gold_n, 0.0)

    metric.__name__ = f"recall_at_{k}"
    return metric


def relevance_level(batch: Batch) -> np.ndarray:
    """Per case the best level of any prediction to the primary: 1 exact, 2 same ICD-9 category, 3 same chapter,
    4 unrelated (also when there is no prediction)."""
    pred, primary = batch.pred, batch.primary[:, None]
    vocab = batch.vocab
    levels = np.where(
        pred == primary,
        1,
        np.where(
            vocab.category_of(pred) == vocab.category_of(primary),
            2,
            np.where(vocab.chapter_of(pred) == vocab.chapter_of(primary), 3, 4),
        ),
    )
    levels = np.where(pred >= 0, levels, 4)
    return levels.min(axis=1)


def relevance(level: int) -> Callable[[Batch], np.ndarray]:
    def metric(batch: Batch) -> np.ndarray:
        return (relevance_level(batch) == level).astype(float)

    metric.__name__ = f"relevance_{level}"
    return metric


def invalid_rate(batch: Batch) -> np.ndarray:
    """1 for a response with no parsable answer (scored as empty predictions)."""
    return (~batch.valid).astype(float)


def missed_codes(batch: Batch) -> np.ndarray:
    gold_n, _, inter = _sizes(batch)
    return gold_n - inter


def overdiagnosed_codes(batch: Batch) -> np.ndarray:
    _, pred_n, inter = _sizes(batch)
    return pred_n - inter


def predictions_per_case(batch: Batch) -> np.ndarray:
    return (batch.pred >= 0).sum(axis=1).astype(float)


METRICS: dict[str, tuple[Callable[[Batch], np.ndarray], Aggregate]] = {
    "primary_accuracy": (primary_accuracy, "mean"),
    "exact_match": (exact_match, "mean"),
    "jaccard": (jaccard, "mean"),
    "precision": (precision, "mean"),
    "recall": (recall, "mean"),
    "f1": (f1, "mean"),
    "hamming_loss": (hamming_loss, "mean"),
    "miss_rate": (miss_rate, "mean"),
    "overdiagnosis_rate": (overdiagnosis_rate, "mean"),
    "recall_at_3": (recall_at(3), "mean"),
    "recall_at_5": (recall_at(5), "mean"),
    "recall_at_10": (recall_at(10), "mean"),
    "relevance_1": (relevance(1), "mean"),
    "relevance_2": (relevance(2), "mean"),
    "relevance_3": (relevance(3), "mean"),
    "relevance_4": (relevance(4), "mean"),
    "invalid_rate": (invalid_rate, "mean"),
    "missed_codes": (missed_codes, "sum"),
    "overdiagnosed_codes": (overdiagnosed_codes, "sum"),
    "mean_predictions": (predictions_per_case, "mean"),
}
"""Name -> (per-case function, how a run aggregates it). The keys are those of ``scores.json``."""

BINARY = ("primary_accuracy", "exact_match", "relevance_1", "relevance_2", "relevance_3", "relevance_4", "invalid_rate")


def get_metric(name: str) -> tuple[Callable[[Batch], np.ndarray], Aggregate]:
    """The metric called ``name``; an unknown name fails listing the valid ones."""
    try:
        return METRICS[name]
    except KeyError:
        raise MedldrError(f"unknown metric {name!r}; valid: {', '.join(METRICS)}") from None


def per_case(batch: Batch) -> np.ndarray:
    """(N, len(METRICS)) matrix of every metric's per-case values, columns in METRICS order."""
    return np.column_stack([function(batch) for function, _ in METRICS.values()])


def aggregate(values: np.ndarray) -> dict[str, float]:
    """Run-level numbers from a per-case matrix: means, or sums for the totals."""
    out = {}
    for column, (name, (_, how)) in enumerate(METRICS.items()):
        column_values = values[:, column]
        out[name] = float(column_values.sum() if how == "sum" else column_values.mean()) if len(values) else 0.0
    return out
