"""The overdiagnosis typing's file edge: read a run, type every overdiagnosed code, optionally ask the judge about a
sample of Type-A codes, write overdiagnosis.jsonl and overdiagnosis_summary.json."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from medldr._files import atomic_write_lines, atomic_write_text, sha256_file
from medldr.answer import Mode
from medldr.errors import MedldrError
from medldr.prompts import user_message
from medldr.run.guard import data_use_decision
from medldr.run.params import GenerationParams
from medldr.run.providers import get_provider
from medldr.run.providers.base import redact_url
from medldr.schema import (
    OVERDIAGNOSIS,
    OVERDIAGNOSIS_SUMMARY,
    RUN_MANIFEST,
    Case,
    read_cases,
    read_responses,
    read_run_manifest,
)
from medldr.score.files import RunInputs, scoring_labels
from medldr.score.judge import JUDGE_SCHEMA, JudgeItem, judge_items, prompt_sha256, summarize_judgements
from medldr.score.overdiagnosis import summarize, type_overdiagnoses
from medldr.score.scoring import against_labels, answers_by_round


@dataclass
class JudgeSettings:
    model: str
    sample: int | None = None
    seed: int = 0
    base_url: str | None = None
    concurrency: int = 4
    timeout: float = 600.0
    allow_data_sharing: bool = False
    params: GenerationParams | None = None


@dataclass
class Typed:
    records: list[dict[str, Any]]
    summary: dict[str, Any]
    written: list[Path]


def type_responses(
    cases: list[Case], responses_file: Path, labels: list[str], *, mode: Mode = "robust"
) -> tuple[list[dict[str, Any]], int]:
    """Every overdiagnosed code of every (case, round) answer, typed; and the number of answers. Cases scoring
    sets aside against the label space (``against_labels``) are set aside here too."""
    every = frozenset(case.case_id for case in cases)
    cases = against_labels(cases, labels)[0]
    rounds, answers = answers_by_round(
        cases,
        read_responses(responses_file),
        mode=mode,
        allow_missing=True,
        where=str(responses_file),
        set_aside=every - {case.case_id for case in cases},
    )
    records = []
    for r, row in zip(rounds, answers, strict=True):
        for case, answer in zip(cases, row, strict=True):
            records += [typed.record(case.case_id, r) for typed in type_overdiagnoses(case, answer.predictions, labels)]
    return records, len(rounds) * len(cases)


def _key(record: dict[str, Any]) -> tuple[str, int, str]:
    return record["case_id"], record["round"], record["code"]


def _task(run_dir: Path | None, task: str | None) -> str:
    if task:
        return task
    manifest = run_dir / RUN_MANIFEST if run_dir else None
    if manifest and manifest.exists():
        task = read_run_manifest(manifest).identity.get("task")
        if task:
            return task
    raise MedldrError("--task is needed for the judge when the run has no manifest (which fields the model saw)")


def _judge(
    records: list[dict[str, Any]],
    cases: list[Case],
    cases_file: Path,
    task: str,
    settings: JudgeSettings,
    out: Path,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """Judge a seeded sample of the Type-A codes; attach each judgement to its record."""
    type_a = [r for r in records if r["type"] == "A"]
    chosen = type_a
    if settings.sample is not None and settings.sample < len(type_a):
        chosen = random.Random(settings.seed).sample(type_a, settings.sample)
    by_id = {case.case_id: case for case in cases}
    items = [JudgeItem(r["case_id"], r["round"], r["code"], user_message(by_id[r["case_id"]], task)) for r in chosen]
    provider = get_provider(settings.model, base_url=settings.base_url, timeout=settings.timeout)
    data_use = data_use_decision(cases_file, provider, settings.base_url, allow_sharing=settings.allow_data_sharing)
    params = settings.params or GenerationParams(temperature=0.0, max_tokens=512)
    if provider.wants_answer_schema:  # grammar-capable: constrain the judge to its schema
        params = params.merge(GenerationParams(json_schema=JUDGE_SCHEMA))
    identity = {
        "model": settings.model,
        "base_url": redact_url(settings.base_url),
        "prompt_sha256": prompt_sha256(),
        "task": task,
        "sample": settings.sample,
        "seed": settings.seed,
        "params": params.model_dump(exclude_none=True, exclude={"json_schema"}),
    }
    judgements = judge_items(
        items,
        provider,
        out,
        identity=identity,
        data_use=data_use,
        params=params,
        concurrency=settings.concurrency,
        timeout=settings.timeout,
        progress=progress,
    )
    wanted = {item.key for item in items}
    latest = {_key(j): j for j in judgements if _key(j) in wanted}
    for record in records:
        judgement = latest.get(_key(record))
        if judgement is not None:
            record["judge"] = {k: judgement[k] for k in ("verdict", "quotes_verified", "quotes_rejected", "valid")}
    return {
        "model": settings.model,
        "data_use": data_use,
        "asked": len(items),
        "type_a": len(type_a),
        **summarize_judgements(list(latest.values())),
    }


def type_run(
    inputs: RunInputs,
    out: Path,
    *,
    run_dir: Path | None = None,
    label_space: str | None = None,
    mode: Mode = "robust",
    judge: JudgeSettings | None = None,
    task: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Typed:
    """Type a run's overdiagnoses (and judge a sample when asked); writes OUT/overdiagnosis.jsonl and
    OUT/overdiagnosis_summary.json (and OUT/judge.jsonl, OUT/judge_manifest.json with a judge)."""
    cases_file, responses_file = inputs.cases, inputs.responses
    labels = scoring_labels(inputs, label_space)
    cases = read_cases(cases_file)[: inputs.n_cases]
    records, n_answers = type_responses(cases, responses_file, labels, mode=mode)
    summary = summarize(records, n_answers, {case.case_id: case.top_1_icd.code for case in cases})
    summary |= {"extraction": mode, "n_cases": len(cases), "responses_sha256": sha256_file(responses_file)}
    if judge is not None:
        summary["judge"] = _judge(records, cases, cases_file, _task(run_dir, task), judge, out, progress)
    written = [out / OVERDIAGNOSIS, out / OVERDIAGNOSIS_SUMMARY]
    atomic_write_lines(written[0], (orjson.dumps(r).decode() for r in records))
    atomic_write_text(written[1], json.dumps(summary, indent=2))
    return Typed(records, summary, written)
