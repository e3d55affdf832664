"""In-process transformers (``--model hf:PATH``): a local model folder, a PEFT adapter folder on its base (what
``medldr train`` writes), a .gguf file or ``bundled``; offline, from local files only.

A GGUF file (such as the bundled SmolLM2) is de-quantised into a model folder once, in a cache folder, because
transformers, TRL and PEFT need a plain checkpoint; a name that is not a local path (a hub id) is refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from medldr._files import weights_identity
from medldr.answer import split_reasoning
from medldr.errors import MedldrError
from medldr.local_models import check_model, resolve_model
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, InProcess, Message, usable_cores

__all__ = ["Transformers", "check_model", "load_model", "resolve_model"]


def load_model(path: Path, *, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) of a model folder, or of an adapter folder on the base model its config names."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise MedldrError('transformers support is not installed: pip install "medldr[train]"') from None
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the run's own progress display is the one to show
    dtype = dtype or torch.float32
    if (path / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    else:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model.eval()
    return model, tokenizer


class Transformers(InProcess):
    """A transformers causal LM loaded once, generating one request at a time on its worker thread."""

    name = "hf"

    def __init__(self, spec: str, *, threads: int | None = None) -> None:
        self.source = check_model(spec)  # what the user named: a folder, an adapter, a .gguf file
        self.path = resolve_model(spec)
        self.model = str(spec)
        self._model, self._tokenizer = load_model(self.path)
        import torch  # loaded by now

        torch.set_num_threads(threads or usable_cores())

    def artifact(self) -> dict[str, Any]:
        """The weights named, and for an adapter also the base model its config points at (when it is here)."""
        found = weights_identity(self.source)
        config = self.source / "adapter_config.json"
        if config.is_file():
            base = Path(str(json.loads(config.read_text()).get("base_model_name_or_path") or ""))
            if str(base) and base.exists():
                found["base"] = weights_identity(base)
        return found

    default_max_tokens = 512

    def count_tokens(self, messages: list[Message]) -> int:
        """The prompt as the model gets it (its chat template), in its tokenizer's tokens."""
        return len(self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))

    def _complete(self, messages: list[Message], params: GenerationParams) -> Completion:
        import torch

        inputs = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        limit = params.max_tokens or self.default_max_tokens
        sample = bool(params.temperature)
        options: dict[str, Any] = {"max_new_tokens": limit, "do_sample": sample}
        if sample:
            options |= {"temperature": params.temperature, "top_p": params.top_p or 1.0}
        with torch.inference_mode():
            if params.seed is not None:
                torch.manual_seed(params.seed)
            output = self._model.generate(**inputs, **options, pad_token_id=self._tokenizer.eos_token_id)
        new = output[0, inputs["input_ids"].shape[1] :]
        ended = bool(len(new)) and int(new[-1]) in _eos_ids(self._model, self._tokenizer)
        text, reasoning = split_reasoning(self._tokenizer.decode(new, skip_special_tokens=True))
        usage = {"prompt_tokens": int(inputs["input_ids"].shape[1]), "completion_tokens": len(new)}
        return Completion(text, reasoning, "stop" if ended or len(new) < limit else "length", usage, self.model)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids]) if ids is not None else set()
    return ids | ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set())
