"""One writer per output folder, and nothing a user wrote is overwritten (issue 14): every command that writes takes
an OS lock on its folder, a second process is refused in one line naming the holder, and the lock dies with its
process. Each refusal here was a silent double write or overwrite before."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medldr._files import folder_lock
from medldr.errors import MedldrError
from medldr.schema import BuildManifest
from tests.conftest import run_cli
from tests.run.fake_openai import FakeOpenAI

HOLD = """import sys, time
from medldr._files import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)"""


def _holder(folder: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def _commands(folder: Path, cases: Path, run: Path) -> dict[str, list[str]]:
    local = ["--model", "vllm:m", "--base-url", "http://127.0.0.1:9/v1", "--task", "lab"]
    return {
        "build": ["build", "demo", "--out", str(folder), "-q"],
        "run": ["run", str(cases), *local, "--out", str(folder)],
        "score": ["score", str(run), "--out", str(folder / "scores.json"), "-q"],
        "overdiagnosis": ["overdiagnosis", str(run), "--out", str(folder), "-q"],
        "report": ["report", str(run), "--out", str(folder)],
    }


@pytest.mark.parametrize("command", ["build", "run", "score", "overdiagnosis", "report"])
def test_a_second_process_is_refused_naming_the_holder(
    command: str, tmp_path: Path, demo_build: tuple[Path, BuildManifest], scored_runs: list[Path]
) -> None:
    folder = tmp_path / "out"
    holder = _holder(folder)
    try:
        args = _commands(folder, demo_build[0] / "inference.jsonl", scored_runs[0])[command]
        result = run_cli(*args)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"another medldr process is writing here (pid {holder.pid}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == [".medldr.lock"]  # nothing written beside the holder


def test_two_runs_into_one_folder_answer_each_pair_once(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    cases = demo_build[0] / "inference.jsonl"
    out = tmp_path / "run"
    with FakeOpenAI(answer='{"predictions": ["5849"]}', delay=0.3) as server:
        args = ["run", str(cases), "--model", "vllm:m", "--base-url", server.url, "--rounds", "1", "--limit", "4"]
        args += ["--concurrency", "1", "--task", "lab", "--out", str(out), "-q"]
        first = subprocess.Popen([sys.executable, "-m", "medldr.cli", *args], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (out / "responses.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = run_cli(*args)
        assert first.wait(timeout=120) == 0
    assert second.returncode == 2 and "another medldr process is writing here" in second.stderr
    answers = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()][1:]
    assert sorted(a["case_id"] for a in answers) == sorted({a["case_id"] for a in answers}) and len(answers) == 4
    assert server.requests == 4


def test_the_lock_dies_with_its_process(tmp_path: Path) -> None:
    holder = _holder(tmp_path)
    with pytest.raises(MedldrError, match="another medldr process is writing here"), folder_lock(tmp_path):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with folder_lock(tmp_path), folder_lock(tmp_path):  # no stale lock left; re-entrant within one process
        pass


def test_files_medldr_did_not_write_are_not_replaced(
    tmp_path: Path, demo_build: tuple[Path, BuildManifest], scored_runs: list[Path]
) -> None:
    mine = tmp_path / "cases"
    mine.mkdir()
    (mine / "train.jsonl").write_text("my own notes\n")
    refused = run_cli("build", "demo", "--out", str(mine), "-q")
    assert refused.returncode == 2 and "train.jsonl: not written by a medldr build" in refused.stderr
    assert (mine / "train.jsonl").read_text() == "my own notes\n"
    assert run_cli("build", "demo", "--out", str(mine), "-q", "--force").returncode == 0
    run = tmp_path / "run"
    run.mkdir()
    (run / "responses.jsonl").write_text('{"case_id": "x", "round": 0, "text": "mine"}\n')
    cases = demo_build[0] / "inference.jsonl"
    url = "http://127.0.0.1:9/v1"
    refused = run_cli("run", str(cases), "--model", "vllm:m", "--base-url", url, "--task", "lab", "--out", str(run))
    assert refused.returncode == 2 and "responses.jsonl: not written by medldr" in refused.stderr
    assert (run / "responses.jsonl").read_text() == '{"case_id": "x", "round": 0, "text": "mine"}\n'


def test_a_second_score_under_another_name_keeps_the_first_tables(scored_runs: list[Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(scored_runs[1], run)
    before = (run / "per_case.csv").read_bytes()
    result = run_cli("score", str(run), "--out", str(run / "paper40.json"), "--label-space", "paper40", "-q")
    assert result.returncode == 0, result.stderr
    assert (run / "per_case.csv").read_bytes() == before  # was overwritten by the paper40 scoring
    for name in ("paper40.per_case.csv", "paper40.per_disease.csv", "paper40.per_label.csv"):
        assert (run / name).stat().st_size > 0


def test_an_error_inside_a_nested_hold_is_not_reworded(tmp_path: Path) -> None:
    """Only the lock's own failures become 'cannot write here'; an OSError of the work inside a nested hold stays
    itself (it was reworded as the lock's)."""
    with pytest.raises(FileNotFoundError), folder_lock(tmp_path), folder_lock(tmp_path):
        (tmp_path / "absent" / "x").read_text()
