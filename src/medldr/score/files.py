"""The score stage's file edge: find a run's inputs, resolve the label space, write scores.json and its CSVs, read
back the per-case values (the report's input for paired comparisons).

Kept apart from the pure scoring functions, which never touch a file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from medldr._files import atomic_write_text, folder_lock, sha256_file
from medldr.answer import Mode
from medldr.errors import MedldrError
from medldr.icd import LabelSpace
from medldr.schema import (
    PER_CASE,
    PER_DISEASE,
    PER_LABEL,
    RESPONSES,
    RUN_MANIFEST,
    SCORES,
    RunIdentity,
    Scores,
    read_cases,
    read_responses,
    read_run_manifest,
    read_scores,
    resolve_label_space,
)
from medldr.score.bootstrap import Unit
from medldr.score.metrics import METRICS, REGISTRY
from medldr.score.scoring import CaseValues, ScoredRun, score_responses

_CASE_COLUMNS = ("round", "case_id", "subject_id", "primary_code")


class RunInputs(NamedTuple):
    """What scoring a run reads: its cases and responses files, how many of the cases it ran (``--limit``) and the
    label space it recorded (None without a run manifest)."""

    cases: Path
    responses: Path
    n_cases: int | None = None
    labels: LabelSpace | None = None
    rounds: int | None = None  # how many rounds the run asked for
    task: str | None = None  # which case fields the model was shown


def run_inputs(run_dir: Path | None, cases: Path | None, responses: Path | None) -> RunInputs:
    """A run's inputs: explicit paths win; a run folder gives its responses.jsonl and, from its manifest.json, the
    cases file it ran on, how many of its cases and its label space."""
    n_cases = labels = rounds = task = None
    if run_dir is not None:
        if not Path(run_dir).is_dir():
            raise MedldrError(f"{run_dir}: no such run folder")
        responses = responses or run_dir / RESPONSES
        manifest = run_dir / RUN_MANIFEST
        if manifest.exists():
            identity = read_run_manifest(manifest).identity
            if not isinstance(identity, RunIdentity):
                raise MedldrError(f"{manifest}: a judge run's manifest, not a run's")
            n_cases, rounds, task, labels = identity.n_cases, identity.rounds, identity.task, identity.label_space
            cases = cases or Path(read_run_manifest(manifest).cases_file)
        elif cases is None:
            raise MedldrError(f"{manifest}: no run manifest; pass --cases")
    if cases is None or responses is None:
        raise MedldrError("give a run folder, or both --cases and --responses")
    if not Path(cases).exists():  # named before anything beside it (its build manifest) is looked for
        recorded = f" (recorded in {run_dir / RUN_MANIFEST}; pass --cases)" if run_dir is not None else ""
        raise MedldrError(f"{cases}: no such cases file{recorded}")
    return RunInputs(cases, responses, n_cases, labels, rounds, task)


def read_scored(folder: Path) -> tuple[Scores, CaseValues]:
    """A scored run folder's scores.json and per_case.csv: the one route ``compare`` and ``report`` take to a run's
    numbers. Scores older than the folder's responses, or per-case values that do not match them, are refused."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MedldrError(f"{folder}: not a run folder")
    scores = read_scores(folder / SCORES)
    lacking = [name for name in METRICS if name not in scores.mean or name not in scores.ci]
    if lacking:
        raise MedldrError(
            f"{folder / SCORES}: lacks the metric {lacking[0]} (edited, or scored by another medldr version); run "
            f"`medldr score {folder}` again"
        )
    responses = folder / RESPONSES
    if scores.responses_sha256 and responses.exists() and sha256_file(responses) != scores.responses_sha256:
        raise MedldrError(
            f"{folder / SCORES}: scored before {responses} last changed; run `medldr score {folder}` again"
        )
    values = read_case_values(folder / PER_CASE)
    if len(values.case_ids) != scores.n_cases or values.rounds != scores.rounds:
        raise MedldrError(f"{folder / PER_CASE}: does not match {folder / SCORES}; run `medldr score {folder}` again")
    return scores, values


def _csv(rows: dict[str, dict[str, float]], key: str) -> str:
    buffer = io.StringIO()
    columns = [key, *next(iter(rows.values()), {}).keys()]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for name, values in rows.items():
        writer.writerow([name, *(f"{v:.6g}" if isinstance(v, float) else v for v in values.values())])
    return buffer.getvalue()


def _per_case_csv(run: CaseValues) -> str:
    """per_case.csv: one row per (round, case), every metric's per-case value at full precision, then a source's own
    per-case metrics where the run has them (``nan`` where a case is not counted)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = list(run.extra)
    writer.writerow([*_CASE_COLUMNS, *METRICS, *extra])
    for k, (r, matrix) in enumerate(zip(run.rounds, run.values, strict=True)):
        columns = [run.extra[name][k] for name in extra]
        for i, (case_id, patient, primary, row) in enumerate(
            zip(run.case_ids, run.patients, run.primaries, matrix, strict=True)
        ):
            writer.writerow(
                [r, case_id, patient, primary, *map(repr, row.tolist()), *(repr(float(c[i])) for c in columns)]
            )
    return buffer.getvalue()


def score_paths(out: Path) -> list[Path]:
    """scores.json and its tables beside it: per_disease.csv, per_label.csv, per_case.csv, or, for scores written
    under another name (``--out other.json``), other.per_disease.csv and so on, so a second scoring into the same
    folder never overwrites the first's tables."""
    out = Path(out)
    prefix = "" if out.name == SCORES else f"{out.stem}."
    return [out, *(out.with_name(prefix + name) for name in (PER_DISEASE, PER_LABEL, PER_CASE))]


def write_scores(scored: ScoredRun, out: Path) -> list[Path]:
    """The scores and their tables (``score_paths``), each written atomically while holding the folder; returns the
    paths."""
    scores = scored.scores
    paths = score_paths(out)
    with folder_lock(Path(out).parent):
        atomic_write_text(paths[0], json.dumps(scores.model_dump(mode="json"), indent=2))
        atomic_write_text(paths[1], _csv(scores.per_disease, "primary_code"))
        atomic_write_text(paths[2], _csv(scores.per_label, "code"))
        atomic_write_text(paths[3], _per_case_csv(scored))
    return paths


def read_case_values(path: Path) -> CaseValues:
    """Load a per_case.csv written by :func:`write_scores`; any malformed row fails naming the file and line."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            expected = [*_CASE_COLUMNS, *METRICS]
            extra = (header or [])[len(expected) :]  # a source's own per-case metrics, registered as such
            if (header or [])[: len(expected)] != expected or not all(
                name in REGISTRY and REGISTRY[name].scope == "source" for name in extra
            ):
                missing = [c for c in expected if c not in (header or [])]
                raise MedldrError(
                    f"{path}: not a per_case.csv of this medldr version (missing columns: {', '.join(missing) or '-'}"
                    "); score the run again"
                )
            rows: dict[int, dict[str, list[float]]] = {}
            meta: dict[str, tuple[str, str]] = {}
            for line, row in enumerate(reader, start=2):
                try:
                    r = int(row[0])
                    values = [float(v) for v in row[4:]]
                except (ValueError, IndexError):
                    raise MedldrError(f"{path}: line {line}: not a row of numbers") from None
                if len(values) != len(METRICS) + len(extra):
                    raise MedldrError(
                        f"{path}: line {line}: {len(values)} metric values, expected {len(METRICS) + len(extra)}"
                    )
                rows.setdefault(r, {})[row[1]] = values
                meta.setdefault(row[1], (row[2], row[3]))
    except FileNotFoundError:
        raise MedldrError(f"{path}: no per-case values; score the run again with `medldr score`") from None
    if not rows:
        raise MedldrError(f"{path}: no rows")
    case_ids = list(meta)
    for r, by_case in rows.items():
        if len(by_case) != len(case_ids):
            raise MedldrError(f"{path}: round {r} has {len(by_case)} cases, other rounds {len(case_ids)}")
    rounds = sorted(rows)
    every = np.array([[rows[r][c] for c in case_ids] for r in rounds], dtype=float)
    k = len(METRICS)
    return CaseValues(
        case_ids=case_ids,
        patients=[meta[c][0] for c in case_ids],
        values=every[:, :, :k],
        rounds=rounds,
        primaries=[meta[c][1] for c in case_ids],
        extra={name: every[:, :, k + j] for j, name in enumerate(extra)},
    )


def check_scoring(mode: str, unit: str = "patient") -> None:
    """The extraction mode and the resampling unit, refused in one line naming the option when unknown."""
    if mode not in ("robust", "reference"):
        raise MedldrError(f"--extraction {mode!r}: expected robust or reference")
    if unit not in ("patient", "case"):
        raise MedldrError(f"--unit {unit!r}: expected patient or case")


def read_alike(folders: Sequence[Path]) -> dict[str, tuple[Scores, CaseValues]]:
    """Scored run folders to compare (by their path as given): refused in one line unless scored alike (the same
    label-space codes in the same revision, the same extraction), or their numbers differ in kind."""
    scored = {str(folder): read_scored(Path(folder)) for folder in folders}
    first_name, (first, _) = next(iter(scored.items()))
    for name, (scores, _) in scored.items():
        if not scores.label_space.same_codes(first.label_space):
            raise MedldrError(
                f"{name}: scored on another label space than {first_name} ({len(scores.label_space)} vs "
                f"{len(first.label_space)} codes); score both with the same --label-space"
            )
        if scores.extraction != first.extraction:
            raise MedldrError(
                f"{name}: scored with --extraction {scores.extraction}, {first_name} with {first.extraction}; score "
                "both alike"
            )
    return scored


def scoring_labels(inputs: RunInputs, label_space: str | None) -> LabelSpace:
    """The label space a run is scored in: ``label_space`` when given, else the one the run recorded (an earlier
    release's bare codes: named and typed by the build beside the cases file when it holds the same codes), else the
    build's."""
    if label_space is None and inputs.labels is not None:
        if inputs.labels.spec == "unrecorded":
            try:
                built = resolve_label_space(None, inputs.cases)
            except MedldrError:
                return inputs.labels
            return built if built.same_codes(inputs.labels) else inputs.labels
        return inputs.labels
    return resolve_label_space(label_space, inputs.cases)


def score_files(
    inputs: RunInputs,
    *,
    label_space: str | None = None,
    mode: Mode = "robust",
    allow_missing: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    unit: Unit = "patient",
) -> ScoredRun:
    """Read a run's cases and responses files and score them (no writing), in :func:`scoring_labels`."""
    check_scoring(mode, unit)
    labels = scoring_labels(inputs, label_space)
    scored = score_responses(
        read_cases(inputs.cases)[: inputs.n_cases],
        read_responses(inputs.responses),
        labels,
        mode=mode,
        allow_missing=allow_missing,
        n_resamples=n_resamples,
        seed=seed,
        unit=unit,
        where=str(inputs.responses),
        expected_rounds=inputs.rounds,
    )
    scored.scores.responses_sha256 = sha256_file(inputs.responses)
    return scored
