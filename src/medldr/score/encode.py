"""Cases and answers -> padded integer arrays, so every metric is a few numpy operations over all cases at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from medldr.errors import MedldrError
from medldr.icd import CodeSystem, category, chapter, icd10_category, icd10_chapter

PAD = -1


class Vocabulary:
    """Code -> integer id, with each code's category and chapter ids (in the label space's ICD revision) for
    clinical relevance."""

    def __init__(self, system: CodeSystem = "icd9") -> None:
        self.system = system
        self._category_of, self._chapter_of = (
            (icd10_category, icd10_chapter) if system == "icd10" else (category, chapter)
        )
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
            self._category.append(self._group("cat:" + self._category_of(code)))
            self._chapter.append(self._group("chap:" + self._chapter_of(code)))
        except MedldrError:  # not a code of the system (a model's free text): related to nothing but itself
            self._category.append(self._group("other:" + code))
            self._chapter.append(self._group("other:" + code))
        return found

    def rows(self, lists: Sequence[Sequence[str]], width: int | None = None) -> np.ndarray:
        """A (len(lists), width) int32 array of ids, padded with PAD; lists longer than ``width`` are cut."""
        width = max((len(x) for x in lists), default=0) if width is None else width
        out = np.full((len(lists), max(width, 1)), PAD, dtype=np.int32)
        ids, new = self.ids, self.id
        flat = [ids[code] if code in ids else new(code) for codes in lists for code in codes[:width]]
        if flat:
            lengths = np.fromiter((min(len(codes), width) for codes in lists), dtype=np.int64, count=len(lists))
            starts = np.cumsum(lengths) - lengths
            rows = np.repeat(np.arange(len(lists)), lengths)
            out[rows, np.arange(len(flat)) - np.repeat(starts, lengths)] = flat
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
    order kept, each code once); top10: (N, 10) the raw ranked list (not filtered to the label space); valid: (N,)
    parsable answer (an invalid one has no predictions and no top10: it contributes nothing to any metric).
    pred_entries: the valid predictions with any repeats the answer held (the study's scripts counted a repeated
    over-diagnosed code twice; reference extraction keeps them), the same array as ``pred`` otherwise.
    """

    gold: np.ndarray
    primary: np.ndarray
    pred: np.ndarray
    top10: np.ndarray
    valid: np.ndarray
    n_labels: int
    vocab: Vocabulary
    pred_entries: np.ndarray

    @property
    def n(self) -> int:
        return int(self.gold.shape[0])

    @cached_property
    def sizes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(|G|, |P|, |P ∩ G|) per case as floats: what most metrics divide, computed once per batch."""
        gold_n = (self.gold >= 0).sum(axis=1)
        pred_n = (self.pred >= 0).sum(axis=1)
        inter = member(self.gold, self.pred).sum(axis=1)
        return gold_n.astype(float), pred_n.astype(float), inter.astype(float)


def encode(
    y_true: Sequence[Sequence[str]],
    y_pred: Sequence[Sequence[str]],
    *,
    primary: Sequence[str],
    labels: Sequence[str],
    top10: Sequence[Sequence[str]] | None = None,
    valid: Sequence[bool] | None = None,
    vocab: Vocabulary | None = None,
    repeats: bool = False,
    system: CodeSystem = "icd9",
) -> Batch:
    """Encode one round. ``y_pred`` is filtered to ``labels`` here (valid_prediction), order kept; an answer that is
    not ``valid`` is encoded as empty (its top10 too). ``repeats``: the answers' lists keep repeated codes (reference
    extraction) and the over-diagnosis counts see them.

    Pass one ``vocab`` to every round of a run: reliability compares ids across rounds; without one, relevance is
    measured in ``system``, the label space's ICD revision (its ``LabelSpace.system``).

    >>> b = encode([["5849", "486"]], [["486", "9999", "486"]], primary=["5849"], labels=["5849", "486"])
    >>> b.pred.tolist(), b.gold.tolist()
    ([[1]], [[0, 1]])
    """
    vocab = vocab or Vocabulary(system)
    label_set = set(labels)
    for code in labels:
        vocab.id(code)
    if not (len(y_true) == len(y_pred) == len(primary)):
        raise ValueError("y_true, y_pred and primary differ in length")
    valid_rows = [True] * len(y_true) if valid is None else [bool(v) for v in valid]
    top_lists = top10 if top10 is not None else [[] for _ in y_true]
    entries = [
        [code for code in codes if code in label_set] if ok else []
        for codes, ok in zip(y_pred, valid_rows, strict=True)
    ]
    kept = [list(dict.fromkeys(codes)) for codes in entries]
    pred = vocab.rows(kept)
    return Batch(
        gold=vocab.rows(y_true),
        primary=np.asarray([vocab.id(code) for code in primary], dtype=np.int32),
        pred=pred,
        top10=vocab.rows([codes if ok else [] for codes, ok in zip(top_lists, valid_rows, strict=True)], width=10),
        valid=np.asarray(valid_rows, dtype=bool),
        n_labels=len(label_set),
        vocab=vocab,
        pred_entries=vocab.rows(entries) if repeats and entries != kept else pred,
    )


def member(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(N, A) bool: whether each non-PAD ``values[i, a]`` occurs in ``rows[i, :]``."""
    return (values[:, :, None] == rows[:, None, :]).any(axis=2) & (values >= 0)


def distinct(rows: np.ndarray) -> np.ndarray:
    """``rows`` with every repeat of an id earlier in its row replaced by PAD (sets from lists that may repeat).

    >>> distinct(np.array([[4, 4, 7, 4]])).tolist()
    [[4, -1, 7, -1]]
    """
    width = rows.shape[1]
    earlier = np.tril(np.ones((width, width), dtype=bool), k=-1)  # earlier[j, i]: position i comes before j
    repeat = ((rows[:, :, None] == rows[:, None, :]) & earlier[None]).any(axis=2)
    return np.where(repeat, PAD, rows)
