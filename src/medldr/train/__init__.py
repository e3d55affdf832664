"""The train stage: built cases (and a teacher's scored run) -> SFT and GRPO with TRL, PEFT and accelerate.

Heavy dependencies (torch, transformers, trl, peft) are imported inside the entry points, so the rest of medldr
works without the ``train`` extra.
"""

from medldr.train.config import GRPORecipe, SFTRecipe, load_recipe
from medldr.train.data import gold_answer, grpo_examples, sft_examples, teacher_reasoning
from medldr.train.rewards import REWARDS, format_reward, hierarchy_reward, jaccard_reward

__all__ = [
    "REWARDS",
    "GRPORecipe",
    "SFTRecipe",
    "format_reward",
    "gold_answer",
    "grpo_examples",
    "hierarchy_reward",
    "jaccard_reward",
    "load_recipe",
    "sft_examples",
    "teacher_reasoning",
]
