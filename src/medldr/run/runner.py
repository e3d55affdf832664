"""The runner: every (case, round) of a cases file through one provider, concurrently, resumable, append-only.

It knows nothing about vendors: a provider's ``complete`` makes one request and either returns a Completion or
raises. The runner is the one retry owner: errors the provider calls ``retryable`` are tried again with backoff (or
after the endpoint's Retry-After), up to ``transport_attempts`` requests per answer, each bounded by ``timeout``; errors
it lists in ``fatal_errors`` (a wrong key, an unknown model) stop the run; any other failure is recorded for its
(case, round), which a re-run asks again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from medldr import __version__
from medldr._files import atomic_write_text, sha256_file
from medldr.answer import extract
from medldr.errors import MedldrError
from medldr.prompts import answer_schema, build_messages, load_template, require_task_fields
from medldr.run.guard import data_use_decision
from medldr.run.params import GenerationParams
from medldr.run.prices import cost_usd
from medldr.run.providers import Provider, get_provider
from medldr.run.providers.base import Completion, closing, concurrency_for, error_text, redact_url
from medldr.run.store import GroupCommit, ResponseStore
from medldr.schema import RESPONSES, RUN_MANIFEST, Case, RunManifest, read_cases, read_run_manifest, resolve_label_space

Progress = Callable[[int, int, dict[str, float]], None]
"""Called as ``progress(done_pairs, total_pairs, totals)`` after every stored answer."""


@dataclass
class RunSettings:
    """One run: what to send (cases, task, style, label space), to whom (model), how (params, rounds, retries)."""

    cases_file: Path
    out: Path
    model: str
    task: str = "all"
    style: str = "standard_expert_designed"
    label_space: str | None = None
    base_url: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    rounds: int = 3
    concurrency: int = 8
    timeout: float = 600.0
    limit: int | None = None
    retry_invalid: int = 0
    transport_attempts: int = 6
    allow_data_sharing: bool = False
    prices: dict[str, dict[str, float]] | None = None


def _git_sha() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def package_versions(packages: tuple[str, ...]) -> dict[str, str | None]:
    """medldr's version, the git sha when run from a checkout, and each package's installed version (or None)."""
    out: dict[str, str | None] = {"medldr": __version__, "git_sha": _git_sha()}
    for package in packages:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def _select(settings: RunSettings) -> list[Case]:
    cases = read_cases(settings.cases_file)
    if settings.limit is not None:
        cases = cases[: settings.limit]
    require_task_fields(cases, settings.task)
    return cases


@dataclass
class _PairState:
    attempts: int = 0
    answered: bool = False
    last_valid: bool = False


def _states(records: list[dict[str, Any]]) -> dict[tuple[str, int], _PairState]:
    states: dict[tuple[str, int], _PairState] = {}
    for record in records:
        if record.get("kind") == "header":
            continue
        state = states.setdefault((record["case_id"], record["round"]), _PairState())
        if record.get("error"):
            continue
        state.attempts += 1
        state.answered = True
        state.last_valid = bool(record.get("valid"))
    return states


TOTAL_KEYS = ("answers", "errors", "invalid", "prompt_tokens", "completion_tokens", "reasoning_tokens", "cost_usd")


def _count(totals: dict[str, float], record: dict[str, Any], prices: dict | None, model: str) -> None:
    """Add one stored record to the running totals (answers, errors, invalid, tokens, cost)."""
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
    totals["cost_usd"] = cost_usd(model, totals["prompt_tokens"], totals["completion_tokens"], prices)


def _totals(records: list[dict[str, Any]], prices: dict | None, model: str) -> dict[str, float]:
    totals = dict.fromkeys(TOTAL_KEYS, 0.0)
    for record in records:
        _count(totals, record, prices, model)
    return totals


def identity_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two identities (either side may lack a key)."""
    return sorted(k for k in set(previous) | set(current) if previous.get(k) != current.get(k))


def _check_same_run(out: Path, identity: dict[str, Any]) -> RunManifest | None:
    path = out / RUN_MANIFEST
    if not path.exists():
        return None
    try:
        previous = read_run_manifest(path)
    except MedldrError as err:
        raise MedldrError(f"{err}; restore it or choose another --out") from None
    if previous.identity != identity:
        changed = identity_changes(previous.identity, identity)
        raise MedldrError(
            f"{out}: holds a different run (differs in {', '.join(changed)}); choose another --out to start a new one"
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
) -> tuple[Completion, float]:
    """One answer and its latency: at most ``attempts`` requests, each bounded by ``timeout`` seconds. This is the
    only retry loop between medldr and a model (providers make one request per call; the case runner and the
    overdiagnosis judge both ask through it): it asks the provider which errors are worth another attempt and how
    long the endpoint asked to wait. The last error is raised when every attempt failed."""
    async for attempt in AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=_wait_for(provider),
        retry=retry_if_exception(provider.retryable),
        reraise=True,
    ):
        with attempt:
            start = time.perf_counter()
            completion = await asyncio.wait_for(provider.complete(messages, params), timeout)
            return completion, time.perf_counter() - start
    raise AssertionError("unreachable")  # pragma: no cover


async def _ask(
    provider: Provider, messages: list[dict[str, str]], settings: RunSettings, round_: int
) -> tuple[dict[str, Any], float]:
    """One (case, round) answer as a record's fields.

    A seeded run gives round r the seed ``seed + r``: rounds stay reproducible without being copies of each other.
    """
    params = settings.params
    if params.seed is not None:
        params = params.model_copy(update={"seed": params.seed + round_})
    completion, latency = await ask(
        provider, messages, params, attempts=settings.transport_attempts, timeout=settings.timeout
    )
    return {
        "text": completion.text,
        "reasoning": completion.reasoning,
        "finish_reason": completion.finish_reason,
        "usage": completion.usage,
        "model": completion.model,
    }, latency


async def _execute(
    settings: RunSettings,
    provider: Provider,
    cases: list[Case],
    messages_of: dict[str, list[dict[str, str]]],
    store: ResponseStore,
    records: list[dict[str, Any]],
    progress: Progress,
) -> None:
    journal = GroupCommit(store)
    states = _states(records)
    # rounds of one case back to back: providers' prompt caches (and llama.cpp's) then reuse the whole prompt
    pairs = [(case.case_id, r) for case in cases for r in range(settings.rounds)]
    budget = 1 + settings.retry_invalid

    def finished(pair: tuple[str, int]) -> bool:
        state = states.get(pair)
        return state is not None and state.answered and (state.last_valid or state.attempts >= budget)

    todo = [pair for pair in pairs if not finished(pair)]
    done = len(pairs) - len(todo)
    totals = _totals(records, settings.prices, settings.model)
    progress(done, len(pairs), totals)
    semaphore = asyncio.Semaphore(concurrency_for(provider, settings.concurrency))
    fatal: list[BaseException] = []

    async def work(pair: tuple[str, int]) -> None:
        nonlocal done
        case_id, round_ = pair
        state = states.setdefault(pair, _PairState())
        async with semaphore:
            while not fatal and not finished(pair):
                try:
                    answer, latency = await _ask(provider, messages_of[case_id], settings, round_)
                except Exception as err:  # recorded, never silent; fatal ones stop the run
                    record = {
                        "case_id": case_id,
                        "round": round_,
                        "attempt": state.attempts,
                        "error": error_text(err),
                    }
                    await journal.append(record)
                    _count(totals, record, settings.prices, settings.model)
                    if isinstance(err, provider.fatal_errors):
                        fatal.append(err)
                    return
                valid = extract(answer["text"], finish_reason=answer["finish_reason"]).valid
                record = {
                    "case_id": case_id,
                    "round": round_,
                    "attempt": state.attempts,
                    **answer,
                    "latency_s": round(latency, 4),
                    "valid": valid,
                }
                await journal.append(record)
                _count(totals, record, settings.prices, settings.model)
                state.attempts += 1
                state.answered, state.last_valid = True, valid
            if finished(pair):
                done += 1
                progress(done, len(pairs), totals)

    await asyncio.gather(*(work(pair) for pair in todo))
    if fatal:
        raise MedldrError(f"{provider.name} refused the request ({type(fatal[0]).__name__}: {fatal[0]}); run stopped")


def run_cases(
    settings: RunSettings, *, progress: Progress | None = None, provider: Provider | None = None
) -> RunManifest:
    """Run (or resume) ``settings``: answers go to OUT/responses.jsonl as they arrive; returns the final manifest.

    Re-running the same settings sends only the (case, round) pairs still missing; other settings in the same folder
    are refused.
    """
    cases = _select(settings)
    template = load_template(settings.style)
    space = resolve_label_space(settings.label_space, settings.cases_file)
    provider = provider or get_provider(settings.model, base_url=settings.base_url, timeout=settings.timeout)
    data_use = data_use_decision(
        settings.cases_file, provider, settings.base_url, allow_sharing=settings.allow_data_sharing
    )
    identity = {
        "cases_sha256": sha256_file(settings.cases_file),
        "n_cases": len(cases),
        "task": settings.task,
        "style": template.name,
        "template_sha256": template.sha256,
        "label_space": list(space.codes),
        "model": settings.model,
        "base_url": redact_url(settings.base_url),
        "params": settings.params.model_dump(exclude_none=True),
        "rounds": settings.rounds,
        "retry_invalid": settings.retry_invalid,
    }
    run_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    out = Path(settings.out)
    previous = _check_same_run(out, identity)
    manifest = RunManifest(
        run_id=run_id,
        cases_file=str(Path(settings.cases_file).resolve()),
        identity=identity,
        data_use=data_use,
        versions=package_versions(("openai", "anthropic", "llama-cpp-python", "duckdb")),
        settings={
            "concurrency": settings.concurrency,
            "timeout_s": settings.timeout,
            "limit": settings.limit,
            "transport_attempts": settings.transport_attempts,
        },
        started_at=previous.started_at if previous else datetime.now(UTC).isoformat(timespec="seconds"),
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / RUN_MANIFEST, manifest.model_dump_json(indent=2))
    store = ResponseStore(out / RESPONSES)
    records = store.load()
    if not records:
        store.append({"kind": "header", "schema_version": manifest.schema_version, "run_id": run_id})
    effective = settings
    if provider.wants_answer_schema:  # grammar-capable: constrain the answer to the label space
        schema = GenerationParams(json_schema=answer_schema(space.codes))
        effective = dataclasses.replace(settings, params=settings.params.merge(schema))
    messages_of = {
        case.case_id: build_messages(case, task=settings.task, template=template, labels=space.prompt_labels)
        for case in cases
    }
    try:
        work = _execute(effective, provider, cases, messages_of, store, records, progress or (lambda *a: None))
        asyncio.run(closing(provider, work))
        manifest.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    finally:
        store.close()
        stored = ResponseStore(out / RESPONSES).load()
        manifest.totals = _totals(stored, settings.prices, settings.model)
        states = _states(stored)
        manifest.totals["unanswered"] = float(
            sum(
                1
                for r in range(settings.rounds)
                for c in cases
                if not states.get((c.case_id, r), _PairState()).answered
            )
        )
        atomic_write_text(out / RUN_MANIFEST, manifest.model_dump_json(indent=2))
    return manifest
