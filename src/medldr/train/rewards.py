"""GRPO rewards: pure functions with TRL's signature ``f(completions, solution, **kwargs) -> list[float]``.

Every reward reads the completion with the score stage's extraction (``medldr.answer.extract``): one parser for
training and evaluation. ``solution`` holds each prompt's gold codes (primary first), as the dataset column of that
name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from medldr.answer import Answer, extract
from medldr.icd import category, chapter, normalize_code

_THINK_THEN_ANSWER = re.compile(r"^\s*<think>(?P<think>.*?)</think>(?P<answer>.*)$", re.DOTALL)


def completion_text(completion: Any) -> str:
    """The text of a completion, in TRL's standard (a string) or conversational (a list of messages) format."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    return str(completion)


def _answer(completion: Any) -> Answer:
    return extract(completion_text(completion))


def jaccard(predicted: Answer, gold: Sequence[str]) -> float:
    """|P ∩ G| / |P ∪ G| of a parsed answer; 0 for an invalid answer or one that repeats a code (the study's rule).

    >>> jaccard(extract('{"predictions": ["5849", "486"]}'), ["5849", "4019"])
    0.3333333333333333
    >>> jaccard(extract('{"predictions": ["5849", "5849"]}'), ["5849"])
    0.0
    """
    if not predicted.valid or predicted.repeated:
        return 0.0
    p, g = set(predicted.predictions), {normalize_code(c) for c in gold}
    return len(p & g) / len(p | g)


def _credit(code: str, others: set[str]) -> float:
    """1 for an exact match, 0.5 for the same ICD-9 category, 0.25 for the same chapter, else 0."""
    if code in others:
        return 1.0
    try:
        if category(code) in {category(o) for o in others}:
            return 0.5
        if chapter(code) in {chapter(o) for o in others}:
            return 0.25
    except ValueError:  # not an ICD-9 diagnosis code (MedldrError is a ValueError)
        return 0.0
    return 0.0


def hierarchy(predicted: Answer, gold: Sequence[str]) -> float:
    """Partial credit from the ICD-9 tree: the harmonic mean of a precision (each prediction's best credit against
    the gold codes) and a recall (each gold code's best credit against the predictions), credits 1 / 0.5 / 0.25 for
    exact / same category / same chapter; 0 for an invalid or repeating answer.

    >>> hierarchy(extract('{"predictions": ["42823"]}'), ["42833"])  # same category: 0.5 both ways
    0.5
    >>> round(hierarchy(extract('{"predictions": ["5849", "486"]}'), ["5849"]), 4)  # precision 0.5, recall 1
    0.6667
    """
    if not predicted.valid or predicted.repeated:
        return 0.0
    p, g = set(predicted.predictions), {normalize_code(c) for c in gold}
    precision = sum(_credit(c, g) for c in p) / len(p)
    recall = sum(_credit(c, p) for c in g) / len(g)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def well_formed(text: str) -> bool:
    """A ``<think>…</think>`` block with some reasoning, then a parsable answer (and nothing cut off).

    >>> well_formed('<think>Cr rose</think>{"top10": ["5849"], "predictions": ["5849"]}')
    True
    >>> well_formed('{"predictions": ["5849"]}'), well_formed('<think></think>{"predictions": ["5849"]}')
    (False, False)
    """
    match = _THINK_THEN_ANSWER.match(text)
    return bool(match and match["think"].strip() and extract(match["answer"]).valid)


def jaccard_reward(completions: list[Any], solution: list[Sequence[str]], **kwargs: Any) -> list[float]:
    """The study's GRPO reward: Jaccard accuracy of the predicted set against the gold set."""
    return [jaccard(_answer(c), s) for c, s in zip(completions, solution, strict=True)]


def format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1 when the completion reasons in ``<think>…</think>`` and then answers in the schema, else 0."""
    return [1.0 if well_formed(completion_text(c)) else 0.0 for c in completions]


def hierarchy_reward(completions: list[Any], solution: list[Sequence[str]], **kwargs: Any) -> list[float]:
    """ICD-9 hierarchy partial credit (see :func:`hierarchy`)."""
    return [hierarchy(_answer(c), s) for c, s in zip(completions, solution, strict=True)]


REWARDS = {"jaccard": jaccard_reward, "format": format_reward, "hierarchy": hierarchy_reward}
"""Reward name (as in a recipe's ``reward_weights``) -> function."""
