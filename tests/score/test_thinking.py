"""What thinking buys (issue 23): a run whose local server returns reasoning of varying lengths is scored by
thinking-length quartile, with patient-clustered CIs, and the report draws accuracy against thinking length."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medldr.schema import BuildManifest
from medldr.score.thinking import CHARS_PER_TOKEN, by_thinking
from tests.conftest import run_cli
from tests.run.fake_openai import FakeOpenAI


def test_quartiles_by_hand() -> None:
    """Eight answers of lengths 10..80 tokens: quartile bins of two; accuracy 1, 1, 0, 0 by bin."""
    lengths = np.array([[10, 20, 30, 40, 50, 60, 70, 80]], dtype=float)
    correct = np.array([[1, 1, 1, 1, 0, 0, 0, 0]], dtype=float)
    found = by_thinking(lengths, correct, 1 - correct, list("abcdefgh"), sources={"usage"}, n_resamples=300)
    assert found is not None and found["source"] == "usage" and found["answers"] == 8
    assert [(b["low"], b["high"], b["n"]) for b in found["bins"]] == [
        (10, 20, 2),
        (30, 40, 2),
        (50, 60, 2),
        (70, 80, 2),
    ]
    assert [b["primary_accuracy"] for b in found["bins"]] == [1, 1, 0, 0]
    assert all(
        b["primary_accuracy_ci"][0] <= b["primary_accuracy"] <= b["primary_accuracy_ci"][1] for b in found["bins"]
    )
    nothing = np.full((1, 3), np.nan)
    assert by_thinking(nothing, np.zeros((1, 3)), np.zeros((1, 3)), list("abc"), sources=set()) is None


def test_a_run_with_reasoning_is_scored_by_thinking_length(
    demo_build: tuple[Path, BuildManifest], tmp_path: Path
) -> None:
    cases_file = demo_build[0] / "inference.jsonl"

    def answer_for(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        digest = hashlib.sha256(f"{body.get('seed')}|{user}".encode()).digest()
        words = 5 + digest[0] % 200  # reasoning of 5 to 204 words
        code = "5849"  # one answer for every case: right where it is the primary
        return f"<think>{'creatinine ' * words}</think>" + json.dumps({"top10": [code], "predictions": [code]})

    out = tmp_path / "run"
    with FakeOpenAI(answer_for=answer_for) as server:
        args = ["run", str(cases_file), "--model", "vllm:r", "--base-url", server.url, "--rounds", "2", "--seed", "1"]
        assert run_cli(*args, "--out", str(out), "-q").returncode == 0
    scored = run_cli("score", str(out), "--resamples", "200")
    assert scored.returncode == 0, scored.stderr
    assert "thinking" in scored.stdout
    thinking = json.loads((out / "scores.json").read_text())["thinking"]
    assert thinking["source"] == "estimate" and thinking["chars_per_token"] == CHARS_PER_TOKEN
    assert thinking["answers"] == 2 * demo_build[1].counts["inference"] and len(thinking["bins"]) == 4
    stored = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()[1:]]
    lengths = sorted(len(r["reasoning"]) / CHARS_PER_TOKEN for r in stored)
    assert thinking["bins"][0]["low"] == pytest.approx(lengths[0]) and thinking["bins"][-1]["high"] == pytest.approx(
        lengths[-1]
    )
    assert sum(b["n"] for b in thinking["bins"]) == len(stored)
    report = run_cli("report", str(out), "--out", str(tmp_path / "report"), "--resamples", "50")
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "figures" / "thinking.png").is_file()
