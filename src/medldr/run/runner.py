"""The case runner: every (case, round) of a cases file as one ``PromptJob`` (run/execute.py), in the prompt
style and label space asked for, into OUT/responses.jsonl beside OUT/manifest.json."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medldr._files import sha256_file
from medldr.answer import extract
from medldr.errors import MedldrError
from medldr.prompts import answer_schema, build_messages, load_template, require_task_fields, richest_task
from medldr.run.budget import Ceiling, completion_tokens, priced, prompt_token_counts
from medldr.run.execute import run_prompts
from medldr.run.guard import OpenDataProof, data_use_decision
from medldr.run.job import Progress, Prompt, PromptJob, pending_prompts, request_units, run_totals
from medldr.run.params import GenerationParams
from medldr.run.prices import cost_usd
from medldr.run.providers import Provider, get_provider
from medldr.run.providers.base import InProcess, redact_url
from medldr.run.providers.pool import split_urls
from medldr.run.store import ResponseStore
from medldr.schema import (
    RESPONSES,
    RUN_MANIFEST,
    Case,
    ModelRef,
    RunIdentity,
    RunManifest,
    read_cases,
    resolve_label_space,
)

__all__ = ["Progress", "RunSettings", "run_cases"]


@dataclass
class RunSettings:
    """One run: what to send (cases, task, style, label space), to whom (model), how (params, rounds, retries)."""

    cases_file: Path
    out: Path
    model: str
    task: str | None = None  # None: the richest task every case supports
    style: str = "standard_expert_designed"
    label_space: str | None = None
    base_url: str | None = None
    params: GenerationParams = field(default_factory=GenerationParams)
    rounds: int = 3
    concurrency: int = 8
    timeout: float = 600.0
    threads: int | None = None  # CPU threads of an in-process model (None: every core this process may use)
    limit: int | None = None
    retry_invalid: int = 0
    transport_attempts: int = 6
    allow_data_sharing: bool = False
    open_data: OpenDataProof | None = None  # proves the cases open data (the command layer's; none: credentialed)
    prices: dict[str, dict[str, float]] | None = None
    label_order: int | None = None  # list the labels in a seeded random order (a prompt-sensitivity probe)
    max_cost: float | None = None  # stop sending before the run's spend would pass this many USD
    max_total_tokens: int | None = None  # ... or this many prompt + completion tokens
    rounds_together: bool = False  # a case's rounds as one request with n = rounds (one prefill), where supported
    batch: bool = False  # through the provider's Batch API: submit, and collect on a later invocation
    poll: float | None = None  # with batch: poll every this many seconds until every batch has ended


def _select(settings: RunSettings) -> tuple[list[Case], str]:
    """The cases to run and the task (given, or the richest they all support: recorded in the manifest)."""
    cases = read_cases(settings.cases_file)
    if settings.limit is not None:
        cases = cases[: settings.limit]
    task = settings.task or richest_task(cases)
    require_task_fields(cases, task)
    return cases, task


def _valid(text: str, finish_reason: str | None) -> bool:
    return extract(text, finish_reason=finish_reason).valid


def run_cases(
    settings: RunSettings, *, progress: Progress | None = None, provider: Provider | None = None
) -> RunManifest:
    """Run (or resume) ``settings``: answers go to OUT/responses.jsonl as they arrive; returns the final manifest.

    Re-running the same settings sends only the (case, round) pairs still missing; other settings in the same folder
    are refused. Rounds of one case go back to back, so providers' prompt caches (and llama.cpp's) reuse the whole
    prompt.
    """
    job = _job(settings)
    Ceiling(job.model, job.prices, job.max_cost, job.max_total_tokens)  # an unpriced --max-cost: before any write
    return run_prompts(job, Path(settings.out), progress=progress, provider=provider)[0]


def _job(settings: RunSettings) -> PromptJob:
    """Every (case, round) prompt of the run and what makes it one experiment."""
    cases, task = _select(settings)
    template = load_template(settings.style)
    space = resolve_label_space(settings.label_space, settings.cases_file)
    identity = RunIdentity(
        cases_sha256=sha256_file(settings.cases_file),
        n_cases=len(cases),
        task=task,
        style=template.name,
        template_sha256=template.sha256,
        label_space=space,
        model=ModelRef.parse(settings.model),
        # a pool's addresses are where the model runs, not what it is: a resume may add or drop replicas
        base_url=None if len(split_urls(settings.base_url)) > 1 else redact_url(settings.base_url),
        params=settings.params.model_dump(exclude_none=True),
        rounds=settings.rounds,
        retry_invalid=settings.retry_invalid,
        label_order=settings.label_order,  # the same order for every case; recorded, so a resume keeps it
        rounds_together=settings.rounds_together,  # one seed per case instead of one per round: another sample
    )
    labels = list(space.prompt_labels)
    if settings.label_order is not None:
        random.Random(f"label-order:{settings.label_order}").shuffle(labels)
    prompts = []
    for case in cases:
        messages = build_messages(case, task=task, template=template, labels=labels)
        prompts += [Prompt({"case_id": case.case_id, "round": r}, messages, r) for r in range(settings.rounds)]
    job = PromptJob(
        kind="run",
        prompts=prompts,
        model=settings.model,
        identity=identity,
        cases_file=settings.cases_file,
        manifest_name=RUN_MANIFEST,
        responses_name=RESPONSES,
        valid=_valid,
        base_url=settings.base_url,
        params=settings.params,
        answer_schema=answer_schema(space.codes, template.name),
        concurrency=settings.concurrency,
        timeout=settings.timeout,
        threads=settings.threads,
        attempts=settings.transport_attempts,
        retry_invalid=settings.retry_invalid,
        allow_data_sharing=settings.allow_data_sharing,
        open_data=settings.open_data,
        prices=settings.prices,
        max_cost=settings.max_cost,
        max_total_tokens=settings.max_total_tokens,
        settings={"limit": settings.limit, "threads": settings.threads, "batch": settings.batch},
        together="round" if settings.rounds_together else None,
        batch=settings.batch,
        batch_poll=settings.poll,
    )
    return job


def plan_run(settings: RunSettings, provider: Provider | None = None) -> dict[str, Any]:
    """What ``run_cases(settings)`` would send, without sending or writing anything: the requests still to ask (a
    resumed run: only those), their prompt tokens (by the model's tokenizer where one is on this machine, else
    estimated), the completion tokens to expect, the cost at the price table's prices, and the data-use decision."""
    job = _job(settings)
    responses = Path(settings.out) / RESPONSES
    records = ResponseStore(responses).load(repair=False) if responses.is_file() else []  # a dry run writes nothing
    todo, _, _ = pending_prompts(job, records)
    totals = run_totals(records, job.prices, job.model)
    if provider is None:
        try:
            provider = get_provider(job.model, base_url=job.base_url, timeout=job.timeout, threads=job.threads)
        except MedldrError as err:  # e.g. no API key yet: the plan says so and estimates
            return _plan(job, todo, totals, None, f"not decided ({err})")
    try:
        decision = data_use_decision(
            job.cases_file, provider, job.base_url, allow_sharing=job.allow_data_sharing, open_data=job.open_data
        )
        data_use = f"allowed ({decision['reason']})"
    except MedldrError as err:
        data_use = f"refused: {err}"
    return _plan(job, todo, totals, provider, data_use)


def _plan(
    job: PromptJob, todo: list[Prompt], totals: dict[str, float], provider: Provider | None, data_use: str
) -> dict[str, Any]:
    units = request_units(job, todo)  # rounds asked together: one request, one prompt, several answers
    counts, counted = prompt_token_counts(provider, [unit[0].messages for unit in units])
    prompt_total = sum(counts[id(unit[0].messages)] for unit in units)
    per_answer, basis = completion_tokens(provider, job.params, totals)
    completion_total = per_answer * len(todo)
    return {
        "model": job.model,
        "requests": len(units),
        "answers": len(todo),
        "already_answered": len(job.prompts) - len(todo),
        "prompt_tokens": prompt_total,
        "prompt_tokens_counted": counted,
        "completion_tokens": completion_total,
        "completion_basis": basis,
        "cost_usd": cost_usd(job.model, prompt_total, completion_total, job.prices),
        "priced": priced(job.model, job.prices),
        "on_this_machine": isinstance(provider, InProcess),
        # a --batch run's share of the list price (None: online, or the provider has no Batch API)
        "batch_discount": provider.batch_discount if provider is not None and job.batch else None,
        "data_use": data_use,
    }
