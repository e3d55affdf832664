"""The lab block rendered in another format: the same results, written differently."""

from __future__ import annotations

import random
from typing import Any, Literal

from medldr.perturb.labs import lab_block
from medldr.schema import Case


def render(
    case: Case, rng: random.Random, style: Literal["markdown", "sentences"]
) -> tuple[dict[str, Any], str] | None:
    """The lab lines as a Markdown table or as plain sentences."""
    block = lab_block(case)
    if block is None or not block.rows:
        return None
    text = block.markdown() if style == "markdown" else block.sentences()
    return {"lab": text}, f"{len(block.rows)} lab lines as {style}"
