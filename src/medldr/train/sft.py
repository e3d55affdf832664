"""Supervised fine-tuning on built cases with TRL's SFTTrainer (completion-only loss on the prompt-completion
examples), LoRA via PEFT or full."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from trl import SFTConfig, SFTTrainer

from medldr.errors import MedldrError
from medldr.schema import RESPONSES
from medldr.train.common import fit, training_cases
from medldr.train.data import TargetForm, sft_examples, teacher_reasoning
from medldr.train.fields import MedldrFields


@dataclass
class SFTRecipe(SFTConfig, MedldrFields):
    """TRL's ``SFTConfig`` (every option, TRL's defaults) and medldr's fields."""

    kind: Literal["sft"] = "sft"
    teacher_run: Path | None = None  # a run folder whose right answers' reasoning becomes <think> targets
    target: TargetForm = "medldr"  # the answer taught: medldr's schema (ten-code top10), or the study's own form

    def __post_init__(self) -> None:
        self._resolve_defaults()
        super().__post_init__()


def train_sft(recipe: SFTRecipe) -> Path:
    """Train and save; returns the output folder (``medldr run --model hf:OUTPUT_DIR`` evaluates it)."""
    cases, space = training_cases(recipe)
    labels = list(space.prompt_labels)
    reasoning = None
    if recipe.teacher_run is not None:
        responses = Path(recipe.teacher_run) / RESPONSES
        if not responses.is_file():
            raise MedldrError(f"teacher_run: {responses} is not a file")
        reasoning = teacher_reasoning(responses, cases, [label.code for label in labels])
        if not reasoning:
            raise MedldrError(f"teacher_run: {recipe.teacher_run} got no case right with its reasoning kept")
    examples = sft_examples(
        cases, task=recipe.task, style=recipe.style, labels=labels, reasoning=reasoning, form=recipe.target
    )
    return fit(recipe, SFTTrainer, examples)
