"""Training recipes. A recipe *is* TRL's config: ``SFTRecipe`` subclasses ``SFTConfig`` and ``GRPORecipe``
``GRPOConfig`` (beside their trainers), adding only medldr's own fields (``MedldrFields``), so every TRL and
transformers option is written in a recipe exactly as TRL documents it, with TRL's defaults. YAML is validated by
pydantic over the dataclass: an unknown key, a wrong type or one of TRL's own refusals fails in one line naming the
recipe, before a model loads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import TypeAdapter, ValidationError

from medldr._files import read_text
from medldr.errors import MedldrError
from medldr.local_models import check_model
from medldr.schema import validation_error
from medldr.train.fields import MedldrFields

__all__ = ["MedldrFields", "load_recipe", "offline", "read_yaml", "validate_recipe"]


def offline() -> None:
    """Nothing may reach a hub: every model and tokenizer comes from a local folder. Set before TRL is imported
    (huggingface_hub reads these once, at import)."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[name] = "1"


def _recipe_class(kind: Literal["sft", "grpo"]) -> type:
    """The recipe class of a kind; imports TRL (the train extra), offline."""
    offline()
    if kind == "sft":
        from medldr.train.sft import SFTRecipe

        return SFTRecipe
    from medldr.train.grpo import GRPORecipe

    return GRPORecipe


def validate_recipe(data: dict[str, Any], kind: Literal["sft", "grpo"], where: str) -> Any:
    """A recipe from a mapping of settings; one-line MedldrError naming ``where`` on any mistake."""
    recipe_class = _recipe_class(kind)
    adapter = TypeAdapter(recipe_class)
    try:
        return adapter.validate_python(data)
    except ValidationError as err:
        raise validation_error(err, where, "recipe") from None
    except (ValueError, TypeError) as err:  # a TRL or transformers refusal outside pydantic's wrapper
        raise MedldrError(f"{where}: recipe: {str(err).splitlines()[0]}") from None


def read_yaml(path: Path, what: str) -> Any:
    """A YAML file's content; a missing, non-UTF-8 or malformed file is one line naming it (``what`` it should be)."""
    try:
        return yaml.safe_load(read_text(path))
    except FileNotFoundError:
        raise MedldrError(f"{path}: no such {what}") from None
    except yaml.YAMLError as err:
        raise MedldrError(f"{path}: not YAML ({str(err).splitlines()[0]})") from None


def load_recipe(path: Path, kind: Literal["sft", "grpo"], overrides: dict[str, Any] | None = None) -> Any:
    """Read a YAML recipe; ``overrides`` (CLI flags) win over the file. Relative paths are taken from the current
    folder."""
    data = read_yaml(path, "recipe") or {}
    if not isinstance(data, dict):
        raise MedldrError(f"{path}: a recipe is a mapping of settings")
    if data.get("kind", kind) != kind:
        raise MedldrError(f"{path}: a {data['kind']} recipe, not {kind}")
    data |= {k: v for k, v in (overrides or {}).items() if v is not None}
    recipe = validate_recipe(data, kind, str(path))
    check_model(recipe.model)
    if not recipe.cases.is_file():
        raise MedldrError(f"{path}: cases: {recipe.cases} is not a file; build the cases first (medldr build)")
    return recipe
