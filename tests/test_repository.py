"""Repository hygiene (issue 19): the licence the package declares is in it, what the README's commands write is
ignored by git, and nothing cites a document that is not in the repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def tracked() -> list[Path]:
    listed = _git("ls-files")
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.stdout.splitlines()]


def test_the_declared_licence_is_shipped() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
    assert '"LICENSE"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("written", ["runs/gpt41/responses.jsonl", "outputs/sft/adapter.bin", "report/index.html"])
def test_outputs_of_the_readme_commands_are_ignored(tracked: list[Path], written: str) -> None:
    assert _git("check-ignore", "-q", written).returncode == 0, written


def test_nothing_cites_documents_outside_the_repository(tracked: list[Path]) -> None:
    outside = ("MISSION.md", "DESIGN.md", "project notes", "shared/docs")
    for path in tracked:
        if path.suffix not in {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg"} or path == Path(__file__):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not [name for name in outside if name in text], path
