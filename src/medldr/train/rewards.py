"""GRPO rewards: pure functions with TRL's signature ``f(completions, solution, **kwargs) -> list[float]``.

Every reward reads the completion with the score stage's extraction (``medldr.answer.extract``): one parser for
training and evaluation, and the accuracy rewards compute through the score stage's metric functions (one code path
for "how good is this answer"), with predictions outside the label space dropped as scoring drops them.
``solution`` holds each prompt's gold codes (primary first) and ``label_space`` its label codes, as the dataset
columns of those names. A completion that cannot be read is an invalid answer: reward 0, never an exception.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from medldr.answer import Answer, extract, split_reasoning
from medldr.icd import CodeSystem, normalize_code
from medldr.score import metrics
from medldr.score.encode import Batch, encode

log = logging.getLogger(__name__)
UNREADABLE: Counter[str] = Counter()
"""Completions no reader could make sense of (each scored 0 and logged); a run's count, for its logs."""


def completion_text(completion: Any) -> str:
    """The text of a completion, in TRL's standard (a string) or conversational (a list of messages) format."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return str(completion)


def _answer(completion: Any, opened: bool = False, finish_reason: str | None = None) -> Answer:
    """The score stage's reading of a completion (``opened``: the chat template opened ``<think>``, so a completion
    without ``</think>`` is cut off inside its reasoning; ``finish_reason`` as a provider gives it); one that cannot
    be read at all is an invalid answer (reward 0), counted in ``UNREADABLE`` and logged, never an exception inside
    the trainer."""
    try:
        return extract(completion_text(completion), opened=opened, finish_reason=finish_reason)
    except Exception as err:  # a reward must never stop a GRPO run
        UNREADABLE["completions"] += 1
        log.warning("reward: an unreadable completion scored 0 (%s: %s)", type(err).__name__, err)
        return Answer(reason="unreadable completion")


def _metric(
    function: Callable[[Batch], np.ndarray],
    answer: Answer,
    gold: Sequence[str],
    labels: Sequence[str] | None,
    system: CodeSystem = "icd9",
) -> float:
    """One completion's value of a score-stage metric, its predictions filtered to the label space as scoring
    filters them (no label space given: every code counts). An invalid answer, or one that repeats a code (the
    study's reward rule), gets 0."""
    if not answer.valid or answer.repeated:
        return 0.0
    gold = [normalize_code(code) for code in gold]
    space = list(labels) if labels is not None else list(dict.fromkeys([*gold, *answer.predictions]))
    batch = encode([gold], [list(answer.predictions)], primary=gold[:1], labels=space, system=system)
    return float(function(batch)[0])


def jaccard(predicted: Answer, gold: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """|P ∩ G| / |P ∪ G| of a parsed answer (the score stage's ``jaccard``); 0 for an invalid answer or one that
    repeats a code (the study's rule).

    >>> jaccard(extract('{"predictions": ["5849", "486"]}'), ["5849", "4019"])
    0.3333333333333333
    >>> jaccard(extract('{"predictions": ["5849", "5849"]}'), ["5849"])
    0.0
    >>> jaccard(extract('{"predictions": ["5849", "486"]}'), ["5849"], labels=["5849", "4019"])  # 486 not scored
    1.0
    """
    return _metric(metrics.jaccard, predicted, gold, labels)


def hierarchy(
    predicted: Answer, gold: Sequence[str], labels: Sequence[str] | None = None, system: CodeSystem = "icd9"
) -> float:
    """ICD tree partial credit in the label space's revision ``system`` (the score stage's ``hierarchy_credit``: exact
    1, same category 0.5, same chapter 0.25, precision and recall combined harmonically); 0 for an invalid or
    repeating answer.

    >>> hierarchy(extract('{"predictions": ["42823"]}'), ["42833"])  # same category: 0.5 both ways
    0.5
    >>> round(hierarchy(extract('{"predictions": ["5849", "486"]}'), ["5849"]), 4)  # precision 0.5, recall 1
    0.6667
    """
    return _metric(metrics.hierarchy_credit, predicted, gold, labels, system)


def _spaces(label_space: list[Sequence[str]] | None, n: int) -> list[Sequence[str] | None]:
    """Each prompt's label space (the dataset's ``label_space`` column), or none."""
    return list(label_space) if label_space is not None else [None] * n


def _finish_reason(ids: Sequence[int] | None, stops: Sequence[int] | None) -> str | None:
    """``"length"`` for a completion that ended without an end-of-sequence token (TRL's own test for
    ``mask_truncated_completions``), as a provider reports a cut-off answer; else None."""
    return "length" if ids and stops and ids[-1] not in stops else None


def _read_all(completions: list[Any], kw: dict[str, Any]) -> list[Answer]:
    """Every completion read as scoring reads it: the dataset's ``think_opened`` column says whether the chat
    template opened ``<think>``, and TRL's ``completion_ids`` with the ``stop_ids`` column whether the completion was
    cut off (an invalid answer then, as in scoring). The share of unusable answers goes to TRL's per-step log as
    ``answers/unparsable`` when TRL passes its ``log_metric``."""
    n = len(completions)
    opened = kw.get("think_opened") or [False] * n
    ids, stops = kw.get("completion_ids") or [None] * n, kw.get("stop_ids") or [None] * n
    answers = [
        _answer(c, bool(o), _finish_reason(i, s)) for c, o, i, s in zip(completions, opened, ids, stops, strict=True)
    ]
    if callable(kw.get("log_metric")) and answers:
        kw["log_metric"]("answers/unparsable", sum(not a.valid for a in answers) / len(answers))
    return answers


def jaccard_reward(
    completions: list[Any], solution: list[Sequence[str]], label_space: list[Sequence[str]] | None = None, **kw: Any
) -> list[float]:
    """The study's GRPO reward: Jaccard accuracy of the predicted set (in the label space) against the gold set."""
    spaces = _spaces(label_space, len(completions))
    answers = _read_all(completions, kw)
    return [jaccard(a, s, ls) for a, s, ls in zip(answers, solution, spaces, strict=True)]


def format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1 when the final answer is in the schema every prompt style asks for (a parsable object with a ranked
    ``top10`` and the ``predictions``; reasoning before it or none; nothing cut off), else 0.

    >>> format_reward(['{"top10": ["5849"], "predictions": ["5849"]}', '{"predictions": ["5849"]}', "<think>Cr"])
    [1.0, 0.0, 0.0]
    """
    return [1.0 if a.valid and a.top10 else 0.0 for a in _read_all(completions, kwargs)]


def think_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1 when the completion reasons (closed by ``</think>``, opened by it or by the chat template) and then answers
    parsably, nothing cut off; else 0. Only for prompts that ask for ``<think>`` reasoning: a recipe pairing it with
    a style that does not is refused.

    >>> think_reward(['<think>Cr rose</think>{"top10": ["5849"], "predictions": ["5849"]}', '{"predictions": ["5"]}'])
    [1.0, 0.0]
    >>> think_reward(['Cr rose</think>{"predictions": ["5849"]}', '<think></think>{"predictions": ["5849"]}'])
    [1.0, 0.0]
    """
    answers = _read_all(completions, kwargs)
    reasoned = [bool(split_reasoning(completion_text(c))[1]) for c in completions]
    return [1.0 if a.valid and r else 0.0 for a, r in zip(answers, reasoned, strict=True)]


def hierarchy_reward(
    completions: list[Any], solution: list[Sequence[str]], label_space: list[Sequence[str]] | None = None, **kw: Any
) -> list[float]:
    """ICD hierarchy partial credit of the predictions in the label space (see :func:`hierarchy`), in the revision
    the dataset's ``code_system`` column names (ICD-9 without one)."""
    spaces = _spaces(label_space, len(completions))
    answers = _read_all(completions, kw)
    systems = kw.get("code_system") or ["icd9"] * len(completions)
    return [hierarchy(a, s, ls, c) for a, s, ls, c in zip(answers, solution, spaces, systems, strict=True)]


def logging_cases(reward: Callable[..., list[float]]) -> Callable[..., list[float]]:
    """``reward``, also adding each completion's ``case_id`` and ``finish_reason`` ("length" when cut off, else
    "stop") to TRL's completions log (``log_completions``), so every logged completion is a record of the responses
    interchange that ``medldr score`` scores. Wrap one reward only: TRL appends every call's columns."""

    @functools.wraps(reward)
    def logged(*args: Any, **kw: Any) -> list[float]:
        if callable(kw.get("log_extra")) and kw.get("case_id") is not None:
            n = len(kw["case_id"])
            ids, stops = kw.get("completion_ids") or [None] * n, kw.get("stop_ids") or [None] * n
            kw["log_extra"]("case_id", list(kw["case_id"]))
            kw["log_extra"]("finish_reason", [_finish_reason(i, s) or "stop" for i, s in zip(ids, stops, strict=True)])
        return reward(*args, **kw)

    return logged


REWARDS = {"jaccard": jaccard_reward, "format": format_reward, "hierarchy": hierarchy_reward, "think": think_reward}
"""Reward name (as in a recipe's ``reward_weights``) -> function."""
