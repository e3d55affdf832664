"""The report of the shared scored runs (tests/conftest.py), written once by the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="session")
def report(scored_runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the three runs with two groups (two of them typed for overdiagnosis), written once by the real
    CLI."""
    out = tmp_path_factory.mktemp("report") / "report"
    strong, middling, weak = map(str, scored_runs)
    for folder in (strong, middling):
        typed = run_cli("overdiagnosis", folder, "--quiet")
        assert typed.returncode == 0, typed.stderr
    result = run_cli(
        "report",
        strong,
        middling,
        weak,
        "--group",
        f"good={strong}",
        "--group",
        f"poor={middling},{weak}",
        "--out",
        str(out),
        "--resamples",
        "300",
    )
    assert result.returncode == 0, result.stderr
    assert f"report: {out / 'index.html'}" in result.stdout
    return out
