"""Several processes through accelerate: ``medldr train sft|grpo --config R --accelerate ACC.yaml`` checks the recipe
and what the accelerate config needs (DeepSpeed for a ZeRO config) before any process starts, then runs ``accelerate
launch --config_file ACC.yaml -m medldr.train KIND --config R``. Launched directly, accelerate's own launcher reports
a missing DeepSpeed as a traceback, before medldr runs."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

from medldr.errors import MedldrError
from medldr.train.config import read_yaml

_NEEDS = {"DEEPSPEED": ("deepspeed", "pip install deepspeed")}


def check_accelerate_config(path: Path) -> dict[str, object]:
    """The accelerate config, refused in one line when unreadable or when what it uses is not installed."""
    config = read_yaml(path, "accelerate config")
    if not isinstance(config, dict):
        raise MedldrError(f"{path}: not an accelerate config (expected keys such as distributed_type)")
    kind = str(config.get("distributed_type", "NO")).upper()
    if kind in _NEEDS and importlib.util.find_spec(_NEEDS[kind][0]) is None:
        module, remedy = _NEEDS[kind]
        raise MedldrError(f"{path}: uses {kind} (distributed_type), but {module} is not installed: {remedy}")
    if shutil.which("accelerate") is None:
        raise MedldrError('accelerate is not installed: pip install "medldr[train]"')
    return config


def launch(kind: str, recipe: Path, accelerate_config: Path, flags: list[str]) -> int:
    """Run the training under ``accelerate launch`` (every process runs ``python -m medldr.train``); its exit code."""
    check_accelerate_config(accelerate_config)
    command = ["accelerate", "launch", "--config_file", str(accelerate_config), "-m", "medldr.train", kind]
    return subprocess.call([*command, "--config", str(recipe), *flags], stdout=sys.stdout, stderr=sys.stderr)
