"""The loop closes on a CPU: the bundled SmolLM2-135M (its GGUF de-quantised into transformers) trains a few SFT
steps and a few GRPO steps on demo cases, and the result answers a case through `medldr run --model hf:...`."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.gates import needs_train


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train")


def _recipe(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def sft_model(small_cases: Path, workspace: Path) -> Path:
    labels = small_cases.parent / "labels.txt"
    recipe = _recipe(
        workspace,
        "sft.yaml",
        f"""kind: sft
model: bundled
cases: {small_cases}
label_space: {labels}
output_dir: {workspace / "sft"}
task: lab
lora: {{enabled: true, r: 4, alpha: 8, dropout: 0.0, merge: true}}
learning_rate: 1.0e-4
max_steps: 2
per_device_train_batch_size: 2
logging_steps: 1
gradient_checkpointing: false
save_strategy: "no"
max_length: 1024
""",
    )
    # through `--accelerate` with a one-process CPU config: the launch route the multi-GPU recipes take
    accelerate = _recipe(workspace, "cpu.yaml", 'distributed_type: "NO"\nnum_processes: 1\nuse_cpu: true\n')
    result = run_cli("train", "sft", "--config", str(recipe), "--accelerate", str(accelerate), cwd=workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"trained: {workspace / 'sft'}" in result.stdout
    return workspace / "sft"


@needs_train
def test_sft_logs_a_finite_loss_and_saves_a_model(sft_model: Path) -> None:
    manifest = json.loads((sft_model / "train_manifest.json").read_text())
    losses = [entry["loss"] for entry in manifest["log_history"] if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(loss) and loss > 0 for loss in losses)
    assert manifest["steps"] == 2 and manifest["saved"] == "merged model" and manifest["examples"] == 4
    assert (sft_model / "config.json").is_file() and (sft_model / "model.safetensors").is_file()
    assert not (sft_model / "adapter_config.json").exists()


@needs_train
def test_grpo_logs_rewards_and_the_result_answers_through_medldr_run(
    sft_model: Path, small_cases: Path, workspace: Path
) -> None:
    labels = small_cases.parent / "labels.txt"
    recipe = _recipe(
        workspace,
        "grpo.yaml",
        f"""kind: grpo
model: {sft_model}
cases: {small_cases}
label_space: {labels}
output_dir: {workspace / "grpo"}
task: lab
lora: {{enabled: true, r: 4, alpha: 8, dropout: 0.0}}
learning_rate: 1.0e-5
max_steps: 2
per_device_train_batch_size: 2
logging_steps: 1
gradient_checkpointing: false
save_strategy: "no"
num_generations: 2
max_completion_length: 16
rewards: {{jaccard: 1.0, format: 0.2, hierarchy: 0.5}}
""",
    )
    result = run_cli("train", "grpo", "--config", str(recipe), cwd=workspace)
    assert result.returncode == 0, result.stderr[-3000:]
    grpo = workspace / "grpo"
    manifest = json.loads((grpo / "train_manifest.json").read_text())
    steps = [entry for entry in manifest["log_history"] if "rewards/jaccard_reward/mean" in entry]
    assert len(steps) == 2 and manifest["saved"] == "LoRA adapter (base: base_model)"
    for entry in steps:
        for name in ("jaccard", "format", "hierarchy"):
            assert 0.0 <= entry[f"rewards/{name}_reward/mean"] <= 1.0
        assert 0.0 <= entry["answers/unparsable"] <= 1.0  # issue 18: logged every step
        assert math.isfinite(entry["loss"])
    assert (grpo / "adapter_config.json").is_file()
    assert json.loads((grpo / "adapter_config.json").read_text())["base_model_name_or_path"] == str(sft_model)

    run = run_cli(
        "run",
        str(small_cases),
        "--model",
        f"hf:{grpo}",
        "--task",
        "lab",
        "--label-space",
        str(labels),
        "--limit",
        "1",
        "--rounds",
        "1",
        "--max-tokens",
        "24",
        "--seed",
        "1",
        "--out",
        str(workspace / "run"),
        "--quiet",
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in (workspace / "run" / "responses.jsonl").read_text().splitlines()]
    answers = [line for line in lines if line.get("kind") != "header"]
    assert len(answers) == 1 and not answers[0].get("error") and answers[0]["usage"]["completion_tokens"] > 0
    run_manifest = json.loads((workspace / "run" / "manifest.json").read_text())
    assert run_manifest["data_use"]["decision"] == "allowed" and run_manifest["identity"]["model"] == f"hf:{grpo}"
    scored = run_cli("score", str(workspace / "run"), "--label-space", str(labels), "--quiet")  # scored like any run
    assert scored.returncode == 0, scored.stderr
    assert json.loads((workspace / "run" / "scores.json").read_text())["n_cases"] == 1
    # issue 18: a completion scores in training what it scores in `medldr score` (same text, same number)
    from medldr.schema import read_cases
    from medldr.train.data import gold_codes
    from medldr.train.rewards import jaccard_reward

    space = [line.strip() for line in labels.read_text().splitlines() if line.strip()]
    gold = {case.case_id: gold_codes(case) for case in read_cases(small_cases)}
    with open(workspace / "run" / "per_case.csv", newline="") as fh:
        scored = {row["case_id"]: row for row in csv.DictReader(fh)}
    for answer in answers:
        reward = jaccard_reward([answer["text"]], [gold[answer["case_id"]]], label_space=[space])[0]
        assert reward == pytest.approx(float(scored[answer["case_id"]]["jaccard"]))
