"""The self-hosted route against a real OpenAI-compatible server: llama-cpp-python's, serving the bundled model."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from medldr.schema import BuildManifest
from tests.conftest import run_cli
from tests.gates import needs_llama_server


@pytest.fixture
def llama_server() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, str(Path(__file__).with_name("llama_server.py")), str(port)])
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                    assert json.load(response)["data"][0]["id"] == "smollm2"
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"llama.cpp server did not start (exit {server.poll()})") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@needs_llama_server
def test_a_real_llama_cpp_server(demo_build: tuple[Path, BuildManifest], llama_server: str, tmp_path: Path) -> None:
    cases = demo_build[0] / "inference.jsonl"
    out = tmp_path / "run"
    args = [
        "run",
        str(cases),
        "--model",
        "llama-server:smollm2",
        "--base-url",
        llama_server,
        "--task",
        "lab_num+",
        "--rounds",
        "2",
        "--limit",
        "1",
        "--max-tokens",
        "24",
        "--seed",
        "3",
        "--out",
        str(out),
        "--quiet",
    ]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()][1:]
    assert [(r["round"], r.get("error")) for r in records] == [(0, None), (1, None)]
    for record in records:  # a free-text answer from a 135M model, cut at 24 tokens: stored as it came
        assert record["usage"]["prompt_tokens"] > 1000 and record["usage"]["completion_tokens"] == 24
        assert record["finish_reason"] == "length" and record["text"] and record["valid"] is False
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["answers"] == 2 and manifest["data_use"]["decision"] == "allowed"
    again = run_cli(*args)  # resumed: nothing left to send
    assert again.returncode == 0 and len((out / "responses.jsonl").read_text().splitlines()) == 3
