"""GRPO rewards on hand-worked completions (TRL's conversational and standard formats)."""

from __future__ import annotations

from typing import Any

import pytest

from medldr.train.rewards import (
    REWARDS,
    format_reward,
    hierarchy_reward,
    jaccard_reward,
    logging_cases,
    think_reward,
)


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


COMPLETIONS = [
    _message('<think>AKI from the labs</think>\n{"top10": ["5849"], "predictions": ["5849"]}'),
    _message('{"top10": ["5849"], "predictions": ["5849"]}'),  # no reasoning block
    _message("<think>AKI</think> the answer is 5849"),  # reasoning, but no parsable answer
    _message('<think>  </think>{"top10": ["5849"], "predictions": ["5849"]}'),  # an empty reasoning block
    _message("<think>AKI"),  # cut off inside the reasoning
    _message('{"predictions": ["5849"]}'),  # no top10, which every prompt asks for
]


def test_format_reward_asks_what_the_prompt_asks() -> None:
    """Issue 18: the format reward asked for <think>…</think>, which no prompt style asks for (inert or
    contradictory in grpo_llama8b_ours.yaml). It now rewards the answer schema the prompts ask for."""
    assert format_reward(COMPLETIONS) == [1.0, 1.0, 0.0, 1.0, 0.0, 0.0]


def test_think_reward() -> None:
    assert think_reward(COMPLETIONS) == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


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


def test_the_hierarchy_reward_climbs_the_label_space_s_revision() -> None:
    """LDR-eICU trains in ICD-10: E87.6 vs E87.0 share category E87 (0.5), J96.00 vs J44.1 chapter J00-J99 (0.25).
    Read as ICD-9 the same characters give 0.25 (E-code category E876 vs E870, chapter E) and 0 (no chapter)."""
    completions = [_message('{"predictions": ["E87.0"]}'), _message('{"predictions": ["J44.1"]}')]
    eicu = ["E876", "E870", "J9600", "J441"]
    rewards = hierarchy_reward(completions, [["E876"], ["J9600"]], [eicu, eicu], code_system=["icd10", "icd10"])
    assert rewards == pytest.approx([0.5, 0.25])
    assert hierarchy_reward(completions, [["E876"], ["J9600"]], [eicu, eicu]) == pytest.approx([0.25, 0.0])


def test_registry_names_the_recipe_keys() -> None:
    assert set(REWARDS) == {"jaccard", "format", "hierarchy", "think"}


def test_a_completion_without_codes_scores_zero_and_never_raises() -> None:
    """A diagnosis named without its code used to raise inside the hierarchy reward (the parser's MedldrError was not
    caught), crashing a GRPO run on the first such completion."""
    for reward, with_code in ((jaccard_reward, 1 / 2), (hierarchy_reward, 2 / 3)):
        assert reward(['{"predictions": ["Pneumonia"]}'], [["486"]]) == [0.0]
        assert reward([_message('{"predictions": ["Pneumonia", "486"]}')], [["486"]]) == [pytest.approx(with_code)]
    assert think_reward([_message('<think>x</think>{"predictions": ["Pneumonia"]}')]) == [1.0]
    assert jaccard_reward([None, 17, [{"content": None}]], [["486"]] * 3) == [0.0, 0.0, 0.0]  # type: ignore[list-item]


def test_rewards_score_in_the_label_space_as_the_metrics_do() -> None:
    """Codes outside the label space count for nothing, as in scoring: the study-style Jaccard reward equals the
    score stage's jaccard, and a category code outside the space earns no hierarchy credit."""
    space = ["42833", "5849", "486"]
    completions = [_message('{"predictions": ["42833", "4019"]}'), _message('{"predictions": ["428"]}')]
    assert jaccard_reward(completions, [["42833"], ["42833"]], label_space=[space, space]) == [1.0, 0.0]
    assert hierarchy_reward(completions, [["42833"], ["42833"]], label_space=[space, space]) == [1.0, 0.0]
    assert hierarchy_reward(completions[1:], [["42833"]]) == [0.5]  # no label space given: every code counts


def test_rewards_equal_the_scored_metrics_on_a_run() -> None:
    """One code path: the reward of each answer equals the per-case value ``medldr score`` computes for it."""
    from medldr.score import METRICS, encode, extract

    space = ["42833", "5849", "486", "4019", "0389"]
    golds = [["42833", "5849"], ["486"], ["0389", "4019"], ["5849"]]
    texts = [
        '{"predictions": ["42833", "486"]}',
        '{"predictions": ["486"]}',
        '{"predictions": ["4019", "9999"]}',
        "no answer",
    ]
    answers = [extract(t) for t in texts]
    batch = encode(
        golds,
        [a.predictions for a in answers],
        primary=[g[0] for g in golds],
        labels=space,
        valid=[a.valid for a in answers],
    )
    expected = METRICS["jaccard"].function(batch).tolist()
    assert jaccard_reward(texts, golds, label_space=[space] * 4) == expected


def test_a_template_opened_think_leaves_a_cut_off_draft_unrewarded() -> None:
    """Issue 18: DeepSeek-R1-Distill templates open <think>, so completions hold only </think>. A completion cut off
    inside its reasoning, holding a correct draft and no closing tag, earned the full Jaccard reward."""
    draft = 'AKI? draft {"top10": ["5849"], "predictions": ["5849"]} but let me check the'
    done = 'AKI from the creatinine.</think>{"top10": ["5849"], "predictions": ["5849"]}'
    gold = [["5849"], ["5849"]]
    assert jaccard_reward([draft, done], gold, think_opened=[True, True]) == [0.0, 1.0]
    assert format_reward([draft, done], think_opened=[True, True]) == [0.0, 1.0]
    assert jaccard_reward([draft, done], gold) == [1.0, 1.0]  # a template that opens nothing: the draft is the answer


def test_the_unparsable_share_is_logged_each_step() -> None:
    """Issue 18: the share of completions no answer could be read from goes to TRL's per-step log."""
    logged: list[tuple[str, float]] = []
    completions = ['{"top10": ["486"], "predictions": ["486"]}', "I cannot tell.", "<think>cut"]
    jaccard_reward(completions, [["486"]] * 3, log_metric=lambda name, value: logged.append((name, value)))
    assert logged == [("answers/unparsable", pytest.approx(2 / 3))]


def test_a_completion_cut_off_at_the_length_limit_earns_nothing() -> None:
    """Issue 18: a truncated completion holding a correct answer earned the full reward; scoring counts it invalid
    (finish_reason length). TRL passes the completion's token ids: no end-of-sequence id at the end means cut off."""
    text = '{"top10": ["5849"], "predictions": ["5849"]}'
    kwargs = {"completion_ids": [[5, 6, 2], [5, 6, 7]], "stop_ids": [[2], [2]]}
    assert jaccard_reward([text, text], [["5849"], ["5849"]], **kwargs) == [1.0, 0.0]
    assert format_reward([text, text], **kwargs) == [1.0, 0.0]


def test_the_logged_completions_name_their_case_and_finish_reason_once() -> None:
    """Issue 18: TRL's completions log gains case_id and finish_reason (one column each, from the wrapped reward
    only), so a completion logged during GRPO is a responses record `medldr score` can score."""
    columns: dict[str, list[Any]] = {}
    log = {"log_extra": lambda name, values: columns.setdefault(name, []).extend(values)}
    kwargs = {"case_id": ["1/2/0", "1/2/0"], "completion_ids": [[5, 2], [5, 6]], "stop_ids": [[2], [2]], **log}
    text = '{"top10": ["5849"], "predictions": ["5849"]}'
    wrapped = logging_cases(jaccard_reward)
    assert wrapped.__name__ == "jaccard_reward"  # TRL names the reward column after the function
    assert wrapped([text, text], [["5849"], ["5849"]], **kwargs) == [1.0, 0.0]
    format_reward([text, text], **kwargs)  # an unwrapped reward adds no column
    assert columns == {"case_id": ["1/2/0", "1/2/0"], "finish_reason": ["stop", "length"]}
