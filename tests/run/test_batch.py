"""``medldr run --batch`` against a local stand-in for the providers' Batch APIs (tests/run/fake_batches.py): the
round trip through the official SDKs, answers stored once as the online route stores them, invalid answers re-asked
as a second batch, a killed process resumed from the recorded ids, and the guard and refusals unchanged."""

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

from medldr.schema import read_run_manifest
from tests.conftest import cli_in_process
from tests.run.conftest import stored_records
from tests.run.fake_batches import FakeBatchAPI
from tests.run.fake_openai import FakeOpenAI

ROUTES = [
    ("openai:gpt-4.1", "/v1", "OPENAI_API_KEY"),
    ("azure:gpt-4.1", "", "AZURE_OPENAI_API_KEY"),
    ("anthropic:claude-sonnet-4-5", "", "ANTHROPIC_API_KEY"),
]


def _run(cases: Path, out: Path, model: str, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli_in_process(
        "run", str(cases), "--model", model, "--base-url", url, "--out", str(out), "--limit", "2", "--rounds", "2",
        "--batch", "--quiet", *extra,
    )  # fmt: skip


@pytest.mark.parametrize(("model", "path", "key"), ROUTES)
def test_batch_round_trip(
    demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, path: str, key: str
) -> None:
    monkeypatch.setenv(key, "sk-test-batch-key")
    out = tmp_path / "run"
    with FakeBatchAPI(hold=True) as api:
        submitted = _run(demo_cases, out, model, api.root + path)
        assert submitted.returncode == 3, submitted.stderr  # submitted, not yet ended: run again to collect
        assert "batch_1: submitted (0/4 requests done); run the same command again" in submitted.stderr
        assert stored_records(out) == [] and len((out / "batch_input_1.jsonl").read_text().splitlines()) == 4
        waiting = _run(demo_cases, out, model, api.root + path)
        assert waiting.returncode == 3 and len(api.inputs) == 1  # polled, nothing submitted twice
        assert "in_progress (0/4 requests done)" in waiting.stderr
        api.release()
        collected = _run(demo_cases, out, model, api.root + path)
        assert collected.returncode == 0, collected.stderr
        again = _run(demo_cases, out, model, api.root + path)
    assert again.returncode == 0 and len(api.inputs) == 1
    records = stored_records(out)
    assert (
        Counter((r["case_id"], r["round"]) for r in records)
        == Counter({(r["case_id"], r["round"]): 1 for r in records})
        and len(records) == 4
    )  # every pair once
    batch_id = next(iter(api.inputs))
    online_fields = {"case_id", "round", "attempt", "text", "reasoning", "finish_reason", "usage", "model", "valid"}
    for record in records:
        assert online_fields <= set(record) and record["batch_id"] == batch_id and record["valid"]
        assert record["usage"]["prompt_tokens"] > 0 and record["finish_reason"] == "stop"
    manifest = read_run_manifest(out / "manifest.json")
    assert manifest.batches == [{"id": batch_id, "requests": 4, "collected": True}]
    assert manifest.settings["batch"] is True and manifest.totals["answers"] == 4
    if not model.startswith("anthropic"):  # half the list price: 4 x (100 prompt + 20 completion) tokens of gpt-4.1
        assert manifest.totals["cost_usd"] == pytest.approx(0.5 * 4 * (100 * 2.0 + 20 * 8.0) / 1e6)
        assert [line["body"]["model"] for line in api.inputs[batch_id]] == ["gpt-4.1"] * 4
        assert api.batches[batch_id]["endpoint"] == (
            "/chat/completions" if model.startswith("azure") else "/v1/chat/completions"
        )
    assert "sk-test-batch-key" not in "".join(p.read_text() for p in out.iterdir())
    scored = cli_in_process("score", str(out), "--quiet")  # a batch run scores like any run
    assert scored.returncode == 0, scored.stderr


def test_invalid_answers_are_reasked_as_a_second_batch(
    demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "run"
    with FakeBatchAPI(invalid_first=1) as api:
        first = _run(demo_cases, out, "openai:gpt-4.1", api.root + "/v1", "--retry-invalid", "1")
        second = _run(demo_cases, out, "openai:gpt-4.1", api.root + "/v1", "--retry-invalid", "1")
        third = _run(demo_cases, out, "openai:gpt-4.1", api.root + "/v1", "--retry-invalid", "1")
    assert (first.returncode, second.returncode, third.returncode) == (3, 3, 0), third.stderr
    assert [len(lines) for lines in api.inputs.values()] == [4, 1]  # the invalid one, asked again alone
    records = stored_records(out)
    asked = Counter((r["case_id"], r["round"]) for r in records)
    retried = [r for r in records if asked[(r["case_id"], r["round"])] > 1]
    assert [(r["attempt"], r["valid"]) for r in retried] == [(0, False), (1, True)]
    assert [r["batch_id"] for r in retried] == ["batch_1", "batch_2"]


@pytest.mark.parametrize(("model", "path", "key"), ROUTES)
def test_a_batch_whose_id_was_never_recorded_is_found_not_resubmitted(
    demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str, path: str, key: str
) -> None:
    """The process was killed after the provider accepted the batch but before its id reached batches.jsonl."""
    monkeypatch.setenv(key, "sk-test")
    out = tmp_path / "run"
    with FakeBatchAPI(hold=True) as api:
        assert _run(demo_cases, out, model, api.root + path).returncode == 3
        log = (out / "batches.jsonl").read_text().splitlines()
        assert json.loads(log[-1])["kind"] == "submitted"
        (out / "batches.jsonl").write_text("\n".join(log[:-1]) + "\n")  # as if killed before that line
        api.release()
        resumed = _run(demo_cases, out, model, api.root + path)
    assert resumed.returncode == 0, resumed.stderr
    assert len(api.inputs) == 1 and len(stored_records(out)) == 4


def test_killed_while_polling_resumes_from_the_recorded_id(
    demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "run"
    with FakeBatchAPI(hold=True) as api:
        command = [sys.executable, "-m", "medldr.cli", "run", str(demo_cases), "--model", "openai:gpt-4.1",
                   "--base-url", api.root + "/v1", "--out", str(out), "--limit", "2", "--rounds", "2", "--batch",
                   "--poll", "1", "--quiet"]  # fmt: skip
        process = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while b"submitted" not in ((out / "batches.jsonl").read_bytes() if (out / "batches.jsonl").exists() else b""):
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
        time.sleep(1.5)  # polling now
        process.send_signal(signal.SIGKILL)
        process.wait()
        api.release()
        resumed = _run(demo_cases, out, "openai:gpt-4.1", api.root + "/v1")
    assert resumed.returncode == 0, resumed.stderr
    assert len(api.inputs) == 1 and len(stored_records(out)) == 4


def test_batch_refusals_and_guard(demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeOpenAI() as server:
        no_batch = _run(demo_cases, tmp_path / "a", "vllm:m", server.url)
    assert no_batch.returncode == 2 and "--batch: vllm has no Batch API" in no_batch.stderr
    credentialed = tmp_path / "cases.jsonl"  # no longer the demo: credentialed, and OpenAI's API may retain it
    credentialed.write_text(demo_cases.read_text().replace("F", "M", 1))
    with FakeBatchAPI() as api:
        refused = cli_in_process(
            "run", str(credentialed), "--model", "openai:gpt-4.1", "--base-url", "https://api.openai.com/v1",
            "--out", str(tmp_path / "b"), "--batch", "--label-space", "paper40",
        )  # fmt: skip
        assert not api.inputs
    assert refused.returncode == 2 and "data-use rule" in refused.stderr and not (tmp_path / "b").exists()


def test_dry_run_shows_the_batch_discount(demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    result = cli_in_process(
        "run", str(demo_cases), "--model", "openai:gpt-4.1", "--max-tokens", "100", "--batch", "--dry-run",
        "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "through the Batch API (50% of $" in result.stdout


def test_a_log_edited_by_hand_is_one_line(demo_cases: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "run"
    with FakeBatchAPI(hold=True) as api:
        assert _run(demo_cases, out, "openai:gpt-4.1", api.root + "/v1").returncode == 3
        log = (out / "batches.jsonl").read_text().splitlines()
        (out / "batches.jsonl").write_text("\n".join(log[1:]) + "\n")  # the intent line lost
        broken = _run(demo_cases, out, "openai:gpt-4.1", api.root + "/v1")
    assert broken.returncode == 2 and "batches.jsonl: no submission for" in broken.stderr
    assert "Traceback" not in broken.stderr
