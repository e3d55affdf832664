"""What SFT and GRPO share: offline setup, the cases and label space, the base model, LoRA, TRL arguments, saving
the result so that ``medldr run --model hf:OUTPUT_DIR`` evaluates it, and the training manifest."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medldr._files import atomic_write_text, folder_lock
from medldr.errors import MedldrError
from medldr.icd import LabelSpace
from medldr.local_models import resolve_model
from medldr.prompts import require_task_fields, richest_task
from medldr.schema import TRAIN_MANIFEST, Case, read_cases, resolve_label_space
from medldr.train.fields import MedldrFields
from medldr.versions import package_versions


def training_cases(recipe: MedldrFields) -> tuple[list[Case], LabelSpace]:
    """The recipe's cases (its task settled) and their label space, whole: the prompts list its labels, the rewards
    climb its ICD revision's tree."""
    cases = read_cases(recipe.cases)[: recipe.limit]
    if recipe.task is None and cases:
        recipe.task = richest_task(cases)
    require_task_fields(cases, recipe.task, option="the recipe's task:", where=f"{recipe.cases}: ")
    if not cases:
        raise MedldrError(f"{recipe.cases}: no cases to train on")
    return cases, resolve_label_space(recipe.label_space, recipe.cases)


def base_model(recipe: MedldrFields) -> tuple[Any, Any, Path]:
    """(model, tokenizer, local path) of the recipe's base model, in bf16 or fp32 as the recipe says."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(recipe.model)
    if (path / "adapter_config.json").is_file():
        raise MedldrError(f"{recipe.model}: an adapter folder; train from a full model (merge the adapter first)")
    dtype = torch.bfloat16 if recipe.bf16 else torch.float32  # type: ignore[attr-defined]
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, path


def template_opens_think(tokenizer: Any) -> bool:
    """Whether the chat template's generation prompt ends by opening ``<think>`` (DeepSeek-R1-Distill templates do):
    the model's completions then hold only the closing tag."""
    try:
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}], add_generation_prompt=True, tokenize=False
        )
    except Exception:  # no chat template at all: nothing opened
        return False
    return str(prompt).rstrip().endswith("<think>")


def lora_config(recipe: MedldrFields) -> Any:
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


def output_lock(recipe: MedldrFields) -> AbstractContextManager[None]:
    """One writer per output folder: the main process of a (possibly distributed) training holds OUTPUT_DIR; the
    other ranks of the same launch write through it."""
    if os.environ.get("RANK", "0") != "0":
        return nullcontext()
    return folder_lock(Path(recipe.output_dir))  # type: ignore[attr-defined]


def fit(
    recipe: MedldrFields,
    trainer_class: type,
    examples: list[dict[str, Any]] | Callable[[Any], list[dict[str, Any]]],
    **extra: Any,
) -> Path:
    """Holding OUTPUT_DIR (``output_lock``, taken before the model loads): load the base model, train with TRL's
    ``trainer_class`` on ``examples`` (or on ``examples(tokenizer)``, for data that depends on the base model's
    tokenizer), save. ``extra``: the trainer's own arguments (GRPO's reward functions)."""
    from datasets import Dataset

    with output_lock(recipe):
        started = now()
        model, tokenizer, base = base_model(recipe)
        if callable(examples):
            examples = examples(tokenizer)
        trainer = trainer_class(
            model=model,
            args=recipe,
            train_dataset=Dataset.from_list(examples),
            processing_class=tokenizer,
            peft_config=lora_config(recipe),
            **extra,
        )
        trainer.train()
        return save_result(trainer, recipe, base, started, len(examples))


def save_result(trainer: Any, recipe: MedldrFields, base: Path, started: str, n_examples: int) -> Path:
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
        "recipe": recipe.to_dict(),  # type: ignore[attr-defined]  # TrainingArguments' own (tokens masked)
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
