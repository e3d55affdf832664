"""Non-LLM baselines (issue 23): trained on the build's train split, answering as a one-round run that score,
compare and report read like a model's; the labs baseline learns (it beats the prior on its own training split)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medldr.baselines.features import lab_features, micro_features
from medldr.schema import BuildManifest
from tests.conftest import run_cli


def test_features_read_the_rendered_tables() -> None:
    labs = (
        "The following lab tests are available for the patient:\n"
        "labevents name,measurement fluid,measurement category,value,valueuom,lower_bound,upper_bound\n"
        "Calcium, Total,Blood,Chemistry,7.6,mg/dL,8.4,10.3\n"
        "Creatinine,Blood,Chemistry,3.1,mg/dL,0.4,1.1\n"
        "INR(PT),Blood,Hematology,nan,nan,0.9,1.1\n"
    )
    assert lab_features(labs) == {
        "lab:Calcium, Total|Blood": 7.6,
        "lab:Calcium, Total|Blood:low": 1.0,
        "lab:Calcium, Total|Blood:high": 0.0,
        "lab:Creatinine|Blood": 3.1,
        "lab:Creatinine|Blood:low": 0.0,
        "lab:Creatinine|Blood:high": 1.0,
    }
    micro = (
        "The microbiology tests for the patient:\n"
        "test name,used specimen,grew organism,test antibiotic,antibiotic sensitivity,Comments\n"
        "Blood Culture, Routine,BLOOD CULTURE,staph aureus coag +,OXACILLIN,S,NaN\n"
        "URINE CULTURE,URINE,NaN,NaN,NaN,no growth, final.\n"
    )
    assert micro_features(micro) == {"organism=staph aureus coag +": 1.0}


@pytest.fixture(scope="module")
def baselines(demo_build: tuple[Path, BuildManifest], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("baselines")
    folders = {}
    for kind in ("prior", "labs"):
        folders[kind] = root / kind
        made = run_cli("baseline", str(demo_build[0]), "--kind", kind, "--out", str(folders[kind]))
        assert made.returncode == 0, made.stderr
        assert f"baseline {kind}: {demo_build[1].counts['inference']} cases answered" in made.stdout
        scored = run_cli("score", str(folders[kind]), "-q", "--resamples", "200")
        assert scored.returncode == 0, scored.stderr
    return folders


def test_a_baseline_is_a_run_that_scores(baselines: dict[str, Path], demo_build: tuple[Path, BuildManifest]) -> None:
    for kind, folder in baselines.items():
        scores = json.loads((folder / "scores.json").read_text())
        assert scores["n_cases"] == demo_build[1].counts["inference"] and scores["rounds"] == [0]
        assert scores["mean"]["invalid_rate"] == 0.0
        manifest = json.loads((folder / "manifest.json").read_text())
        assert (
            manifest["identity"]["model"] == {"provider": "baseline", "id": kind}
            and manifest["identity"]["task"] == "lab_num+"
        )
        assert len(manifest["identity"]["trained_on"]["train_sha256"]) == 64
        assert manifest["settings"]["trained_cases"] == demo_build[1].counts["train"]
    prior = [json.loads(line) for line in (baselines["prior"] / "responses.jsonl").read_text().splitlines()[1:]]
    assert len({r["text"] for r in prior}) == 1  # the prior answers every case alike


def test_the_same_command_gives_the_same_answers(
    baselines: dict[str, Path], demo_build: tuple[Path, BuildManifest], tmp_path: Path
) -> None:
    again = run_cli("baseline", str(demo_build[0]), "--kind", "labs", "--out", str(tmp_path / "labs"), "-q")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "labs" / "responses.jsonl").read_bytes() == (baselines["labs"] / "responses.jsonl").read_bytes()


def test_the_labs_baseline_learns(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    """On its own training split the classifier must beat code frequencies (it learned something from the labs);
    not a claim about unseen cases."""
    means = {}
    for kind in ("prior", "labs"):
        out = tmp_path / kind
        args = ["--kind", kind, "--cases", str(demo_build[0] / "train.jsonl"), "--out", str(out), "-q"]
        assert run_cli("baseline", str(demo_build[0]), *args).returncode == 0
        assert run_cli("score", str(out), "-q", "--resamples", "0").returncode == 0
        means[kind] = json.loads((out / "scores.json").read_text())["mean"]
    assert means["labs"]["jaccard"] > means["prior"]["jaccard"]
    assert means["labs"]["recall_at_10"] > means["prior"]["recall_at_10"]


def test_baselines_sit_beside_models_in_compare_and_report(
    baselines: dict[str, Path], scored_runs: list[Path], tmp_path: Path
) -> None:
    compared = run_cli("compare", str(scored_runs[0]), str(baselines["labs"]), "--out", str(tmp_path / "c.json"))
    assert compared.returncode == 0, compared.stderr
    assert json.loads((tmp_path / "c.json").read_text())["differences"]
    report = run_cli(
        "report", str(scored_runs[0]), str(baselines["prior"]), str(baselines["labs"]), "-o", str(tmp_path)
    )
    assert report.returncode == 0, report.stderr
    runs = (tmp_path / "tables" / "runs.csv").read_text()
    assert "baseline:prior" in runs and "baseline:labs" in runs
    accuracy = (tmp_path / "tables" / "accuracy.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in accuracy[1:]] == ["strong", "prior (baseline)", "labs (baseline)"]


def test_bad_baseline_input_is_one_line(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    from tests.conftest import cli_in_process

    for args, text in (
        ([str(demo_build[0]), "--kind", "forest"], "--kind 'forest': expected prior or labs"),
        ([str(tmp_path), "--kind", "prior"], "train.jsonl: no such cases file"),
        ([str(demo_build[0]), "--kind", "prior", "--task", "everything"], "task 'everything'"),
    ):
        result = cli_in_process("baseline", *args, "--out", str(tmp_path / "out"))
        assert result.returncode == 2 and text in result.stderr and len(result.stderr.strip().splitlines()) == 1
