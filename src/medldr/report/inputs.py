"""The report's inputs: per run folder its scores.json, per_case.csv and run manifest (never raw model output), and
the build manifest of the cases it ran on when it is beside them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medldr._files import sha256_file
from medldr.errors import MedldrError
from medldr.schema import (
    OVERDIAGNOSIS_SUMMARY,
    RESPONSES,
    ROBUSTNESS,
    RUN_MANIFEST,
    BuildManifest,
    OverdiagnosisSummary,
    RobustnessSummary,
    RunManifest,
    Scores,
    build_manifest_of,
    read_build_manifest,
    read_run_manifest,
    read_summary,
)
from medldr.score.files import read_scored
from medldr.score.scoring import CaseValues


@dataclass
class ScoredFolder:
    """One run as the report sees it."""

    name: str  # the label in tables and figures
    folder: Path
    scores: Scores
    values: CaseValues
    manifest: RunManifest | None
    build: BuildManifest | None
    overdiagnosis: dict[str, Any] | None = None  # overdiagnosis_summary.json, when the run was typed
    robustness: dict[str, Any] | None = None  # robustness.json, when perturbed runs were compared with it

    @property
    def model(self) -> str:
        return self.manifest.model_label() if self.manifest else "?"


def _read_manifest(path: Path) -> RunManifest | None:
    return read_run_manifest(path) if path.exists() else None


def _names(folders: Sequence[Path]) -> list[str]:
    """Folder names as labels; the path as given where two folders share a name."""
    names = [folder.name or str(folder) for folder in folders]
    return [str(folder) if names.count(name) > 1 else name for folder, name in zip(folders, names, strict=True)]


def load_folder(folder: Path, name: str) -> ScoredFolder:
    """Read one scored run folder; scores older than the folder's responses are refused."""
    folder = Path(folder)
    scores, values = read_scored(folder)
    responses = folder / RESPONSES
    # read_scored has checked the responses against the hash the scores recorded: no need to hash them twice
    current = (scores.responses_sha256 or sha256_file(responses)) if responses.exists() else None
    overdiagnosis = None
    typed_path = folder / OVERDIAGNOSIS_SUMMARY
    if typed_path.exists():
        typed = read_summary(
            typed_path, OverdiagnosisSummary, "an overdiagnosis summary", f"medldr overdiagnosis {folder}"
        )
        if current and typed.responses_sha256 != current:
            raise MedldrError(
                f"{typed_path}: typed before {responses} last changed; run `medldr overdiagnosis {folder}` again"
            )
        overdiagnosis = typed.model_dump(mode="json")
    robustness = _robustness(folder, current)
    manifest = _read_manifest(folder / RUN_MANIFEST)
    build = None
    if manifest is not None:
        build_path = build_manifest_of(Path(manifest.cases_file))
        build = read_build_manifest(build_path) if build_path.exists() else None
        if (manifest.model or {}).get("provider") == "baseline":  # marked in every table and figure
            name = f"{name} (baseline)"
    return ScoredFolder(name, folder, scores, values, manifest, build, overdiagnosis, robustness)


def _robustness(folder: Path, responses_sha: str | None) -> dict[str, Any] | None:
    """robustness.json beside the run (``medldr robustness RUN ...``), refused when older than the run's answers."""
    path = folder / ROBUSTNESS
    if not path.exists():
        return None
    result = read_summary(path, RobustnessSummary, "a robustness summary", f"medldr robustness {folder} ...")
    if responses_sha and result.responses_sha256 != responses_sha:
        raise MedldrError(f"{path}: written before {folder / RESPONSES} last changed; run `medldr robustness` again")
    return result.model_dump(mode="json")


def load_folders(folders: Sequence[Path]) -> list[ScoredFolder]:
    """Every run folder, labelled; a folder given twice is an error."""
    if not folders:
        raise MedldrError("no run folders given")
    resolved = [Path(f).resolve() for f in folders]
    twice = {str(f) for f, r in zip(folders, resolved, strict=True) if resolved.count(r) > 1}
    if twice:
        raise MedldrError(f"run folder given twice: {', '.join(sorted(twice))}")
    return [load_folder(Path(f), n) for f, n in zip(folders, _names([Path(f) for f in folders]), strict=True)]


def resolve_groups(runs: Sequence[ScoredFolder], groups: Mapping[str, Sequence[Path]]) -> dict[str, list[str]]:
    """Group name -> run labels; each member must be one of the report's run folders."""
    by_path = {run.folder.resolve(): run.name for run in runs}
    out: dict[str, list[str]] = {}
    for group, members in groups.items():
        labels = []
        for member in members:
            label = by_path.get(Path(member).resolve())
            if label is None:
                raise MedldrError(f"--group {group}: {member} is not among the report's run folders")
            labels.append(label)
        out[group] = labels
    return out
