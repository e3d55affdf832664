"""Self-consistency across rounds (the study's reliability dimension), vectorised over cases."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medldr.score.encode import distinct, member

TOP_N = (1, 2, 3, 5, 10)


def set_jaccard(rounds: Sequence[np.ndarray], empty: float = 1.0) -> np.ndarray:
    """Per case |∩_r S_r| / |∪_r S_r| over R padded id arrays (each (N, m); a repeated id counts once).

    ``empty`` is the value when every S_r is empty (all rounds agree on nothing: consistent).

    >>> a = np.array([[1, 2, -1]]); b = np.array([[2, 3, -1]])
    >>> set_jaccard([a, b]).tolist()
    [0.3333333333333333]
    """
    rounds = [distinct(r) for r in rounds]
    first = rounds[0]
    common = first >= 0
    for other in rounds[1:]:
        common &= member(first, other)
    union = (first >= 0).sum(axis=1)
    for index, current in enumerate(rounds[1:], start=1):
        seen = np.zeros(current.shape, dtype=bool)
        for earlier in rounds[:index]:
            seen |= member(current, earlier)
        union = union + ((current >= 0) & ~seen).sum(axis=1)
    out = np.full(first.shape[0], float(empty))
    np.divide(common.sum(axis=1), union, out=out, where=union > 0)
    return out


def reliability(top10: Sequence[np.ndarray], pred: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-case reliability values over R rounds (arrays aligned on the same cases, all answered validly).

    topn_jaccard_n: Jaccard of the rounds' top-n lists; consistency_top1: every round's first prediction equal and
    present; consistency_all: Jaccard of the rounds' prediction sets (1 when every set is empty).
    """
    out = {f"topn_jaccard_{n}": set_jaccard([t[:, :n] for t in top10]) for n in TOP_N}
    firsts = np.column_stack([p[:, 0] for p in pred])
    out["consistency_top1"] = ((firsts == firsts[:, :1]).all(axis=1) & (firsts[:, 0] >= 0)).astype(float)
    out["consistency_all"] = set_jaccard(list(pred))
    return out
