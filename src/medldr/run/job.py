"""What a job of prompts is and where it stands: the prompts and what makes them one experiment, each prompt's
state read back from the stored records, the running totals, and what goes out as one request. The online route
(execute.py) and the batch route (batch.py) both start from here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from medldr.run.guard import OpenDataProof
from medldr.run.params import GenerationParams
from medldr.run.prices import BATCH_DISCOUNT, cost_usd, price_of
from medldr.schema import JudgeIdentity, RunIdentity

Progress = Callable[[int, int, dict[str, float]], None]
"""Called as ``progress(done_prompts, total_prompts, totals)`` after every stored answer."""
Key = tuple[Any, ...]


@dataclass
class Prompt:
    """One request: ``key`` (field -> value) names it in every record it gets; round r of a seeded job is sent
    with the seed ``seed + seed_offset`` (rounds stay reproducible without being copies of each other)."""

    key: dict[str, Any]
    messages: list[dict[str, str]]
    seed_offset: int = 0


@dataclass
class PromptJob:
    """What to ask (prompts), whom (model), how (params, attempts, timeout), and what makes the answers one
    experiment (``identity``: a folder holding another identity is refused, the same one resumes)."""

    kind: Literal["run", "judge"]
    prompts: list[Prompt]
    model: str
    identity: RunIdentity | JudgeIdentity
    cases_file: Path  # whose records the prompts carry: the data-use guard decides on it
    manifest_name: str
    responses_name: str
    valid: Callable[[str, str | None], bool]  # (text, finish_reason) -> a usable answer
    base_url: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    answer_schema: dict[str, Any] | None = None  # sent to grammar-capable providers
    concurrency: int = 8
    timeout: float = 600.0
    threads: int | None = None  # CPU threads of an in-process model (None: every core this process may use)
    attempts: int = 6
    retry_invalid: int = 0
    allow_data_sharing: bool = False
    open_data: OpenDataProof | None = None  # the command layer's proof that the cases are open (none: credentialed)
    prices: dict[str, dict[str, float]] | None = None
    max_cost: float | None = None  # USD ceiling of the whole run (at the price table's prices)
    max_total_tokens: int | None = None  # token ceiling of the whole run (prompt + completion)
    settings: dict[str, Any] = field(default_factory=dict)  # recorded in the manifest, not part of the identity
    # ask the prompts that differ only in this key field (a case's rounds) as one request with ``n`` answers
    together: str | None = None
    batch: bool = False  # through the provider's Batch API (batch.py) instead of one request per prompt
    batch_poll: float | None = None  # seconds between polls, waiting until the batches end (None: poll once)

    @property
    def key_fields(self) -> tuple[str, ...]:
        """The fields naming a prompt in its records (every prompt of a job has the same ones)."""
        return tuple(self.prompts[0].key) if self.prompts else ()


@dataclass
class State:
    attempts: int = 0
    answered: bool = False
    last_valid: bool = False


def prompt_states(records: list[dict[str, Any]], fields: Sequence[str]) -> dict[Key, State]:
    states: dict[Key, State] = {}
    for record in records:
        if record.get("kind") == "header":
            continue
        state = states.setdefault(tuple(record[f] for f in fields), State())
        if record.get("error"):
            continue
        state.attempts += 1
        state.answered = True
        state.last_valid = bool(record.get("valid"))
    return states


TOTAL_KEYS = ("answers", "errors", "invalid", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cost_usd")


def count_record(totals: dict[str, Any], record: dict[str, Any], prices: dict | None, model: str) -> None:
    """Add one stored record to the running totals (answers, errors, invalid, tokens, cost; the cost stays None,
    unknown, for a model without a price)."""
    if record.get("kind") == "header":
        return
    if record.get("error"):
        totals["errors"] += 1
        return
    totals["answers"] += 1
    totals["invalid"] += 0 if record.get("valid") else 1
    usage = record.get("usage") or {}
    for key in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
        totals[key] += usage.get(key, 0)
    cost = cost_usd(model, usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), prices)
    if cost is not None and totals["cost_usd"] is not None:
        totals["cost_usd"] += cost * (BATCH_DISCOUNT if record.get("batch_id") else 1.0)  # a Batch API's answer


def run_totals(records: list[dict[str, Any]], prices: dict | None, model: str) -> dict[str, Any]:
    """A run's totals; ``cost_usd`` is None when the model has no price (unknown, not free)."""
    totals: dict[str, Any] = dict.fromkeys(TOTAL_KEYS, 0.0)
    if price_of(model, prices) is None:
        totals["cost_usd"] = None
    for record in records:
        count_record(totals, record, prices, model)
    return totals


def pending_prompts(
    job: PromptJob, records: list[dict[str, Any]]
) -> tuple[list[Prompt], dict[Key, State], Callable[[Key], bool]]:
    """The prompts still to ask (no answer yet, or an invalid one with re-asks left), every prompt's state (updated
    as answers come), and the test of a prompt being done."""
    states = prompt_states(records, job.key_fields)
    budget = 1 + job.retry_invalid

    def finished(key: Key) -> bool:
        state = states.get(key)
        return state is not None and state.answered and (state.last_valid or state.attempts >= budget)

    return [p for p in job.prompts if not finished(tuple(p.key.values()))], states, finished


def request_units(job: PromptJob, todo: list[Prompt]) -> list[list[Prompt]]:
    """What goes out as one request: each prompt alone, or (``job.together``) the prompts that differ only in that
    key field, in their order."""
    if job.together is None:
        return [[prompt] for prompt in todo]
    groups: dict[Key, list[Prompt]] = {}
    for prompt in todo:
        groups.setdefault(tuple(v for k, v in prompt.key.items() if k != job.together), []).append(prompt)
    return list(groups.values())
