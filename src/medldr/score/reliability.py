"""Self-consistency across rounds (the study's reliability dimension), vectorised over cases.

Two definitions, one per extraction mode. medldr's (``robust``): the Jaccard index |∩ S_r| / |∪ S_r| of the rounds'
sets, 0 when every set is empty (rounds that name nothing agree on nothing: emptiness is not rewarded). The study's
(``reference``, as its ``check_consistency.py`` computes it): top-n overlap |∩ T_r[:n]| / n and prediction overlap
|∩ P_r| / |P_1| over the first round's list as written (the study divides by zero when P_1 is empty; 0 here).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from medldr.score.encode import distinct, member

TOP_N = (1, 2, 3, 5, 10)


def _shared(rounds: Sequence[np.ndarray]) -> np.ndarray:
    """Per case, how many distinct ids of the first round occur in every round."""
    first = distinct(rounds[0])
    common = first >= 0
    for other in rounds[1:]:
        common &= member(first, other)
    return common.sum(axis=1)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(numerator.shape[0])
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def set_jaccard(rounds: Sequence[np.ndarray]) -> np.ndarray:
    """Per case |∩_r S_r| / |∪_r S_r| over R padded id arrays (each (N, m); a repeated id counts once); 0 when every
    S_r is empty.

    >>> a = np.array([[1, 2, -1], [-1, -1, -1]]); b = np.array([[2, 3, -1], [-1, -1, -1]])
    >>> set_jaccard([a, b]).tolist()
    [0.3333333333333333, 0.0]
    """
    rounds = [distinct(r) for r in rounds]
    union = (rounds[0] >= 0).sum(axis=1)
    for index, current in enumerate(rounds[1:], start=1):
        seen = np.zeros(current.shape, dtype=bool)
        for earlier in rounds[:index]:
            seen |= member(current, earlier)
        union = union + ((current >= 0) & ~seen).sum(axis=1)
    return _ratio(_shared(rounds), union)


def reliability(
    top10: Sequence[np.ndarray], pred: Sequence[np.ndarray], *, study: bool = False
) -> dict[str, np.ndarray]:
    """Per-case reliability values over R rounds (arrays aligned on the same cases, all answered validly).

    topn_jaccard_n: agreement of the rounds' top-n lists; consistency_top1: every round's first prediction equal and
    present (both definitions); consistency_all: agreement of the rounds' prediction sets. ``study``: the study's
    overlaps instead of Jaccard (``pred`` then as written, repeats kept, for its |P_1|).
    """
    if study:
        out = {f"topn_jaccard_{n}": _shared([t[:, :n] for t in top10]) / n for n in TOP_N}
        out["consistency_all"] = _ratio(_shared(pred), (pred[0] >= 0).sum(axis=1))
    else:
        out = {f"topn_jaccard_{n}": set_jaccard([t[:, :n] for t in top10]) for n in TOP_N}
        out["consistency_all"] = set_jaccard(list(pred))
    firsts = np.column_stack([p[:, 0] for p in pred])
    out["consistency_top1"] = ((firsts == firsts[:, :1]).all(axis=1) & (firsts[:, 0] >= 0)).astype(float)
    return {key: out[key] for key in [*(f"topn_jaccard_{n}" for n in TOP_N), "consistency_top1", "consistency_all"]}
