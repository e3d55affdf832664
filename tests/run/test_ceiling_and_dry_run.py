"""Issue 22: a run's spending ceiling (--max-cost, --max-total-tokens) stops sending before the next request could
pass it, says so in one line and stays resumable; --dry-run sends and writes nothing and says what a run would
send and cost. Against a local OpenAI-compatible server (the test double of a remote API: it reports 100 prompt and
20 completion tokens per answer); gpt-4.1 is in the price table ($2 / $8 per million)."""

from __future__ import annotations

import json
from pathlib import Path

from medldr.run import GenerationParams, RunSettings, plan_run
from medldr.schema import BuildManifest
from tests.conftest import run_cli
from tests.gates import needs_llama
from tests.run.fake_openai import FakeOpenAI

ANSWER = '{"top10": ["486"], "predictions": ["486"]}'


def _args(cases: Path, url: str, out: Path, *extra: str) -> list[str]:
    return ["run", str(cases), "--model", "openai-compatible:gpt-4.1", "--base-url", url, "--task", "lab",
            "--limit", "1", "--rounds", "6", "--max-tokens", "20", "--concurrency", "1", "--out", str(out),
            "--quiet", *extra]  # fmt: skip


def _answers(out: Path) -> list[tuple[str, int]]:
    lines = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()]
    return [(r["case_id"], r["round"]) for r in lines if r.get("kind") != "header" and "text" in r]


def _prompt_tokens(cases: Path, url: str, out: Path) -> int:
    """The estimate each request of the one case reserves for its prompt (the dry run's figure, per request)."""
    settings = RunSettings(cases_file=cases, out=out, model="openai-compatible:gpt-4.1", base_url=url, task="lab",
                           limit=1, rounds=6, params=GenerationParams(max_tokens=20))  # fmt: skip
    plan = plan_run(settings)
    assert plan["requests"] == 6 and not plan["prompt_tokens_counted"]
    return plan["prompt_tokens"] // 6


def test_a_token_ceiling_stops_before_it_is_passed_and_the_run_resumes(
    demo_build: tuple[Path, BuildManifest], tmp_path: Path
) -> None:
    cases, out = demo_build[0] / "inference.jsonl", tmp_path / "run"
    with FakeOpenAI(answer=ANSWER) as server:
        per_request = _prompt_tokens(cases, server.url, out) + 20
        ceiling = per_request + 2 * 120 + 10  # room for 3 answers: the 4th's reservation would pass it
        result = run_cli(*_args(cases, server.url, out, "--max-total-tokens", str(ceiling)))
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("error: token ceiling: 360 tokens used and 0 in flight; the next request")
        assert f"would pass --max-total-tokens {ceiling:,}; 3 prompts not sent" in result.stderr
        assert server.requests == 3 and len(_answers(out)) == 3
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["settings"]["max_total_tokens"] == ceiling
        assert manifest["totals"]["prompt_tokens"] + manifest["totals"]["completion_tokens"] == 360 <= ceiling
        assert manifest["totals"]["unanswered"] == 3
        again = run_cli(*_args(cases, server.url, out))  # no ceiling now: the rest, each once
        assert again.returncode == 0, again.stderr
        assert server.requests == 6 and sorted(_answers(out)) == sorted({*_answers(out)}) and len(_answers(out)) == 6


def test_a_cost_ceiling_counts_the_price_table(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    cases, out = demo_build[0] / "inference.jsonl", tmp_path / "run"
    with FakeOpenAI(answer=ANSWER) as server:
        reserve = (_prompt_tokens(cases, server.url, out) * 2 + 20 * 8) / 1e6
        spent = (100 * 2 + 20 * 8) / 1e6  # what each answer costs at gpt-4.1's prices
        ceiling = reserve + spent + spent / 2  # room for 2 answers
        result = run_cli(*_args(cases, server.url, out, "--max-cost", f"{ceiling:.8f}"))
        assert result.returncode == 2 and result.stderr.startswith("error: cost ceiling: $0.0007 spent"), result.stderr
        assert "4 prompts not sent" in result.stderr and server.requests == 2
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["totals"]["cost_usd"] <= manifest["settings"]["max_cost_usd"]
    unpriced = ["run", str(cases), "--model", "openai-compatible:my-model", "--base-url", "http://127.0.0.1:9"]
    unpriced = run_cli(*unpriced, "--max-cost", "5", "--out", str(tmp_path / "x"))
    assert unpriced.returncode == 2 and unpriced.stderr.strip() == (
        "error: --max-cost: no price for openai-compatible:my-model in the price table, so its spend cannot be "
        "counted; give one with --prices FILE"
    )
    assert not (tmp_path / "x").exists()


def test_a_dry_run_sends_and_writes_nothing(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    cases, out = demo_build[0] / "inference.jsonl", tmp_path / "run"
    with FakeOpenAI(answer=ANSWER) as server:
        dry = run_cli(*_args(cases, server.url, out, "--dry-run"))
        assert dry.returncode == 0, dry.stderr
        assert server.requests == 0 and not out.exists()
        per_request = _prompt_tokens(cases, server.url, out)
        assert dry.stdout.splitlines() == [
            "dry run of openai-compatible:gpt-4.1: nothing sent, nothing written",
            "requests: 6 (0 already answered)",
            f"prompt tokens: {6 * per_request:,} (an estimate: 4 characters each)",
            "completion tokens: 120 (per answer: at most --max-tokens)",
            f"cost: ${(6 * per_request * 2 + 120 * 8) / 1e6:.2f} at the price table's prices",
            "data use: allowed (local model, loopback server or zero-retention route)",
        ]
        assert run_cli(*_args(cases, server.url, out, "--max-total-tokens", str(per_request + 30))).returncode == 2
        with open(out / "responses.jsonl", "ab") as fh:  # a line being written by a run in progress
            fh.write(b'{"case_id": "1')
        before = (out / "responses.jsonl").read_bytes()
        resumed = run_cli(*_args(cases, server.url, out, "--dry-run"))  # a started run: only what is left
        assert "requests: 5 (1 already answered)" in resumed.stdout and server.requests == 1
        assert (out / "responses.jsonl").read_bytes() == before  # read, never repaired: it holds no lock


@needs_llama
def test_a_dry_run_counts_with_a_local_models_tokenizer(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    args = ["run", str(demo_build[0] / "inference.jsonl"), "--model", "local", "--limit", "2", "--dry-run"]
    result = run_cli(*args, "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert (
        "(counted with the model's tokenizer)" in result.stdout
        and "cost: $0 (a model on this machine)" in result.stdout
    )
    assert "requests: 6 (0 already answered)" in result.stdout and not (tmp_path / "run").exists()
