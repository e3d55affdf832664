"""Recipes: the shipped ones validate; mistakes fail in one line with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medldr.errors import MedldrError
from medldr.train.config import GRPORecipe, SFTRecipe, load_recipe
from tests.conftest import run_cli

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("name", sorted(p.name for p in RECIPES.glob("*.yaml")))
def test_shipped_recipes_validate(name: str, small_cases: Path) -> None:
    data = yaml.safe_load((RECIPES / name).read_text())
    model = SFTRecipe if data["kind"] == "sft" else GRPORecipe
    recipe = model.model_validate(data | {"cases": str(small_cases)})
    assert recipe.kind == data["kind"]


def test_study_recipes_hold_the_study_settings() -> None:
    sft = yaml.safe_load((RECIPES / "sft_llama8b.yaml").read_text())
    grpo = yaml.safe_load((RECIPES / "grpo_llama8b.yaml").read_text())
    assert sft["learning_rate"] == 5e-6 and sft["epochs"] == 3 and sft["max_length"] == 8192
    assert grpo["num_generations"] == 7 and grpo["max_completion_length"] == 4096 and grpo["learning_rate"] == 1e-6
    assert grpo["temperature"] == 0.7 and grpo["reward_weights"] == {"jaccard": 1.0}


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
    with pytest.raises(MedldrError, match=r"recipe.yaml: model: Field required"):
        load_recipe(_write(tmp_path, good.replace(f"model: {model}\n", "")), "sft")
    with pytest.raises(MedldrError, match=r"cases: .* is not a file"):
        load_recipe(_write(tmp_path, good.replace(str(small_cases), str(tmp_path / "none.jsonl"))), "sft")
    with pytest.raises(MedldrError, match="a sft recipe, not grpo"):
        load_recipe(_write(tmp_path, good), "grpo")
    grpo = good.replace("kind: sft", "kind: grpo")  # GRPOTrainer's own rules, refused before a model loads
    with pytest.raises(MedldrError, match=r"recipe.yaml: recipe: batch_size x gradient_accumulation \(3 x 1\) must be"):
        load_recipe(_write(tmp_path, grpo + "batch_size: 3\nnum_generations: 2\n"), "grpo")
    with pytest.raises(MedldrError, match=r"recipe.yaml: recipe: reward_weights: give at least one"):
        load_recipe(_write(tmp_path, grpo + "batch_size: 2\nnum_generations: 2\nreward_weights: {}\n"), "grpo")


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
