"""The runner against a real local HTTP server: flaky calls, resume after SIGKILL, config changes, data-use guard."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from medldr.assemble import BuildConfig, build_cases
from medldr.errors import MedldrError
from medldr.run import GenerationParams, RunSettings, get_provider, run_cases
from medldr.run.guard import ALLOW_LIST_ENV, data_use_decision
from medldr.schema import read_responses
from medldr.score.files import run_inputs, score_files
from medldr.sources import open_mimic
from tests.conftest import run_cli
from tests.mimic_tables import mini_mimic
from tests.run.fake_openai import FakeOpenAI


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _answers_per_pair(path: Path) -> Counter:
    return Counter((r["case_id"], r["round"]) for r in _lines(path) if r.get("kind") != "header" and not r.get("error"))


@pytest.mark.parametrize(
    ("model", "tokens_key"),
    [("openai-compatible:test-model", "max_tokens"), ("openai:test-model", "max_completion_tokens")],
)
def test_flaky_server_every_pair_answered_once(
    demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, tokens_key: str
) -> None:
    """Both routes to a server: aiohttp (self-hosted servers) and the openai SDK (``openai:MODEL --base-url``)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI(failure_rate=0.3, seed=1, stall=4.0) as server:
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model=model,
            base_url=server.url,
            task="lab_num+",
            rounds=2,
            concurrency=4,
            timeout=1.5,
            transport_attempts=12,
            params=GenerationParams(temperature=0.7, max_tokens=256, seed=1),
        )
        manifest = run_cases(settings)
    n_cases = sum(1 for _ in demo_cases.open())
    counts = _answers_per_pair(tmp_path / "run" / "responses.jsonl")
    assert len(counts) == 2 * n_cases and set(counts.values()) == {1}
    assert sum(server.failures.values()) >= 5 and server.requests > 2 * n_cases
    records = [r for r in _lines(tmp_path / "run" / "responses.jsonl") if r.get("kind") != "header"]
    answer = next(r for r in records if not r.get("error"))
    assert answer["reasoning"] == "creatinine is high" and answer["text"].startswith("```json")
    assert answer["valid"] is True and answer["usage"] == {"prompt_tokens": 100, "completion_tokens": 20}
    assert manifest.totals["answers"] == 2 * n_cases and manifest.totals["unanswered"] == 0
    assert manifest.finished_at and manifest.data_use["decision"] == "allowed"
    body = server.bodies[0]
    assert body["temperature"] == 0.7 and body[tokens_key] == 256
    assert {b["seed"] for b in server.bodies} == {1, 2}  # round r is asked with seed + r
    assert body["messages"][0]["role"] == "system" and "The ED info:" in body["messages"][1]["content"]
    scored = score_files(run_inputs(tmp_path / "run", None, None), n_resamples=50)
    assert scored.scores.rounds == [0, 1] and scored.scores.mean["invalid_rate"] == 0.0


def test_resume_after_sigkill_and_torn_line(demo_cases: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "medldr.cli",
        "run",
        str(demo_cases),
        "--model",
        "openai-compatible:slow",
        "--task",
        "lab_num+",
        "--rounds",
        "3",
        "--concurrency",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    with FakeOpenAI(delay=0.15) as server:
        args += ["--base-url", server.url]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        responses = out / "responses.jsonl"
        deadline = time.time() + 60
        while time.time() < deadline and (not responses.exists() or len(responses.read_text().splitlines()) < 12):
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = _answers_per_pair(responses)
        assert 10 <= sum(before.values()) < 54
        with open(responses, "ab") as fh:
            fh.write(b'{"case_id": "torn", "rou')  # a write cut off by the crash
        resumed = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    records = _lines(responses)  # every line parses
    assert sum(1 for r in records if r.get("kind") == "header") == 1
    counts = _answers_per_pair(responses)
    assert len(counts) == 18 * 3 and set(counts.values()) == {1}
    # stored pairs were not asked again; only the (at most 2, the concurrency) requests in flight at the kill were
    assert 54 <= server.requests <= 54 + 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["totals"]["answers"] == 54 and manifest["finished_at"]
    again = run_cli("run", *args[4:])
    assert again.returncode == 0 and len(_lines(responses)) == len(records)  # nothing left to do


def test_other_settings_in_the_same_folder_are_refused(demo_cases: Path, tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        common = [
            str(demo_cases),
            "--model",
            "openai-compatible:m",
            "--base-url",
            server.url,
            "--task",
            "lab_num+",
            "--out",
            str(tmp_path / "run"),
            "--limit",
            "3",
            "-q",
        ]
        assert run_cli("run", *common, "--rounds", "1").returncode == 0
        changed = run_cli("run", *common, "--rounds", "2", "--temperature", "0.2")
        (tmp_path / "run" / "manifest.json").write_text('{"kind": "run", "run_id": ')  # damaged by hand
        damaged = run_cli("run", *common, "--rounds", "1")
    assert changed.returncode == 2
    assert "holds a different run (differs in params, rounds)" in changed.stderr
    assert damaged.returncode == 2 and "manifest.json: not a run manifest" in damaged.stderr
    assert "Traceback" not in damaged.stderr and len(damaged.stderr.strip().splitlines()) == 1


def test_retry_invalid_keeps_every_attempt(demo_cases: Path, tmp_path: Path) -> None:
    with FakeOpenAI(answer="I would need to examine the patient first.") as server:
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model="openai-compatible:m",
            base_url=server.url,
            task="lab",
            rounds=1,
            limit=4,
            retry_invalid=2,
        )
        manifest = run_cases(settings)
    records = [r for r in _lines(tmp_path / "run" / "responses.jsonl") if r.get("kind") != "header"]
    assert Counter(r["case_id"] for r in records) == Counter({r["case_id"]: 3 for r in records})
    assert sorted({r["attempt"] for r in records}) == [0, 1, 2] and not any(r["valid"] for r in records)
    assert manifest.totals["invalid"] == 12 and server.requests == 12
    assert len(read_responses(tmp_path / "run" / "responses.jsonl")) == 12


def test_task_fields_are_checked_first(demo_cases: Path, tmp_path: Path) -> None:
    result = run_cli("run", str(demo_cases), "--model", "vllm:m", "--task", "all", "--out", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "lack fields task 'all' needs" in result.stderr and "lab / lab_num / lab_num+" in result.stderr


def test_data_use_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = mini_mimic(tmp_path / "mimic")
    build_cases(open_mimic(root), tmp_path / "cases", BuildConfig(label_space="paper40"))
    cases = tmp_path / "cases" / "train.jsonl"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-used")
    refused = run_cli("run", str(cases), "--model", "openai:gpt-4.1", "--task", "lab", "--out", str(tmp_path / "r"))
    assert refused.returncode == 2 and "data-use rule" in refused.stderr and "--allow-data-sharing" in refused.stderr
    assert not (tmp_path / "r" / "responses.jsonl").exists()
    public = get_provider("openai:gpt-4.1")
    assert data_use_decision(cases, public, None, allow_sharing=True)["reason"].startswith("overridden")
    with pytest.raises(MedldrError, match="data-use rule"):
        data_use_decision(cases, public, None, allow_sharing=False)
    enterprise = get_provider("openai-compatible:m", base_url="https://llm.hospital.example/v1")
    monkeypatch.setenv(ALLOW_LIST_ENV, "llm.hospital.example")
    assert data_use_decision(cases, enterprise, "https://llm.hospital.example/v1", allow_sharing=False)["decision"] == (
        "allowed"
    )
    local = get_provider("vllm:Qwen3-8B")
    assert local.zero_retention and data_use_decision(cases, local, None, allow_sharing=False)["decision"] == "allowed"
    azure = get_provider("azure:gpt-4.1", base_url="https://x.openai.azure.com")
    assert azure.zero_retention


def test_no_key_is_written_anywhere(demo_cases: Path, tmp_path: Path) -> None:
    secret = "sk-test-SECRET-0123456789"
    env = {**os.environ, "OPENAI_API_KEY": secret}
    with FakeOpenAI() as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "medldr.cli",
                "run",
                str(demo_cases),
                "--model",
                "openai-compatible:m",
                "--base-url",
                server.url,
                "--task",
                "lab",
                "--rounds",
                "1",
                "--limit",
                "2",
                "--out",
                str(tmp_path / "r"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    assert f"Bearer {secret}" in server.authorization  # the key was used...
    for path in (tmp_path / "r").rglob("*"):
        assert secret not in path.read_text(), path  # ...and written nowhere
    assert secret not in result.stdout + result.stderr


def test_unknown_provider_and_bad_params(demo_cases: Path) -> None:
    with pytest.raises(MedldrError, match="unknown provider 'opneai'; known: local, gguf, openai, azure"):
        get_provider("opneai:gpt-4.1")
    bad = run_cli("run", str(demo_cases), "--model", "vllm:m", "--temperature", "5")
    assert bad.returncode == 2 and "--temperature" in bad.stderr


def test_anthropic_messages_with_thinking(demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("anthropic")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    with FakeOpenAI() as server:
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model="anthropic:claude-test",
            base_url=server.root,
            task="lab",
            rounds=1,
            limit=2,
            params=GenerationParams(thinking_budget=2048, temperature=0.5),
        )
        run_cases(settings)
    body = server.bodies[0]
    assert body["system"].startswith("Medical Diagnosis Task:") and [m["role"] for m in body["messages"]] == ["user"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048} and "temperature" not in body
    assert body["max_tokens"] >= 2048 + 2048
    records = [r for r in _lines(tmp_path / "run" / "responses.jsonl") if r.get("kind") != "header"]
    assert [r["reasoning"] for r in records] == ["troponin is flat"] * 2
    assert all(r["valid"] and r["finish_reason"] == "stop" for r in records)
    assert records[0]["usage"] == {"prompt_tokens": 90, "completion_tokens": 15}


@pytest.mark.parametrize(
    ("model", "env", "path", "token"),
    [
        (
            "bedrock:anthropic.claude-test",
            {"AWS_REGION": "us-east-1", "AWS_BEARER_TOKEN_BEDROCK": "bedrock-key-1"},
            "/model/anthropic.claude-test/invoke",
            "Bearer bedrock-key-1",
        ),
        (
            "vertex:claude-test",
            {
                "ANTHROPIC_VERTEX_PROJECT_ID": "proj-1",
                "CLOUD_ML_REGION": "us-east5",
                "ANTHROPIC_VERTEX_ACCESS_TOKEN": "vertex-token-1",
            },
            "/projects/proj-1/locations/us-east5/publishers/anthropic/models/claude-test:rawPredict",
            "Bearer vertex-token-1",
        ),
    ],
)
def test_bedrock_and_vertex_over_a_socket(
    model: str,
    env: dict[str, str],
    path: str,
    token: str,
    demo_cases: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The SDK's Bedrock and Vertex clients against a local server standing in for the endpoint (a VPC endpoint URL
    is what --base-url gives them): their URLs, their auth header, the Messages answer read back; no key written."""
    pytest.importorskip("anthropic")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with FakeOpenAI() as server:
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model=model,
            base_url=server.root,
            task="lab",
            rounds=1,
            limit=2,
        )
        manifest = run_cases(settings)
    assert set(server.paths) == {path} and server.authorization == {token}
    assert "anthropic_version" in server.bodies[0] and server.bodies[0]["system"].startswith("Medical Diagnosis Task")
    records = [r for r in _lines(tmp_path / "run" / "responses.jsonl") if r.get("kind") != "header"]
    assert len(records) == 2 and all(r["valid"] for r in records)
    assert manifest.data_use["decision"] == "allowed" and manifest.totals["answers"] == 2
    secret = token.split()[-1]
    assert all(secret not in f.read_text() for f in (tmp_path / "run").iterdir())


@pytest.mark.parametrize("model", ["openai-compatible:deepseek-r1", "deepseek:deepseek-reasoner"])
def test_deepseek_style_reasoning_content_is_kept_apart(
    demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test")
    answer = '{"top10": ["486"], "predictions": ["486"]}'
    with FakeOpenAI(answer=answer, reasoning_content="fever and infiltrate") as server:
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model=model,
            base_url=server.url,
            task="lab",
            rounds=2,
            limit=1,
            params=GenerationParams(seed=5),
        )
        run_cases(settings)
    records = [r for r in _lines(tmp_path / "run" / "responses.jsonl") if r.get("kind") != "header"]
    assert [(r["text"], r["reasoning"]) for r in records] == [(answer, "fever and infiltrate")] * 2
    assert sorted(body["seed"] for body in server.bodies) == [5, 6]  # round r asks with seed + r


def test_azure_deployment_route(demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-test-key")
    with FakeOpenAI() as server:
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model="azure:gpt-41-deployment",
            base_url=server.root,
            task="lab",
            rounds=1,
            limit=1,
            params=GenerationParams(max_tokens=300, reasoning_effort="low"),
        )
        manifest = run_cases(settings)
    assert server.paths[0].startswith("/openai/deployments/gpt-41-deployment/chat/completions?api-version=")
    assert server.bodies[0]["max_completion_tokens"] == 300 and server.bodies[0]["reasoning_effort"] == "low"
    assert manifest.data_use["decision"] == "allowed" and manifest.totals["answers"] == 1


def test_server_retry_after_is_honoured(demo_cases: Path, tmp_path: Path) -> None:
    """A 429 with Retry-After and a 503 with retry-after-ms are waited out inside one request: no error recorded."""
    scripted = [(429, {"Retry-After": "1"}), (503, {"retry-after-ms": "600"})]
    with FakeOpenAI(scripted=scripted) as server:
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model="vllm:m",
            base_url=server.url,
            task="lab",
            rounds=1,
            limit=1,
        )
        manifest = run_cases(settings)
    first, second, third = server.arrivals
    assert second - first >= 0.95 and third - second >= 0.57
    assert manifest.totals["answers"] == 1 and manifest.totals["errors"] == 0
    assert len(_lines(tmp_path / "run" / "responses.jsonl")) == 2  # the header and the one answer


def test_server_refusal_stops_the_run(demo_cases: Path, tmp_path: Path) -> None:
    """A 401 is not retried: the run stops with one line, exit 2, and the refusal is on record."""
    with FakeOpenAI(scripted=[(401, {})]) as server:
        result = run_cli(
            "run",
            str(demo_cases),
            "--model",
            "openai-compatible:m",
            "--base-url",
            server.url,
            "--task",
            "lab",
            "--limit",
            "1",
            "--rounds",
            "1",
            "--out",
            str(tmp_path / "r"),
            "--quiet",
        )
    assert result.returncode == 2 and server.requests == 1
    assert result.stderr.strip().splitlines() == [
        "error: openai-compatible refused the request (EndpointRefused: HTTP 401: scripted 401); run stopped"
    ]
    errors = [r["error"] for r in _lines(tmp_path / "r" / "responses.jsonl") if r.get("error")]
    assert errors == ["EndpointRefused: HTTP 401: scripted 401"]


@pytest.mark.parametrize("model", ["openai-compatible:m", "openai:m", "anthropic:m"])
def test_attempts_per_answer_are_bounded(
    demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    """A server that answers 503 forever receives exactly ``transport_attempts`` requests per (case, round) on every
    route: the runner is the one retry owner (the SDKs' own retries are off). The pair is recorded as an error."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI(scripted=[(503, {"retry-after-ms": "5"})] * 100) as server:
        url = server.root if model.startswith("anthropic") else server.url
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model=model,
            base_url=url,
            task="lab",
            rounds=2,
            limit=1,
            concurrency=1,
            transport_attempts=4,
        )
        manifest = run_cases(settings)
    assert server.requests == 2 * 4
    assert manifest.totals["errors"] == 2 and manifest.totals["answers"] == 0
    errors = [r["error"] for r in _lines(tmp_path / "run" / "responses.jsonl") if r.get("error")]
    assert len(errors) == 2 and all("503" in e for e in errors)


def test_timeout_bounds_each_attempt(demo_cases: Path, tmp_path: Path) -> None:
    """--timeout bounds each request, not the whole retry loop: a server that stalls on every call is asked
    ``transport_attempts`` times, each given up after ``timeout`` seconds."""
    with FakeOpenAI(failure_rate=1.0, seed=3, stall=5.0) as server:
        server.rng.randrange = lambda n: 2  # every failure a stall
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model="vllm:m",
            base_url=server.url,
            task="lab",
            rounds=1,
            limit=1,
            timeout=0.3,
            transport_attempts=3,
        )
        start = time.monotonic()
        manifest = run_cases(settings)
        elapsed = time.monotonic() - start
    assert server.requests == 3 and manifest.totals["errors"] == 1
    assert elapsed < 3 * 0.3 + 3.0  # three bounded attempts and their backoff, not three 5 s stalls
