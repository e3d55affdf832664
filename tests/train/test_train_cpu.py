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
target: study
lora: {{enabled: true, r: 8, alpha: 16, dropout: 0.0, merge: true}}
learning_rate: 2.0e-3
max_steps: 6
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
    assert len(losses) == 6 and all(math.isfinite(loss) and loss > 0 for loss in losses)
    assert manifest["steps"] == 6 and manifest["saved"] == "merged model" and manifest["examples"] == 4
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
max_completion_length: 32
temperature: 0.7
log_completions: true
num_completions_to_print: 1
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
    assert run_manifest["data_use"]["decision"] == "allowed" and run_manifest["identity"]["model"] == {
        "provider": "hf",
        "id": str(grpo),
    }
    scored = run_cli("score", str(workspace / "run"), "--label-space", str(labels), "--quiet")  # scored like any run
    assert scored.returncode == 0, scored.stderr
    assert json.loads((workspace / "run" / "scores.json").read_text())["n_cases"] == 1
    # issue 18: the completions logged during GRPO score in `medldr score` what they earned in training
    _logged_completions_score_as_rewarded(grpo / "completions", small_cases, labels, workspace / "logged")


def _logged_completions_score_as_rewarded(logged: Path, cases: Path, labels: Path, out: Path) -> None:
    """TRL's completions log (one parquet per logged step: completion, each reward, and medldr's case_id and
    finish_reason) becomes a responses interchange file; `medldr score` on it gives every completion, per (round,
    case), the Jaccard it was rewarded with."""
    import duckdb

    rows = duckdb.sql(
        f"SELECT step, completion, case_id, finish_reason, jaccard_reward "
        f"FROM read_parquet('{logged}/*.parquet') ORDER BY step"
    ).fetchall()
    assert len(rows) == 4 and {row[2] for row in rows} <= {json.loads(line)["case_id"] for line in cases.open()}
    out.mkdir()
    rounds: dict[str, int] = {}
    records, rewarded = [], {}
    for _step, completion, case_id, finish_reason, jaccard in rows:
        r = rounds[case_id] = rounds.get(case_id, -1) + 1
        text = completion[-1]["content"]  # conversational: the assistant message
        records.append({"case_id": case_id, "round": r, "text": text, "finish_reason": finish_reason})
        rewarded[(str(r), case_id)] = jaccard
    (out / "responses.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    scored = run_cli(
        "score",
        "--cases",
        str(cases),
        "--responses",
        str(out / "responses.jsonl"),
        "--label-space",
        str(labels),
        "--allow-missing",  # cases GRPO drew fewer times than others: their missing rounds are not compared
        "--out",
        str(out / "scores.json"),
        "--quiet",
    )
    assert scored.returncode == 0, scored.stderr
    with open(out / "per_case.csv", newline="") as fh:
        values = {(row["round"], row["case_id"]): row for row in csv.DictReader(fh)}
    assert any(jaccard > 0 for jaccard in rewarded.values()), records  # the SFT model answers: not only 0 = 0
    for key, jaccard in rewarded.items():
        assert jaccard == pytest.approx(float(values[key]["jaccard"])), (key, records)
