"""A run that fails says so (issue 19): a local server that is not running is named in the first second (it was
retried for ~100 s, then exit 0), and a run left with unanswered pairs exits 3 with the first cause in one line
(it exited 0 with the cause only inside responses.jsonl)."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from medldr.errors import INCOMPLETE_EXIT
from medldr.schema import BuildManifest
from tests.conftest import run_cli
from tests.run.fake_openai import FakeOpenAI


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_local_server_that_is_not_running_is_named_at_once(
    demo_build: tuple[Path, BuildManifest], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"
    cases = demo_build[0] / "inference.jsonl"
    start = time.monotonic()
    args = ["run", str(cases), "--model", "vllm:m", "--base-url", url, "--task", "lab", "--limit", "5"]
    result = run_cli(*args, "--out", str(tmp_path / "run"), "-q")
    assert time.monotonic() - start < 20
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"vllm: nothing answers at {url} (connection refused): start the vllm server" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unanswered_pairs_exit_3_with_the_first_cause(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    cases = demo_build[0] / "inference.jsonl"
    out = tmp_path / "run"
    args = ["run", str(cases), "--model", "vllm:m", "--task", "lab", "--limit", "2", "--rounds", "1"]
    args += ["--concurrency", "1", "--out", str(out), "-q"]
    with FakeOpenAI(answer='{"predictions": ["5849"]}', scripted=[(503, {"retry-after-ms": "1"})] * 6) as server:
        failed = run_cli(*args, "--base-url", server.url)
        assert failed.returncode == INCOMPLETE_EXIT == 3, failed.stderr
        cause = "EndpointError: HTTP 503: scripted 503"
        assert f"error: 1 (case, round) pairs have no answer (first cause: {cause})" in failed.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["first_error"] == cause and manifest["totals"]["unanswered"] == 1
        again = run_cli(*args, "--base-url", server.url)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "manifest.json").read_text())["first_error"] is None
