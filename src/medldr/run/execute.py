"""The run stage's one execution: a list of prompts through one provider, concurrently, resumable, append-only,
under the data-use guard. The case runner (every case x round) and the overdiagnosis judge (a sample of codes) are
both a ``PromptJob``; only what they ask differs.

It knows nothing about vendors: a provider's ``complete`` makes one request and either returns a Completion or
raises. ``ask`` is the one retry owner: errors the provider calls ``retryable`` are tried again with backoff (or
after the endpoint's Retry-After), up to ``attempts`` requests per answer, each bounded by ``timeout``; errors it
lists in ``fatal_errors`` (a wrong key, an unknown model) stop the job; any other failure is recorded for its
prompt, which a re-run asks again.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from medldr._files import atomic_write_text, folder_lock
from medldr.errors import MedldrError
from medldr.run.batch import execute_batch
from medldr.run.budget import Ceiling, completion_tokens, prompt_token_counts
from medldr.run.guard import data_use_decision
from medldr.run.job import (
    Progress,
    Prompt,
    PromptJob,
    State,
    count_record,
    pending_prompts,
    prompt_states,
    request_units,
    run_totals,
)
from medldr.run.params import GenerationParams
from medldr.run.providers import Provider, get_provider
from medldr.run.providers.base import Completion, closing, concurrency_for, error_text
from medldr.run.store import GroupCommit, ResponseStore
from medldr.schema import JudgeIdentity, RunIdentity, RunManifest, identity_id, read_run_manifest
from medldr.versions import package_versions

_NOUN = {"run": "run", "judge": "judge run"}


def _check_same_job(path: Path, identity: RunIdentity | JudgeIdentity) -> RunManifest | None:
    if not path.exists():
        return None
    try:
        previous = read_run_manifest(path)
    except MedldrError as err:
        raise MedldrError(f"{err}; restore it or choose another --out") from None
    changed = previous.identity.changes(identity)
    if changed:
        raise MedldrError(
            f"{path.parent}: holds a different {_NOUN[previous.kind]} (differs in {', '.join(changed)}); choose "
            "another --out to start a new one"
        )
    return previous


MAX_RETRY_AFTER_S = 60.0
"""A longer Retry-After is not waited out (the official SDKs' rule): exponential backoff instead."""
_backoff = wait_exponential_jitter(multiplier=0.2, max=10, jitter=0.2)


def _wait_for(provider: Provider) -> Callable[[RetryCallState], float]:
    """The endpoint's Retry-After when it gives a sane one, else exponential backoff with jitter."""

    def wait(state: RetryCallState) -> float:
        err = state.outcome.exception() if state.outcome is not None else None
        asked = provider.retry_after(err) if err is not None else None
        if asked is not None and 0 <= asked <= MAX_RETRY_AFTER_S:
            return asked
        return _backoff(state)

    return wait


async def ask(
    provider: Provider,
    messages: list[dict[str, str]],
    params: GenerationParams,
    *,
    attempts: int = 6,
    timeout: float = 600.0,
    n: int = 1,
) -> tuple[list[Completion], float]:
    """``n`` answers to one prompt (one request: ``n`` > 1 only where the provider samples several at once) and the
    latency. This is the only retry loop between medldr and a model (providers make one request per call): at most
    ``attempts`` requests, each bounded by ``timeout`` seconds; it asks the provider which errors are worth another
    attempt and how long the endpoint asked to wait. The last error is raised when every attempt failed."""
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=_wait_for(provider),
        retry=retry_if_exception(provider.retryable),
        reraise=True,
    ):
        with attempt:
            start = time.perf_counter()
            if n == 1:
                completions = [await asyncio.wait_for(provider.complete(messages, params), timeout)]
            else:
                completions = await asyncio.wait_for(provider.complete_many(messages, params, n), timeout)
            return completions, time.perf_counter() - start
    raise AssertionError("unreachable")  # pragma: no cover


async def _execute(
    job: PromptJob,
    params: GenerationParams,
    provider: Provider,
    store: ResponseStore,
    records: list[dict[str, Any]],
    progress: Progress,
) -> None:
    journal = GroupCommit(store)
    todo, states, finished = pending_prompts(job, records)
    ceiling = Ceiling(job.model, job.prices, job.max_cost, job.max_total_tokens)
    # prompt tokens counted before any request (an in-process tokenizer is never used while its model generates)
    counts = prompt_token_counts(provider, [p.messages for p in todo])[0] if ceiling.active else {}
    done = len(job.prompts) - len(todo)
    totals = run_totals(records, job.prices, job.model)
    progress(done, len(job.prompts), totals)
    semaphore = asyncio.Semaphore(concurrency_for(provider, job.concurrency))
    fatal: list[BaseException] = []
    disk: list[OSError] = []

    async def work(unit: list[Prompt]) -> None:
        try:
            await answer(unit)
        except OSError as err:  # the store's disk, not the model (its errors are records): stop, keep what is stored
            disk.append(err)

    async def answer(unit: list[Prompt]) -> None:
        nonlocal done
        keys = [tuple(prompt.key.values()) for prompt in unit]
        for key in keys:
            states.setdefault(key, State())
        async with semaphore:
            while not fatal and not disk and not ceiling.stopped:
                pending = [(p, k) for p, k in zip(unit, keys, strict=True) if not finished(k)]
                if not pending:
                    break
                first = pending[0][0]
                sent = params
                if params.seed is not None:
                    sent = params.model_copy(update={"seed": params.seed + first.seed_offset})
                reservation = None
                if ceiling.active:  # this request's worst case, reserved while it is in flight
                    answer_tokens = completion_tokens(provider, sent, totals)[0] * len(pending)
                    reservation = ceiling.reserve((counts[id(first.messages)], answer_tokens), totals)
                    if reservation is None:
                        return
                try:
                    completions, latency = await ask(
                        provider, first.messages, sent, attempts=job.attempts, timeout=job.timeout, n=len(pending)
                    )
                except Exception as err:  # recorded, never silent; fatal ones stop the job
                    for prompt, key in pending:
                        record = {**prompt.key, "attempt": states[key].attempts, "error": error_text(err)}
                        await journal.append(record)
                        count_record(totals, record, job.prices, job.model)
                    if reservation is not None:
                        ceiling.release(reservation)
                    if isinstance(err, provider.fatal_errors):
                        fatal.append(err)
                    return
                for (prompt, key), completion in zip(pending, completions, strict=True):
                    state = states[key]
                    valid = job.valid(completion.text, completion.finish_reason)
                    record = {
                        **prompt.key,
                        "attempt": state.attempts,
                        "text": completion.text,
                        "reasoning": completion.reasoning,
                        "finish_reason": completion.finish_reason,
                        "usage": completion.usage,
                        "model": completion.model,
                        "latency_s": round(latency, 4),
                        "valid": valid,
                    }
                    if completion.endpoint is not None:
                        record["endpoint"] = completion.endpoint
                    await journal.append(record)
                    count_record(totals, record, job.prices, job.model)
                    state.attempts += 1
                    state.answered, state.last_valid = True, valid
                if reservation is not None:
                    ceiling.release(reservation)
            for key in keys:
                if finished(key):
                    done += 1
            progress(done, len(job.prompts), totals)

    await asyncio.gather(*(work(unit) for unit in request_units(job, todo)))
    if disk:
        raise disk[0]
    if ceiling.stopped:
        unsent = sum(not finished(tuple(p.key.values())) for p in todo)
        raise MedldrError(
            f"{ceiling.stopped}; {unsent} prompts not sent. Everything answered is kept: run the same command with a "
            "higher ceiling to go on"
        )
    if fatal:
        first = fatal[0]
        if isinstance(first, MedldrError):  # the provider's own words (e.g. nothing answers at a local server)
            raise MedldrError(f"{provider.name}: {first}; {job.kind} stopped")
        raise MedldrError(f"{provider.name} refused the request ({type(first).__name__}: {first}); {job.kind} stopped")


def _endpoint_counts(provider: Provider, stored: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """A pool's endpoints with the answers each gave (over every invocation of the run, from the records)."""
    urls = list(getattr(provider, "urls", []))
    answered = Counter(r["endpoint"] for r in stored if r.get("endpoint") and not r.get("error"))
    if not urls and not answered:
        return None
    urls += sorted(set(answered) - set(urls))  # endpoints of earlier invocations no longer in the pool
    return [{"url": url, "answers": answered[url]} for url in urls]


def run_prompts(
    job: PromptJob, out: Path, *, progress: Progress | None = None, provider: Provider | None = None
) -> tuple[RunManifest, list[dict[str, Any]]]:
    """Ask (or resume asking) ``job`` into OUT/``job.responses_name`` beside OUT/``job.manifest_name``; returns
    the final manifest and every stored record. Only prompts still without an answer are sent."""
    provider = provider or get_provider(job.model, base_url=job.base_url, timeout=job.timeout, threads=job.threads)
    if job.batch and provider.batch_discount is None:
        raise MedldrError(
            f"--batch: {provider.name} has no Batch API medldr drives (openai, azure and anthropic have; for a "
            "self-hosted server, a pool and --concurrency do the same)"
        )
    if job.batch and job.together is not None:
        raise MedldrError("--batch and --rounds-together: a Batch API request has one answer; choose one")
    if job.together is not None and not provider.samples_per_request:
        raise MedldrError(
            f"--rounds-together: {provider.name} does not sample several answers in one request; it is for "
            "OpenAI-compatible servers (vllm, sglang, llama-server, openai-compatible)"
        )
    data_use = data_use_decision(
        job.cases_file, provider, job.base_url, allow_sharing=job.allow_data_sharing, open_data=job.open_data
    )
    run_id = identity_id(job.identity)
    out = Path(out)
    with folder_lock(out):
        if (out / job.responses_name).exists() and not (out / job.manifest_name).exists():
            raise MedldrError(
                f"{out / job.responses_name}: not written by medldr (no {job.manifest_name} beside it); choose "
                "another --out"
            )
        previous = _check_same_job(out / job.manifest_name, job.identity)
        model = {"provider": provider.name, "id": provider.model, **(provider.artifact() or {})}
        before = (previous.model or {}).get("sha256") if previous else None
        if before and before != model.get("sha256"):
            raise MedldrError(
                f"{out}: its answers came from other weights (sha256 {before[:12]}, now "
                f"{str(model.get('sha256'))[:12]}: the model file changed); choose another --out to start a new run"
            )
        manifest = RunManifest(
            kind=job.kind,
            run_id=run_id,
            cases_file=str(Path(job.cases_file).resolve()),
            identity=job.identity,
            data_use=data_use,
            versions=package_versions(("openai", "anthropic", "llama-cpp-python", "duckdb")),
            settings={
                "concurrency": job.concurrency,
                "timeout_s": job.timeout,
                "transport_attempts": job.attempts,
                "max_cost_usd": job.max_cost,
                "max_total_tokens": job.max_total_tokens,
                **job.settings,
            },
            started_at=previous.started_at if previous else datetime.now(UTC).isoformat(timespec="seconds"),
            model=model,
        )
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / job.manifest_name, manifest.model_dump_json(indent=2))
        store = ResponseStore(out / job.responses_name)
        records = store.load()
        if not records:
            store.append({"kind": "header", "schema_version": manifest.schema_version, "run_id": run_id})
        params = job.params
        if job.answer_schema is not None and provider.wants_answer_schema:  # grammar-capable: constrain the answer
            params = params.merge(GenerationParams(json_schema=job.answer_schema))
        try:
            if job.batch:
                totals = run_totals(records, job.prices, job.model)
                work = execute_batch(job, run_id, provider, out, store, records, totals, progress or (lambda *a: None))
                manifest.batches = asyncio.run(closing(provider, work))
            else:
                work = _execute(job, params, provider, store, records, progress or (lambda *a: None))
                asyncio.run(closing(provider, work))
            manifest.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
        finally:
            store.close()
            stored = ResponseStore(out / job.responses_name).load()
            manifest.totals = run_totals(stored, job.prices, job.model)
            served = sorted({str(r["model"]) for r in stored if r.get("model")})  # the ids the endpoint reported
            manifest.model = {**model, "served": served}
            manifest.endpoints = _endpoint_counts(provider, stored)
            fields = job.key_fields
            states = prompt_states(stored, fields)
            missing = {
                tuple(p.key.values()) for p in job.prompts if not states.get(tuple(p.key.values()), State()).answered
            }
            manifest.totals["unanswered"] = float(len(missing))
            manifest.first_error = next(
                (r["error"] for r in stored if r.get("error") and tuple(r[f] for f in fields) in missing), None
            )
            atomic_write_text(out / job.manifest_name, manifest.model_dump_json(indent=2))
    return manifest, stored
