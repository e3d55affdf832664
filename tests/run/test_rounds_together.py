"""``--rounds-together``: a case's rounds as one request with ``n`` = rounds (one prefill on vLLM / SGLang), stored as
the same per-round records a per-round run writes."""

from __future__ import annotations

from pathlib import Path

from medldr.run import RunSettings, run_cases
from tests.conftest import cli_in_process
from tests.run.conftest import stored_records
from tests.run.fake_openai import FakeOpenAI


def test_rounds_of_a_case_in_one_request(demo_cases: Path, tmp_path: Path) -> None:
    with FakeOpenAI() as together_server, FakeOpenAI() as apart_server:
        common = {"cases_file": demo_cases, "model": "vllm:m", "limit": 2, "rounds": 3}
        together = run_cases(
            RunSettings(out=tmp_path / "together", base_url=together_server.url, rounds_together=True, **common)
        )
        run_cases(RunSettings(out=tmp_path / "apart", base_url=apart_server.url, **common))
    assert together_server.requests == 2 and apart_server.requests == 6  # one request per case, not per round
    assert [b["n"] for b in together_server.bodies] == [3, 3]
    assert together.identity.rounds_together is True  # seeds and samples differ from per-round runs
    records, apart = stored_records(tmp_path / "together"), stored_records(tmp_path / "apart")
    assert sorted((r["case_id"], r["round"]) for r in records) == sorted((r["case_id"], r["round"]) for r in apart)
    assert {tuple(sorted(r)) for r in records} == {tuple(sorted(r)) for r in apart}  # the same fields
    # one usage per request: its prompt tokens on the first round, its 60 completion tokens shared
    first_case = [r for r in records if r["case_id"] == records[0]["case_id"]]
    assert [r["usage"] for r in sorted(first_case, key=lambda r: r["round"])] == [
        {"prompt_tokens": 100, "completion_tokens": 20},
        {"prompt_tokens": 0, "completion_tokens": 20},
        {"prompt_tokens": 0, "completion_tokens": 20},
    ]
    assert together.totals["prompt_tokens"] == 200 and together.totals["completion_tokens"] == 120


def test_a_server_that_ignores_n_is_caught(demo_cases: Path, tmp_path: Path) -> None:
    with FakeOpenAI(takes_n=False) as server:
        result = cli_in_process(
            "run", str(demo_cases), "--model", "vllm:m", "--base-url", server.url, "--out", str(tmp_path / "run"),
            "--limit", "1", "--rounds", "2", "--rounds-together", "--quiet",
        )  # fmt: skip
    assert result.returncode != 0
    assert "asked for 2 answers (n=2), got 1" in result.stderr
    assert not [r for r in stored_records(tmp_path / "run") if not r.get("error")]  # nothing stored as an answer


def test_refused_where_the_provider_cannot(demo_cases: Path, tmp_path: Path) -> None:
    result = cli_in_process(
        "run", str(demo_cases), "--model", "openai:m", "--base-url", "http://127.0.0.1:9/v1",
        "--out", str(tmp_path / "run"), "--rounds-together",
    )  # fmt: skip
    assert result.returncode == 2 and "--rounds-together: openai does not sample" in result.stderr
    assert not (tmp_path / "run").exists()


def test_dry_run_counts_requests_not_answers(demo_cases: Path, tmp_path: Path) -> None:
    result = cli_in_process(
        "run", str(demo_cases), "--model", "vllm:m", "--limit", "2", "--rounds", "3", "--rounds-together",
        "--out", str(tmp_path / "run"), "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "requests: 2 for 6 answers (0 already answered)" in result.stdout
