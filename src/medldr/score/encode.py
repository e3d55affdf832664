"""Cases and answers -> padded integer arrays, so every metric is a few numpy operations over all cases at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from medldr.errors import MedldrError
from medldr.icd import category, chapter

PAD = -1


class Vocabulary:
    """Code -> integer id, with each code's ICD-9 category and chapter ids for clinical relevance."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self._category: list[int] = []
        self._chapter: list[int] = []
        self._groups: dict[str, int] = {}

    def _group(self, name: str) -> int:
        return self._groups.setdefault(name, len(self._groups))

    def id(self, code: str) -> int:
        found = self.ids.get(code)
        if found is not None:
            return found
        found = self.ids[code] = len(self.ids)
        try:
            self._category.append(self._group("cat:" + category(code)))
            self._chapter.append(self._group("chap:" + chapter(code)))
        except MedldrError:  # not an ICD-9 code (a model's free text): related to nothing but itself
            self._category.append(self._group("other:" + code))
            self._chapter.append(self._group("other:" + code))
        return found

    def rows(self, lists: Sequence[Sequence[str]], width: int | None = None) -> np.ndarray:
        """A (len(lists), width) int32 array of ids, padded with PAD; lists longer than ``width`` are cut."""
        width = max((len(x) for x in lists), default=0) if width is None else width
        out = np.full((len(lists), max(width, 1)), PAD, dtype=np.int32)
        for row, codes in enumerate(lists):
            ids = [self.id(code) for code in codes[:width]]
            out[row, : len(ids)] = ids
        return out

    def category_of(self, ids: np.ndarray) -> np.ndarray:
        return _lookup(np.asarray(self._category, dtype=np.int32), ids)

    def chapter_of(self, ids: np.ndarray) -> np.ndarray:
        return _lookup(np.asarray(self._chapter, dtype=np.int32), ids)


def _lookup(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """table[ids] with PAD kept as PAD (-2 for padding so it never equals a real group or PAD of the other side)."""
    if table.size == 0:
        return np.full(ids.shape, -2, dtype=np.int32)
    return np.where(ids >= 0, table[np.clip(ids, 0, None)], -2)


@dataclass(frozen=True)
class Batch:
    """One round of N cases, encoded. Every array has N rows; PAD (-1) fills unused slots.

    gold: (N, G) gold label ids; primary: (N,) primary gold id; pred: (N, P) valid predictions (in the label space,
    order kept); top10: (N, 10) the raw ranked list (not filtered to the label space); valid: (N,) parsable answer.
    """

    gold: np.ndarray
    primary: np.ndarray
    pred: np.ndarray
    top10: np.ndarray
    valid: np.ndarray
    n_labels: int
    vocab: Vocabulary

    @property
    def n(self) -> int:
        return int(self.gold.shape[0])


def encode(
    y_true: Sequence[Sequence[str]],
    y_pred: Sequence[Sequence[str]],
    *,
    primary: Sequence[str],
    labels: Sequence[str],
    top10: Sequence[Sequence[str]] | None = None,
    valid: Sequence[bool] | None = None,
    vocab: Vocabulary | None = None,
) -> Batch:
    """Encode one round. ``y_pred`` is filtered to ``labels`` here (valid_prediction), order kept.

    Pass one ``vocab`` to every round of a run: reliability compares ids across rounds.

    >>> b = encode([["5849", "486"]], [["486", "9999", "486"]], primary=["5849"], labels=["5849", "486"])
    >>> b.pred.tolist(), b.gold.tolist()
    ([[1]], [[0, 1]])
    """
    vocab = vocab or Vocabulary()
    label_set = set(labels)
    for code in labels:
        vocab.id(code)
    if not (len(y_true) == len(y_pred) == len(primary)):
        raise ValueError("y_true, y_pred and primary differ in length")
    kept = [list(dict.fromkeys(code for code in codes if code in label_set)) for codes in y_pred]
    return Batch(
        gold=vocab.rows(y_true),
        primary=np.asarray([vocab.id(code) for code in primary], dtype=np.int32),
        pred=vocab.rows(kept),
        top10=vocab.rows(top10 if top10 is not None else [[] for _ in y_true], width=10),
        valid=np.ones(len(y_true), dtype=bool) if valid is None else np.asarray(valid, dtype=bool),
        n_labels=len(label_set),
        vocab=vocab,
    )


def member(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(N, A) bool: whether each non-PAD ``values[i, a]`` occurs in ``rows[i, :]``."""
    return (values[:, :, None] == rows[:, None, :]).any(axis=2) & (values >= 0)
