"""One entry for both trainers, for ``medldr train sft|grpo`` and ``python -m medldr.train`` (what accelerate starts on
every process): load and check the recipe, then train here or under accelerate."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from medldr.errors import MedldrError
from medldr.train.config import load_recipe

Kind = Literal["sft", "grpo"]
KINDS: dict[Kind, str] = {
    "sft": "Supervised fine-tuning: the gold answer (optionally after a teacher's right reasoning) as the target.",
    "grpo": "GRPO with the recipe's weighted rewards (Jaccard accuracy, format, ICD hierarchy).",
}


def train(kind: Kind, config: Path, overrides: dict[str, object], accelerate: Path | None = None) -> Path | int:
    """Train ``kind`` from the recipe ``config`` with ``overrides`` (None values left out); returns the trained
    model's folder, or, under ``accelerate`` (checked here, trained by the processes it starts), their exit code."""
    recipe = load_recipe(config, kind, overrides)
    if accelerate is not None:
        from medldr.train.launch import launch

        flags = [f"--{key.replace('_', '-')}={value}" for key, value in overrides.items() if value is not None]
        return launch(kind, config, accelerate, flags)
    try:
        if kind == "sft":
            from medldr.train.sft import train_sft

            return train_sft(recipe)  # type: ignore[arg-type]
        from medldr.train.grpo import train_grpo

        return train_grpo(recipe)  # type: ignore[arg-type]
    except ImportError as err:  # torch, transformers, trl, peft are the train extra's
        raise MedldrError(
            f'training needs the train extra ({err.name} is missing): pip install "medldr[train]"'
        ) from None
