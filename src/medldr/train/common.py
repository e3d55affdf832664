"""What SFT and GRPO share: offline setup, the cases and label space, the base model, LoRA, TRL arguments, saving
the result so that ``medldr run --model hf:OUTPUT_DIR`` evaluates it, and the training manifest."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medldr._files import atomic_write_text
from medldr.errors import MedldrError
from medldr.icd import LabelCode
from medldr.prompts import require_task_fields
from medldr.run.providers.hf import resolve_model
from medldr.run.runner import package_versions
from medldr.schema import TRAIN_MANIFEST, Case, read_cases, resolve_label_space
from medldr.train.config import Recipe


def offline() -> None:
    """Nothing may reach a hub: every model and tokenizer comes from a local folder."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"


def training_cases(recipe: Recipe) -> tuple[list[Case], list[LabelCode]]:
    cases = read_cases(recipe.cases)[: recipe.limit]
    require_task_fields(cases, recipe.task, option="the recipe's task:", where=f"{recipe.cases}: ")
    if not cases:
        raise MedldrError(f"{recipe.cases}: no cases to train on")
    return cases, list(resolve_label_space(recipe.label_space, recipe.cases).prompt_labels)


def base_model(recipe: Recipe) -> tuple[Any, Any, Path]:
    """(model, tokenizer, local path) of the recipe's base model, in bf16 or fp32 as the recipe says."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(recipe.model)
    if (path / "adapter_config.json").is_file():
        raise MedldrError(f"{recipe.model}: an adapter folder; train from a full model (merge the adapter first)")
    dtype = torch.bfloat16 if recipe.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, path


def lora_config(recipe: Recipe) -> Any:
    if not recipe.lora.enabled:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=recipe.lora.r,
        lora_alpha=recipe.lora.alpha,
        lora_dropout=recipe.lora.dropout,
        target_modules=recipe.lora.target_modules,
        task_type="CAUSAL_LM",
    )


def trainer_arguments(recipe: Recipe) -> dict[str, Any]:
    """The TRL/transformers arguments both trainers take from a recipe."""
    return {
        "output_dir": str(recipe.output_dir),
        "learning_rate": recipe.learning_rate,
        "lr_scheduler_type": recipe.lr_scheduler,
        "warmup_steps": recipe.warmup_steps if recipe.warmup_steps < 1 else int(recipe.warmup_steps),
        "num_train_epochs": recipe.epochs,
        "max_steps": recipe.max_steps,
        "per_device_train_batch_size": recipe.batch_size,
        "gradient_accumulation_steps": recipe.gradient_accumulation,
        "gradient_checkpointing": recipe.gradient_checkpointing,
        "bf16": recipe.bf16,
        "seed": recipe.seed,
        "logging_steps": recipe.logging_steps,
        "save_strategy": "steps" if recipe.save_steps else "no",
        "save_steps": recipe.save_steps or 500,
        "report_to": "none",
        "disable_tqdm": True,
    }


def save_result(trainer: Any, recipe: Recipe, base: Path, started: str, n_examples: int) -> Path:
    """Write the trained model (merged, or the adapter naming its local base) and train_manifest.json."""
    out = Path(recipe.output_dir)
    model = trainer.model
    if recipe.lora.enabled and recipe.lora.merge:
        model = model.merge_and_unload()
    model.save_pretrained(out)
    trainer.processing_class.save_pretrained(out)
    history = trainer.state.log_history
    manifest = {
        "kind": recipe.kind,  # type: ignore[attr-defined]
        "recipe": recipe.model_dump(mode="json"),
        "base_model": str(base),
        "saved": "merged model" if not recipe.lora.enabled or recipe.lora.merge else "LoRA adapter (base: base_model)",
        "examples": n_examples,
        "steps": trainer.state.global_step,
        "log_history": history,
        "versions": package_versions(("torch", "transformers", "trl", "peft", "accelerate", "deepspeed", "vllm")),
        "started_at": started,
        "finished_at": now(),
    }
    atomic_write_text(out / TRAIN_MANIFEST, json.dumps(manifest, indent=2, default=str))
    return out


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
