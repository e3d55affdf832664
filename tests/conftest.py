"""Shared fixtures: the open demo from ../shared/data, built once per session; a sandboxed home for every test."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from unittest import mock

import pytest

from medldr.assemble import BuildConfig, build_cases
from medldr.run import GenerationParams, RunSettings, run_cases
from medldr.schema import BuildManifest
from medldr.score.files import run_inputs, score_files, write_scores
from medldr.sources import open_mimic
from tests.mimic_tables import SHARED_DEMO
from tests.run.fake_openai import FakeOpenAI
from tests.scored_runs import SKILL, oracle


@pytest.fixture(autouse=True)
def _sandboxed_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point home and cache folders at a temp dir so no test reads or writes the user's files."""
    home = tmp_path_factory.mktemp("home")
    for name in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "HF_HOME"):
        monkeypatch.setenv(name, str(home))


@pytest.fixture(scope="session")
def demo_root() -> Path:
    if not (SHARED_DEMO / "hosp" / "labevents.csv.gz").is_file():
        pytest.fail(f"the open MIMIC-IV demo is expected at {SHARED_DEMO}")
    return SHARED_DEMO


@pytest.fixture(scope="session")
def demo_build(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildManifest]:
    """The demo built once, with medldr's ED window (65 cases, 18 inference cases, where the study's window gives 56
    and 8): (output folder, manifest). The default (study) build is tested in tests/assemble."""
    out = tmp_path_factory.mktemp("demo-cases")
    manifest = build_cases(open_mimic(demo_root), out, BuildConfig(window="ed"))
    return out, manifest


def cli_in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``medldr`` through its real entry point in this process (for tests that check only the exit code and the
    output of a refused input: no interpreter start-up per call). Output is captured as a subprocess's would be."""
    from medldr.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    with redirect_stdout(out), redirect_stderr(err), mock.patch.object(sys, "argv", ["medldr", *args]):
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return subprocess.CompletedProcess(["medldr", *args], code, out.getvalue(), err.getvalue())


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``medldr`` entry point in a subprocess (exit codes and stderr as a user sees them)."""
    return subprocess.run(
        [sys.executable, "-m", "medldr.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="session")
def scored_runs(demo_build: tuple[Path, BuildManifest], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Run folders runs/{strong,middling,weak}: 3 rounds each, scored (scores.json, per_case.csv)."""
    cases_file = demo_build[0] / "inference.jsonl"
    root = tmp_path_factory.mktemp("runs")
    folders = []
    with FakeOpenAI(answer_for=oracle(cases_file)) as server:
        for model in SKILL:
            settings = RunSettings(
                cases_file=cases_file,
                out=root / model,
                model=f"openai-compatible:{model}",
                base_url=server.url,
                task="lab_num+",
                rounds=3,
                concurrency=4,
                params=GenerationParams(temperature=0.7, seed=7),
            )
            run_cases(settings)
            scored = score_files(run_inputs(settings.out, None, None), n_resamples=200)
            write_scores(scored, settings.out / "scores.json")
            folders.append(settings.out)
    return folders
