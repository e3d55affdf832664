"""Perturbations that remove a whole input field."""

from __future__ import annotations

import random
from typing import Any

from medldr.schema import Case


def drop(case: Case, rng: random.Random, field: str) -> tuple[dict[str, Any], str] | None:
    """Remove ``field`` (a field the case lacks, or holds as "None" text, is left alone)."""
    value = getattr(case.input_dict, field, None)
    if value is None or (isinstance(value, str) and value.rstrip().endswith("None")):
        return None
    return {field: None}, f"{field} removed"
