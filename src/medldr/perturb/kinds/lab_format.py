"""The lab block rendered in another format: the same results, written differently."""

from __future__ import annotations

import random
from typing import Any, Literal

from medldr.perturb.labs import LabBlock
from medldr.schema import Case


def render(
    case: Case, rng: random.Random, style: Literal["markdown", "sentences"]
) -> tuple[dict[str, Any], str] | None:
    """The lab lines as a Markdown table or as plain sentences."""
    if not case.input_dict.lab:
        return None
    block = LabBlock.parse(case.input_dict.lab)
    if not block.rows:
        return None
    text = block.markdown() if style == "markdown" else block.sentences()
    return {"lab": text}, f"{len(block.rows)} lab lines as {style}"
