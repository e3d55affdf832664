"""A run's spending ceiling (``--max-cost`` USD at the price table's prices, ``--max-total-tokens``): before each
request its worst case is reserved, and a request that would take the spend (stored answers, plus requests in flight,
plus this one) past a ceiling is not sent. What a request may cost is estimated here, and the dry run uses the same
estimate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from medldr.errors import MedldrError
from medldr.run.params import GenerationParams
from medldr.run.prices import cost_usd, price_of
from medldr.run.providers.base import Message, Provider

CHARS_PER_TOKEN = 4
"""The estimate where no tokenizer of the model is on this machine (hosted models: none is downloaded)."""
COMPLETION_GUESS = 1024
"""Completion tokens assumed for a request with no answer limit, before the run has answers to average."""


def prompt_tokens(provider: Provider | None, messages: list[Message]) -> tuple[int, bool]:
    """(tokens, counted): by the model's tokenizer where the provider has one, else characters / 4 (an estimate)."""
    counted = provider.count_tokens(messages) if provider is not None else None
    if counted is not None:
        return counted, True
    return math.ceil(sum(len(m["content"]) for m in messages) / CHARS_PER_TOKEN), False


def prompt_token_counts(provider: Provider | None, prompts: Sequence[list[Message]]) -> tuple[dict[int, int], bool]:
    """Each distinct prompt's tokens, keyed by the id of its messages list (the rounds of a case share one: counted
    once), and whether every count came from the model's tokenizer."""
    counts: dict[int, int] = {}
    counted = True
    for messages in prompts:
        if id(messages) not in counts:
            counts[id(messages)], by_tokenizer = prompt_tokens(provider, messages)
            counted = counted and by_tokenizer
    return counts, counted


def completion_tokens(provider: Provider | None, params: GenerationParams, totals: dict[str, float]) -> tuple[int, str]:
    """The completion tokens to expect of one request, and where the figure comes from."""
    if params.max_tokens is not None:
        return params.max_tokens, "at most --max-tokens"
    if totals.get("answers"):
        return math.ceil(totals["completion_tokens"] / totals["answers"]), "the mean of this run's answers so far"
    if provider is not None and provider.default_max_tokens is not None:
        return provider.default_max_tokens, "at most the model's default answer limit"
    return COMPLETION_GUESS, f"a guess of {COMPLETION_GUESS} (no --max-tokens, no answers yet)"


def priced(model: str, prices: dict | None) -> bool:
    return price_of(model, prices) is not None


@dataclass
class Ceiling:
    model: str
    prices: dict | None
    max_cost: float | None = None
    max_tokens: int | None = None
    reserved_tokens: float = 0.0
    reserved_cost: float = 0.0
    stopped: str | None = None  # why sending stopped, in one line

    def __post_init__(self) -> None:
        if self.max_cost is not None and not priced(self.model, self.prices):
            raise MedldrError(
                f"--max-cost: no price for {self.model} in the price table, so its spend cannot be counted; give one "
                "with --prices FILE"
            )

    @property
    def active(self) -> bool:
        return self.max_cost is not None or self.max_tokens is not None

    def reserve(self, tokens: tuple[int, int], totals: dict[str, float]) -> tuple[float, float] | None:
        """Reserve one request's (prompt, completion) tokens; None (and ``stopped`` set) when it would pass a
        ceiling."""
        total = tokens[0] + tokens[1]
        cost = cost_usd(self.model, tokens[0], tokens[1], self.prices) or 0.0  # unpriced: only a token ceiling
        spent_tokens = totals["prompt_tokens"] + totals["completion_tokens"]
        if self.max_tokens is not None and spent_tokens + self.reserved_tokens + total > self.max_tokens:
            self.stopped = self.stopped or (
                f"token ceiling: {spent_tokens:,.0f} tokens used and {self.reserved_tokens:,.0f} in flight; the next "
                f"request (about {total:,} tokens) would pass --max-total-tokens {self.max_tokens:,}"
            )
            return None
        if self.max_cost is not None and (totals["cost_usd"] or 0.0) + self.reserved_cost + cost > self.max_cost:
            self.stopped = self.stopped or (
                f"cost ceiling: ${totals['cost_usd']:.4f} spent and ${self.reserved_cost:.4f} in flight; the next "
                f"request (about ${cost:.4f}) would pass --max-cost ${self.max_cost:g}"
            )
            return None
        self.reserved_tokens += total
        self.reserved_cost += cost
        return float(total), cost

    def release(self, reservation: tuple[float, float]) -> None:
        self.reserved_tokens -= reservation[0]
        self.reserved_cost -= reservation[1]
