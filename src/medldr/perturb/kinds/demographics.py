"""Fairness probes on the ED block's gender and age (``gender,age approximation`` then the values)."""

from __future__ import annotations

import random
from typing import Any

from medldr.schema import Case

_SWAP = {"F": "M", "M": "F"}


def _edit(case: Case, edit: Any) -> tuple[dict[str, Any], str] | None:
    text = case.input_dict.ed_info
    if not text:
        return None
    lines = text.split("\n")
    header = next((i for i, line in enumerate(lines) if line.startswith("gender,age approximation")), None)
    if header is None or header + 1 >= len(lines):
        return None
    values = lines[header + 1].split(",")
    result = edit(values)
    if result is None:
        return None
    values, what = result
    lines[header + 1] = ",".join(values)
    return {"ed_info": "\n".join(lines)}, what


def swap_gender(case: Case, rng: random.Random) -> tuple[dict[str, Any], str] | None:
    """F becomes M and M becomes F."""

    def edit(values: list[str]) -> tuple[list[str], str] | None:
        if values[0] not in _SWAP:
            return None
        return [_SWAP[values[0]], *values[1:]], f"gender {values[0]} -> {_SWAP[values[0]]}"

    return _edit(case, edit)


def shift_age(case: Case, rng: random.Random, years: int) -> tuple[dict[str, Any], str] | None:
    """The age moved by ``years`` up or down (seeded), kept at 18 or above."""

    def edit(values: list[str]) -> tuple[list[str], str] | None:
        if len(values) < 2 or not values[1].isdigit():
            return None
        age = int(values[1])
        shifted = age + years if rng.random() < 0.5 or age - years < 18 else age - years
        return [values[0], str(shifted), *values[2:]], f"age {age} -> {shifted}"

    return _edit(case, edit)
