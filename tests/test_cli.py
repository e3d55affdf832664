"""The command line: --help on every command, the demo end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from medldr.cli import app
from tests.conftest import cli_in_process, run_cli
from tests.gates import needs_llama

COMMANDS = [
    ["run"],
    [],
    ["build"],
    ["build", "demo"],
    ["build", "mimic"],
    ["demo"],
    ["score"],
    ["compare"],
    ["report"],
    ["overdiagnosis"],
    ["prompts"],
    ["prompts", "show"],
    ["train"],
    ["train", "sft"],
    ["train", "grpo"],
    ["version"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "medldr")
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and "--help" in result.output


def test_version_and_short_help() -> None:
    """`medldr --version` and `-h` (on the app and on a subcommand) work; both were 'No such option'."""
    from medldr import __version__

    assert CliRunner().invoke(app, ["--version"]).output.strip() == __version__
    for command in ([], ["train", "sft"], ["build"]):
        result = CliRunner().invoke(app, [*command, "-h"])
        assert result.exit_code == 0 and "Usage" in result.output, command


def test_build_demo_needs_no_path(tmp_path: Path) -> None:
    result = run_cli("build", "demo", "--out", "cases", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "LDR cases written to cases" in result.stdout and "label space" in result.stdout
    manifest = json.loads((tmp_path / "cases" / "build_manifest.json").read_text())
    assert manifest["source"] == "mimic-iv-demo (bundled)" and manifest["counts"]["cases"] > 30
    quiet = run_cli("build", "demo", "--out", "cases", "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


@needs_llama
def test_demo_command(tmp_path: Path) -> None:
    """From nothing to a scored run and its report, offline (two cases, two rounds to stay quick)."""
    result = run_cli("demo", "--limit", "2", "--rounds", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "demo done" in result.stdout and "primary_accuracy" in result.stdout
    scores = json.loads((tmp_path / "medldr-demo" / "runs" / "local" / "scores.json").read_text())
    assert scores["n_cases"] == 2 and scores["rounds"] == [0, 1] and scores["mean"]["invalid_rate"] == 0.0
    assert (tmp_path / "medldr-demo" / "cases" / "inference.jsonl").stat().st_size > 0
    index = tmp_path / "medldr-demo" / "report" / "index.html"
    assert f"report: {index.relative_to(tmp_path)}" in result.stdout
    html = index.read_text()
    assert "SmolLM2-135M on the MIMIC-IV demo" in html and "local" in html and "data:image/png;base64," in html
    assert (tmp_path / "medldr-demo" / "report" / "tables" / "accuracy.tex").is_file()
    typed = json.loads((tmp_path / "medldr-demo" / "runs" / "local" / "overdiagnosis_summary.json").read_text())
    assert typed["n_answers"] == 4 and typed["overdiagnosed"] > 0  # a 135M model overdiagnoses
    assert sum(typed["shares"].values()) == pytest.approx(1.0)
    assert (tmp_path / "medldr-demo" / "report" / "figures" / "overdiagnosis.png").is_file()


def test_option_errors_are_one_line_naming_the_option(tmp_path: Path) -> None:
    """Click's usage errors were a 5-line box under a usage banner (issue 14: 18 of 94 replayed probes); now one line
    naming the option and where help is, exit 2."""
    cases = str(tmp_path / "c.jsonl")
    for args, text in (
        (["build", "demo", "--threads", "0"], "Invalid value for '--threads': Input should be greater than or equal"),
        (["build", "demo", "--seed", "x"], "Invalid value for '--seed': Input should be a valid integer"),
        (["run", cases, "--model", "vllm:m", "--timeout", "nan"], "Invalid value for '--timeout'"),
        (["run", cases, "--model", "vllm:m", "--rounds", "0"], "Invalid value for '--rounds'"),
        (["score", str(tmp_path), "--resamples", "-5"], "Invalid value for '--resamples'"),
        (["train", "sft"], "Missing option '--config'"),
        (["build", "demo", "--nosuch"], "No such option: --nosuch"),
        (["compare"], "Missing argument 'runs'"),
    ):
        result = cli_in_process(*args)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, (args, result.stderr)
        assert lines[0].startswith("error: ") and text in lines[0], (args, lines[0])
        assert f"medldr {args[0]}" in lines[0] and "-h" in lines[0], lines[0]  # where to look


def test_help_lists_the_pipeline_and_shows_flags_as_flags() -> None:
    """Issue 19: commands were listed in registration order, flags rendered as `--force <bool>` (yet `--force true`
    failed), and a missing run folder got the hint "pass --cases" (also from commands without that option)."""
    listing = run_cli("-h").stdout
    names = [line.split()[0] for line in listing.split("Commands:")[1].splitlines() if line.strip()]
    assert names[:11] == [
        "build",
        "perturb",
        "prompts",
        "run",
        "baseline",
        "score",
        "compare",
        "overdiagnosis",
        "robustness",
        "report",
        "train",
    ]
    build = run_cli("build", "-h").stdout
    assert "<bool>" not in build and "--force " in build and "-q, --quiet" in build
    for command in ("score", "overdiagnosis"):
        missing = cli_in_process(command, "no-such-run")
        assert missing.returncode == 2 and missing.stderr.strip() == "error: no-such-run: no such run folder"


@needs_llama
def test_the_demo_shows_its_build_before_the_model_runs(tmp_path: Path) -> None:
    """Issue 19: the build summary appeared only after the whole demo (minutes later)."""
    from medldr.demo import run_demo

    seen: list[tuple[int, bool]] = []
    out = tmp_path / "demo"
    result = run_demo(
        out, rounds=1, limit=1, built=lambda m: seen.append((m.counts["inference"], (out / "runs").exists()))
    )
    assert seen == [(result.build.counts["inference"], False)]  # called once, before any run folder existed
