"""GRPO rewards on hand-worked completions (TRL's conversational and standard formats)."""

from __future__ import annotations

import pytest

from medldr.train.rewards import REWARDS, format_reward, hierarchy_reward, jaccard_reward


def _message(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def test_jaccard_reward() -> None:
    completions = [
        _message('<think>creatinine 3.1</think>{"top10": ["5849", "486"], "predictions": ["5849", "486"]}'),
        _message('{"predictions": ["5849", "5849"]}'),  # a repeated code: 0, the study's rule
        _message("I cannot tell."),  # no answer: 0
        '```json\n{"top10": ["4019"], "predictions": ["4019", "5849", "486"]}\n```',  # standard format, a string
    ]
    solution = [["5849", "4019"], ["5849"], ["5849"], ["5849", "4019"]]
    assert jaccard_reward(completions, solution) == [1 / 3, 0.0, 0.0, 2 / 3]


def test_format_reward() -> None:
    completions = [
        _message('<think>AKI from the labs</think>\n{"top10": ["5849"], "predictions": ["5849"]}'),
        _message('{"top10": ["5849"], "predictions": ["5849"]}'),  # no reasoning block
        _message("<think>AKI</think> the answer is 5849"),  # reasoning, but no parsable answer
        _message('<think>  </think>{"predictions": ["5849"]}'),  # an empty reasoning block
        _message('<think>AKI'),  # cut off inside the reasoning
    ]
    assert format_reward(completions) == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_hierarchy_reward() -> None:
    completions = [
        _message('{"predictions": ["42833"]}'),  # exact: 1
        _message('{"predictions": ["42823"]}'),  # same category 428: precision 0.5, recall 0.5 -> 0.5
        _message('{"predictions": ["4019"]}'),  # same chapter 390-459: 0.25
        _message('{"predictions": ["5849"]}'),  # another chapter: 0
        _message('{"predictions": ["42833", "486"]}'),  # precision (1 + 0) / 2, recall 1 -> 2/3
    ]
    rewards = hierarchy_reward(completions, [["42833"]] * 5)
    assert rewards == pytest.approx([1.0, 0.5, 0.25, 0.0, 2 / 3])


def test_registry_names_the_recipe_keys() -> None:
    assert set(REWARDS) == {"jaccard", "format", "hierarchy"}
