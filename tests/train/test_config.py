"""Recipes: the shipped ones validate; mistakes fail in one line with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medldr.errors import MedldrError
from medldr.train.config import load_recipe, validate_recipe
from tests.conftest import run_cli
from tests.gates import needs_train

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
pytestmark = needs_train  # a recipe is TRL's config: validating one imports TRL


def _bf16_machine() -> bool:
    from transformers.utils import is_torch_bf16_gpu_available

    return is_torch_bf16_gpu_available()


@pytest.mark.parametrize("name", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_shipped_recipes_validate(name: str, small_cases: Path) -> None:
    data = yaml.safe_load((RECIPES / name).read_text()) | {"cases": str(small_cases)}
    if data.get("bf16") and not _bf16_machine():
        # the study's recipes are bf16 on GPUs: on this machine TRL refuses them, in one line; every other key holds
        with pytest.raises(MedldrError, match=r"^r.yaml: recipe: Your setup doesn't support bf16/gpu"):
            validate_recipe(data, data["kind"], "r.yaml")
        data["bf16"] = False
    recipe = validate_recipe(data, data["kind"], "r.yaml")
    assert recipe.kind == data["kind"] and str(recipe.cases) == str(small_cases)
    for key, value in data.items():  # each key reached TRL's (or medldr's) field of that name
        if key not in ("cases", "lora", "rewards", "lr_scheduler_type", "save_strategy"):
            assert getattr(recipe, key) == value, key
    assert recipe.lr_scheduler_type.value == data.get("lr_scheduler_type", "linear")


def test_study_recipes_hold_the_study_settings() -> None:
    sft = yaml.safe_load((RECIPES / "sft_llama8b.yaml").read_text())
    grpo = yaml.safe_load((RECIPES / "grpo_llama8b.yaml").read_text())
    assert sft["learning_rate"] == 5e-6 and sft["num_train_epochs"] == 3 and sft["max_length"] == 8192
    assert grpo["num_generations"] == 7 and grpo["max_completion_length"] == 4096 and grpo["learning_rate"] == 1e-6
    assert grpo["temperature"] == 0.7 and grpo["rewards"] == {"jaccard": 1.0}


def test_any_trl_option_works_without_a_medldr_change(small_cases: Path) -> None:
    """Options medldr never named (transformers' optimiser and clipping, TRL's NEFTune and loss type) reach the
    config the trainer is given, with TRL's defaults for the rest."""
    base = {"model": "bundled", "cases": str(small_cases), "bf16": False}
    sft = validate_recipe(base | {"optim": "adafactor", "max_grad_norm": 0.5, "neftune_noise_alpha": 5}, "sft", "r")
    assert (sft.optim.value, sft.max_grad_norm, sft.neftune_noise_alpha) == ("adafactor", 0.5, 5.0)
    assert type(sft).__mro__[1].__name__ == "SFTConfig" and sft.max_length == 1024  # TRL's default
    grpo = validate_recipe(
        base
        | {"per_device_train_batch_size": 4, "num_generations": 4, "loss_type": "dr_grpo", "epsilon": 0.3}
        | {"rewards": {"jaccard": 1.0, "hierarchy": 0.5}},
        "grpo",
        "r",
    )
    assert (grpo.loss_type, grpo.epsilon, grpo.reward_weights) == ("dr_grpo", 0.3, [1.0, 0.5])
    assert type(grpo).__mro__[1].__name__ == "GRPOConfig"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_mistakes_are_one_line(small_cases: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"  # a local model folder as check_model knows one (no weights are loaded here)
    model.mkdir()
    (model / "config.json").write_text("{}")
    good = f"kind: sft\nmodel: {model}\ncases: {small_cases}\noutput_dir: {tmp_path / 'out'}\n"
    with pytest.raises(MedldrError, match=r"org/model-8b: no such local model"):
        load_recipe(_write(tmp_path, good.replace(f"model: {model}", "model: org/model-8b")), "sft")
    with pytest.raises(MedldrError, match=r"recipe.yaml: learning_rat: unknown key"):
        load_recipe(_write(tmp_path, good + "learning_rat: 1e-5\n"), "sft")
    with pytest.raises(MedldrError, match=r"recipe.yaml: epochs: unknown key"):  # medldr's old name: TRL's is used
        load_recipe(_write(tmp_path, good + "epochs: 3\n"), "sft")
    with pytest.raises(MedldrError, match=r"recipe.yaml: learning_rate: Input should be a valid number"):
        load_recipe(_write(tmp_path, good + "learning_rate: fast\n"), "sft")
    with pytest.raises(MedldrError, match=r"recipe.yaml: model: Field required"):
        load_recipe(_write(tmp_path, good.replace(f"model: {model}\n", "")), "sft")
    with pytest.raises(MedldrError, match=r"cases: .* is not a file"):
        load_recipe(_write(tmp_path, good.replace(str(small_cases), str(tmp_path / "none.jsonl"))), "sft")
    with pytest.raises(MedldrError, match="a sft recipe, not grpo"):
        load_recipe(_write(tmp_path, good), "grpo")
    grpo = good.replace("kind: sft", "kind: grpo")  # GRPOTrainer's own rules, refused before a model loads
    grpo += "bf16: false\nnum_generations: 2\n"
    with pytest.raises(MedldrError, match=r"recipe.yaml: recipe: generation_batch_size \(3\) must be divisible by"):
        load_recipe(_write(tmp_path, grpo + "per_device_train_batch_size: 3\n"), "grpo")
    grpo += "per_device_train_batch_size: 2\n"
    with pytest.raises(MedldrError, match=r"recipe.yaml: recipe: rewards: give at least one"):
        load_recipe(_write(tmp_path, grpo + "rewards: {}\n"), "grpo")
    with pytest.raises(MedldrError, match=r"recipe.yaml: rewards.jacard.\[key\]: Input should be 'jaccard'"):
        load_recipe(_write(tmp_path, grpo + "rewards: {jacard: 1}\n"), "grpo")
    # issue 18: a reward for a format the recipe's prompt never asks for is refused, naming the recipe file
    with pytest.raises(MedldrError, match=r"recipe.yaml: recipe: rewards: 'think' rewards <think>.*'standard_expert"):
        load_recipe(_write(tmp_path, grpo + "rewards: {jaccard: 1, think: 0.2}\n"), "grpo")
    asks = tmp_path / "asks.txt"
    asks.write_text("Reason inside <think>...</think>, then answer in JSON with top10 and predictions.\n")
    accepted = load_recipe(_write(tmp_path, grpo + f"style: {asks}\nrewards: {{jaccard: 1, think: 0.2}}\n"), "grpo")
    assert accepted.reward_weights == [1, 0.2]


def test_nothing_is_pushed_or_tracked_off_the_machine(small_cases: Path, tmp_path: Path) -> None:
    """TRL's GRPO completions log (prompts and answers: the cases' text) can go to a public Hub dataset or a remote
    tracker, and a model to the Hub: each was accepted and failed (offline) or leaked only after training."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    good = f"kind: grpo\nmodel: {model}\ncases: {small_cases}\nbf16: false\nnum_generations: 2\n"
    for extra, match in [
        ("push_to_hub: true\n", r"recipe.yaml: recipe: push_to_hub: medldr trains offline"),
        ("hub_model_id: me/model\n", r"recipe.yaml: recipe: hub_model_id: medldr trains offline"),
        ("log_completions_hub_repo: me/logs\n", r"recipe.yaml: recipe: log_completions_hub_repo: medldr"),
        ("report_to: wandb\n", r"recipe.yaml: recipe: report_to: wandb may send .* off this machine"),
        ("report_to: [tensorboard, comet_ml]\n", r"recipe.yaml: recipe: report_to: comet_ml may send"),
        ("report_to: all\n", r"recipe.yaml: recipe: report_to: all may send"),
    ]:
        with pytest.raises(MedldrError, match=match):
            load_recipe(_write(tmp_path, good + extra), "grpo")
    assert load_recipe(_write(tmp_path, good + "report_to: tensorboard\nlog_completions: true\n"), "grpo")


def test_cli_errors_exit_2(small_cases: Path, tmp_path: Path) -> None:
    labels = small_cases.parent / "labels.txt"
    text = f"kind: sft\nmodel: meta-llama/Llama-3.1-8B\ncases: {small_cases}\nlabel_space: {labels}\noutput_dir: out\n"
    recipe = _write(tmp_path, text)
    result = run_cli("train", "sft", "--config", str(recipe))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "meta-llama/Llama-3.1-8B: no such local model" in result.stderr and "offline" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = run_cli("train", "grpo", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "missing.yaml: no such recipe" in result.stderr
    bad = _write(tmp_path, f"kind: sft\nmodel: bundled\ncases: {small_cases}\noutput_dir: x\nlora: {{rank: 8}}\n")
    result = run_cli("train", "sft", "--config", str(bad))
    assert result.returncode == 2 and "lora.rank: unknown key" in result.stderr


def test_cli_overrides_reach_the_recipe(small_cases: Path, tmp_path: Path) -> None:
    """`--output-dir` was refused ("output_dir: Input should be a valid string": the CLI passed a Path), so no run
    could put its model elsewhere than the recipe said."""
    from medldr.cli import _overrides

    recipe = _write(tmp_path, f"kind: sft\nmodel: bundled\ncases: {small_cases}\noutput_dir: x\n")
    given = _overrides(max_steps=3, output_dir=tmp_path / "elsewhere", model=None, limit=2)
    loaded = load_recipe(recipe, "sft", given)
    assert (loaded.output_dir, loaded.max_steps, loaded.limit) == (str(tmp_path / "elsewhere"), 3, 2)


def test_a_deepspeed_config_without_deepspeed_is_one_line(small_cases: Path, tmp_path: Path) -> None:
    """Issue 19: `accelerate launch … zero3.yaml` without DeepSpeed ended in accelerate's traceback. `medldr train
    --accelerate` checks the config's needs before starting any process."""
    import importlib.util

    from tests.conftest import cli_in_process

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("DeepSpeed is installed here")
    recipe = _write(tmp_path, f"kind: sft\nmodel: bundled\ncases: {small_cases}\noutput_dir: {tmp_path / 'out'}\n")
    zero3 = RECIPES / "accelerate" / "zero3.yaml"
    result = cli_in_process("train", "sft", "--config", str(recipe), "--accelerate", str(zero3))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"error: {zero3}: uses DEEPSPEED (distributed_type), but deepspeed is not installed: pip install deepspeed"
    )
    assert not (tmp_path / "out").exists()
