"""The typed contract between stages (issue 31): one reader of label-space specs for every stage and source, the label
space carried whole (codes, names, revision) from the build to the report, one model id split, a price that is
unknown never counted as zero, and files of earlier releases still read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from medldr.errors import MedldrError
from medldr.icd import parse_label_spec
from medldr.run.job import run_totals
from medldr.run.prices import BUILT_IN, cost_usd
from medldr.schema import BuildManifest, ModelRef, RunIdentity, read_run_manifest, read_scores, resolve_label_space
from tests.conftest import cli_in_process
from tests.run.fake_openai import FakeOpenAI


def test_one_reader_of_label_specs_knows_both_revisions(tmp_path: Path) -> None:
    eicu = parse_label_spec("eicu74")
    assert eicu.system == "icd10" and len(eicu.codes) == 74 and eicu.codes[0] == "A419"  # dots dropped, as compared
    assert parse_label_spec("paper40").system == "icd9" and parse_label_spec("top20").n == 20
    ten = tmp_path / "ten.txt"
    ten.write_text("J96.00  # respiratory failure\nE87.6: hypokalemia\nI10\nA41\n")
    space = parse_label_spec(str(ten)).fixed()
    assert space.system == "icd10" and space.codes == ("J9600", "E876", "I10", "A41")
    assert space.names["I10"] == "Essential (primary) hypertension" and space.revision == "ICD-10"
    nine = tmp_path / "nine.txt"
    nine.write_text("584.9\n486\nV45.81\n")
    assert parse_label_spec(str(nine)).fixed().system == "icd9"
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("5849\nJ9600\n")
    with pytest.raises(MedldrError, match=r"mixed.txt: mixes ICD-9 \(line 1: 5849\) and ICD-10 \(line 2: J9600\)"):
        parse_label_spec(str(mixed))
    bad = tmp_path / "bad.txt"
    bad.write_text("486\nXYZ99\n")
    with pytest.raises(MedldrError, match=r"bad.txt: line 2: XYZ99 is neither an ICD-9 nor an ICD-10-CM"):
        parse_label_spec(str(bad))


def test_the_study_label_spaces_resolve_without_a_build(tmp_path: Path, demo_build: tuple[Path, BuildManifest]) -> None:
    loose = tmp_path / "loose" / "cases.jsonl"  # the study's own files come with no build manifest
    loose.parent.mkdir()
    shutil.copyfile(demo_build[0] / "inference.jsonl", loose)
    eicu = resolve_label_space("eicu74", loose)
    assert eicu.system == "icd10" and eicu.names["J9600"].startswith("Acute respiratory failure")
    assert resolve_label_space("paper40", loose).system == "icd9"
    built = resolve_label_space(None, demo_build[0] / "inference.jsonl")
    assert built == demo_build[1].label_space and built.system == "icd9" and built.names["5849"]


def test_the_model_id_is_split_once() -> None:
    assert ModelRef.parse("openai:gpt-4.1") == ModelRef(provider="openai", id="gpt-4.1")
    assert str(ModelRef.parse("gguf:/models/a:b.gguf")) == "gguf:/models/a:b.gguf"
    assert str(ModelRef.parse("local")) == "local" and ModelRef.parse("local").id == ""


def test_a_price_unknown_is_none_never_zero() -> None:
    assert cost_usd("vllm:my-model", 1000, 100, BUILT_IN) is None
    assert cost_usd("openai:gpt-4.1", 1_000_000, 0, BUILT_IN) == 2.0
    answer = {"case_id": "1/1/0", "round": 0, "valid": True, "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
    assert run_totals([answer], None, "vllm:my-model")["cost_usd"] is None
    assert run_totals([answer], {"my-model": {"input": 0.0, "output": 0.0}}, "vllm:my-model")["cost_usd"] == 0.0


def _legacy(manifest_path: Path) -> None:
    """Rewrite a run manifest's identity as releases before the typed identity wrote it: the model as one string,
    the label space as its bare codes, every setting written out."""
    data = json.loads(manifest_path.read_text())
    identity = data["identity"]
    identity["model"] = f"{identity['model']['provider']}:{identity['model']['id']}"
    identity["label_space"] = [label["code"] for label in identity["label_space"]["labels"]]
    identity.setdefault("retry_invalid", 0)
    manifest_path.write_text(json.dumps(data))


def test_files_of_earlier_releases_still_load_resume_and_score(
    tmp_path: Path, demo_build: tuple[Path, BuildManifest]
) -> None:
    demo_cases = demo_build[0] / "inference.jsonl"
    run = tmp_path / "run"
    args = ("run", str(demo_cases), "--model", "vllm:m", "--rounds", "1", "--out", str(run), "--quiet")
    with FakeOpenAI(answer='{"top10": ["5849"], "predictions": ["5849"]}') as server:
        assert cli_in_process(*args, "--base-url", server.url).returncode == 0
        asked = server.requests
        _legacy(run / "manifest.json")
        legacy = read_run_manifest(run / "manifest.json").identity
        assert isinstance(legacy, RunIdentity) and legacy.label_space.spec == "unrecorded"
        again = cli_in_process(*args, "--base-url", server.url)
        assert again.returncode == 0, again.stderr  # the same experiment: resumed, nothing asked again
        assert server.requests == asked
    assert cli_in_process("score", str(run), "--resamples", "20", "-q").returncode == 0
    scores_path = run / "scores.json"
    scores = json.loads(scores_path.read_text())
    assert scores["label_space"]["system"] == "icd9" and scores["label_space"]["labels"][0]["name"]
    scores["label_space"] = [label["code"] for label in scores["label_space"]["labels"]]  # an earlier release's
    scores_path.write_text(json.dumps(scores))
    assert read_scores(scores_path).label_space.system == "icd9"


def test_an_unpriced_run_is_reported_unknown_not_free(tmp_path: Path, demo_build: tuple[Path, BuildManifest]) -> None:
    demo_cases = demo_build[0] / "inference.jsonl"
    run = tmp_path / "run"
    with FakeOpenAI(answer='{"top10": ["5849"], "predictions": ["5849"]}') as server:
        ran = cli_in_process(
            "run", str(demo_cases), "--model", "vllm:m", "--rounds", "1", "--out", str(run), "--base-url", server.url
        )
    assert ran.returncode == 0 and "cost unknown" in ran.stdout and "$0.00" not in ran.stdout
    assert json.loads((run / "manifest.json").read_text())["totals"]["cost_usd"] is None
    assert cli_in_process("score", str(run), "--resamples", "20", "-q").returncode == 0
    assert cli_in_process("report", str(run), "--out", str(tmp_path / "report"), "-q").returncode == 0
    tables = tmp_path / "report" / "tables"
    for name in ("runs", "usage"):
        assert "unknown" in (tables / f"{name}.md").read_text() and "$0.00" not in (tables / f"{name}.md").read_text()
    usage = (tables / "usage.csv").read_text().splitlines()
    assert usage[1].split(",")[usage[0].split(",").index("cost_usd")] == ""  # no number, not 0
    assert not (tmp_path / "report" / "figures" / "cost_accuracy.png").exists()  # not drawn as free


def test_the_study_eicu_format_is_a_model_of_the_contract(tmp_path: Path) -> None:
    from medldr.schema import read_cases

    record = {"case_id": 7, "input": {"patient_info": "gender: Female"}, "output": {"primary_diseases": []}}
    path = tmp_path / "inference_study.json"
    path.write_text(json.dumps([record]))
    with pytest.raises(MedldrError, match=r"record 0 \(case 7\): output: no all_diseases list"):
        read_cases(path)
