"""Cases -> training examples in the prompt styles of the run stage (the same templates: one source of truth).

SFT: a conversational prompt (system + user, exactly what ``medldr run`` sends) and the gold answer as the assistant
completion, optionally preceded by a teacher's reasoning in ``<think>…</think>`` where that teacher was right.
GRPO: the same prompt, and the gold codes as ``solution`` for the rewards.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from medldr.answer import extract
from medldr.icd import CodeSystem, LabelCode
from medldr.prompts import build_messages, load_template
from medldr.schema import Case, read_responses


def gold_codes(case: Case) -> list[str]:
    """The gold codes, primary first (the order the answer schema asks for)."""
    primary = case.top_1_icd.code
    return [primary, *(code for code in case.output_dict.output_icd_id if code != primary)]


TargetForm = Literal["medldr", "study"]


@dataclass(frozen=True)
class TeacherAnswer:
    """What rejection sampling keeps of a right answer: its reasoning and its ranked differential."""

    reasoning: str
    top10: tuple[str, ...] = ()


def ranked_top10(case: Case, labels: Sequence[LabelCode], differential: Sequence[str] = ()) -> list[str]:
    """Ten codes, as the prompt asks: the gold codes (primary first), then the teacher's differential when one was
    kept, then the label space's codes by how many cases of the cohort carry them (the build's counts; ties in
    label-space order), skipping any already listed. Fewer only when the label space has fewer than ten codes.

    >>> from medldr.schema import Case
    >>> case = Case.model_validate({"case_id": "1/2/0", "input_dict": {}, "top_1_icd": {"code": "486", "name": ""},
    ...     "output_dict": {"output_icd_id": ["486"], "output_icd_name": [""], "output_icd_id_and_name": [""]}})
    >>> labels = [LabelCode(code=c, name="", count=n) for c, n in [("4019", 9), ("486", 5), ("5849", 7), ("2724", 7)]]
    >>> ranked_top10(case, labels), ranked_top10(case, labels, ["2724", "9999"])
    (['486', '4019', '5849', '2724'], ['486', '2724', '4019', '5849'])
    """
    space = {label.code for label in labels}
    by_count = sorted(range(len(labels)), key=lambda i: (-(labels[i].count or 0), i))
    ordered = [*gold_codes(case), *(c for c in differential if c in space), *(labels[i].code for i in by_count)]
    return list(dict.fromkeys(ordered))[:10]


def gold_answer(
    case: Case, labels: Sequence[LabelCode], differential: Sequence[str] = (), form: TargetForm = "medldr"
) -> str:
    """The SFT target. ``medldr``: the run stage's schema, ``top10`` ten codes by :func:`ranked_top10` (the prompt
    asks for ten; gold alone taught the model to break it and made recall@k and top-n reliability degenerate) and
    the gold codes as ``predictions``. ``study``: the study's own form, ``{"diagnoses": [every gold code]}``."""
    codes = gold_codes(case)
    if form == "study":
        return json.dumps({"diagnoses": codes})
    return json.dumps({"top10": ranked_top10(case, labels, differential), "predictions": codes})


def teacher_reasoning(responses_file: Path, cases: Sequence[Case], labels: Iterable[str]) -> dict[str, TeacherAnswer]:
    """Rejection sampling: per case, the reasoning (and ranked list) of the first (round, line) whose answer's
    predictions (within the label space) equal the gold set; cases the teacher never got right, or answered without
    reasoning, are left out."""
    gold = {case.case_id: set(case.output_dict.output_icd_id) for case in cases}
    allowed = set(labels)
    kept: dict[str, TeacherAnswer] = {}
    for _, record in sorted(read_responses(responses_file), key=lambda pair: (pair[1].round, pair[0])):
        reasoning = getattr(record, "reasoning", None)
        if record.case_id not in gold or record.case_id in kept or not reasoning:
            continue
        answer = extract(record.text, finish_reason=record.finish_reason)
        if answer.valid and {c for c in answer.predictions if c in allowed} == gold[record.case_id]:
            kept[record.case_id] = TeacherAnswer(str(reasoning).strip(), answer.top10)
    return kept


def sft_examples(
    cases: Sequence[Case],
    *,
    task: str,
    style: str,
    labels: Sequence[LabelCode],
    reasoning: dict[str, TeacherAnswer] | None = None,
    form: TargetForm = "medldr",
) -> list[dict[str, Any]]:
    """TRL conversational prompt-completion records (the loss is on the completion only)."""
    template = load_template(style)
    out = []
    for case in cases:
        if reasoning is not None and case.case_id not in reasoning:
            continue
        teacher = reasoning[case.case_id] if reasoning is not None else None
        target = gold_answer(case, labels, teacher.top10 if teacher else (), form)
        if teacher is not None:
            target = f"<think>\n{teacher.reasoning}\n</think>\n{target}"
        out.append(
            {
                "prompt": build_messages(case, task=task, template=template, labels=labels),
                "completion": [{"role": "assistant", "content": target}],
            }
        )
    return out


def grpo_examples(
    cases: Sequence[Case],
    *,
    task: str,
    style: str,
    labels: Sequence[LabelCode],
    think_opened: bool = False,
    stop_ids: Sequence[int] = (),
    system: CodeSystem = "icd9",
) -> list[dict[str, Any]]:
    """TRL conversational prompts with the gold codes in ``solution`` (the rewards' second argument), the label
    codes in ``label_space`` (the rewards score predictions in it, as scoring does), ``think_opened`` (the chat
    template opens ``<think>``: a completion without ``</think>`` was cut off in its reasoning) and ``stop_ids`` (the
    tokenizer's end-of-sequence ids: a completion not ending in one was cut off at the length limit) and
    ``case_id`` (so a logged completion can be scored against its case) and ``code_system`` (the label space's ICD
    revision, whose tree the hierarchy reward climbs)."""
    template = load_template(style)
    codes = [label.code for label in labels]
    return [
        {
            "prompt": build_messages(case, task=task, template=template, labels=labels),
            "case_id": case.case_id,
            "solution": gold_codes(case),
            "label_space": codes,
            "code_system": system,
            "think_opened": think_opened,
            "stop_ids": list(stop_ids),
        }
        for case in cases
    ]
