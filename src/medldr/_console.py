"""Terminal presentation for the CLI (rich): stage progress and end-of-build summary. No logic lives here."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from medldr.prompts import DEFAULT_STYLE, STYLES, TASKS
from medldr.schema import BuildManifest, Scores
from medldr.score.metrics import REGISTRY, estimate
from medldr.score.scoring import exclusion_lines

err_console = Console(stderr=True)


class _Live:
    """A rich progress display on stderr, started and stopped as a context manager."""

    def __init__(self, enabled: bool, *extra: TextColumn) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            *extra,
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=err_console,
            disable=not enabled,
        )

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.stop()


class StageProgress(_Live):
    """One progress line per build stage; passed to the build as its ``progress`` callback."""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__(enabled)
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=max(total, 1))
        self._progress.update(self._tasks[stage], completed=done, total=max(total, 1))


def build_summary(manifest: BuildManifest, out: str) -> Table:
    """The end-of-build table: cases per split, label-space coverage, fields, drops."""
    table = Table(title=f"LDR cases written to {out}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    counts = manifest.counts
    table.add_row("source", f"{manifest.source} {manifest.source_version}")
    table.add_row("cohort", f"{counts['cohort']} admissions — {manifest.cohort_rule}")
    if manifest.window:
        table.add_row("window", manifest.window)
    table.add_row(
        "cases",
        f"{counts['cases']} (train {counts['train']}, validation {counts['validation']}, test {counts['test']}; "
        f"inference subset {counts['inference']})",
    )
    per_code = manifest.counts_per_code
    space = manifest.label_space
    with_primary = sum(1 for code in space.codes if per_code[code]["primary"] > 0)
    in_inference = sum(1 for code in space.codes if per_code[code]["inference"] > 0)
    table.add_row(
        "label space",
        f"{space.spec}: {len(space)} codes; {with_primary} are the primary of some case, {in_inference} occur in the "
        "inference subset",
    )
    table.add_row("fields present", ", ".join(manifest.fields_present))
    for name, why in manifest.fields_absent.items():
        table.add_row("absent", f"{name}: {why}")
    for what, count in manifest.removed.items():
        table.add_row("removed", f"{count} {what}")
    for drop in manifest.dropped:
        table.add_row("dropped", f"{drop.count} — {drop.reason}")
    unmapped = sum(manifest.unmapped_icd10.values())
    table.add_row("unmapped ICD-10", f"{unmapped} label codes ({len(manifest.unmapped_icd10)} distinct) had no ICD-9")
    return table


def _scaled(value: float, unit: str) -> str:
    # the report's format (report.tables), kept here so the CLI does not import the report stage at start-up
    return f"{100 * value:.1f}" if unit == "percent" else f"{value:,.0f}" if unit == "count" else f"{value:.2f}"


def scores_summary(scores: Scores, title: str) -> Table:
    """Every registered metric the scores have a value for, of every scope (per-case metrics, label-space averages, a
    source's own metrics): mean over rounds with its interval (shares in percent)."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("mean [95% CI]", justify="right")
    for key, metric in REGISTRY.items():
        found = estimate(scores, key)
        if found is None:
            continue
        value, low, high = found
        cell = _scaled(value, metric.unit)
        if low is not None and high is not None:
            cell += f" [{_scaled(low, metric.unit)}, {_scaled(high, metric.unit)}]"
        table.add_row(key + (" (%)" if metric.unit == "percent" else ""), cell)
    if scores.reliability is not None:
        for key in ("topn_jaccard_1", "topn_jaccard_10", "consistency_top1", "consistency_all"):
            table.add_row(f"reliability {key}", f"{100 * scores.reliability[key]:.1f}")
    for entry in (scores.thinking or {}).get("bins", []):  # what thinking buys: accuracy by thinking-length quartile
        low, high = entry.get("primary_accuracy_ci", (None, None))
        interval = f" [{100 * low:.1f}, {100 * high:.1f}]" if low is not None else ""
        label = f"thinking {entry['low']:,.0f}-{entry['high']:,.0f} tok: primary_accuracy (%)"
        table.add_row(label, f"{100 * entry['primary_accuracy']:.1f}{interval}")
    table.caption = (
        f"{scores.n_cases} cases, {scores.n_patients} patients, rounds {scores.rounds}, extraction {scores.extraction}"
        + "".join(f"\n{line}" for line in exclusion_lines(scores.excluded))
    )
    return table


def comparison_table(result: dict[str, Any]) -> Table:
    """Per metric the runs (and groups) with CIs, then every pair's difference with its p-values (raw, and Holm-
    adjusted across all pairs and metrics shown); the caption says which test each p is."""
    table = Table(title=f"paired comparison on {result['n_cases']} cases", title_justify="left")
    table.add_column("metric")
    table.add_column("run / group / difference")
    table.add_column("value [95% CI]", justify="right")
    table.add_column("p (Holm)", justify="right")

    def cell(entry: dict[str, Any], unit: str) -> str:  # the units of `medldr score`: shares in percent
        low, high = entry["ci"]
        return f"{_scaled(entry['value'], unit)} [{_scaled(low, unit)}, {_scaled(high, unit)}]"

    for metric in result["metrics"]:
        unit = REGISTRY[metric].unit if metric in REGISTRY else "number"
        label = metric + (" (%)" if unit == "percent" else "")
        for name, entry in result["runs"][metric].items():
            table.add_row(label, name, cell(entry, unit), "")
        for name, entry in result.get("groups", {}).get(metric, {}).items():
            table.add_row(label, f"group {name} (mean of {len(entry['runs'])})", cell(entry, unit), "")
        for diff in (d for d in result["differences"] if d["metric"] == metric):
            ps = "; ".join(f"{test} {p:.4g} ({diff['p_holm'][test]:.4g})" for test, p in diff["p"].items())
            table.add_row(label, f"difference {diff['of']}", cell(diff, unit), ps)
    unit = result["bootstrap"]["unit"]
    table.caption = "\n".join(
        [
            f"CIs: {result['bootstrap']['resamples']} resamples of {unit}s, one draw for every run. Shares in %, "
            "their differences in percentage points; proportions in the JSON.",
            "p: for each difference (raw, then Holm-adjusted in brackets); a run's own row has none.",
            *(f"{test}: {what}." for test, what in result["tests"].items()),
            *([f"group CIs: {result['group_ci']}."] if "group_ci" in result else []),
        ]
    )
    return table


def robustness_table(result: dict[str, Any]) -> Table:
    """Per perturbation kind: the flip rate against the original, the model's own round-to-round flip rate (noise),
    the excess with its patient-clustered CI, the set change's excess, the change in primary accuracy, the verdict."""
    table = Table(title=f"robustness against {result['original_run']}", title_justify="left")
    for name in ("kind", "cases", "flip %", "noise %", "excess pp [95% CI]", "set change excess pp", "Δ primary pp"):
        table.add_column(name, justify="left" if name == "kind" else "right")
    table.add_column("verdict")

    def pp(entry: dict[str, Any], name: str, ci: bool = True) -> str:
        low, high = entry[f"{name}_ci"]
        return f"{100 * entry[name]:+.1f}" + (f" [{100 * low:+.1f}, {100 * high:+.1f}]" if ci else "")

    for entry in result["kinds"]:
        table.add_row(
            f"{entry['kind']} ({entry['expect']})",
            str(entry["n_cases"]),
            f"{100 * entry['flip_rate']:.1f}",
            f"{100 * entry['noise_flip_rate']:.1f}",
            pp(entry, "flip_excess"),
            pp(entry, "set_change_excess", ci=False),
            pp(entry, "primary_accuracy_change", ci=False),
            entry["verdict"],
        )
    table.caption = (
        "flip: the primary diagnosis differs from the original's answer of the same round; noise: between the "
        f"original's own rounds. CIs: {result['n_resamples']} resamples of patients, paired."
    )
    return table


def usd(cost: float | None) -> str:
    """A cost as printed: dollars, or 'cost unknown' for a model without a price (never $0.00).

    >>> usd(1.234), usd(None)
    ('$1.23', 'cost unknown')
    """
    return "cost unknown" if cost is None else f"${cost:.2f}"


def dry_run_lines(plan: dict[str, Any]) -> str:
    """What `medldr run --dry-run` prints: nothing was sent."""
    tokens = "counted with the model's tokenizer" if plan["prompt_tokens_counted"] else "an estimate: 4 characters each"
    if plan["on_this_machine"]:
        cost = "$0 (a model on this machine)"
    elif plan["priced"] and plan.get("batch_discount"):
        share = plan["batch_discount"]
        cost = (
            f"${plan['cost_usd'] * share:.2f} through the Batch API ({share:.0%} of ${plan['cost_usd']:.2f} at the "
            "price table's prices)"
        )
    elif plan["priced"]:
        cost = f"${plan['cost_usd']:.2f} at the price table's prices"
    else:
        cost = f"unknown: no price for {plan['model']} (add one with --prices FILE)"
    together = f" for {plan['answers']:,} answers" if plan["answers"] != plan["requests"] else ""
    return "\n".join(
        [
            f"dry run of {plan['model']}: nothing sent, nothing written",
            f"requests: {plan['requests']:,}{together} ({plan['already_answered']:,} already answered)",
            f"prompt tokens: {plan['prompt_tokens']:,} ({tokens})",
            f"completion tokens: {plan['completion_tokens']:,} (per answer: {plan['completion_basis']})",
            f"cost: {cost}",
            f"data use: {plan['data_use']}",
        ]
    )


def prompts_table() -> Table:
    """The prompt styles and the task types."""
    table = Table(title="prompt styles (--style) and task types (--task)", title_justify="left")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("what")
    for style in STYLES:
        table.add_row("style", style + (" (default)" if style == DEFAULT_STYLE else ""), "the study's instructions")
    for task, fields in TASKS.items():
        table.add_row("task", task, " + ".join(fields))
    table.caption = "default task: the one with the most fields every case has"
    return table


class RunProgress(_Live):
    """A live bar for a run: (case, round) pairs done of all, tokens (and generated tokens per second in this
    process), cost and errors so far; "loading model" until the first answer is asked for (an in-process model
    loads for seconds to minutes)."""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__(enabled, TextColumn("{task.fields[stats]}"))
        self._task: TaskID | None = None
        self._start: tuple[float, float] | None = None  # (time, completion tokens) when asking began

    def __enter__(self) -> Self:
        super().__enter__()
        self._task = self._progress.add_task("loading model", total=None, stats="")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._start is None and self._task is not None:  # stopped before asking (refused): leave no bar behind
            self._progress.remove_task(self._task)
        super().__exit__(kind, value, trace)

    def __call__(self, done: int, total: int, totals: dict[str, float]) -> None:
        generated = totals["completion_tokens"]
        if self._start is None:
            self._start = (time.monotonic(), generated)
        elapsed = time.monotonic() - self._start[0]
        rate = (generated - self._start[1]) / elapsed if elapsed > 1 else 0.0
        stats = (
            f"{int(totals['prompt_tokens'] + generated):,} tok  {rate:,.1f} tok/s  {usd(totals['cost_usd'])}  "
            f"{int(totals['errors'])} errors  {int(totals['invalid'])} invalid"
        )
        if self._task is None:
            self._task = self._progress.add_task("run", total=max(total, 1), stats=stats)
        self._progress.update(self._task, description="run", completed=done, total=max(total, 1), stats=stats)


def overdiagnosis_table(summary: dict[str, Any], title: str) -> Table:
    """Type shares of the overdiagnosed codes, and the judge's verdicts when it ran."""
    table = Table(title=title, title_justify="left")
    table.add_column("type")
    table.add_column("codes", justify="right")
    table.add_column("share", justify="right")
    table.add_column("95% CI", justify="right")
    for key, name in summary["type_names"].items():
        low, high = summary.get("share_ci", {}).get(key, (None, None))
        interval = f"[{100 * low:.1f}, {100 * high:.1f}]" if low is not None and high is not None else "—"
        table.add_row(f"{key}: {name}", str(summary["counts"][key]), f"{100 * summary['shares'][key]:.1f}%", interval)
    table.caption = (
        f"{summary['overdiagnosed']} overdiagnosed codes in {summary['n_answers']} answers "
        f"({summary['per_answer']:.2f} per answer)"
    )
    judge = summary.get("judge")
    if judge:
        verdicts = ", ".join(f"{k} {v}" for k, v in judge["verdicts"].items())
        table.caption += (
            f"; judge {judge['model']} on {judge['asked']} of {judge['type_a']} Type-A codes: {verdicts}; "
            f"{judge['quotes_rejected']} quotes not in the record, {judge['unreadable']} unreadable answers"
        )
    return table
