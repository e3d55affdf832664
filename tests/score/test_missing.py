"""No silent loss when scoring (issue 14): a run lacking a round, or a pair that only ever errored, is refused by
`score` and `overdiagnosis` unless --allow-missing, which then counts the missing answers in scores.json; an error
record never replaces an answer. Before, a missing round was left out and an errored pair scored as invalid."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli


def _copy(run: Path, tmp_path: Path, keep) -> tuple[Path, list[dict]]:
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    lines = [json.loads(line) for line in (folder / "responses.jsonl").read_text().splitlines()]
    kept = [r for r in lines if r.get("kind") == "header" or keep(r)]
    (folder / "responses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    return folder, lines


@pytest.mark.parametrize("command", ["score", "overdiagnosis"])
def test_a_missing_round_is_refused_then_counted(command: str, scored_runs: list[Path], tmp_path: Path) -> None:
    folder, _ = _copy(scored_runs[1], tmp_path, lambda r: r["round"] != 2)
    refused = run_cli(command, str(folder), "-q")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "round 2 has no answers (the run asked for 3 rounds); pass --allow-missing" in refused.stderr
    allowed = run_cli(command, str(folder), "-q", "--allow-missing")
    assert allowed.returncode == 0, allowed.stderr
    if command == "score":
        scores = json.loads((folder / "scores.json").read_text())
        assert len(scores["rounds"]) == 3 and scores["excluded"]["missing_answers"] == scores["n_cases"]


def test_a_pair_that_only_errored_is_missing(scored_runs: list[Path], tmp_path: Path) -> None:
    first = {}

    def errored(record: dict) -> bool:
        first.setdefault("pair", (record["case_id"], record["round"]))
        return (record["case_id"], record["round"]) != first["pair"]

    folder, _ = _copy(scored_runs[1], tmp_path, errored)
    case_id, round_ = first["pair"]
    with open(folder / "responses.jsonl", "a") as fh:
        fh.write(json.dumps({"case_id": case_id, "round": round_, "attempt": 0, "error": "HTTP 503"}) + "\n")
    refused = run_cli("score", str(folder), "-q")
    assert refused.returncode == 2 and f"no response for case {case_id} in round {round_}" in refused.stderr
    assert run_cli("score", str(folder), "-q", "--allow-missing").returncode == 0
    assert json.loads((folder / "scores.json").read_text())["excluded"]["missing_answers"] == 1


def test_an_error_after_an_answer_does_not_replace_it(scored_runs: list[Path], tmp_path: Path) -> None:
    folder, lines = _copy(scored_runs[1], tmp_path, lambda r: True)
    answer = next(r for r in lines if r.get("kind") != "header")
    with open(folder / "responses.jsonl", "a") as fh:  # a re-ask (--retry-invalid) that failed at the endpoint
        fh.write(json.dumps({"case_id": answer["case_id"], "round": answer["round"], "error": "timeout"}) + "\n")
    assert run_cli("score", str(folder), "-q").returncode == 0
    before = json.loads((scored_runs[1] / "scores.json").read_text())
    after = json.loads((folder / "scores.json").read_text())
    assert after["mean"] == before["mean"] and "missing_answers" not in after["excluded"]


@pytest.mark.parametrize("command", ["report", "compare"])
def test_scores_lacking_a_metric_are_one_line(command: str, scored_runs: list[Path], tmp_path: Path) -> None:
    """A scores.json whose mean lacks a metric (edited, or from another version) was a KeyError traceback."""
    folder = tmp_path / "run"
    shutil.copytree(scored_runs[0], folder)
    scores = json.loads((folder / "scores.json").read_text())
    del scores["mean"]["jaccard"]
    (folder / "scores.json").write_text(json.dumps(scores))
    args = [str(folder), str(scored_runs[1])] if command == "compare" else [str(folder), "--out", str(tmp_path / "r")]
    result = run_cli(command, *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "scores.json: lacks the metric jaccard" in result.stderr
