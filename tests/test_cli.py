"""The command line: --help on every command, the demo end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medldr.cli import app
from tests.conftest import run_cli

COMMANDS = [
    ["run"],
    [], ["build"], ["build", "demo"], ["build", "mimic"], ["demo"], ["score"], ["compare"], ["prompts"],
    ["prompts", "show"], ["version"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "medldr")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and "--help" in result.output


def test_build_demo_needs_no_path(tmp_path: Path) -> None:
    result = run_cli("build", "demo", "--out", "cases", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "LDR cases written to cases" in result.stdout and "label space" in result.stdout
    manifest = json.loads((tmp_path / "cases" / "build_manifest.json").read_text())
    assert manifest["source"] == "mimic-iv-demo (bundled)" and manifest["counts"]["cases"] > 30
    quiet = run_cli("build", "demo", "--out", "cases", "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_demo_command(tmp_path: Path) -> None:
    result = run_cli("demo", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "medldr-demo" / "cases" / "inference.jsonl").stat().st_size > 0
