"""Write a report: tables (CSV, Markdown, LaTeX), figures (PNG, SVG) and one self-contained index.html.

Reads only scores, per-case values and manifests (see inputs.py); everything it writes is an atomic file under OUT.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from matplotlib.figure import Figure

from medldr import __version__
from medldr._files import atomic_write_bytes, atomic_write_text, folder_lock
from medldr.report import figures as figs
from medldr.report.inputs import ScoredFolder, load_folders, resolve_groups
from medldr.report.sections import (
    comparison_table,
    cost_per_case,
    metric_tables,
    overdiagnosis_relations_table,
    overdiagnosis_table,
    per_disease_table,
    reliability_table,
    revisions,
    robustness_table,
    runs_table,
    usage_table,
)
from medldr.report.tables import Table, to_csv, to_latex, to_markdown

INDEX = "index.html"


@dataclass
class RenderedFigure:
    name: str
    caption: str
    png: bytes
    svg: bytes

    @property
    def png_base64(self) -> str:
        return base64.b64encode(self.png).decode("ascii")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, from the PNG header."""
        return struct.unpack(">II", self.png[16:24])

    @property
    def width(self) -> int:
        return self.size[0]

    @property
    def height(self) -> int:
        return self.size[1]


@dataclass
class Report:
    """What a report holds before it is written: the runs table (the summary's), the other tables, figures, HTML."""

    runs: Table
    tables: list[Table]
    figures: list[RenderedFigure]
    html: str
    notes: list[str] = field(default_factory=list)


@dataclass
class WrittenReport:
    index: Path
    tables: list[Path]
    figures: list[Path]
    notes: list[str]


def _render(name: str, caption: str, figure: Figure) -> RenderedFigure:
    return RenderedFigure(name, caption, figs.render(figure, "png"), figs.render(figure, "svg"))


def draw_figures(runs: Sequence[ScoredFolder], disease_codes: Sequence[str]) -> tuple[list[RenderedFigure], list[str]]:
    """Every figure the runs support, and a note for each left out."""
    out = [
        _render(
            "accuracy", "Primary accuracy and exact match per run, with 95% bootstrap CIs.", figs.accuracy_figure(runs)
        ),
        _render(
            "relevance",
            "Clinical relevance of each case's best prediction to the primary diagnosis: exact (L1), "
            f"same {revisions(runs)} category (L2), same chapter (L3), unrelated or no prediction (L4).",
            figs.relevance_figure(runs),
        ),
    ]
    notes: list[str] = []

    def optional(name: str, caption: str, figure: Figure | None, missing: str) -> None:
        if figure is None:
            notes.append(missing)
        else:
            out.append(_render(name, caption, figure))

    optional(
        "thinking",
        "Primary accuracy (95% patient-bootstrap CI) by thinking-length quartile: reasoning tokens as the provider "
        "reported them, else the captured reasoning at 4 characters per token.",
        figs.thinking_figure(runs),
        "No thinking figure: no run captured or reported reasoning.",
    )
    optional(
        "cost_accuracy",
        "Primary accuracy (95% CI) against USD per 100 cases (every round); filled markers and the dashed line: the "
        "runs no other run beats on both.",
        figs.cost_accuracy_figure(runs, [cost_per_case(run)[0] for run in runs]),
        "No cost-accuracy figure: no run has a cost (local models, or models missing from the price table: --prices).",
    )
    optional(
        "reliability",
        "Reliability: mean agreement of the rounds' top-n lists against n, with 95% CI bands (Jaccard; the study's "
        "overlap |∩|/n for runs scored with --extraction reference).",
        figs.reliability_figure(runs),
        "No reliability figure: every run has a single round (reliability needs two or more).",
    )
    out.append(
        _render(
            "miss_overdiagnosis",
            "Miss rate against overdiagnosis rate per run (95% CIs); lower-left is better.",
            figs.miss_overdiagnosis_figure(runs),
        )
    )
    out.append(
        _render(
            "per_disease",
            "Primary accuracy per primary diagnosis (rows, most cases first) and run.",
            figs.per_disease_figure(runs, disease_codes),
        )
    )
    optional(
        "overdiagnosis",
        "Overdiagnosed codes per answer by type: C hierarchy confusion, B temporal confusion, "
        "A evidence over-interpretation.",
        figs.overdiagnosis_figure(runs),
        "No overdiagnosis figure: no run was typed (medldr overdiagnosis RUN).",
    )
    optional(
        "robustness",
        "Primary-diagnosis flip rate per perturbation kind (95% patient-bootstrap CI) against the band of the model's "
        "own round-to-round flips on the original cases (mean dashed, 95% CI shaded): invariant kinds (circles) should "
        "stay in the band, sensitive kinds (squares) should rise above it.",
        figs.robustness_figure(runs),
        "No robustness figure: no run was compared with perturbed runs (medldr perturb, then medldr robustness).",
    )
    optional(
        "information_curve",
        "Primary accuracy (95% CI) with only the first 20/40/60/80% of the lab lines (100%: the original cases).",
        figs.information_curve_figure(runs),
        "No information curve: no run was compared with lab_first_P runs (medldr perturb --kind lab_first_40 ...).",
    )
    return out, notes


def _distinct(values: Sequence[Any]) -> str:
    seen = list(dict.fromkeys(str(v) for v in values if v not in (None, "")))
    return ", ".join(seen) if seen else "not recorded"


def _summary(runs: Sequence[ScoredFolder], groups: Mapping[str, Sequence[str]] | None) -> list[tuple[str, str]]:
    identities = [run.manifest.identity.key() if run.manifest else {} for run in runs]
    data = []
    for run, identity in zip(runs, identities, strict=True):
        if run.manifest is None:
            continue
        source = f"{run.build.source} {run.build.source_version}" if run.build else "build not found"
        sha = str(identity.get("cases_sha256", ""))[:12]
        data.append(f"{Path(run.manifest.cases_file).name} from {source}, sha256 {sha}")
    started = [run.manifest.started_at for run in runs if run.manifest]
    finished = [run.manifest.finished_at for run in runs if run.manifest and run.manifest.finished_at]
    when = f"{min(started)} to {max(finished) if finished else 'unfinished'}" if started else "not recorded"
    return [
        ("Runs", str(len(runs))),
        ("Data", _distinct(data)),
        ("Cases", _distinct(f"{r.scores.n_cases} cases of {r.scores.n_patients} patients" for r in runs)),
        ("Label space", _distinct(f"{len(r.scores.label_space)} {r.scores.label_space.revision} codes" for r in runs)),
        ("Task", _distinct([i.get("task") for i in identities])),
        ("Prompt style", _distinct([i.get("style") for i in identities])),
        ("Models", _distinct([r.model for r in runs])),
        ("Rounds", _distinct([len(r.scores.rounds) for r in runs])),
        ("Run", when),
        ("Extraction", _distinct([r.scores.extraction for r in runs])),
        ("Groups", "; ".join(f"{g}: {', '.join(m)}" for g, m in groups.items()) if groups else "none given"),
    ]


def _provenance(run: ScoredFolder) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [("folder", str(run.folder))]
    manifest = run.manifest
    if manifest is None:
        rows.append(("manifest", "none (scored from explicit files)"))
    else:
        identity = manifest.identity.key()
        identity.pop("label_space", None)
        labels = run.scores.label_space.codes
        rows += [("run id", manifest.run_id), ("cases file", manifest.cases_file)]
        rows += [
            (key.replace("_", " "), json.dumps(value) if isinstance(value, dict | list) else str(value))
            for key, value in identity.items()
            if value is not None  # e.g. no base url for an in-process model: nothing to show, never "None"
        ]
        rows += [
            (f"model {key}", str(value)) for key, value in (manifest.model or {}).items() if value not in (None, [])
        ]
        space = run.scores.label_space
        rows.append(("label space", f"{len(labels)} {space.revision} codes ({space.spec}): {', '.join(labels)}"))
        if space.origin:
            rows.append(("label names", space.origin))
        if run.build is not None:
            rows.append(
                (
                    "build",
                    f"{run.build.source} {run.build.source_version}, medldr "
                    f"{run.build.medldr_version}, duckdb {run.build.duckdb_version}",
                )
            )
        decision = manifest.data_use
        rows.append(
            (
                "data use",
                f"{decision.get('decision')}: {decision.get('reason')}"
                + (f" (cases from {decision['source']})" if decision.get("source") else ""),
            )
        )
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in manifest.versions.items() if v)))
        rows.append(("settings", json.dumps(manifest.settings)))
        rows.append(("started / finished", f"{manifest.started_at} / {manifest.finished_at or 'unfinished'}"))
        totals = (f"{k} {'unknown' if v is None else f'{v:g}'}" for k, v in manifest.totals.items())
        rows.append(("totals", ", ".join(totals)))
    scores = run.scores
    rows.append(("scores", f"extraction {scores.extraction}; bootstrap {json.dumps(scores.bootstrap)}"))
    rows.append(("responses sha256", scores.responses_sha256 or "not recorded"))
    return rows


def _environment() -> jinja2.Environment:
    folder = resources.files("medldr.report") / "templates"
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: (folder / name).read_text(encoding="utf-8")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    table_template = env.get_template("table.html.j2")
    env.globals["render_table"] = lambda table: jinja2.filters.Markup(table_template.render(table=table))
    return env


def build_report(
    runs: Sequence[ScoredFolder],
    groups: Mapping[str, Sequence[str]] | None = None,
    *,
    title: str = "medldr report",
    n_resamples: int = 1000,
    seed: int = 0,
    unit: str = "patient",
    generated_at: str | None = None,
) -> Report:
    """Tables, figures and HTML for scored runs (``groups``: group name -> run labels)."""
    per_disease = per_disease_table(runs)
    comparison = comparison_table(runs, groups, n_resamples=n_resamples, seed=seed, unit=unit)
    notes = []
    if comparison is None and len(runs) > 1:
        notes.append("No comparison table: give two runs on the same cases, or two groups with --group.")
    tables = [*metric_tables(runs), reliability_table(runs)]
    tables += [comparison] if comparison else []
    tables += [table for table in (overdiagnosis_table(runs), overdiagnosis_relations_table(runs)) if table]
    tables += [table for table in (robustness_table(runs),) if table]
    tables += [usage_table(runs), per_disease]
    figures, figure_notes = draw_figures(runs, [str(row["code"]) for row in per_disease.rows])
    summary_table = runs_table(runs)
    html = (
        _environment()
        .get_template("report.html.j2")
        .render(
            title=title,
            version=__version__,
            generated_at=generated_at or datetime.now(UTC).isoformat(timespec="seconds"),
            summary=_summary(runs, groups),
            runs_table=summary_table,
            warnings=notes,
            tables=tables,
            figures=figures,
            figure_notes=figure_notes,
            provenance=[{"name": run.name, "rows": _provenance(run)} for run in runs],
        )
    )
    return Report(summary_table, tables, figures, html, notes + figure_notes)


def write_report(
    folders: Sequence[Path],
    out: Path,
    *,
    groups: Mapping[str, Sequence[Path]] | None = None,
    title: str = "medldr report",
    n_resamples: int = 1000,
    seed: int = 0,
    unit: str = "patient",
) -> WrittenReport:
    """Load the scored run folders and write OUT/index.html, OUT/tables/*.{csv,md,tex}, OUT/figures/*.{png,svg}."""
    runs = load_folders(folders)
    labels = resolve_groups(runs, groups) if groups else None
    report = build_report(runs, labels, title=title, n_resamples=n_resamples, seed=seed, unit=unit)
    out = Path(out)
    tables, figures = [], []
    with folder_lock(out):
        for table in [report.runs, *report.tables]:
            for suffix, text in (("csv", to_csv(table)), ("md", to_markdown(table)), ("tex", to_latex(table))):
                path = out / "tables" / f"{table.name}.{suffix}"
                atomic_write_text(path, text)
                tables.append(path)
        for figure in report.figures:
            for suffix, data in (("png", figure.png), ("svg", figure.svg)):
                path = out / "figures" / f"{figure.name}.{suffix}"
                atomic_write_bytes(path, data)
                figures.append(path)
        index = out / INDEX
        atomic_write_text(index, report.html)
    return WrittenReport(index, tables, figures, report.notes)
