"""Perturbations that change lab values while keeping or removing their clinical meaning."""

from __future__ import annotations

import random
from typing import Any

from medldr.perturb.labs import LabBlock, LabRow, lab_block
from medldr.schema import Case


def _edit(case: Case, edit: Any, what: str) -> tuple[dict[str, Any], str] | None:
    block = lab_block(case)
    if block is None:
        return None
    rows = [edit(row) for row in block.rows]
    changed = sum(new != old for new, old in zip(rows, block.rows, strict=True))
    if changed == 0:
        return None
    return {"lab": LabBlock(tuple(rows)).text()}, f"{changed} of {len(rows)} lab values {what}"


def jitter_normal(case: Case, rng: random.Random, fraction: float) -> tuple[dict[str, Any], str] | None:
    """Move each normal value by up to ``fraction`` of its range's width, staying inside the range (at the value's
    own precision: a value that would round outside is left as it was)."""

    def edit(row: LabRow) -> LabRow:
        bounds = row.range()
        value = row.number()
        if not row.normal() or bounds is None or value is None:
            return row
        low, high = bounds
        moved = row.with_value(min(high, max(low, value + rng.uniform(-fraction, fraction) * (high - low))))
        return moved if moved.normal() else row

    return _edit(case, edit, "moved within their reference range")


def normalize_abnormal(case: Case, rng: random.Random) -> tuple[dict[str, Any], str] | None:
    """Set each abnormal value to the middle of its reference range."""

    def edit(row: LabRow) -> LabRow:
        bounds = row.range()
        if row.normal() is not False or bounds is None:
            return row
        return row.with_value((bounds[0] + bounds[1]) / 2, bounds_precision=True)

    return _edit(case, edit, "set to the middle of their reference range")
