"""Terminal presentation for the CLI (rich): stage progress and end-of-build summary. No logic lives here."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from medldr.schema import BuildManifest

err_console = Console(stderr=True)


class StageProgress:
    """One progress line per build stage, on stderr; passed to the build as its ``progress`` callback."""

    def __init__(self, enabled: bool = True) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=not enabled,
        )
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(stage, total=max(total, 1))
        self._progress.update(self._tasks[stage], completed=done, total=max(total, 1))

    def __enter__(self) -> StageProgress:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._progress.stop()


def build_summary(manifest: BuildManifest, out: str) -> Table:
    """The end-of-build table: cases per split, label-space coverage, fields, drops."""
    table = Table(title=f"LDR cases written to {out}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    counts = manifest.counts
    table.add_row("source", f"{manifest.source} {manifest.mimic_version}")
    table.add_row("cohort", f"{counts['cohort']} admissions — {manifest.cohort_rule}")
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
    for drop in manifest.dropped:
        table.add_row("dropped", f"{drop.count} — {drop.reason}")
    unmapped = sum(manifest.unmapped_icd10.values())
    table.add_row("unmapped ICD-10", f"{unmapped} label codes ({len(manifest.unmapped_icd10)} distinct) had no ICD-9")
    return table
