"""A raw-data source is one entry in ``medldr.assemble.SOURCES``: registering one makes ``medldr build KIND`` read
it (no CLI or build change), and the build manifest records the source's own name and release, which is all later
stages know of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from medldr import sources
from medldr.assemble import SOURCES, SourceKind, open_source
from medldr.errors import MedldrError
from medldr.schema import read_build_manifest
from medldr.sources import open_mimic
from tests.conftest import cli_in_process
from tests.mimic_tables import mini_mimic


def test_a_registered_source_builds_through_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = mini_mimic(tmp_path / "ehr")

    def opener(root: Path | None, modules: dict[str, Path], release: str | None):
        # a hospital's extract in the layout the build reads, under its own name
        return open_mimic(root, version=release or "2026.1", name="st-elsewhere-ehr")  # type: ignore[arg-type]

    monkeypatch.setitem(SOURCES, "elsewhere", SourceKind("St Elsewhere's extract", opener))
    result = cli_in_process(
        "build", "elsewhere", "--root", str(root), "--label-space", "paper40", "--out", str(tmp_path / "c"), "-q"
    )
    assert result.returncode == 0, result.stderr
    manifest = read_build_manifest(tmp_path / "c" / "build_manifest.json")
    assert (manifest.source, manifest.source_version) == ("st-elsewhere-ehr", "2026.1")
    refused = cli_in_process("build", "elsewhere", "--root", str(root), "--ed", str(root), "--out", str(tmp_path / "d"))
    assert refused.returncode == 2 and "--ed is not a module of this source" in refused.stderr


def test_the_shipped_sources() -> None:
    assert list(SOURCES) == ["demo", "mimic", "eicu"]
    demo = open_source("demo")
    assert (demo.name, demo.version) == (sources.DEMO_NAME, "2.2") and not demo.has("ed")
    with pytest.raises(MedldrError, match="expected demo or mimic or eicu"):
        open_source("hirid")


def test_no_stage_after_the_build_names_mimic() -> None:
    """Run, score, report and train read the source from the build manifest; none of them spells MIMIC."""
    package = Path(sources.__file__).resolve().parents[1]
    for stage in ("run", "score", "report", "train"):
        for module in (package / stage).rglob("*.py"):
            assert "mimic" not in module.read_text().lower(), module
