"""An endpoint pool (``--base-url`` several times) against several real local servers: one dies mid-run, one is slow;
every (case, round) is still answered exactly once, and the manifest says which endpoint gave how many answers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from medldr.run import RunSettings, run_cases
from medldr.run.providers import get_provider
from medldr.run.providers.pool import EndpointPool
from medldr.schema import BuildManifest, read_run_manifest
from tests.conftest import cli_in_process
from tests.run.conftest import stored_records
from tests.run.fake_openai import FakeOpenAI


def _answers(run: Path) -> Counter:
    return Counter((r["case_id"], r["round"]) for r in stored_records(run) if not r.get("error"))


def test_pool_survives_a_dead_and_a_slow_server(demo_cases: Path, tmp_path: Path) -> None:
    fast, slow, dying = FakeOpenAI(), FakeOpenAI(delay=0.25), FakeOpenAI(die_after=5)
    with fast, slow, dying:
        settings = RunSettings(
            cases_file=demo_cases,
            out=tmp_path / "run",
            model="vllm:m",
            base_url=",".join(s.url for s in (fast, slow, dying)),
            rounds=3,
            concurrency=6,
            timeout=5,
        )
        manifest = run_cases(settings)
        assert dying.dead
    n_cases = manifest.identity.n_cases
    answers = _answers(tmp_path / "run")
    assert len(answers) == n_cases * 3 and set(answers.values()) == {1}  # every pair, exactly once
    counts = {e["url"]: e["answers"] for e in manifest.endpoints or []}
    assert list(counts) == [fast.url, slow.url, dying.url]
    assert sum(counts.values()) == n_cases * 3
    assert 1 <= counts[dying.url] <= 5  # answered until it died, never after
    assert counts[slow.url] < counts[fast.url]  # fewest in flight: the slow one holds its requests longer
    assert manifest.identity.base_url is None  # where it ran is not what it is: a resume may resize the pool
    assert fast.health_checks >= 1 and slow.health_checks >= 1


def test_a_replica_down_from_the_start_is_left_out(demo_cases: Path, tmp_path: Path) -> None:
    """A pool in which one address has no server: it fails its health check and gets no request, and a resume on a
    pool of a different size goes on (the pool is not in the run's identity)."""
    with FakeOpenAI() as up:
        down = FakeOpenAI()
        down.kill()
        settings = RunSettings(
            cases_file=demo_cases, out=tmp_path / "run", model="vllm:m", base_url=f"{up.url},{down.url}", limit=2
        )
        manifest = run_cases(settings)
        assert [e["answers"] for e in manifest.endpoints or []] == [6, 0]
        with FakeOpenAI() as other:
            settings.base_url, settings.limit = f"{up.url},{other.url}", 2
            settings.rounds = 3
            resumed = run_cases(settings)
    assert resumed.totals["answers"] == 6 and other.requests == 0  # nothing left to ask
    assert [(e["url"], e["answers"]) for e in resumed.endpoints or []] == [(up.url, 6), (other.url, 0)]


def test_every_replica_down_stops_the_run_in_one_line(demo_cases: Path, tmp_path: Path) -> None:
    servers = [FakeOpenAI(), FakeOpenAI()]
    for server in servers:
        server.kill()
    urls = [s.url for s in servers]
    result = cli_in_process(
        "run", str(demo_cases), "--model", "vllm:m", "--base-url", urls[0], "--base-url", urls[1],
        "--out", str(tmp_path / "run"), "--limit", "1", "--quiet",
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "no endpoint of the pool answers" in result.stderr and urls[1] in result.stderr
    assert "Traceback" not in result.stderr


def test_pools_are_for_self_hosted_servers_and_one_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(Exception, match="endpoint pools are for self-hosted servers"):
        get_provider("openai:gpt-4.1", base_url="http://127.0.0.1:1/v1,http://127.0.0.1:2/v1")
    with pytest.raises(Exception, match="is given twice"):
        get_provider("vllm:m", base_url="http://127.0.0.1:1/v1,http://127.0.0.1:1/v1")
    pool = get_provider("sglang:m", base_url="http://127.0.0.1:1/v1, http://10.0.0.7:30000/v1")
    assert isinstance(pool, EndpointPool) and not pool.zero_retention  # one replica off this machine: not local


def test_pool_guard_needs_every_endpoint_allowed(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    """Credentialed cases go to a pool only when every endpoint may receive them."""
    from medldr.run.guard import ALLOW_LIST_ENV, data_use_decision

    cases = tmp_path / "cases.jsonl"  # a copy that is no longer the demo: credentialed
    cases.write_text((demo_build[0] / "inference.jsonl").read_text().replace("F", "M", 1))
    pool = get_provider("vllm:m", base_url="http://10.0.0.7:8000/v1,http://10.0.0.8:8000/v1")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ALLOW_LIST_ENV, "10.0.0.7")
        with pytest.raises(Exception, match="data-use rule"):
            data_use_decision(cases, pool, "http://10.0.0.7:8000/v1,http://10.0.0.8:8000/v1", allow_sharing=False)
        env.setenv(ALLOW_LIST_ENV, "10.0.0.7,10.0.0.8")
        decision = data_use_decision(
            cases, pool, "http://10.0.0.7:8000/v1,http://10.0.0.8:8000/v1", allow_sharing=False
        )
    assert decision["decision"] == "allowed"


def test_manifest_names_the_endpoints(demo_cases: Path, tmp_path: Path) -> None:
    with FakeOpenAI() as a, FakeOpenAI() as b:
        cli = cli_in_process(
            "run", str(demo_cases), "--model", "openai-compatible:m", "--base-url", f"{a.url},{b.url}",
            "--out", str(tmp_path / "run"), "--limit", "2", "--rounds", "2", "--quiet",
        )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    manifest = read_run_manifest(tmp_path / "run" / "manifest.json")
    assert [e["url"] for e in manifest.endpoints or []] == [a.url, b.url]
    assert a.requests + b.requests == 4 and a.requests >= 1 and b.requests >= 1  # ties go to the least used
