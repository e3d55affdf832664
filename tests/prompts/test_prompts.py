"""Prompt styles and task types: the messages a model gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from medldr.assemble import BuildConfig, build_cases
from medldr.errors import MedldrError
from medldr.icd import PAPER40
from medldr.prompts import STYLES, TASKS, build_messages, load_template, system_message, usable_tasks, user_message
from medldr.schema import BuildManifest, Case, read_cases, resolve_label_space
from medldr.sources import open_mimic
from tests.conftest import run_cli
from tests.mimic_tables import mini_mimic


@pytest.fixture(scope="module")
def full_case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    """A case with every field (ED and note modules present)."""
    root = mini_mimic(tmp_path_factory.mktemp("mimic"))
    out = tmp_path_factory.mktemp("cases")
    build_cases(open_mimic(root), out, BuildConfig(label_space="paper40"))
    cases = [c for split in ("train", "validation", "test") for c in read_cases(out / f"{split}.jsonl")]
    return next(c for c in cases if c.case_id == "1/101/1001")


def test_the_studys_styles_all_ask_for_the_answer_schema() -> None:
    """Its nine MedLDR styles ask for top10, its three LDR-eICU styles for top20."""
    assert len(STYLES) == 12 and len(TASKS) == 8
    for style in STYLES:
        template = load_template(style)
        ranked = '"top20"' if style.startswith("eicu_") else '"top10"'
        assert ranked in template.text and '"predictions"' in template.text, style
        assert not template.text.endswith("\n") and len(template.sha256) == 64


def test_system_message_is_instructions_then_label_list() -> None:
    space = resolve_label_space("paper40", Path("unused.jsonl"))
    text = system_message(load_template("strict_expert_designed"), space.labels)
    assert "from the 40 diseases listed below" in text
    instructions, header, codes = text.rsplit("\n", 2)
    assert instructions.endswith("- Extra comments or unclosed code blocks")
    assert header == "Each disease corresponds to the format icd_code:icd_name (Note: only use codes in the output):"
    assert codes.startswith("[ 4589:Hypotension, unspecified; 27651:Dehydration; ") and codes.endswith(" ]")
    assert codes.count(";") == len(PAPER40) - 1


def test_user_message_for_every_task(full_case: Case) -> None:
    case = full_case
    assert usable_tasks(case) == [task for task in TASKS if task != "eicu"]  # a MIMIC case has no patient_info
    lab_only = user_message(case, "lab")
    assert lab_only == "\n" + case.input_dict.lab
    everything = user_message(case, "all")
    blocks = [case.input_dict.lab, case.input_dict.ed_info, case.input_dict.family_history]
    assert everything.startswith("\n" + "\n".join(blocks))
    assert everything.endswith("\nThe report info:\n" + "\n---\n".join(case.input_dict.report))


def test_missing_fields_and_bad_names(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    case = read_cases(demo_build[0] / "test.jsonl")[0]
    assert usable_tasks(case) == ["lab", "lab_num", "lab_num+"]
    with pytest.raises(MedldrError, match=f"case {case.case_id} has no family_history, ed_chiefcomplaint"):
        user_message(case, "all")
    with pytest.raises(MedldrError, match="task 'everything': not one of lab, lab_num"):
        user_message(case, "everything")
    with pytest.raises(MedldrError, match="not one of strict_expert_designed"):
        load_template("friendly")
    custom = tmp_path / "mine.txt"
    custom.write_text("Answer as JSON with top10 and predictions from the $n_labels codes.\n")
    space = resolve_label_space(None, demo_build[0] / "test.jsonl")
    messages = build_messages(case, task="lab", template=load_template(str(custom)), labels=space.labels)
    assert messages[0]["content"].startswith(f"Answer as JSON with top10 and predictions from the {len(space)} codes.")
    assert [m["role"] for m in messages] == ["system", "user"]
    custom.write_text("\n")
    with pytest.raises(MedldrError, match="template is empty"):
        load_template(str(custom))


def test_prompts_cli(demo_build: tuple[Path, BuildManifest]) -> None:
    listing = run_cli("prompts")
    assert listing.returncode == 0 and "conservative_cot_based" in listing.stdout and "lab_num+" in listing.stdout
    cases = demo_build[0] / "test.jsonl"
    shown = run_cli("prompts", "show", "standard_cot_based", "--cases", str(cases), "--task", "lab_num+")
    assert shown.returncode == 0, shown.stderr
    assert "Think through this medical case step by step" in shown.stdout and "The ED info:" in shown.stdout
    missing = run_cli("prompts", "show", "standard_cot_based", "--cases", str(cases), "--task", "all")
    assert missing.returncode == 2 and "which task 'all' needs" in missing.stderr


def test_paper40_is_listed_in_the_study_prompt_order(demo_build: tuple[Path, BuildManifest]) -> None:
    from medldr.prompts.preview import preview_messages

    messages = preview_messages(
        demo_build[0] / "inference.jsonl", None, style="standard_expert_designed", task="lab", label_space="paper40"
    )
    listed = messages[0]["content"].rsplit("\n", 1)[1].strip("[] ").split("; ")
    codes = [item.split(":", 1)[0] for item in listed]
    assert codes[:6] == ["5849", "34982", "42823", "262", "43491", "29181"] and codes[-1] == "41519"
    assert sorted(codes) == sorted(PAPER40)


def test_the_default_task_is_the_richest_the_cases_support(
    full_case: Case, demo_build: tuple[Path, BuildManifest], tmp_path: Path
) -> None:
    """Issue 19: the fixed default `--task all` failed on the bundled demo (no ED module, no notes); the default is now
    the task with the most fields every case has, and the run manifest records which."""
    import json

    from medldr.prompts import richest_task
    from tests.run.fake_openai import FakeOpenAI

    demo = read_cases(demo_build[0] / "inference.jsonl")
    assert richest_task([full_case]) == "all" and richest_task(demo) == "lab_num+"
    out = tmp_path / "run"
    with FakeOpenAI(answer='{"top10": ["5849"], "predictions": ["5849"]}') as server:
        args = ["--model", "vllm:m", "--base-url", server.url, "--rounds", "1", "--limit", "2", "--out", str(out)]
        result = run_cli("run", str(demo_build[0] / "inference.jsonl"), *args, "-q")
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "manifest.json").read_text())["identity"]["task"] == "lab_num+"
    shown = run_cli("prompts", "show", "standard_expert_designed", "--cases", str(demo_build[0] / "inference.jsonl"))
    assert shown.returncode == 0 and "The microbiology tests" in shown.stdout
