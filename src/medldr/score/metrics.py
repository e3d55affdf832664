"""Every per-case metric of the MedLDR study, vectorised: ``f(batch) -> (N,) array`` of per-case values.

A run's score for a metric is the mean of its per-case values (or, for totals, the sum), so the bootstrap can wrap
any of them. Undefined values follow an explicit ``zero_division`` choice, never a crash and never a silent guess:
precision and the overdiagnosis rate of an empty prediction are 0, as in the study.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from medldr.errors import MedldrError
from medldr.schema import Scores
from medldr.score.encode import Batch, member

Aggregate = Literal["mean", "sum"]


def _over(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """(prediction entries, over-diagnosed entries) per case: the distinct predictions, or with reference extraction
    every entry a repeated code included, as the study's ``exact_miss_over.py`` counted them."""
    entries = batch.pred_entries
    present = entries >= 0
    over = present & ~member(entries, batch.gold)
    return present.sum(axis=1).astype(float), over.sum(axis=1).astype(float)


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
    gold_n, pred_n, inter = batch.sizes
    return ((inter == gold_n) & (inter == pred_n)).astype(float)


def jaccard(batch: Batch) -> np.ndarray:
    """|P ∩ G| / |P ∪ G| (the gold set is never empty, so the union never is)."""
    gold_n, pred_n, inter = batch.sizes
    return _div(inter, gold_n + pred_n - inter, 0.0)


def precision(batch: Batch, zero_division: float = 0.0) -> np.ndarray:
    """|P ∩ G| / |P|; ``zero_division`` for an empty P."""
    _, pred_n, inter = batch.sizes
    return _div(inter, pred_n, zero_division)


def recall(batch: Batch) -> np.ndarray:
    """|P ∩ G| / |G|."""
    gold_n, _, inter = batch.sizes
    return _div(inter, gold_n, 0.0)


def f1(batch: Batch) -> np.ndarray:
    """Sample F1: 2 |P ∩ G| / (|P| + |G|)."""
    gold_n, pred_n, inter = batch.sizes
    return _div(2 * inter, gold_n + pred_n, 0.0)


def hamming_loss(batch: Batch) -> np.ndarray:
    """|P Δ G| / N_labels."""
    gold_n, pred_n, inter = batch.sizes
    return (gold_n + pred_n - 2 * inter) / max(batch.n_labels, 1)


def miss_rate(batch: Batch) -> np.ndarray:
    """|G \\ P| / |G|."""
    gold_n, _, inter = batch.sizes
    return _div(gold_n - inter, gold_n, 0.0)


def overdiagnosis_rate(batch: Batch, zero_division: float = 0.0) -> np.ndarray:
    """|P \\ G| / |P|; ``zero_division`` (0, as in the study) for an empty P."""
    entries, over = _over(batch)
    return _div(over, entries, zero_division)


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
    gold_n, _, inter = batch.sizes
    return gold_n - inter


def overdiagnosed_codes(batch: Batch) -> np.ndarray:
    return _over(batch)[1]


def predictions_per_case(batch: Batch) -> np.ndarray:
    return (batch.pred >= 0).sum(axis=1).astype(float)


def hierarchy_credit(batch: Batch) -> np.ndarray:
    """ICD-9 tree partial credit of the predictions against the gold set: the harmonic mean of a precision (each
    prediction's best credit against the gold codes) and a recall (each gold code's best credit against the
    predictions), credits 1 / 0.5 / 0.25 for exact / same category / same chapter; 0 for no prediction. Not one of
    the study's metrics (not in ``METRICS``): training's hierarchy reward.

    >>> from medldr.score.encode import encode
    >>> hierarchy_credit(encode([["42833"]], [["42823"]], primary=["42833"], labels=["42833", "42823"]))
    array([0.5])
    """
    vocab = batch.vocab

    def best(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Sum over each row's codes in ``a`` of their best credit against the row's codes in ``b``."""
        pairs = np.where(
            a[:, :, None] == b[:, None, :],
            1.0,
            np.where(
                vocab.category_of(a)[:, :, None] == vocab.category_of(b)[:, None, :],
                0.5,
                np.where(vocab.chapter_of(a)[:, :, None] == vocab.chapter_of(b)[:, None, :], 0.25, 0.0),
            ),
        )
        pairs = np.where((a >= 0)[:, :, None] & (b >= 0)[:, None, :], pairs, 0.0)
        return pairs.max(axis=2, initial=0.0).sum(axis=1)

    gold_n, pred_n, _ = batch.sizes
    precision = _div(best(batch.pred, batch.gold), pred_n, 0.0)
    recall = _div(best(batch.gold, batch.pred), gold_n, 0.0)
    return _div(2 * precision * recall, precision + recall, 0.0)


def label_outcomes(batch: Batch, label_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N, L) true-positive, false-positive and false-negative indicators per case and label code (a code counts
    once per case)."""
    label_ids = np.asarray(label_ids, dtype=np.int64)
    size = int(max(label_ids.max(initial=-1), batch.gold.max(initial=-1), batch.pred.max(initial=-1))) + 1
    position = np.full(size, -1, dtype=np.int64)
    position[label_ids] = np.arange(len(label_ids))
    in_gold, in_pred = _hits(batch.gold, position, len(label_ids)), _hits(batch.pred, position, len(label_ids))
    return in_gold & in_pred, ~in_gold & in_pred, in_gold & ~in_pred


def _hits(rows: np.ndarray, position: np.ndarray, n_labels: int) -> np.ndarray:
    """(N, L) whether each label code is among a row's ids (ids scattered to their label positions)."""
    columns = np.where(rows >= 0, position[np.clip(rows, 0, None)], -1)
    out = np.zeros((rows.shape[0], n_labels), dtype=bool)
    r, c = np.nonzero(columns >= 0)
    out[r, columns[r, c]] = True
    return out


def label_averages(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, over: np.ndarray) -> dict[str, np.ndarray]:
    """Micro and macro precision, recall and F1 from totals, vectorised over any leading (replicate) axes.

    ``tp``, ``fp``, ``fn``: (..., L) totals per label code; ``over``: (...,) over-diagnosed prediction entries, micro's
    false positives (the sum of ``fp`` in robust extraction; with reference extraction a repeated code counts each
    time, as the study's ``recall_precision.py`` counted it). Macro averages, as the study's script: recall over the
    codes some case has, precision over the codes some answer names, F1 over the codes either touches.

    >>> out = label_averages(np.array([1.0, 0.0]), np.array([1.0, 0.0]), np.array([0.0, 2.0]), np.array(1.0))
    >>> {k: round(float(v), 3) for k, v in out.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'micro_precision': 0.5, 'micro_recall': 0.333, 'micro_f1': 0.4, 'macro_precision': 0.5, 'macro_recall': 0.5,
     'macro_f1': 0.333}
    """
    total_tp, total_fn = tp.sum(axis=-1), fn.sum(axis=-1)

    def macro(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        defined = den > 0
        ratio = _div(num, den, 0.0)
        return _div(np.where(defined, ratio, 0.0).sum(axis=-1), defined.sum(axis=-1).astype(float), 0.0)

    return {
        "micro_precision": _div(total_tp, total_tp + over, 0.0),
        "micro_recall": _div(total_tp, total_tp + total_fn, 0.0),
        "micro_f1": _div(2 * total_tp, 2 * total_tp + over + total_fn, 0.0),
        "macro_precision": macro(tp, tp + fp),
        "macro_recall": macro(tp, tp + fn),
        "macro_f1": macro(2 * tp, 2 * tp + fp + fn),
    }


Unit = Literal["percent", "count", "number"]
Scope = Literal["case", "label", "source"]
"""Where a metric's value comes from: ``case``, a per-case value aggregated over cases (scores.json ``mean``/``ci``,
a ``per_case.csv`` column, paired tests in ``compare``); ``label``, a ratio of totals over the label space
(``label_averages``); ``source``, a source's own study metric (``source_metrics[table]``, e.g. LDR-eICU's recalls)."""


@dataclass(frozen=True)
class Metric:
    """A registry entry: everything the score, compare, console and report stages need to know about one metric.

    ``better``: +1 higher is better, -1 lower is better, 0 neither. ``binary``: per-case values are 0/1, so paired
    exact tests apply. ``unit``: how it is shown (a ``percent`` is a proportion shown x100). ``table``: the report
    table it belongs to (``REPORT_TABLES``; for a source metric, also its key under ``source_metrics``).
    ``compared``: a row of the report's comparison table. ``function``: the per-case function (case scope only).
    """

    function: Callable[[Batch], np.ndarray] | None
    label: str
    table: str
    aggregate: Aggregate = "mean"
    better: Literal[-1, 0, 1] = 1
    binary: bool = False
    unit: Unit = "percent"
    compared: bool = False
    scope: Scope = "case"


def _label_average(kind: str, what: str) -> Metric:
    return Metric(None, f"{kind.capitalize()} {'F1' if what == 'f1' else what}", "label_averages", scope="label")


def _eicu(label: str) -> Metric:
    return Metric(None, label, "study_eicu", scope="source")


REGISTRY: dict[str, Metric] = {
    "primary_accuracy": Metric(primary_accuracy, "Primary acc.", "accuracy", binary=True, compared=True),
    "exact_match": Metric(exact_match, "Exact match", "accuracy", binary=True, compared=True),
    "jaccard": Metric(jaccard, "Jaccard", "accuracy", compared=True),
    "precision": Metric(precision, "Precision", "accuracy"),
    "recall": Metric(recall, "Recall", "accuracy"),
    "f1": Metric(f1, "F1", "accuracy", compared=True),
    "hamming_loss": Metric(hamming_loss, "Hamming loss", "accuracy", better=-1),
    "miss_rate": Metric(miss_rate, "Miss rate", "accuracy", better=-1, compared=True),
    "overdiagnosis_rate": Metric(overdiagnosis_rate, "Overdiagnosis rate", "accuracy", better=-1, compared=True),
    "recall_at_3": Metric(recall_at(3), "Recall@3", "assistance"),
    "recall_at_5": Metric(recall_at(5), "Recall@5", "assistance"),
    "recall_at_10": Metric(recall_at(10), "Recall@10", "assistance", compared=True),
    "relevance_1": Metric(relevance(1), "L1 exact", "assistance", binary=True, compared=True),
    "relevance_2": Metric(relevance(2), "L2 same category", "assistance", better=0, binary=True),
    "relevance_3": Metric(relevance(3), "L3 same chapter", "assistance", better=0, binary=True),
    "relevance_4": Metric(relevance(4), "L4 unrelated", "assistance", better=-1, binary=True),
    "invalid_rate": Metric(invalid_rate, "Invalid rate", "usage", better=-1, binary=True, compared=True),
    "missed_codes": Metric(missed_codes, "Missed codes", "accuracy", "sum", better=-1, unit="count"),
    "overdiagnosed_codes": Metric(overdiagnosed_codes, "Overdiagnosed codes", "accuracy", "sum", -1, unit="count"),
    "mean_predictions": Metric(predictions_per_case, "Codes / answer", "usage", better=0, unit="number"),
    # the study's micro and macro precision, recall and F1 over the label space: ratios of totals
    **{
        f"{kind}_{what}": _label_average(kind, what)
        for kind in ("micro", "macro")
        for what in ("precision", "recall", "f1")
    },
    # LDR-eICU's own recalls, as the study's eICU evaluation defined them (score.eicu_metrics; in this order)
    "recall_any_at_20": _eicu("Recall@20 (any)"),
    "recall_any_at_10": _eicu("Recall@10 (any)"),
    "recall_any_at_5": _eicu("Recall@5 (any)"),
    "recall_any_at_3": _eicu("Recall@3 (any)"),
    "primary_diseases_recall": _eicu("Primary recall"),
    "major_diseases_recall": _eicu("Major recall"),
}
"""The one registry: name -> its entry, every scope. Adding a metric is one entry here (and its test): a per-case
one with its function; a label or source one beside the code that computes its totals."""

METRICS: dict[str, Metric] = {name: metric for name, metric in REGISTRY.items() if metric.scope == "case"}
"""The per-case metrics: in this order the keys of scores.json ``mean`` and the columns of ``per_case.csv``."""
LABEL_AVERAGES = tuple(name for name, metric in REGISTRY.items() if metric.scope == "label")
_SOURCE_TABLES = dict.fromkeys(metric.table for metric in REGISTRY.values() if metric.scope == "source")
SOURCE_METRICS: dict[str, tuple[str, ...]] = {
    table: tuple(name for name, metric in REGISTRY.items() if metric.scope == "source" and metric.table == table)
    for table in _SOURCE_TABLES
}
"""A source's study metrics by their key under scores.json ``source_metrics``, in registry order."""

BINARY = tuple(name for name, metric in METRICS.items() if metric.binary)


def get_metric(name: str) -> Metric:
    """The metric called ``name``, of any scope; an unknown name fails listing the valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise MedldrError(f"unknown metric {name!r}; valid: {', '.join(REGISTRY)}") from None


def estimate(scores: Scores, name: str) -> tuple[float, float | None, float | None] | None:
    """A registered metric's (value, CI low, CI high) in a run's scores, wherever its scope keeps it; None when the
    run has no value for it (a source metric of another source, scores of an older version)."""
    metric = get_metric(name)
    if metric.scope == "case":
        values, intervals = scores.mean, scores.ci
    elif metric.scope == "label":
        values, intervals = scores.label_averages, scores.label_averages_ci
    else:
        found = (scores.source_metrics or {}).get(metric.table) or {}
        values = {key: entry["value"] for key, entry in found.items()}
        intervals = {key: tuple(entry["ci"]) for key, entry in found.items() if "ci" in entry}
    if name not in values:
        return None
    low, high = intervals.get(name, (None, None))
    return float(values[name]), low, high


def per_case(batch: Batch) -> np.ndarray:
    """(N, len(METRICS)) matrix of every metric's per-case values, columns in METRICS order."""
    return np.column_stack([metric.function(batch) for metric in METRICS.values() if metric.function is not None])


def aggregate(values: np.ndarray) -> dict[str, float]:
    """Run-level numbers from a per-case matrix: means, or sums for the totals."""
    out = {}
    for column, (name, metric) in enumerate(METRICS.items()):
        column_values = values[:, column]
        total = metric.aggregate == "sum"
        out[name] = float(column_values.sum() if total else column_values.mean()) if len(values) else 0.0
    return out
