"""Perturbations that reorder or remove lab lines."""

from __future__ import annotations

import math
import random
from typing import Any

from medldr.perturb.labs import LabBlock, lab_block
from medldr.schema import Case


def shuffle(case: Case, rng: random.Random) -> tuple[dict[str, Any], str] | None:
    """The lab lines in a seeded random order."""
    block = lab_block(case)
    if block is None or len(block.rows) < 2:
        return None
    rows = list(block.rows)
    rng.shuffle(rows)
    if rows == list(block.rows):
        rows = rows[1:] + rows[:1]
    return {"lab": LabBlock(tuple(rows)).text()}, f"{len(rows)} lab lines reordered"


def _drop(case: Case, normal: bool) -> tuple[dict[str, Any], str] | None:
    """Remove the lines whose ``normal()`` is ``normal`` (True: inside the range, False: outside)."""
    block = lab_block(case)
    if block is None:
        return None
    kept = tuple(row for row in block.rows if row.normal() is not normal)
    removed = len(block.rows) - len(kept)
    if removed == 0:
        return None
    what = "normal" if normal else "abnormal"
    return {"lab": LabBlock(kept).text()}, f"{removed} of {len(block.rows)} lab lines ({what}) removed"


def drop_normal(case: Case, rng: random.Random) -> tuple[dict[str, Any], str] | None:
    """Remove the lab lines whose value lies inside its reference range (lines without a range stay)."""
    return _drop(case, normal=True)


def drop_abnormal(case: Case, rng: random.Random) -> tuple[dict[str, Any], str] | None:
    """Remove the lab lines whose value lies outside its reference range (lines without a range stay)."""
    return _drop(case, normal=False)


def keep_first(case: Case, rng: random.Random, percent: int) -> tuple[dict[str, Any], str] | None:
    """Keep the first ``percent`` % of the lab lines (rounded up), as they are ordered in the case."""
    block = lab_block(case)
    if block is None or not block.rows:
        return None
    n = math.ceil(len(block.rows) * percent / 100)
    if n >= len(block.rows):
        return None
    return {"lab": LabBlock(block.rows[:n]).text()}, f"first {n} of {len(block.rows)} lab lines kept"
