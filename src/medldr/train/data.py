"""Cases -> training examples in the prompt styles of the run stage (the same templates: one source of truth).

SFT: a conversational prompt (system + user, exactly what ``medldr run`` sends) and the gold answer as the assistant
completion, optionally preceded by a teacher's reasoning in ``<think>…</think>`` where that teacher was right.
GRPO: the same prompt, and the gold codes as ``solution`` for the rewards.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from medldr.answer import extract
from medldr.icd import LabelCode
from medldr.prompts import build_messages, load_template
from medldr.schema import Case, read_responses


def gold_codes(case: Case) -> list[str]:
    """The gold codes, primary first (the order the answer schema asks for)."""
    primary = case.top_1_icd.code
    return [primary, *(code for code in case.output_dict.output_icd_id if code != primary)]


def gold_answer(case: Case) -> str:
    """The target answer in the run stage's schema: the gold codes as both the ranked list and the predictions."""
    codes = gold_codes(case)
    return json.dumps({"top10": codes, "predictions": codes})


def teacher_reasoning(responses_file: Path, cases: Sequence[Case], labels: Iterable[str]) -> dict[str, str]:
    """Rejection sampling: per case, the reasoning of the first (round, line) whose answer's predictions (within the
    label space) equal the gold set; cases the teacher never got right, or answered without reasoning, are left out."""
    gold = {case.case_id: set(case.output_dict.output_icd_id) for case in cases}
    allowed = set(labels)
    kept: dict[str, str] = {}
    for _, record in sorted(read_responses(responses_file), key=lambda pair: (pair[1].round, pair[0])):
        reasoning = getattr(record, "reasoning", None)
        if record.case_id not in gold or record.case_id in kept or not reasoning:
            continue
        answer = extract(record.text, finish_reason=record.finish_reason)
        if answer.valid and {c for c in answer.predictions if c in allowed} == gold[record.case_id]:
            kept[record.case_id] = str(reasoning).strip()
    return kept


def sft_examples(
    cases: Sequence[Case],
    *,
    task: str,
    style: str,
    labels: Sequence[LabelCode],
    reasoning: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """TRL conversational prompt-completion records (the loss is on the completion only)."""
    template = load_template(style)
    out = []
    for case in cases:
        target = gold_answer(case)
        if reasoning is not None:
            if case.case_id not in reasoning:
                continue
            target = f"<think>\n{reasoning[case.case_id]}\n</think>\n{target}"
        out.append(
            {
                "prompt": build_messages(case, task=task, template=template, labels=labels),
                "completion": [{"role": "assistant", "content": target}],
            }
        )
    return out


def grpo_examples(cases: Sequence[Case], *, task: str, style: str, labels: Sequence[LabelCode]) -> list[dict[str, Any]]:
    """TRL conversational prompts with the gold codes in ``solution`` (the rewards' second argument) and the label
    codes in ``label_space`` (the rewards score predictions in it, as scoring does)."""
    template = load_template(style)
    codes = [label.code for label in labels]
    return [
        {
            "prompt": build_messages(case, task=task, template=template, labels=labels),
            "solution": gold_codes(case),
            "label_space": codes,
        }
        for case in cases
    ]
