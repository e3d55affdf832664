"""The ``medldr`` command: one thin command per stage; each parses arguments and calls one library function."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer >= 0.29 carries its own click
from typer.core import TyperGroup

from medldr import __version__
from medldr._console import (
    RunProgress,
    StageProgress,
    build_summary,
    comparison_table,
    dry_run_lines,
    err_console,
    overdiagnosis_table,
    prompts_table,
    robustness_table,
    scores_summary,
    usd,
)
from medldr._files import atomic_write_text
from medldr.assemble import SOURCES, build_source
from medldr.baselines import DEFAULT_TASK as BASELINE_TASK
from medldr.baselines import run_baseline
from medldr.demo import run_demo
from medldr.errors import INCOMPLETE_EXIT, MedldrError
from medldr.judging import JudgeSettings, overdiagnose
from medldr.open_data import open_data_proof
from medldr.perturb import perturb_cases
from medldr.prompts import DEFAULT_STYLE
from medldr.prompts.preview import preview_messages
from medldr.run import GenerationParams, RunSettings, plan_run, run_cases
from medldr.run.prices import load_prices
from medldr.schema import SCORES, BuildManifest, option_error, read_perturbation
from medldr.score.compare import compare_runs
from medldr.score.files import check_scoring, read_alike, run_inputs, score_files, write_scores
from medldr.score.robustness_files import robustness_of, write_robustness
from medldr.train.entry import KINDS, Kind, train

PIPELINE_ORDER = (
    "build",
    "perturb",
    "prompts",
    "run",
    "baseline",
    "score",
    "compare",
    "overdiagnosis",
    "robustness",
    "report",
    "train",
    "demo",
    "version",
)


class _PipelineOrder(TyperGroup):
    """Commands listed in the order a study uses them, not alphabetically."""

    def list_commands(self, ctx: typer.Context) -> list[str]:
        known = [name for name in PIPELINE_ORDER if name in self.commands]
        return known + sorted(set(self.commands) - set(known))


app = typer.Typer(
    name="medldr",
    cls=_PipelineOrder,
    help="Long-context diagnostic reasoning (LDR) benchmarks from real EHRs: build, run, score, report, train.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)
prompts_app = typer.Typer(help="Prompt styles and task types: list them, preview one on a case.")
app.add_typer(prompts_app, name="prompts")
train_app = typer.Typer(help="Fine-tune on built cases: SFT and GRPO with TRL, PEFT and accelerate (offline).")
app.add_typer(train_app, name="train")
console = Console()

Out = Annotated[Path, typer.Option("--out", "-o", help="Folder for {train,validation,test,inference}.jsonl.")]
LabelSpec = Annotated[str, typer.Option(help="'top50' (top-N of the cohort), 'paper40' (the study's list) or a file.")]
Seed = Annotated[int, typer.Option(help="Seed of the patient split and the inference subset.")]
Ratios = Annotated[str, typer.Option(help="train,validation,test shares of patients.")]
Labs = Annotated[str, typer.Option(help="'earliest' result per lab test (the study's rule) or 'all' results.")]
PerCode = Annotated[int, typer.Option(help="Inference subset: up to this many cases per label code.")]
Memory = Annotated[str, typer.Option(help="DuckDB memory limit; work beyond it spills to disk.")]
Threads = Annotated[int | None, typer.Option(min=1, max=1024, help="DuckDB threads (default: all cores).")]
ModelThreads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        max=1024,
        help="CPU threads of an in-process model (default: the cores this process may use).",
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Replace a different earlier build in --out.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display and no summary (for scripts).")]
RunDir = Annotated[Path | None, typer.Argument(help="A run folder (responses.jsonl + manifest.json).")]
CasesFile = Annotated[Path | None, typer.Option(help="Cases file (JSONL, or MedLDR's JSON list).")]
ResponsesFile = Annotated[Path | None, typer.Option(help="Responses JSONL: case_id, round, text per line.")]
ScoringLabels = Annotated[str | None, typer.Option(help="paper40, a code file, or topN (default: the build's).")]
Extraction = Annotated[str, typer.Option(help="robust, or reference (the study's own parser).")]


def _shares(ratios: str | None) -> tuple[float, ...] | None:
    shares = None
    if ratios is not None:
        try:
            shares = tuple(float(part) for part in ratios.split(","))
        except ValueError:
            raise MedldrError(f"--ratios {ratios!r}: expected three numbers such as 0.8,0.1,0.1") from None
        if len(shares) != 3:
            raise MedldrError(f"--ratios {ratios!r}: expected three numbers (train,validation,test)")
    return shares


def _print_version(value: bool) -> None:
    if value:
        version()
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Long-context diagnostic reasoning (LDR) benchmarks from real EHRs: build, run, score, report, train."""


@app.command()
def build(
    source: Annotated[str, typer.Argument(help="; ".join(f"{k}: {v.help}" for k, v in SOURCES.items()))],
    root: Annotated[Path | None, typer.Option(help="mimic: MIMIC-IV release folder (holds hosp/), 2.2 or 3.1.")] = None,
    ed: Annotated[Path | None, typer.Option(help="mimic: MIMIC-IV-ED release folder (holds ed/).")] = None,
    note: Annotated[Path | None, typer.Option(help="mimic: MIMIC-IV-Note release folder (holds note/).")] = None,
    release: Annotated[
        str | None, typer.Option("--release", "--mimic-version", help="Release number, if the path does not show it.")
    ] = None,
    out: Out = Path("cases"),
    profile: Annotated[
        str, typer.Option(help="'study' (the study's whole recipe) or 'medldr' (ours); options below override it.")
    ] = "study",
    window: Annotated[
        str | None, typer.Option(help="'study' (its window) or 'ed' (ED draws before admission too).")
    ] = None,
    hours: Annotated[
        float | None, typer.Option(help="Only events in the first H hours after the window opens.")
    ] = None,
    drop_drug_levels: Annotated[
        bool | None, typer.Option("--drop-drug-levels/--keep-drug-levels", help="Drug monitoring results.")
    ] = None,
    label_space: Annotated[str | None, LabelSpec.__metadata__[0]] = None,
    seed: Seed = 2025,
    ratios: Annotated[str | None, Ratios.__metadata__[0]] = None,
    labs: Annotated[str | None, Labs.__metadata__[0]] = None,
    per_code: Annotated[int | None, PerCode.__metadata__[0]] = None,
    codes: Annotated[
        str | None, typer.Option(help="eicu: read the multi-code icd9code field as 'medldr' (default) or 'study'.")
    ] = None,
    memory_limit: Memory = "4GB",
    threads: Threads = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Build LDR cases: from the bundled open demo (no path, no network), from MIMIC-IV tables (.csv.gz, .csv or
    .parquet; the ED and note modules are optional), or LDR-eICU from eICU-CRD 2.0 tables."""
    options = {
        "profile": profile,
        "window": window,
        "hours": hours,
        "drop_drug_levels": drop_drug_levels,
        "label_space": label_space,
        "seed": seed,
        "ratios": _shares(ratios),
        "labs": labs,
        "per_code": per_code,
        "codes": codes,
        "memory_limit": memory_limit,
        "threads": threads,
    }
    with StageProgress(enabled=not quiet) as progress:
        manifest = build_source(
            source,
            out,
            options,
            root=root,
            modules={"ed": ed, "note": note},
            release=release,
            force=force,
            progress=progress,
        )
    if not quiet:
        console.print(build_summary(manifest, str(out)))


@app.command()
def perturb(
    cases: Annotated[Path, typer.Argument(help="A built cases file, e.g. cases/inference.jsonl.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for original/ and one folder per kind.")],
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="A perturbation kind (repeat it; default: every kind).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random edits (with the kind and the case id).")] = 0,
    quiet: Quiet = False,
) -> None:
    """Perturbed copies of built cases for robustness probes: each kind's cases in OUT/KIND/, the original in
    OUT/original/, run each with `medldr run` and compare them with `medldr robustness`."""
    written = perturb_cases(cases, out, kind, seed)
    if quiet:
        return
    for path in written:
        manifest = read_perturbation(path)
        if manifest is not None:
            what = manifest.expect or "as built"
            console.print(f"{manifest.kind} ({what}): {manifest.n_changed} of {manifest.n_cases} cases")
    console.print(f"perturbed cases: {out}/KIND/{Path(cases).name}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's outputs.")] = Path("medldr-demo"),
    rounds: Annotated[int, typer.Option(min=1, help="Rounds per case.")] = 3,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N inference cases (a quick look).")] = None,
    threads: ModelThreads = None,
    quiet: Quiet = False,
) -> None:
    """The main job on the bundled open demo, offline: build the cases, run the bundled small model on the
    inference subset, score it, write the report."""
    with StageProgress(enabled=not quiet) as progress:  # one live display for both stages

        def built(manifest: BuildManifest) -> None:
            if not quiet:
                console.print(build_summary(manifest, str(out / "cases")))
            progress("loading model", 0, 1)

        def answering(done: int, total: int, totals: dict[str, float]) -> None:
            progress("loading model", 1, 1)
            progress("answering (local)", done, total)

        result = run_demo(
            out,
            rounds=rounds,
            limit=limit,
            threads=threads,
            build_progress=progress,
            run_progress=answering,
            built=built,
        )
    if not quiet:
        console.print(scores_summary(result.scores, "the bundled SmolLM2-135M on the demo's inference subset"))
        console.print(overdiagnosis_table(result.overdiagnosis, "why it overdiagnosed"))
    console.print("demo done: " + ", ".join(str(p) for p in result.written))
    console.print(f"report: {result.report}")


@app.command()
def score(
    run_dir: RunDir = None,
    cases: CasesFile = None,
    responses: ResponsesFile = None,
    label_space: ScoringLabels = None,
    extraction: Extraction = "robust",
    allow_missing: Annotated[bool, typer.Option(help="Score a missing (case, round) as invalid.")] = False,
    resamples: Annotated[int, typer.Option(min=0, max=100_000, help="Bootstrap resamples (0: no intervals).")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    unit: Annotated[str, typer.Option(help="Bootstrap unit: patient or case.")] = "patient",
    out: Annotated[Path | None, typer.Option(help="scores.json path (default: RUN_DIR/scores.json).")] = None,
    quiet: Quiet = False,
) -> None:
    """Score a run: extract answers, compute every metric of the study with bootstrap CIs; writes scores.json."""
    inputs = run_inputs(run_dir, cases, responses)
    target = out or (run_dir / SCORES if run_dir else None)
    if target is None:
        raise MedldrError("--out is required when no run folder is given")
    scored = score_files(
        inputs,
        label_space=label_space,
        mode=extraction,  # type: ignore[arg-type]  # checked there
        allow_missing=allow_missing,
        n_resamples=resamples,
        seed=seed,
        unit=unit,  # type: ignore[arg-type]
    )
    paths = write_scores(scored, target)
    if not quiet:
        console.print(scores_summary(scored.scores, f"scores of {inputs.responses}"))
        console.print("written: " + ", ".join(map(str, paths)))


GroupSpec = Annotated[
    list[str] | None, typer.Option(help="NAME=RUN,RUN (repeatable): group means, e.g. rlm=runs/r1,runs/o3.")
]


def _parse_groups(specs: list[str] | None) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = {}
    for spec in specs or []:
        name, _, members = spec.partition("=")
        if not name or not members or name in groups:
            raise MedldrError(f"--group {spec!r}: expected NAME=RUN,RUN with a name used once")
        groups[name] = [Path(m) for m in members.split(",") if m]
    return groups


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Scored run folders on the same cases.")],
    metric: Annotated[
        list[str] | None, typer.Option(help="A metric (repeatable; default primary_accuracy), e.g. jaccard.")
    ] = None,
    group: GroupSpec = None,
    resample_models: Annotated[
        bool, typer.Option(help="Group CIs and p also resample the models within each group (two-level bootstrap).")
    ] = False,
    resamples: Annotated[
        int, typer.Option(min=1, max=100_000, help="Bootstrap resamples (and sign-flip permutations).")
    ] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    unit: Annotated[str, typer.Option(help="Bootstrap unit: patient or case.")] = "patient",
    out: Annotated[Path | None, typer.Option(help="Also write the comparison as JSON here.")] = None,
) -> None:
    """Compare scored runs on the same cases: every pair's paired difference with patient-clustered p-values (Holm-
    adjusted across pairs and metrics), or group means (mean over models) and their difference."""
    check_scoring("robust", unit)
    if resample_models and not group:
        raise MedldrError("--resample-models: give the groups to resample (--group NAME=RUN,RUN)")
    scored = read_alike(runs)
    groups = {name: [str(m) for m in members] for name, members in _parse_groups(group).items()}
    result = compare_runs(
        {name: values for name, (_, values) in scored.items()},
        metric or ["primary_accuracy"],
        groups=groups or None,
        resample_models=resample_models,
        n_resamples=resamples,
        seed=seed,
        unit=unit,
    )
    console.print(comparison_table(result))
    if out is not None:
        atomic_write_text(out, json.dumps(result, indent=2))


@app.command()
def robustness(
    original: Annotated[Path, typer.Argument(help="A run on the original cases (2 rounds or more).")],
    perturbed: Annotated[list[Path], typer.Argument(help="Runs on `medldr perturb` copies of those cases.")],
    label_space: Annotated[str | None, typer.Option(help="Label space (default: the original run's).")] = None,
    resamples: Annotated[int, typer.Option(min=1, max=100_000, help="Bootstrap resamples of patients.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    out: Annotated[Path | None, typer.Option(help="Folder for robustness.json (default: the original run's).")] = None,
    quiet: Quiet = False,
) -> None:
    """How answers change on perturbed cases, net of the model's own round-to-round noise: per kind the flip rate,
    the set change and the change in primary accuracy, with patient-clustered CIs."""
    result = robustness_of(original, perturbed, label_space=label_space, n_resamples=resamples, seed=seed)
    path = write_robustness(result, out or original)
    if not quiet:
        console.print(robustness_table(result))
    console.print(f"written: {path}")


@app.command()
def overdiagnosis(
    run_dir: RunDir = None,
    cases: CasesFile = None,
    responses: ResponsesFile = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: RUN_DIR).")] = None,
    label_space: ScoringLabels = None,
    extraction: Extraction = "robust",
    allow_missing: Annotated[bool, typer.Option(help="Type a run that lacks (case, round) answers.")] = False,
    judge: Annotated[
        str | None, typer.Option(help="PROVIDER:MODEL of an evidence judge for Type-A codes, e.g. openai:gpt-4.1.")
    ] = None,
    sample: Annotated[int | None, typer.Option(min=1, help="Judge this many Type-A codes (seeded sample).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the judge's sample.")] = 0,
    base_url: Annotated[str | None, typer.Option(help="Server URL for an OpenAI-compatible judge.")] = None,
    task: Annotated[
        str | None, typer.Option(help="Fields the model (and the judge) saw (default: the run's task).")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1024, help="Judge requests in flight.")] = 4,
    timeout: Annotated[float, typer.Option(min=0.001, max=86_400, help="Seconds per judge request.")] = 600.0,
    allow_data_sharing: Annotated[
        bool, typer.Option("--allow-data-sharing", help="Send credentialed cases to a judge that may retain them.")
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Type every overdiagnosed code (predicted, not in gold) of every case and round: C hierarchy confusion,
    B temporal confusion, A evidence over-interpretation; optionally an LLM judge checks Type-A evidence."""
    settings = None
    if judge is not None:
        settings = JudgeSettings(
            model=judge,
            sample=sample,
            seed=seed,
            base_url=base_url,
            concurrency=concurrency,
            timeout=timeout,
            allow_data_sharing=allow_data_sharing,
        )
    elif sample is not None:
        raise MedldrError("--sample is the judge's sample size; give --judge PROVIDER:MODEL too")
    inputs = run_inputs(run_dir, cases, responses)
    with StageProgress(enabled=not quiet and settings is not None) as progress:
        typed, written = overdiagnose(
            inputs,
            out or run_dir,
            run_dir=run_dir,
            label_space=label_space,
            mode=extraction,
            allow_missing=allow_missing,
            task=task,
            judge=settings,
            progress=lambda done, total: progress("judging", done, total),
        )
    if not quiet:
        console.print(overdiagnosis_table(typed.summary, f"overdiagnoses in {inputs.responses}"))
        console.print("written: " + ", ".join(map(str, written)))


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="Scored run folders (scores.json, per_case.csv, manifest.json).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder: index.html, tables/, figures/.")] = Path(
        "report"
    ),
    group: GroupSpec = None,
    title: Annotated[str, typer.Option(help="The report's title.")] = "medldr report",
    resamples: Annotated[int, typer.Option(min=1, max=100_000, help="Bootstrap resamples for the comparison.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed for the comparison.")] = 0,
    unit: Annotated[str, typer.Option(help="Bootstrap unit: patient or case.")] = "patient",
    quiet: Quiet = False,
) -> None:
    """Paper-ready tables (CSV, Markdown, LaTeX), figures (PNG, SVG) and one offline HTML file from scored runs."""
    check_scoring("robust", unit)
    from medldr.report import write_report  # matplotlib: imported when a report is drawn, not at every CLI start

    written = write_report(
        runs, out, groups=_parse_groups(group), title=title, n_resamples=resamples, seed=seed, unit=unit
    )
    if not quiet:
        for note in written.notes:
            err_console.print(note)
        console.print(f"{len(written.tables)} table files, {len(written.figures)} figure files")
        console.print(f"report: {written.index}")


@app.command()
def run(
    cases: Annotated[Path, typer.Argument(help="Cases file (e.g. cases/inference.jsonl).")],
    model: Annotated[str, typer.Option(help="PROVIDER:MODEL, e.g. openai:gpt-4.1, vllm:Qwen3-8B.")],
    out: Annotated[Path | None, typer.Option(help="Run folder (default: runs/<model>).")] = None,
    task: Annotated[
        str | None, typer.Option(help="Task type: which case fields go in (default: the richest the cases support).")
    ] = None,
    style: Annotated[str, typer.Option(help="Prompt style name or a template file.")] = DEFAULT_STYLE,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds per case (3 for reliability).")] = 3,
    base_url: Annotated[
        list[str] | None,
        typer.Option(help="Server URL for OpenAI-compatible providers; several (repeated or comma list): a pool."),
    ] = None,
    label_space: Annotated[str | None, typer.Option(help="paper40 or a code file (default: the build's).")] = None,
    temperature: Annotated[float | None, typer.Option(help="Sampling temperature.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Nucleus sampling.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Answer token limit.")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed, where the provider supports one.")] = None,
    reasoning_effort: Annotated[str | None, typer.Option(help="minimal/low/medium/high (reasoning models).")] = None,
    thinking_budget: Annotated[int | None, typer.Option(help="Anthropic extended thinking budget (tokens).")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1024, help="Requests in flight.")] = 8,
    threads: ModelThreads = None,
    timeout: Annotated[float, typer.Option(min=0.001, max=86_400, help="Seconds per request.")] = 600.0,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N cases.")] = None,
    retry_invalid: Annotated[int, typer.Option(min=0, help="Re-ask an unparsable answer up to N times.")] = 0,
    allow_data_sharing: Annotated[
        bool, typer.Option("--allow-data-sharing", help="Send credentialed cases to an endpoint that may retain them.")
    ] = False,
    prices: Annotated[
        Path | None, typer.Option(help="JSON price table (USD per 1M tokens) to add or override.")
    ] = None,
    label_order: Annotated[
        int | None, typer.Option(help="List the labels in a seeded random order (a robustness probe).")
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option(min=0, help="Stop sending before the run's spend would pass this many USD.")
    ] = None,
    max_total_tokens: Annotated[
        int | None, typer.Option(min=1, help="Stop sending before the run's prompt + completion tokens pass N.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Send nothing: print the requests, tokens, cost and data-use decision.")
    ] = False,
    rounds_together: Annotated[
        bool,
        typer.Option("--rounds-together", help="Ask a case's rounds as one request with n=ROUNDS (vLLM, SGLang)."),
    ] = False,
    batch: Annotated[
        bool, typer.Option("--batch", help="Through the provider's Batch API (openai, azure, anthropic): half price.")
    ] = False,
    poll: Annotated[
        float | None, typer.Option(min=1, help="With --batch: poll every N seconds until every batch has ended.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Run a model on the cases, R rounds each; answers are appended to OUT/responses.jsonl as they arrive.
    Re-running the same command resumes."""
    try:
        params = GenerationParams(
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            seed=seed,
            reasoning_effort=reasoning_effort,
            thinking_budget=thinking_budget,
        )
    except ValidationError as err:
        raise option_error(err) from None
    settings = RunSettings(
        cases_file=cases,
        out=out or Path("runs") / model.replace(":", "-").replace("/", "_"),
        model=model,
        task=task,
        style=style,
        label_space=label_space,
        base_url=",".join(base_url) if base_url else None,
        params=params,
        rounds=rounds,
        concurrency=concurrency,
        timeout=timeout,
        threads=threads,
        limit=limit,
        retry_invalid=retry_invalid,
        allow_data_sharing=allow_data_sharing,
        open_data=open_data_proof,
        prices=load_prices(prices),
        label_order=label_order,
        max_cost=max_cost,
        max_total_tokens=max_total_tokens,
        rounds_together=rounds_together,
        batch=batch,
        poll=poll,
    )
    if dry_run:
        console.print(dry_run_lines(plan_run(settings)), markup=False, highlight=False, soft_wrap=True)
        return
    with RunProgress(enabled=not quiet) as progress:
        manifest = run_cases(settings, progress=progress)
    totals = manifest.totals
    if not quiet:
        console.print(
            f"run {manifest.run_id} ({manifest.model_label()}): {int(totals['answers'])} answers "
            f"({int(totals['invalid'])} invalid), "
            f"{int(totals['errors'])} errors, {int(totals['prompt_tokens']):,} prompt + "
            f"{int(totals['completion_tokens']):,} completion tokens, {usd(totals['cost_usd'])} -> {settings.out}"
        )
    waiting = [b for b in manifest.batches or [] if not b["collected"]]
    if waiting:
        for entry in waiting:
            err_console.print(
                f"batch {entry['id']}: {entry['status']} ({entry['done']}/{entry['requests']} requests done); run the "
                "same command again to collect its answers",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
        raise typer.Exit(INCOMPLETE_EXIT)
    if totals.get("unanswered"):
        err_console.print(
            f"error: {int(totals['unanswered'])} (case, round) pairs have no answer (first cause: "
            f"{manifest.first_error}); run the same command again to ask only those",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(INCOMPLETE_EXIT)


@app.command()
def baseline(
    cases_dir: Annotated[Path, typer.Argument(help="A build folder: train, validation and inference .jsonl.")],
    kind: Annotated[str, typer.Option(help="prior (code frequencies) or labs (a classifier on the case's own data).")],
    out: Annotated[Path, typer.Option(help="Run folder for its answers (score, compare and report read it).")],
    cases: Annotated[Path | None, typer.Option(help="Cases to answer (default: CASES_DIR/inference.jsonl).")] = None,
    task: Annotated[str, typer.Option(help="Fields its features come from (what a model with this task sees).")] = (
        BASELINE_TASK
    ),
    seed: Annotated[int, typer.Option(help="Seed of the classifier.")] = 0,
    quiet: Quiet = False,
) -> None:
    """A non-LLM baseline on the same cases: trained on the build's train split (validation for its settings), its
    answers written as a one-round run."""
    manifest = run_baseline(cases_dir, kind, out, cases_file=cases, task=task, seed=seed)
    if not quiet:
        console.print(f"baseline {kind}: {manifest.identity.n_cases} cases answered -> {out}")


@prompts_app.callback(invoke_without_command=True)
def prompts_list(ctx: typer.Context) -> None:
    """List the prompt styles and task types."""
    if ctx.invoked_subcommand is None:
        console.print(prompts_table())


@prompts_app.command("show")
def prompts_show(
    style: Annotated[str, typer.Argument(help="A style name (see `medldr prompts`) or a template file.")],
    cases: Annotated[Path, typer.Option(help="Cases file.")],
    case: Annotated[str | None, typer.Option(help="Case id (default: the first case).")] = None,
    task: Annotated[
        str | None, typer.Option(help="Task type: which case fields go in (default: the richest the cases support).")
    ] = None,
    label_space: Annotated[str | None, typer.Option(help="paper40 or a code file (default: the build's).")] = None,
) -> None:
    """Preview the messages a model would get for one case."""
    messages = preview_messages(cases, case, style=style, task=task, label_space=label_space)
    for message in messages:
        console.rule(message["role"])
        console.print(message["content"], markup=False, highlight=False)


RecipeFile = Annotated[Path, typer.Option("--config", "-c", help="A YAML recipe (see recipes/).")]
StepsOpt = Annotated[int | None, typer.Option(help="Stop after N optimiser steps (overrides the recipe).")]
OutputDir = Annotated[Path | None, typer.Option(help="Where the model goes (overrides the recipe).")]
AccelerateOpt = Annotated[
    Path | None,
    typer.Option(
        "--accelerate",
        help="An accelerate config (e.g. recipes/accelerate/zero3.yaml): run on several processes or GPUs.",
    ),
]
ModelOpt = Annotated[str | None, typer.Option(help="Base model: a local folder, a .gguf file or 'bundled'.")]
LimitOpt = Annotated[int | None, typer.Option(min=1, help="Only the first N cases (overrides the recipe).")]


def _overrides(
    *, max_steps: int | None, output_dir: Path | None, model: str | None, limit: int | None
) -> dict[str, object]:
    """The flags that override a recipe, as the recipe writes them (TRL's output_dir is a string)."""
    folder = str(output_dir) if output_dir is not None else None
    return {"max_steps": max_steps, "output_dir": folder, "model": model, "limit": limit}


def _train_command(kind: Kind) -> Callable[..., None]:
    """``medldr train KIND``: both trainers take the same options and make the same one call."""

    def command(
        config: RecipeFile,
        max_steps: StepsOpt = None,
        output_dir: OutputDir = None,
        model: ModelOpt = None,
        limit: LimitOpt = None,
        accelerate: AccelerateOpt = None,
    ) -> None:
        overrides = _overrides(max_steps=max_steps, output_dir=output_dir, model=model, limit=limit)
        out = train(kind, Path(config), overrides, accelerate)
        if isinstance(out, int):
            if out:
                raise typer.Exit(out)
            return
        console.print(f"trained: {out} (evaluate: medldr run CASES --model hf:{out})")

    command.__doc__ = KINDS[kind]
    return command


for _kind in KINDS:
    train_app.command(_kind)(_train_command(_kind))


@app.command()
def version() -> None:
    """Print medldr's version (also medldr --version)."""
    console.print(__version__, highlight=False)


def main() -> None:
    """Entry point: a MedldrError, or an OSError from the files and disks it was given, becomes one line on stderr
    and exit code 2, never a traceback."""
    try:
        code = app(standalone_mode=False, prog_name="medldr")
    except UsageError as err:
        if isinstance(err, NoArgsIsHelpError):  # a bare group: its help, as click shows it
            err_console.print(err.format_message(), markup=False, highlight=False)
            sys.exit(err.exit_code)
        where = err.ctx.command_path if err.ctx is not None else "medldr"
        message = " ".join(err.format_message().split())
        err_console.print(f"error: {message} (see {where} -h)", markup=False, highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except typer.Abort:
        err_console.print("interrupted; files already written are intact", markup=False)
        sys.exit(130)
    except MedldrError as err:
        err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(MedldrError.exit_code)
    except OSError as err:  # the environment, not medldr: a full disk, a read-only or missing folder, a folder as file
        where = f"{err.filename}: " if err.filename else ""
        err_console.print(f"error: {where}{err.strerror or err}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(MedldrError.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted; files already written are intact", markup=False)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
