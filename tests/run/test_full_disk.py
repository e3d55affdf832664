"""A disk that fills during a run (issue 14): one line, exit 2, every stored line whole, and once there is room the
same command finishes with every (case, round) answered exactly once. Needs a small tmpfs (root and a kernel that
allows the mount), else skipped."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from medldr.schema import BuildManifest
from tests.conftest import run_cli
from tests.run.fake_openai import FakeOpenAI


@pytest.fixture
def small_disk(tmp_path: Path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_disk_that_fills_during_a_run(demo_build: tuple[Path, BuildManifest], small_disk: Path) -> None:
    cases = demo_build[0] / "inference.jsonl"
    out = small_disk / "run"
    answer = json.dumps({"predictions": ["5849"], "top10": ["5849"], "why": "x" * 6000})
    args = ["run", str(cases), "--model", "vllm:m", "--task", "lab", "--rounds", "3", "--concurrency", "1"]
    with FakeOpenAI(answer=answer) as server:
        full = run_cli(*args, "--base-url", server.url, "--out", str(out), "-q")
        assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr
        assert "No space left on device" in full.stderr and len(full.stderr.strip().splitlines()) == 1
        stored = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()]  # all whole
        assert 0 < len(stored) < 3 * demo_build[1].counts["inference"]
        subprocess.run(["mount", "-o", "remount,size=4m", str(small_disk)], check=True)
        again = run_cli(*args, "--base-url", server.url, "--out", str(out), "-q")
    assert again.returncode == 0, again.stderr
    records = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()]
    answered = Counter((r["case_id"], r["round"]) for r in records if "case_id" in r and r.get("error") is None)
    assert len(answered) == 3 * demo_build[1].counts["inference"] and set(answered.values()) == {1}
