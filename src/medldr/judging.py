"""The overdiagnosis judge as a workflow across stages: the score stage picks the Type-A codes to ask about, the run
stage asks them (``run_prompts``: the case runner's store, resume, retries, timeout, fatal stop, data-use guard and
manifest, into OUT/judge.jsonl beside OUT/judge_manifest.json), and the score stage checks each quote against the
record. Nothing under score/ calls a model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medldr.errors import MedldrError
from medldr.open_data import open_data_proof
from medldr.prompts import user_message
from medldr.prompts.judge import JUDGE_SCHEMA, judge_messages, judge_prompt, prompt_sha256
from medldr.run import GenerationParams, Prompt, PromptJob, run_prompts
from medldr.run.providers.base import redact_url
from medldr.schema import JUDGE_MANIFEST, JUDGE_RESPONSES, RUN_MANIFEST, JudgeIdentity, ModelRef, read_run_manifest
from medldr.score.files import RunInputs, check_scoring
from medldr.score.judge import attach_judgements, judge_sample, read_judgement
from medldr.score.overdiagnosis_files import Typed, type_run, write_typed


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


def _task(run_dir: Path | None, task: str | None) -> str:
    if task:
        return task
    manifest = run_dir / RUN_MANIFEST if run_dir else None
    if manifest and manifest.exists():
        task = read_run_manifest(manifest).identity.task
        if task:
            return task
    raise MedldrError("--task is needed for the judge when the run has no manifest (which fields the model saw)")


def _readable(text: str, finish_reason: str | None) -> bool:
    return read_judgement(text) is not None


def judge_typed(
    typed: Typed,
    inputs: RunInputs,
    out: Path,
    settings: JudgeSettings,
    *,
    run_dir: Path | None = None,
    task: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Judge a seeded sample of the Type-A codes of ``typed``; the checks go onto its records and the summary
    (returned too) into ``typed.summary["judge"]``."""
    task = _task(run_dir, task)
    asked = judge_sample(typed.records, settings.sample, settings.seed)
    shown = {case.case_id: user_message(case, task) for case in typed.cases}
    prompts = [
        Prompt(
            {"case_id": r["case_id"], "round": r["round"], "code": r["code"]},
            judge_messages(shown[r["case_id"]], r["code"]),
        )
        for r in asked
    ]
    params = settings.params or GenerationParams(temperature=0.0, max_tokens=512)
    identity = JudgeIdentity(
        model=ModelRef.parse(settings.model),
        base_url=redact_url(settings.base_url),
        prompt_sha256=prompt_sha256(),
        task=task,
        sample=settings.sample,
        seed=settings.seed,
        params=params.model_dump(exclude_none=True),
    )
    job = PromptJob(
        kind="judge",
        prompts=prompts,
        model=settings.model,
        identity=identity,
        cases_file=inputs.cases,
        manifest_name=JUDGE_MANIFEST,
        responses_name=JUDGE_RESPONSES,
        valid=_readable,
        base_url=settings.base_url,
        params=params,
        answer_schema=JUDGE_SCHEMA,
        concurrency=settings.concurrency,
        timeout=settings.timeout,
        allow_data_sharing=settings.allow_data_sharing,
        open_data=open_data_proof,
        settings={"prompt": judge_prompt(), "typed_responses_sha256": typed.summary["responses_sha256"]},
    )
    report = progress or (lambda *_: None)
    manifest, answers = run_prompts(job, out, progress=lambda done, total, _: report(done, total))
    checked = attach_judgements(typed.records, asked, answers, shown)
    summary = {"model": settings.model, "data_use": manifest.data_use, **checked}
    typed.summary["judge"] = summary
    return summary


def overdiagnose(
    inputs: RunInputs,
    out: Path | None,
    *,
    run_dir: Path | None = None,
    label_space: str | None = None,
    mode: str = "robust",
    allow_missing: bool = False,
    task: str | None = None,
    judge: JudgeSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Typed, list[Path]]:
    """``medldr overdiagnosis``: type every overdiagnosed code of the run, have ``judge`` (when given) check a sample
    of the Type-A ones, and write the records and the summary into ``out``; returns them and the paths written."""
    check_scoring(mode)
    if out is None:
        raise MedldrError("--out is required when no run folder is given")
    typed = type_run(inputs, label_space=label_space, mode=mode, allow_missing=allow_missing, task=task)  # type: ignore[arg-type]
    if judge is not None:
        judge_typed(typed, inputs, out, judge, run_dir=run_dir, task=task, progress=progress)
    return typed, write_typed(typed, Path(out))
