"""The train stage: built cases (and a teacher's scored run) -> SFT and GRPO with TRL, PEFT and accelerate.

Heavy dependencies (torch, transformers, trl, peft) are imported by the recipe classes (``medldr.train.sft``,
``medldr.train.grpo``) and the entry points, so the rest of medldr works without the ``train`` extra. Importing the
stage puts the Hugging Face libraries offline before any of them is imported.
"""

from medldr.train.config import MedldrFields, load_recipe, offline, validate_recipe
from medldr.train.data import gold_answer, grpo_examples, sft_examples, teacher_reasoning
from medldr.train.rewards import REWARDS, format_reward, hierarchy_reward, jaccard_reward

offline()  # before medldr.train.sft or .grpo can import trl

__all__ = [
    "REWARDS",
    "MedldrFields",
    "format_reward",
    "gold_answer",
    "grpo_examples",
    "hierarchy_reward",
    "jaccard_reward",
    "load_recipe",
    "offline",
    "sft_examples",
    "teacher_reasoning",
    "validate_recipe",
]
