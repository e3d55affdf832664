"""The batch route (``medldr run --batch``): the prompts still to ask go to the provider's own Batch API (OpenAI and
Azure OpenAI files + batches, Anthropic Message Batches), at half the list price, answered within 24 hours.

An invocation collects every recorded batch that has ended (its answers enter ``responses.jsonl`` once, as the same
records the online route writes, plus ``batch_id``), then submits one batch of whatever is still to ask (unanswered,
failed, or invalid with ``--retry-invalid`` re-asks left: a second batch), and returns; the next invocation polls
again (``--poll SECONDS`` keeps polling until nothing is left). ``OUT/batches.jsonl`` is the append-only log that
makes this resumable: before a batch is submitted its custom ids and marker are logged, then its id. A process
killed between the two finds its batch again by the marker (OpenAI metadata; for Anthropic, the one batch of that
size created since) rather than submitting a second one.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson

from medldr._files import atomic_write_text
from medldr.errors import MedldrError
from medldr.run.budget import Ceiling, completion_tokens, prompt_token_counts
from medldr.run.job import Key, Progress, Prompt, PromptJob, State, count_record, pending_prompts
from medldr.run.providers.base import Completion, Provider, error_text
from medldr.run.store import ResponseStore

BATCH_LOG = "batches.jsonl"


def _log_state(log: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """(submitted batches by id with their requests, submissions never confirmed) from the log's entries."""
    intents = {e["marker"]: e for e in log if e.get("kind") == "submitting"}
    batches: dict[str, dict[str, Any]] = {}
    for entry in log:
        if entry.get("kind") == "submitted":
            batches[entry["batch_id"]] = {**intents[entry["marker"]], "batch_id": entry["batch_id"]}
        elif entry.get("kind") == "collected":
            batches[entry["batch_id"]]["collected"] = True
    settled = {e["marker"] for e in log if e.get("kind") in ("submitted", "abandoned")}
    return batches, [e for m, e in intents.items() if m not in settled]


async def execute_batch(
    job: PromptJob,
    run_id: str,
    provider: Provider,
    out: Path,
    journal: ResponseStore,
    records: list[dict[str, Any]],
    totals: dict[str, float],
    progress: Progress,
) -> list[dict[str, Any]]:
    """Collect, then submit; with ``job.batch_poll``, repeat until nothing is left to ask. Returns each batch's
    state for the manifest (id, status, requests, collected)."""
    log_store = ResponseStore(out / BATCH_LOG)
    try:
        while True:
            log = log_store.load()
            try:
                shown = await _collect(job, provider, journal, log_store, log, records, totals)
            except KeyError as err:  # an entry naming a batch or marker the log never introduced
                raise MedldrError(f"{log_store.path}: no submission for {err}; the file was edited by hand?") from None
            todo, states, _ = pending_prompts(job, records)
            progress(len(job.prompts) - len(todo), len(job.prompts), totals)
            in_flight = [b for b in shown if not b["collected"]]
            if not in_flight and todo:
                shown.append(await _submit(job, run_id, provider, out, log_store, todo, states, totals))
                in_flight = shown[-1:]
            if job.batch_poll is None or not in_flight:
                return shown
            await asyncio.sleep(job.batch_poll)
    finally:
        log_store.close()


async def _collect(
    job: PromptJob,
    provider: Provider,
    journal: ResponseStore,
    log_store: ResponseStore,
    log: list[dict[str, Any]],
    records: list[dict[str, Any]],
    totals: dict[str, float],
) -> list[dict[str, Any]]:
    batches, unconfirmed = _log_state(log)
    for intent in unconfirmed:  # killed while submitting: did the vendor get it?
        found = await provider.batch_find(intent["marker"], intent["at"], len(intent["requests"]))
        if found is not None:
            log_store.append({"kind": "submitted", "marker": intent["marker"], "batch_id": found})
            batches[found] = {**intent, "batch_id": found}
        elif intent["at"] > time.time() - 600:  # it may not be listed yet: say so rather than submit it twice
            raise MedldrError(
                f"{log_store.path}: batch {intent['marker']} was being submitted when the last run stopped and is not "
                "listed by the provider yet; run the same command again in a few minutes"
            )
        else:
            log_store.append({"kind": "abandoned", "marker": intent["marker"]})
    stored = {(r.get("batch_id"), r.get("custom_id")) for r in records if r.get("batch_id")}
    shown = []
    for batch_id, batch in batches.items():
        entry = {"id": batch_id, "requests": len(batch["requests"]), "collected": bool(batch.get("collected"))}
        if not entry["collected"]:
            state = await provider.batch_state(batch_id)
            entry |= {"status": state.status, "done": state.done}
            if state.ended:
                results = await provider.batch_results(batch_id)
                await _store(job, journal, batch, results, stored, records, totals)
                log_store.append({"kind": "collected", "batch_id": batch_id})
                entry["collected"] = True
        shown.append(entry)
    return shown


async def _store(
    job: PromptJob,
    journal: ResponseStore,
    batch: dict[str, Any],
    results: list[tuple[str, Completion | str]],
    stored: set[tuple[Any, Any]],
    records: list[dict[str, Any]],
    totals: dict[str, float],
) -> None:
    """An ended batch's results as records, each custom id once (a collection cut short by a kill resumes)."""
    requests = {custom_id: key for custom_id, key in batch["requests"]}
    by_id = dict(results)
    if set(by_id) == {"*"}:  # the whole batch failed: every request gets its error
        by_id = dict.fromkeys(requests, by_id["*"])
    for custom_id, key in requests.items():
        if (batch["batch_id"], custom_id) in stored:
            continue
        result = by_id.get(custom_id, f"batch {batch['batch_id']} ended without an answer to this request")
        record: dict[str, Any] = {**key, "attempt": batch["attempts"][custom_id]}
        if isinstance(result, str):
            record["error"] = error_text(RuntimeError(result))
        else:
            record |= {
                "text": result.text,
                "reasoning": result.reasoning,
                "finish_reason": result.finish_reason,
                "usage": result.usage,
                "model": result.model,
                "latency_s": None,
                "valid": job.valid(result.text, result.finish_reason),
            }
        record |= {"batch_id": batch["batch_id"], "custom_id": custom_id}
        journal.append(record)
        records.append(record)
        count_record(totals, record, job.prices, job.model)


async def _submit(
    job: PromptJob,
    run_id: str,
    provider: Provider,
    out: Path,
    log_store: ResponseStore,
    todo: list[Prompt],
    states: dict[Key, State],
    totals: dict[str, float],
) -> dict[str, Any]:
    """Write the batch input, log the intent, submit, log the id (``states``: every prompt's, as stored)."""
    todo = _within_ceiling(job, provider, todo, totals)
    number = sum(1 for p in out.glob("batch_input_*.jsonl")) + 1
    marker = f"medldr-{run_id}-{number}"
    requests, attempts, lines = [], {}, []
    index = {tuple(p.key.values()): i for i, p in enumerate(job.prompts)}
    for prompt in todo:
        key = tuple(prompt.key.values())
        attempt = states.get(key, State()).attempts
        custom_id = f"p{index[key]}-a{attempt}-b{number}"  # [A-Za-z0-9_-]{1,64}: Anthropic's rule
        params = job.params
        if params.seed is not None:
            params = params.model_copy(update={"seed": params.seed + prompt.seed_offset})
        lines.append(orjson.dumps(provider.batch_line(custom_id, prompt.messages, params)))
        requests.append((custom_id, prompt.key))
        attempts[custom_id] = attempt
    input_file = out / f"batch_input_{number}.jsonl"
    atomic_write_text(input_file, b"\n".join(lines).decode() + "\n")
    log_store.append(
        {"kind": "submitting", "marker": marker, "at": time.time(), "input": input_file.name, "requests": requests,
         "attempts": attempts}
    )  # fmt: skip
    batch_id = await provider.batch_submit(input_file, marker)
    log_store.append({"kind": "submitted", "marker": marker, "batch_id": batch_id})
    return {"id": batch_id, "requests": len(requests), "collected": False, "status": "submitted", "done": 0}


def _within_ceiling(job: PromptJob, provider: Provider, todo: list[Prompt], totals: dict[str, float]) -> list[Prompt]:
    """The prompts whose worst case (at list price: a ceiling errs on the safe side) fits under the ceiling."""
    ceiling = Ceiling(job.model, job.prices, job.max_cost, job.max_total_tokens)
    if not ceiling.active:
        return todo
    counts = prompt_token_counts(provider, [p.messages for p in todo])[0]
    answer = completion_tokens(provider, job.params, totals)[0]
    fits = []
    for prompt in todo:
        if ceiling.reserve((counts[id(prompt.messages)], answer), totals) is None:
            break
        fits.append(prompt)
    if not fits:
        raise MedldrError(f"{ceiling.stopped}; nothing submitted. Run the same command with a higher ceiling to go on")
    return fits
