"""The data-use guard decides on where requests really go: loopback only for a loopback address or localhost,
Azure only for an Azure OpenAI host, never through a proxy (each probe here got past the guard before)."""

from __future__ import annotations

from pathlib import Path

import pytest

from medldr.run.providers import get_provider, is_loopback
from tests.conftest import run_cli
from tests.mimic_tables import mini_mimic

SPOOFED = ["http://127.0.0.1.nip.io:9/v1", "http://127.evil.invalid:9/v1", "http://localhost.evil.invalid:9/v1"]


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


@pytest.mark.parametrize("url", SPOOFED)
def test_names_that_look_local_are_not(url: str) -> None:
    assert not is_loopback(url)
    assert not get_provider("vllm:m", base_url=url).zero_retention
    assert not get_provider("openai-compatible:m", base_url=url).zero_retention


def test_loopback_addresses_are() -> None:
    for url in (
        "http://127.0.0.1:8000/v1",
        "http://127.0.0.2:8000/v1",
        "http://[::1]:8000/v1",
        "http://localhost:1/v1",
    ):
        assert is_loopback(url), url
        assert get_provider("vllm:m", base_url=url).zero_retention, url
    assert not is_loopback("http://[::1")  # malformed: nowhere we can vouch for


def test_azure_means_an_azure_openai_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k-not-used")
    assert not get_provider("azure:m", base_url="http://example.invalid:9/v1").zero_retention
    assert not get_provider("azure:m", base_url="https://example.invalid/v1").zero_retention
    assert get_provider("azure:m", base_url="https://my-resource.openai.azure.com/").zero_retention
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://evil.example.com/")
    assert not get_provider("azure:m", base_url=None).zero_retention


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_is_the_destination(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "http://proxy.example:3128")
    assert not get_provider("vllm:m", base_url="http://127.0.0.1:8000/v1").zero_retention
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert get_provider("vllm:m", base_url="http://127.0.0.1:8000/v1").zero_retention


def test_credentialed_cases_are_refused_before_any_request(tmp_path: Path) -> None:
    root = mini_mimic(tmp_path / "mimic")
    built = run_cli(
        "build",
        "mimic",
        "--root",
        str(root),
        "--label-space",
        "paper40",
        "--window",
        "ed",
        "--out",
        str(tmp_path / "cases"),
        "-q",
    )
    assert built.returncode == 0, built.stderr
    for url in SPOOFED[:2]:
        out = tmp_path / "run"
        refused = run_cli(
            "run",
            str(tmp_path / "cases" / "train.jsonl"),
            "--model",
            "vllm:m",
            "--base-url",
            url,
            "--task",
            "lab",
            "--out",
            str(out),
        )
        assert refused.returncode == 2 and "data-use rule" in refused.stderr, refused.stderr
        assert not (out / "responses.jsonl").exists()
