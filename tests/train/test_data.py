"""Training data: the run stage's prompts, the gold answer as target (parsed by the score stage's extraction), and
a teacher's reasoning kept only where the teacher was right."""

from __future__ import annotations

import json
from pathlib import Path

from medldr.answer import extract
from medldr.prompts import build_messages, load_template
from medldr.schema import BuildManifest, read_cases, resolve_label_space
from medldr.train.data import TeacherAnswer, grpo_examples, sft_examples, teacher_reasoning
from tests.gates import needs_train


def test_sft_examples_use_the_run_prompts(demo_build: tuple[Path, BuildManifest]) -> None:
    cases_file = demo_build[0] / "train.jsonl"
    cases = read_cases(cases_file)[:3]
    labels = list(resolve_label_space(None, cases_file).labels)
    examples = sft_examples(cases, task="lab_num+", style="strict_cot_based", labels=labels)
    for case, example in zip(cases, examples, strict=True):
        expected = build_messages(case, task="lab_num+", template=load_template("strict_cot_based"), labels=labels)
        assert example["prompt"] == expected
        answer = extract(example["completion"][0]["content"])
        assert answer.valid and answer.predictions[0] == case.top_1_icd.code
        assert set(answer.predictions) == set(case.output_dict.output_icd_id)
        # issue 18: the prompt asks for ten ranked codes; the target held only the 1-3 gold codes
        assert len(answer.top10) == len(set(answer.top10)) == 10
        assert list(answer.top10[: len(answer.predictions)]) == list(answer.predictions)
        assert set(answer.top10) <= {label.code for label in labels}
    study = sft_examples(cases, task="lab_num+", style="strict_cot_based", labels=labels, form="study")
    primary = cases[0].top_1_icd.code
    gold = [primary, *(c for c in cases[0].output_dict.output_icd_id if c != primary)]
    assert json.loads(study[0]["completion"][0]["content"]) == {"diagnoses": gold}
    grpo = grpo_examples(cases, task="lab_num+", style="strict_cot_based", labels=labels)
    assert grpo[0]["prompt"] == examples[0]["prompt"] and grpo[0]["solution"][0] == cases[0].top_1_icd.code
    assert grpo[0]["code_system"] == "icd9"  # the hierarchy reward's revision travels with each prompt


def test_teacher_reasoning_is_kept_only_where_right(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    cases_file = demo_build[0] / "train.jsonl"
    cases = read_cases(cases_file)[:3]
    labels = list(resolve_label_space(None, cases_file).codes)
    right = json.dumps({"top10": cases[0].output_dict.output_icd_id, "predictions": cases[0].output_dict.output_icd_id})
    wrong = json.dumps({"top10": ["7802"], "predictions": ["7802"]})
    rows = [
        {"case_id": cases[0].case_id, "round": 0, "text": wrong, "reasoning": "wrong idea"},
        {"case_id": cases[0].case_id, "round": 1, "text": right, "reasoning": "right idea"},
        {"case_id": cases[1].case_id, "round": 0, "text": wrong, "reasoning": "also wrong"},
        {"case_id": cases[2].case_id, "round": 0, "text": right.replace(cases[0].case_id, ""), "reasoning": None},
    ]
    responses = tmp_path / "responses.jsonl"
    responses.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    kept = teacher_reasoning(responses, cases, labels)
    assert kept == {cases[0].case_id: TeacherAnswer("right idea", tuple(cases[0].output_dict.output_icd_id))}
    labels_full = list(resolve_label_space(None, cases_file).labels)
    examples = sft_examples(
        cases, task="lab_num+", style="standard_expert_designed", labels=labels_full, reasoning=kept
    )
    assert len(examples) == 1
    target = examples[0]["completion"][0]["content"]
    assert target.startswith("<think>\nright idea\n</think>\n") and extract(target).valid


@needs_train
def test_the_tokenizer_tells_whether_its_template_opens_think() -> None:
    """GRPO reads from the base model's chat template whether completions start inside <think> (recipes may say it
    with think_opened); checked on the bundled SmolLM2 tokenizer, with its own template and an R1-Distill-style one."""
    from transformers import AutoTokenizer

    from medldr.local_models import resolve_model
    from medldr.train.common import template_opens_think

    tokenizer = AutoTokenizer.from_pretrained(resolve_model("bundled"), local_files_only=True)
    assert template_opens_think(tokenizer) is False
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}<|Assistant|><think>\n{% endif %}"
    )
    assert template_opens_think(tokenizer) is True
