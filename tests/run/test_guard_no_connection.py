"""The data-use guard refuses before the first packet (issue 14): each probe runs the real CLI with the network cut
off (a fresh network namespace where the kernel allows one) and a Python audit hook counting every name lookup and
connection attempt; a refusal must come with zero of them, and nothing written for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.mimic_tables import mini_mimic
from tests.run.fake_openai import FakeOpenAI

COUNTING = """
import sys
log = open(sys.argv[1], "a", buffering=1)
def hook(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto"):
        log.write(event + " " + repr(args[1:])[:200] + "\\n")
sys.addaudithook(hook)
sys.argv = ["medldr", *sys.argv[2:]]
from medldr.cli import main
main()
"""


def _offline(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, list[str]]:
    """Exit code, stderr and the network attempts of ``medldr ARGS`` run with the network cut off."""
    log = tmp_path / "net.log"
    log.write_text("")
    cut = ["unshare", "-n"] if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0 else []
    done = subprocess.run(
        [*cut, sys.executable, "-c", COUNTING, str(log), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stderr, log.read_text().splitlines()


@pytest.fixture(scope="module")
def credentialed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cases built from MIMIC-IV-schema tables that are not the bundled demo, and a run over them (answered by a
    loopback server, which the guard allows) for the judge's probe."""
    root = tmp_path_factory.mktemp("cred")
    mimic = mini_mimic(root / "mimic")
    args = ["--root", str(mimic), "--label-space", "paper40", "--window", "ed", "--out", str(root / "cases"), "-q"]
    assert run_cli("build", "mimic", *args).returncode == 0
    with FakeOpenAI(answer=json.dumps({"predictions": ["486", "4280"], "top10": ["486", "4280"]})) as server:
        run = ["run", str(root / "cases" / "train.jsonl"), "--model", "vllm:m", "--base-url", server.url]
        done = run_cli(*run, "--task", "lab", "--rounds", "1", "--out", str(root / "run"), "-q")
    assert done.returncode == 0, done.stderr
    return root


PROBES = {
    "hosted openai": (["--model", "openai:gpt-4.1"], {"OPENAI_API_KEY": "sk-test-not-a-key"}),
    "hosted anthropic": (["--model", "anthropic:claude-sonnet-4-5"], {"ANTHROPIC_API_KEY": "sk-ant-test"}),
    "name that starts with 127.": (["--model", "vllm:m", "--base-url", "http://127.0.0.1.nip.io:9/v1"], {}),
    "name that starts with localhost": (["--model", "vllm:m", "--base-url", "http://localhost.evil.invalid:9/v1"], {}),
    "azure at a non-Azure host": (
        ["--model", "azure:m", "--base-url", "http://example.invalid:9/v1"],
        {"AZURE_OPENAI_API_KEY": "k", "OPENAI_API_VERSION": "2024-10-21"},
    ),
    "loopback through a proxy": (
        ["--model", "vllm:m", "--base-url", "http://127.0.0.1:9/v1"],
        {"HTTP_PROXY": "http://proxy.example:3128", "NO_PROXY": ""},
    ),
}


@pytest.mark.parametrize("probe", PROBES)
def test_a_refused_run_makes_no_connection(credentialed: Path, tmp_path: Path, probe: str) -> None:
    args, env = PROBES[probe]
    out = tmp_path / "run"
    cases = credentialed / "cases" / "train.jsonl"
    code, stderr, attempts = _offline(tmp_path, "run", str(cases), *args, "--task", "lab", "--out", str(out), env=env)
    assert code == 2 and "data-use rule" in stderr and "Traceback" not in stderr, stderr
    assert attempts == []
    assert not (out / "responses.jsonl").exists()


def test_a_refused_judge_makes_no_connection(credentialed: Path, tmp_path: Path) -> None:
    run = credentialed / "run"
    before = sorted(p.name for p in run.iterdir())
    code, stderr, attempts = _offline(
        tmp_path,
        "overdiagnosis",
        str(run),
        "--judge",
        "openai:gpt-4.1",
        "-q",
        env={"OPENAI_API_KEY": "sk-test-not-a-key"},
    )
    assert code == 2 and "data-use rule" in stderr and "Traceback" not in stderr, stderr
    assert attempts == []
    assert sorted(p.name for p in run.iterdir()) == before  # no judge.jsonl, no typing files


def test_the_count_sees_an_allowed_attempt(credentialed: Path, tmp_path: Path) -> None:
    """The counter is live: a run the guard allows (a loopback server) is counted trying to connect."""
    cases = credentialed / "cases" / "train.jsonl"
    args = ["run", str(cases), "--model", "vllm:m", "--base-url", "http://127.0.0.1:9/v1", "--task", "lab"]
    code, stderr, attempts = _offline(tmp_path, *args, "--out", str(tmp_path / "run"), "-q")
    assert code in (2, 3) and "127.0.0.1:9" in stderr and "data-use rule" not in stderr, stderr  # 3: no route here
    assert any(line.startswith("socket.connect") for line in attempts), attempts
