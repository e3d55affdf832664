"""`medldr overdiagnosis` on runs of the demo's cases: every overdiagnosed code typed, shares summing to 1, the
evidence judge over a real local server (a fabricated quote is rejected and counted), resume, the data-use guard."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from medldr.errors import MedldrError
from medldr.judging import JudgeSettings, judge_typed
from medldr.schema import read_cases
from medldr.score.files import run_inputs
from medldr.score.overdiagnosis_files import type_run
from tests.conftest import run_cli
from tests.run.fake_openai import FakeOpenAI

FABRICATED = "patient reports crushing chest pain radiating to the jaw"


def _lines(path: Path) -> list[dict[str, Any]]:
    """A JSONL file's records (a store's header line left out)."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("kind") != "header"]


def _judge_answer(body: dict[str, Any]) -> str:
    """One real quote from the record the judge was shown, and one that is not in it."""
    record = body["messages"][-1]["content"].split("The record:\n", 1)[1]
    real = re.search(r"[A-Za-z][^\n]{12,40}", record).group(0)  # type: ignore[union-attr]
    return json.dumps({"verdict": "partly", "quotes": [real, FABRICATED], "explanation": "one finding fits"})


def test_typing_a_run(scored_runs: list[Path], tmp_path: Path) -> None:
    weak = scored_runs[2]
    result = run_cli("overdiagnosis", str(weak), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "temporal confusion" in result.stdout
    summary = json.loads((tmp_path / "overdiagnosis_summary.json").read_text())
    records = _lines(tmp_path / "overdiagnosis.jsonl")
    assert summary["overdiagnosed"] == len(records) > 0
    assert sum(summary["shares"].values()) == pytest.approx(1.0)
    scores = json.loads((weak / "scores.json").read_text())
    assert len(records) == pytest.approx(scores["mean"]["overdiagnosed_codes"] * len(scores["rounds"]))  # the metric
    assert summary["n_answers"] == scores["n_cases"] * 3
    # the study's rate is the metric's; without the S codes (coded for the stay below the top 3) it can only be lower
    assert summary["overdiagnosis_rate"] == pytest.approx(scores["mean"]["overdiagnosis_rate"])
    assert summary["overdiagnosis_rate_without_S"] <= summary["overdiagnosis_rate"] and summary["task"] == "lab_num+"
    cases = {c.case_id: c for c in read_cases(run_inputs(weak, None, None)[0])}
    for record in records:
        case = cases[record["case_id"]]
        assert record["code"] not in case.output_dict.output_icd_id and record["type"] in "ABCS"
        if record["relation"] == "history_icd":
            assert record["code"] in (case.history_icd or []) and record["type"] == "A"
        coded_low = {c.code for c in case.coded_icd or [] if c.seq_num > 3}
        assert (record["type"] == "S") == (record["code"] in coded_low)


def test_judge_rejects_a_fabricated_quote_and_resumes(scored_runs: list[Path], tmp_path: Path) -> None:
    weak = str(scored_runs[2])
    with FakeOpenAI(answer_for=_judge_answer) as server:
        args = [
            "overdiagnosis",
            weak,
            "--out",
            str(tmp_path),
            "--judge",
            "openai-compatible:judge",
            "--base-url",
            server.url,
            "--sample",
            "5",
            "--seed",
            "3",
        ]
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        asked = server.requests
        again = run_cli(*args)
        assert again.returncode == 0, again.stderr
        assert server.requests == asked == 5  # the second run found every judgement stored
    answers = _lines(tmp_path / "judge.jsonl")  # the judge's raw answers, as a run stores a model's
    assert len(answers) == 5 and all(a["valid"] and a["text"] and a["latency_s"] >= 0 for a in answers)
    summary = json.loads((tmp_path / "overdiagnosis_summary.json").read_text())["judge"]
    assert summary["asked"] == 5 and summary["quotes_rejected"] == 5 and summary["judgements_with_rejected_quote"] == 5
    assert summary["verdicts"]["partly"] == 5 and summary["data_use"]["decision"] == "allowed"
    judged = [r for r in _lines(tmp_path / "overdiagnosis.jsonl") if "judge" in r]
    assert len(judged) == 5 and all(r["type"] == "A" for r in judged)
    for record in judged:  # the score stage checked every quote against the record
        assert record["judge"]["valid"] and record["judge"]["verdict"] == "partly"
        assert record["judge"]["quotes_rejected"] == [FABRICATED] and len(record["judge"]["quotes_verified"]) == 1
    manifest = json.loads((tmp_path / "judge_manifest.json").read_text())  # the runner's manifest, kind judge
    assert manifest["kind"] == "judge" and manifest["totals"]["answers"] == 5 and manifest["totals"]["unanswered"] == 0
    assert manifest["identity"]["model"] == {"provider": "openai-compatible", "id": "judge"} and manifest["finished_at"]
    prompt = manifest["settings"]["prompt"]
    assert len(manifest["identity"]["prompt_sha256"]) == 64 and "verbatim" in prompt["system"]
    assert prompt["schema"]["required"] == ["verdict", "quotes", "explanation"]
    other = run_cli(*args[:-1], "4")  # another seed into the same folder
    assert other.returncode == 2 and "holds a different judge run (differs in seed)" in other.stderr
    (tmp_path / "judge_manifest.json").write_text("{not json")  # damaged by hand
    damaged = run_cli(*args)
    assert damaged.returncode == 2 and "judge_manifest.json: not a run manifest" in damaged.stderr
    assert "Traceback" not in damaged.stderr


def test_judge_follows_the_data_use_rule(
    scored_runs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test build is of MIMIC-IV tables (not the bundled demo), so it counts as credentialed."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    inputs = run_inputs(scored_runs[0], None, None)
    with pytest.raises(MedldrError, match="data-use rule"):
        judge_typed(type_run(inputs), inputs, tmp_path, JudgeSettings("openai:gpt-4.1"), run_dir=scored_runs[0])
    assert not (tmp_path / "judge.jsonl").exists()
    for path in tmp_path.rglob("*"):
        assert "sk-test-not-a-key" not in path.read_text()


def test_option_errors_are_one_line(scored_runs: list[Path], tmp_path: Path) -> None:
    result = run_cli("overdiagnosis", str(scored_runs[0]), "--sample", "3", "--out", str(tmp_path))
    assert result.returncode == 2 and "--judge" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("overdiagnosis", "--out", str(tmp_path))
    assert result.returncode == 2 and "run folder" in result.stderr


def test_a_damaged_run_manifest_is_one_line_for_the_judge(scored_runs: list[Path], tmp_path: Path) -> None:
    """The judge reads the task from the run manifest: a damaged one is named, not a traceback."""
    run = tmp_path / "run"
    shutil.copytree(scored_runs[0], run)
    inputs = run_inputs(run, None, None)
    (run / "manifest.json").write_text('{"kind": "run", "identity": ')  # damaged by hand
    with pytest.raises(MedldrError, match=r"manifest.json: not a run manifest"):
        judge_typed(type_run(inputs), inputs, tmp_path / "typed", JudgeSettings("vllm:judge"), run_dir=run)


def test_judge_retries_through_the_runners_policy(scored_runs: list[Path], tmp_path: Path) -> None:
    """The judge asks through the run stage's one retry loop: a 503 and a 429 before the answers are waited out,
    and every judgement is stored without an error record (with SDK and server-route retries gone, the judge had
    none of its own)."""
    scripted = [(503, {"retry-after-ms": "10"}), (429, {"retry-after-ms": "10"})]
    with FakeOpenAI(answer_for=_judge_answer, scripted=scripted) as server:
        result = run_cli(
            "overdiagnosis",
            str(scored_runs[2]),
            "--out",
            str(tmp_path),
            "--judge",
            "openai-compatible:judge",
            "--base-url",
            server.url,
            "--sample",
            "2",
            "--concurrency",
            "1",
        )
        assert result.returncode == 0, result.stderr
        assert server.requests == 4
    judgements = _lines(tmp_path / "judge.jsonl")
    assert len(judgements) == 2 and not any(j.get("error") for j in judgements)


def test_the_judge_stops_on_a_fatal_error_and_times_out_per_attempt(scored_runs: list[Path], tmp_path: Path) -> None:
    """The judge runs on the run stage's execution, so it keeps the runner's rules: a refused request (401) stops
    it at once with one line (it used to record the error and ask every other code too), and --timeout bounds each
    attempt (an endpoint that never answers is an error record, asked again on the next run)."""
    args = ["overdiagnosis", str(scored_runs[2]), "--judge", "openai-compatible:judge", "--sample", "4"]
    with FakeOpenAI(answer_for=_judge_answer, scripted=[(401, {})] * 4) as server:
        result = run_cli(*args, "--out", str(tmp_path / "a"), "--base-url", server.url, "--concurrency", "1")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "refused the request (EndpointRefused: HTTP 401: scripted 401); judge stopped" in result.stderr
        assert server.requests == 1
    with FakeOpenAI(answer_for=_judge_answer, delay=2.0) as server:
        result = run_cli(*args, "--out", str(tmp_path / "b"), "--base-url", server.url, "--timeout", "0.2")
    assert result.returncode == 0, result.stderr
    errors = _lines(tmp_path / "b" / "judge.jsonl")
    assert len(errors) == 4 and all("Timeout" in e["error"] for e in errors)
    manifest = json.loads((tmp_path / "b" / "judge_manifest.json").read_text())
    assert manifest["totals"]["unanswered"] == 4


def test_nothing_under_score_calls_a_model() -> None:
    """The score stage never imports the run stage (the judge's asking is the run stage's, composed by
    medldr.judging)."""
    import ast

    score = Path(__file__).resolve().parents[2] / "src" / "medldr" / "score"
    for module in score.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            assert not any(name.startswith("medldr.run") for name in names), module.name


def test_typing_without_medspacy_says_how_to_install_it(scored_runs: list[Path], tmp_path: Path) -> None:
    """medspaCy is installed with --no-deps (README): where it is missing, the first past-history text to read stops
    typing with one line naming the command (exit 2 through the CLI); cases without that text need no medspaCy."""
    import subprocess
    import sys

    hide = "import sys; sys.modules['medspacy'] = None\n"
    argv = ["overdiagnosis", str(scored_runs[2]), "--out", str(tmp_path / "typed")]
    without_history = hide + "from medldr.cli import main; sys.exit(main())"
    result = subprocess.run([sys.executable, "-c", without_history, *argv], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr  # the demo has no notes: nothing to read
    with_history = hide + (
        "from medldr.errors import MedldrError\n"
        "from medldr.mentions import find_condition\n"
        "try:\n    find_condition('4019', 'PMH: HTN')\nexcept MedldrError as err:\n    print(err)\n"
    )
    result = subprocess.run([sys.executable, "-c", with_history], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == (
        "reading clinical text (overdiagnosis typing, negate_finding) needs medspaCy: pip install --no-deps "
        "medspacy==1.3.1"
    )
