"""`medldr score` and `medldr compare` on demo cases, as a user runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from medldr._files import sha256_file
from medldr.schema import BuildManifest, ModelRef, RunIdentity, RunManifest, read_cases, resolve_label_space
from medldr.score.compare import holm
from tests.conftest import run_cli

KEYS = [
    "primary_accuracy",
    "exact_match",
    "jaccard",
    "precision",
    "recall",
    "f1",
    "hamming_loss",
    "miss_rate",
    "overdiagnosis_rate",
    "recall_at_3",
    "recall_at_5",
    "recall_at_10",
    "relevance_1",
    "relevance_2",
    "relevance_3",
    "relevance_4",
    "invalid_rate",
    "missed_codes",
    "overdiagnosed_codes",
    "mean_predictions",
]


def _run_dir(folder: Path, cases_file: Path, right_every: int, labels: str | None = None) -> Path:
    """A run folder whose answers are right for every ``right_every``-th case (wrong otherwise), 3 rounds; ``labels``:
    the label-space spec its manifest records (default: the build's)."""
    folder.mkdir(parents=True)
    cases = read_cases(cases_file)
    with open(folder / "responses.jsonl", "w") as fh:
        for r in range(3):
            for i, case in enumerate(cases):
                code = case.top_1_icd.code if i % right_every == 0 else "7802"
                body = {"top10": [code, "486"], "predictions": [code]}
                fh.write(json.dumps({"case_id": case.case_id, "round": r, "text": json.dumps(body)}) + "\n")
    manifest = RunManifest(
        run_id="by-hand",
        cases_file=str(cases_file),
        identity=RunIdentity(
            cases_sha256=sha256_file(cases_file),
            n_cases=len(cases),
            task="lab_num+",
            label_space=resolve_label_space(labels, cases_file),
            model=ModelRef.parse("openai-compatible:m"),
            rounds=3,
        ),
        data_use={},
        versions={},
        settings={},
        started_at="2026-01-01T00:00:00+00:00",
    )
    (folder / "manifest.json").write_text(manifest.model_dump_json())
    return folder


@pytest.fixture
def runs(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> tuple[Path, Path]:
    out, _ = demo_build
    return _run_dir(tmp_path / "good", out / "inference.jsonl", 1), _run_dir(
        tmp_path / "poor", out / "inference.jsonl", 3
    )


def test_score_a_run_folder(runs: tuple[Path, Path], demo_build: tuple[Path, BuildManifest]) -> None:
    good, _ = runs
    result = run_cli("score", str(good), "--resamples", "200")
    assert result.returncode == 0, result.stderr
    assert "primary_accuracy" in result.stdout
    scores = json.loads((good / "scores.json").read_text())
    assert [list(r)[2:] for r in scores["per_round"]] == [KEYS] * 3
    assert scores["rounds"] == [0, 1, 2] and set(scores["ci"]) == set(KEYS)
    assert scores["mean"]["primary_accuracy"] == 1.0 and scores["mean"]["invalid_rate"] == 0.0
    assert scores["label_space"] == demo_build[1].label_space.model_dump(mode="json")  # the build's, whole
    assert scores["reliability"]["consistency_top1"] == 1.0
    with open(good / "per_disease.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["primary_code"] for r in rows} == set(scores["per_disease"])
    assert all(float(r["primary_accuracy"]) == 1.0 for r in rows)
    with open(good / "per_label.csv") as fh:
        assert next(csv.reader(fh)) == ["code", "support", "tp", "fp", "fn", "precision", "recall", "f1"]


def test_score_explicit_files_with_paper40(runs: tuple[Path, Path], demo_build: tuple[Path, BuildManifest]) -> None:
    _, poor = runs
    out = poor / "elsewhere" / "scores.json"
    cases = demo_build[0] / "inference.jsonl"
    args = ["--cases", str(cases), "--responses", str(poor / "responses.jsonl"), "--out", str(out), "-q"]
    result = run_cli("score", *args, "--label-space", "paper40", "--extraction", "reference")
    assert result.returncode == 0, result.stderr
    scores = json.loads(out.read_text())
    assert len(scores["label_space"]["labels"]) == 40 and scores["extraction"] == "reference"
    assert 0.2 < scores["mean"]["primary_accuracy"] < 0.6


def test_score_errors_are_one_line(runs: tuple[Path, Path], tmp_path: Path) -> None:
    good, _ = runs
    with open(good / "responses.jsonl", "a") as fh:
        fh.write(json.dumps({"case_id": "1/2/3", "round": 0, "text": "x"}) + "\n")
    result = run_cli("score", str(good))
    assert result.returncode == 2 and "case 1/2/3 is not in the cases file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    (good / "responses.jsonl").write_text('{"case_id": "1/2/3", "round": "first"}\n')
    bad = run_cli("score", str(good))
    assert bad.returncode == 2 and "line 1: round" in bad.stderr
    nothing = run_cli("score", str(tmp_path))
    assert nothing.returncode == 2 and "no run manifest" in nothing.stderr


def test_compare_cli(runs: tuple[Path, Path], tmp_path: Path) -> None:
    good, poor = runs
    out = tmp_path / "compare.json"
    unscored = run_cli("compare", str(good), str(poor))
    assert unscored.returncode == 2 and "no scores; run `medldr score" in unscored.stderr
    for run in runs:
        assert run_cli("score", str(run), "--resamples", "50", "-q").returncode == 0
    result = run_cli(
        "compare", str(good), str(poor), "--metric", "primary_accuracy", "--metric", "jaccard", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    comparison = json.loads(out.read_text())
    accuracy, jaccard = comparison["differences"]
    assert accuracy["value"] > 0.4 and accuracy["p"]["mcnemar_clustered"] < 0.1  # few patients: few clusters
    raw = [accuracy["p"]["permutation"], jaccard["p"]["permutation"]]
    assert [accuracy["p_holm"]["permutation"], jaccard["p_holm"]["permutation"]] == holm(raw)
    assert "clustered McNemar" in " ".join(result.stdout.split())
    no_groups = run_cli("compare", str(good), str(poor), "--resample-models")
    assert no_groups.returncode == 2 and "--resample-models: give the groups" in no_groups.stderr
    typo = run_cli("compare", str(good), str(poor), "--unit", "patients")
    assert typo.returncode == 2 and "--unit 'patients': expected patient or case" in typo.stderr
    unknown = run_cli("compare", str(good), str(poor), "--metric", "accuracy")
    assert unknown.returncode == 2 and "valid: primary_accuracy" in unknown.stderr


def test_a_run_on_cases_without_a_build_manifest_scores_and_compares(
    demo_build: tuple[Path, BuildManifest], tmp_path: Path
) -> None:
    """The run's recorded label space is the one it is scored in; compare reads the scored numbers."""
    from medldr.icd import PAPER40

    loose = tmp_path / "loose" / "cases.jsonl"
    loose.parent.mkdir()
    loose.write_bytes((demo_build[0] / "inference.jsonl").read_bytes())  # no build_manifest.json beside it
    first = _run_dir(tmp_path / "a", loose, 1, labels="paper40")
    second = _run_dir(tmp_path / "b", loose, 2, labels="paper40")
    for run in (first, second):
        scored = run_cli("score", str(run), "--resamples", "20", "-q")
        assert scored.returncode == 0, scored.stderr
        space = json.loads((run / "scores.json").read_text())["label_space"]
        assert [label["code"] for label in space["labels"]] == list(PAPER40) and space["system"] == "icd9"
    compared = run_cli("compare", str(first), str(second), "--resamples", "50")
    assert compared.returncode == 0, compared.stderr
    other = run_cli("score", str(second), "--label-space", "top50", "--resamples", "20", "-q")
    assert other.returncode == 2  # a top-N list needs the build that chose it
