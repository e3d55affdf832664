"""GRPO on built cases with TRL's GRPOTrainer: weighted rewards from train/rewards.py (the score stage's parser),
LoRA via PEFT or full, vLLM generation where TRL supports it (GPU)."""

from __future__ import annotations

from pathlib import Path

from medldr.train.common import base_model, lora_config, now, offline, save_result, trainer_arguments, training_cases
from medldr.train.config import GRPORecipe
from medldr.train.data import grpo_examples
from medldr.train.rewards import REWARDS


def train_grpo(recipe: GRPORecipe) -> Path:
    """Train and save; returns the output folder."""
    offline()
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    started = now()
    cases, labels = training_cases(recipe)
    examples = grpo_examples(cases, task=recipe.task, style=recipe.style, labels=labels)
    model, tokenizer, base = base_model(recipe)
    names = list(recipe.reward_weights)
    args = GRPOConfig(
        **trainer_arguments(recipe),
        num_generations=recipe.num_generations,
        max_completion_length=recipe.max_completion_length,
        temperature=recipe.temperature,
        beta=recipe.beta,
        reward_weights=[recipe.reward_weights[n] for n in names],
        use_vllm=recipe.use_vllm,
        vllm_mode=recipe.vllm_mode,
        steps_per_generation=recipe.gradient_accumulation,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[REWARDS[n] for n in names],
        args=args,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=lora_config(recipe),
    )
    trainer.train()
    return save_result(trainer, recipe, base, started, len(examples))
