"""Edge statistics a reviewer can trust (issue 19): 0 of N is not '0.0 [0.0, 0.0]' (the percentile bootstrap
collapses; the exact Clopper-Pearson interval over the patients is given), and reliability over zero cases is
absent, not 0."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medldr.schema import read_cases
from tests.conftest import run_cli


def _answer_all(run: Path, tmp_path: Path, text: str | None) -> Path:
    """Every answer ``text``, or (None) one label code the case does not have: never the primary."""
    folder = tmp_path / "run"
    shutil.copytree(run, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    gold = {c.case_id: set(c.output_dict.output_icd_id) for c in read_cases(Path(manifest["cases_file"]))}
    labels = [label["code"] for label in manifest["identity"]["label_space"]["labels"]]
    lines = [json.loads(line) for line in (folder / "responses.jsonl").read_text().splitlines()]
    for record in lines:
        if record.get("kind") != "header":
            wrong = next(code for code in labels if code not in gold[record["case_id"]])
            record["text"] = text or json.dumps({"top10": [wrong], "predictions": [wrong]})
    (folder / "responses.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    assert run_cli("score", str(folder), "-q").returncode == 0
    return folder


def test_zero_of_n_gets_an_exact_interval(scored_runs: list[Path], tmp_path: Path) -> None:
    folder = _answer_all(scored_runs[1], tmp_path, None)
    scores = json.loads((folder / "scores.json").read_text())
    n = scores["n_patients"]
    assert scores["mean"]["primary_accuracy"] == 0.0
    low, high = scores["ci"]["primary_accuracy"]
    assert low == 0.0 and high == pytest.approx(1 - 0.025 ** (1 / n)) and high > 0.02
    assert "primary_accuracy" in scores["bootstrap"]["exact_clopper_pearson"]
    assert scores["mean"]["invalid_rate"] == 0.0 and scores["ci"]["invalid_rate"][1] > 0  # 0 invalid of N, too
    assert scores["mean"]["exact_match"] == 0.0 and scores["ci"]["exact_match"][1] > 0.02


def test_reliability_over_no_case_is_absent(scored_runs: list[Path], tmp_path: Path) -> None:
    folder = _answer_all(scored_runs[1], tmp_path, "I cannot tell.")
    scores = json.loads((folder / "scores.json").read_text())
    assert scores["mean"]["invalid_rate"] == 1.0 and scores["reliability"] is None
    assert scores["ci"]["invalid_rate"][0] < 1.0  # N of N invalid: exact interval, not [1, 1]
