"""Token prices for cost accounting: a small built-in table (USD per 1M tokens, list prices as published in 2025)
that ``--prices FILE`` (JSON: {"model": {"input": x, "output": y}}) extends or overrides."""

from __future__ import annotations

import json
from pathlib import Path

from medldr.errors import MedldrError
from medldr.schema import ModelRef

BUILT_IN: dict[str, dict[str, float]] = {
    "gpt-4.1": {"input": 2.00, "output": 8.00},
    "gpt-4o": {"input": 2.50, "output": 10.00},
    "o4-mini": {"input": 1.10, "output": 4.40},
    "o3-mini": {"input": 1.10, "output": 4.40},
    "deepseek-chat": {"input": 0.27, "output": 1.10},
    "deepseek-reasoner": {"input": 0.55, "output": 2.19},
    "grok-3": {"input": 3.00, "output": 15.00},
    "gemini-2.5-pro": {"input": 1.25, "output": 10.00},
}


BATCH_DISCOUNT = 0.5
"""A Batch API's share of the list price: OpenAI's Batch API, Azure OpenAI's global batch and Anthropic's Message
Batches all charge half."""


def load_prices(path: Path | None) -> dict[str, dict[str, float]]:
    """The built-in table updated with a user's JSON file."""
    table = {name: dict(price) for name, price in BUILT_IN.items()}
    if path is None:
        return table
    try:
        user = json.loads(Path(path).read_text(encoding="utf-8"))
        for name, price in user.items():
            table[name] = {"input": float(price["input"]), "output": float(price["output"])}
    except FileNotFoundError:
        raise MedldrError(f"{path}: no such prices file") from None
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise MedldrError(
            f'{path}: expected {{"model": {{"input": USD_per_1M, "output": USD_per_1M}}}} ({err})'
        ) from None
    return table


def price_of(model_spec: str, prices: dict | None) -> dict[str, float] | None:
    """The model's price (USD per 1M input and output tokens), or None when the table has none: a local model or a
    hosted one missing from it (``--prices FILE`` gives one; a local model priced at 0 is then free, by the user's
    word)."""
    return (prices or BUILT_IN).get(ModelRef.parse(model_spec).price_key)


def cost_usd(model_spec: str, prompt_tokens: float, completion_tokens: float, prices: dict | None) -> float | None:
    """Cost of the tokens at the model's price; None (unknown, never 0) without a price.

    >>> cost_usd("openai:gpt-4.1", 1_000_000, 500_000, BUILT_IN), cost_usd("local:smollm2", 1000, 10, BUILT_IN)
    (6.0, None)
    """
    price = price_of(model_spec, prices)
    if price is None:
        return None
    return (prompt_tokens * price["input"] + completion_tokens * price["output"]) / 1e6
