"""The ``medldr`` command: one thin command per stage; each parses arguments and calls one library function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from medldr import __version__
from medldr._console import StageProgress, build_summary, err_console
from medldr.build import BuildConfig, build_cases
from medldr.errors import MedldrError
from medldr.schema import BuildManifest
from medldr.sources import open_demo, open_mimic
from medldr.sources.mimic import MimicSource

app = typer.Typer(
    name="medldr",
    help="Long-context diagnostic reasoning (LDR) benchmarks from real EHRs: build, run, score, report, train.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
build_app = typer.Typer(help="Build LDR cases from raw EHR tables (DuckDB).", no_args_is_help=True)
app.add_typer(build_app, name="build")
console = Console()

Out = Annotated[Path, typer.Option("--out", "-o", help="Folder for {train,validation,test,inference}.jsonl.")]
LabelSpec = Annotated[str, typer.Option(help="'top50' (top-N of the cohort), 'paper40' (the study's list) or a file.")]
Seed = Annotated[int, typer.Option(help="Seed of the patient split and the inference subset.")]
Ratios = Annotated[str, typer.Option(help="train,validation,test shares of patients.")]
Labs = Annotated[str, typer.Option(help="'earliest' result per lab test (the study's rule) or 'all' results.")]
PerCode = Annotated[int, typer.Option(help="Inference subset: up to this many cases per label code.")]
Memory = Annotated[str, typer.Option(help="DuckDB memory limit; work beyond it spills to disk.")]
Threads = Annotated[int | None, typer.Option(help="DuckDB threads (default: all cores).")]
Force = Annotated[bool, typer.Option("--force", help="Replace a different earlier build in --out.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display and no summary (for scripts).")]


def _config(label_space: str, seed: int, ratios: str, labs: str, per_code: int, memory: str, threads: int | None):
    try:
        shares = tuple(float(part) for part in ratios.split(","))
    except ValueError:
        raise MedldrError(f"--ratios {ratios!r}: expected three numbers such as 0.8,0.1,0.1") from None
    if len(shares) != 3:
        raise MedldrError(f"--ratios {ratios!r}: expected three numbers (train,validation,test)")
    settings = {"label_space": label_space, "seed": seed, "ratios": shares, "labs": labs, "per_code": per_code}
    settings["memory_limit"] = memory
    if threads is not None:
        settings["threads"] = threads
    try:
        return BuildConfig(**settings)
    except ValidationError as err:
        first = err.errors()[0]
        raise MedldrError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}") from None


def _build(source: MimicSource, out: Path, config: BuildConfig, name: str, force: bool, quiet: bool) -> BuildManifest:
    with StageProgress(enabled=not quiet) as progress:
        manifest = build_cases(source, out, config, source_name=name, force=force, progress=progress)
    if not quiet:
        console.print(build_summary(manifest, str(out)))
    return manifest


@build_app.command("demo")
def build_demo(
    out: Out = Path("cases"),
    label_space: LabelSpec = "top50",
    seed: Seed = 2025,
    ratios: Ratios = "0.8,0.1,0.1",
    labs: Labs = "earliest",
    per_code: PerCode = 30,
    memory_limit: Memory = "4GB",
    threads: Threads = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Build cases from the bundled open MIMIC-IV demo (no path, no credentials, no network)."""
    config = _config(label_space, seed, ratios, labs, per_code, memory_limit, threads)
    _build(open_demo(), out, config, "mimic-iv-demo (bundled)", force, quiet)


@build_app.command("mimic")
def build_mimic(
    root: Annotated[Path, typer.Option(help="MIMIC-IV release folder (holds hosp/), 2.2 or 3.1.")],
    ed: Annotated[Path | None, typer.Option(help="MIMIC-IV-ED release folder (holds ed/).")] = None,
    note: Annotated[Path | None, typer.Option(help="MIMIC-IV-Note release folder (holds note/).")] = None,
    mimic_version: Annotated[str | None, typer.Option(help="Release number, if the path does not show it.")] = None,
    out: Out = Path("cases"),
    label_space: LabelSpec = "top50",
    seed: Seed = 2025,
    ratios: Ratios = "0.8,0.1,0.1",
    labs: Labs = "earliest",
    per_code: PerCode = 30,
    memory_limit: Memory = "4GB",
    threads: Threads = None,
    force: Force = False,
    quiet: Quiet = False,
) -> None:
    """Build cases from MIMIC-IV tables (.csv.gz, .csv or .parquet); ED and note modules are optional."""
    config = _config(label_space, seed, ratios, labs, per_code, memory_limit, threads)
    _build(open_mimic(root, ed=ed, note=note, version=mimic_version), out, config, "mimic-iv", force, quiet)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the demo's outputs.")] = Path("medldr-demo"),
    quiet: Quiet = False,
) -> None:
    """The main job on the bundled open demo, end to end: build the LDR cases (later stages join as they land)."""
    cases = out / "cases"
    manifest = _build(open_demo(), cases, BuildConfig(), "mimic-iv-demo (bundled)", True, quiet)
    console.print(f"demo: {manifest.counts['cases']} cases in {cases}/ (inference subset: {cases / 'inference.jsonl'})")


@app.command()
def version() -> None:
    """Print medldr's version."""
    console.print(__version__)


def main() -> None:
    """Entry point: a MedldrError becomes one line on stderr and exit code 2, never a traceback."""
    try:
        app()
    except MedldrError as err:
        err_console.print(f"error: {err}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(MedldrError.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted; files already written are intact", markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
