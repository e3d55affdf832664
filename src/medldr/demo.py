"""The demo, end to end and offline: build the open demo's cases, run the bundled model on the inference subset,
score the answers, type the overdiagnoses, write the report. It composes the stages exactly as a user would chain
the commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medldr.assemble import BuildConfig, Progress, build_cases
from medldr.run import GenerationParams, RunSettings, run_cases
from medldr.run.job import Progress as RunProgress
from medldr.schema import SCORES, BuildManifest, RunManifest, Scores, cases_path
from medldr.score.files import run_inputs, score_files, write_scores
from medldr.score.overdiagnosis_files import type_run, write_typed
from medldr.sources import open_demo

DEMO_TASK = "lab_num+"  # everything the demo has: no ED module, no notes


@dataclass
class DemoResult:
    build: BuildManifest
    run: RunManifest
    scores: Scores
    written: list[Path]
    overdiagnosis: dict[str, Any]
    report: Path


def run_demo(
    out: Path,
    *,
    rounds: int = 3,
    limit: int | None = None,
    threads: int | None = None,
    build_progress: Progress | None = None,
    run_progress: RunProgress | None = None,
    built: Callable[[BuildManifest], None] | None = None,
) -> DemoResult:
    """Build -> run (bundled SmolLM2 via llama.cpp, seeded) -> score -> overdiagnosis types -> report, under ``out``;
    re-running resumes the run. ``built`` is called with the build's manifest as soon as the build ends."""
    cases = Path(out) / "cases"
    manifest = build_cases(open_demo(), cases, BuildConfig(), force=True, progress=build_progress)
    if built is not None:  # the caller shows the build while the model loads, not after the whole demo
        built(manifest)
    settings = RunSettings(
        cases_file=cases_path(cases, "inference"),
        out=Path(out) / "runs" / "local",
        model="local",
        task=DEMO_TASK,
        rounds=rounds,
        concurrency=1,
        limit=limit,
        threads=threads,
        params=GenerationParams(temperature=0.7, seed=2025, max_tokens=256),
    )
    ran = run_cases(settings, progress=run_progress)
    inputs = run_inputs(settings.out, None, None)
    scored = score_files(inputs)
    written = write_scores(scored, settings.out / SCORES)
    typed = type_run(inputs)
    written += write_typed(typed, settings.out)
    from medldr.report import write_report  # matplotlib: imported when a report is drawn, not at every CLI start

    report = write_report([settings.out], Path(out) / "report", title="medldr demo: SmolLM2-135M on the MIMIC-IV demo")
    return DemoResult(manifest, ran, scored.scores, written, typed.summary, report.index)
