"""GRPO on built cases with TRL's GRPOTrainer: weighted rewards from train/rewards.py (the score stage's parser and
metrics), LoRA via PEFT or full, vLLM generation where TRL supports it (GPU)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trl import GRPOConfig, GRPOTrainer

from medldr.prompts import load_template
from medldr.train.common import fit, template_opens_think, training_cases
from medldr.train.data import grpo_examples
from medldr.train.fields import MedldrFields
from medldr.train.rewards import REWARDS, logging_cases

RewardName = Literal["jaccard", "format", "hierarchy", "think"]


@dataclass
class GRPORecipe(GRPOConfig, MedldrFields):
    """TRL's ``GRPOConfig`` (every option, TRL's defaults) and medldr's fields. ``rewards`` names the reward
    functions with their weights; it fills TRL's ``reward_weights`` list in the same order."""

    kind: Literal["grpo"] = "grpo"
    rewards: dict[RewardName, float] = field(default_factory=lambda: {"jaccard": 1.0})
    # the chat template opens <think> (DeepSeek-R1-Distill); None: read from the base model's tokenizer
    think_opened: bool | None = None

    def __post_init__(self) -> None:
        if not self.rewards:
            raise ValueError("rewards: give at least one of jaccard, format, hierarchy, think")
        if "think" in self.rewards and "<think>" not in load_template(self.style).text:
            raise ValueError(
                f"rewards: 'think' rewards <think>…</think> reasoning, which prompt style {self.style!r} never asks "
                "for; drop it, or use a style (or instructions file) that asks for it"
            )
        if self.reward_weights is not None:
            raise ValueError("reward_weights: give the rewards with their weights as rewards: {name: weight}")
        self.reward_weights = list(self.rewards.values())
        self._resolve_defaults()
        super().__post_init__()


def train_grpo(recipe: GRPORecipe) -> Path:
    """Train and save; returns the output folder."""
    cases, space = training_cases(recipe)
    labels = list(space.prompt_labels)

    def examples(tokenizer: Any) -> list[dict[str, Any]]:
        """The prompts, with what the base model's tokenizer says about its completions: whether its template opens
        <think>, and which ids end a completion (TRL's own truncation test)."""
        opened = template_opens_think(tokenizer) if recipe.think_opened is None else recipe.think_opened
        stops = sorted({i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None})
        return grpo_examples(
            cases,
            task=recipe.task,
            style=recipe.style,
            labels=labels,
            think_opened=opened,
            stop_ids=stops,
            system=space.system,
        )

    rewards = [REWARDS[name] for name in recipe.rewards]
    rewards[0] = logging_cases(rewards[0])  # the case ids and finish reasons of TRL's completions log, once
    return fit(recipe, GRPOTrainer, examples, reward_funcs=rewards)
