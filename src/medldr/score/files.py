"""The score stage's file edge: find a run's inputs, resolve the label space, write scores.json and its CSVs.

Kept apart from the pure scoring functions, which never touch a file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from medldr._files import atomic_write_text
from medldr.answer import Mode
from medldr.errors import MedldrError
from medldr.run.runner import MANIFEST as RUN_MANIFEST
from medldr.run.runner import RESPONSES
from medldr.schema import Scores, read_cases, read_responses, resolve_label_space
from medldr.score.bootstrap import Unit
from medldr.score.scoring import ScoredRun, score_responses


def run_inputs(run_dir: Path | None, cases: Path | None, responses: Path | None) -> tuple[Path, Path, int | None]:
    """(cases file, responses file, number of cases run): explicit paths win; a run folder gives its responses.jsonl
    and, from its manifest.json, the cases file it ran on and how many of its cases (``--limit``)."""
    n_cases = None
    if run_dir is not None:
        responses = responses or run_dir / RESPONSES
        manifest = run_dir / RUN_MANIFEST
        if manifest.exists():
            try:
                record = json.loads(manifest.read_text(encoding="utf-8"))
                n_cases = record.get("identity", {}).get("n_cases")
                cases = cases or Path(record["cases_file"])
            except (KeyError, ValueError, TypeError, AttributeError):
                raise MedldrError(f"{manifest}: no 'cases_file' in the run manifest; pass --cases") from None
        elif cases is None:
            raise MedldrError(f"{manifest}: no run manifest; pass --cases")
    if cases is None or responses is None:
        raise MedldrError("give a run folder, or both --cases and --responses")
    return cases, responses, n_cases


def _csv(rows: dict[str, dict[str, float]], key: str) -> str:
    buffer = io.StringIO()
    columns = [key, *next(iter(rows.values()), {}).keys()]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for name, values in rows.items():
        writer.writerow([name, *(f"{v:.6g}" if isinstance(v, float) else v for v in values.values())])
    return buffer.getvalue()


def write_scores(scores: Scores, out: Path) -> list[Path]:
    """scores.json and, beside it, per_disease.csv and per_label.csv (atomic writes); returns the paths."""
    out = Path(out)
    paths = [out, out.with_name("per_disease.csv"), out.with_name("per_label.csv")]
    atomic_write_text(paths[0], json.dumps(scores.model_dump(mode="json"), indent=2))
    atomic_write_text(paths[1], _csv(scores.per_disease, "primary_code"))
    atomic_write_text(paths[2], _csv(scores.per_label, "code"))
    return paths


def score_files(
    cases_file: Path,
    responses_file: Path,
    n_cases: int | None = None,
    *,
    label_space: str | None = None,
    mode: Mode = "robust",
    allow_missing: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    unit: Unit = "patient",
) -> ScoredRun:
    """Read the cases and responses files and score them (no writing); ``n_cases``: only the first cases (a run made
    with ``--limit``)."""
    labels = list(resolve_label_space(label_space, cases_file).codes)
    return score_responses(
        read_cases(cases_file)[:n_cases],
        read_responses(responses_file),
        labels,
        mode=mode,
        allow_missing=allow_missing,
        n_resamples=n_resamples,
        seed=seed,
        unit=unit,
        where=str(responses_file),
    )
