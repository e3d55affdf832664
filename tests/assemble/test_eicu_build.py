"""LDR-eICU from small eICU-CRD 2.0 tables in the official schema (tests/eicu_tables.py): the study's cohort rule,
its input rendering and lab aggregation, the multi-code icd9code field, patient-level splits, determinism, bad input
in one line, and the data-use guard treating eICU as credentialed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medldr.assemble import EicuConfig, build_eicu
from medldr.assemble.eicu import settings as eicu_settings
from medldr.assemble.eicu import split_codes
from medldr.errors import MedldrError
from medldr.icd import eicu74_labels
from medldr.run.guard import data_use_decision
from medldr.run.providers import get_provider
from medldr.schema import CASE_FILES, read_build_manifest, read_cases
from medldr.sources import open_eicu
from tests.conftest import cli_in_process
from tests.eicu_tables import write_eicu


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_eicu(tmp_path_factory.mktemp("eicu"))


def _cases(out: Path) -> dict[str, dict]:
    cases = {}
    for name in ("train", "validation", "test"):
        for case in read_cases(out / f"{name}.jsonl"):
            cases[case.case_id.split("/")[-1]] = case.model_dump(exclude_none=True) | {"split": name}
    return cases


def test_the_study_rule_and_rendering(raw: Path, tmp_path: Path) -> None:
    manifest = build_eicu(open_eicu(raw), tmp_path / "out", EicuConfig(threads=1))
    cases = _cases(tmp_path / "out")
    assert sorted(cases) == ["101", "102", "201", "401", "501"]  # 301 has no Major diagnosis
    assert {d.reason: d.count for d in manifest.dropped} == {"no Major diagnosis": 1, "no patient row": 4}
    first = cases["101"]
    assert first["case_id"] == "002-1/10/101"  # the patient first: resampling clusters a patient's stays
    assert first["input_dict"] == {
        "patient_info": "Patient demographics and basic information: gender: Male, age: 67",
        "past_history": "Patient's medical history and past conditions: Organ Systems/Cardiovascular (R)/Hypertension "
        "Requiring Treatment/hypertension requiring treatment, Organ Systems/Pulmonary/COPD/COPD  - moderate",
        "physical_exam": "Physical examination findings and clinical observations: [112: 112, 4: 4]",
        "lab_results": "Laboratory test results with timestamps and measurements:\n"
        "labresultoffset,labname,labresult,labmeasurenamesystem\n"
        "-30,potassium,3.1,mmol/L\n"  # before unit admission
        "0,bedside glucose_4h_avg,160.5,mg/dL\n"  # 150 and 171 in the same 4 h
        "65,pH,7.28,\n"  # the later blood gas of one 30-min window
        "200,sodium,135.0,mmol/L\n"  # the later (revised) sodium of 6 h; its duplicate row once
        "240,bedside glucose_4h_avg,98.0,mg/dL\n"
        "400,WBC x 1000,14.2,K/mcL\n",  # fibrinogen without a result: left out
    }
    output = first["output_dict"]
    assert output["output_icd_id"] == ["J9600", "A419", "E876"]  # ARF coded twice counts once; codes without dots
    assert first["top_1_icd"] == {"code": "J9600", "name": "pulmonary|respiratory failure|acute respiratory failure"}
    assert [d["name"].split("|")[-1] for d in output["primary_diseases"]] == ["acute respiratory failure"]
    assert output["all_diseases"][1] == {
        "name": "cardiovascular|shock / hypotension|sepsis",
        "icd9code": "038.9",
        "icd10code": "A41.9",
    }
    assert cases["102"]["input_dict"]["patient_info"].endswith("age: > 89")
    assert [d["icd10code"] for d in cases["201"]["output_dict"]["other_diseases"]] == ["E87.6"]  # no priority
    assert "lab_results" not in cases["501"]["input_dict"] and "unknown" in cases["501"]["input_dict"]["patient_info"]
    assert cases["401"]["output_dict"]["output_icd_id"] == ["A419", "I509"]  # its overdose code is no label
    assert cases["101"]["split"] == cases["102"]["split"]  # one patient, one split
    assert manifest.source == "eicu-crd" and manifest.label_space.spec == "eicu74" and len(manifest.label_space) == 74
    names = {label.code: label.name for label in manifest.label_space.labels}
    assert names["J9600"] == "pulmonary|respiratory failure|acute respiratory failure"  # from these tables
    assert names["R739"] == "Hyperglycemia, unspecified"  # no such string here: its ICD-10-CM title
    inference = [c.case_id for c in read_cases(tmp_path / "out" / "inference.jsonl")]
    assert inference and all(cases[i.split("/")[-1]]["split"] != "train" for i in inference)


def test_multi_code_fields_study_and_medldr(raw: Path, tmp_path: Path) -> None:
    """The study read "038.9, 995.92, A41.9, R65.20" as ICD-9 038.9 and ICD-10 995.92: stay 102's primary falls
    outside the label space and the stay is dropped; medldr reads A41.9."""
    medldr = _cases(tmp_path / "m") if build_eicu(open_eicu(raw), tmp_path / "m", EicuConfig(threads=1)) else {}
    built = cli_in_process("build", "eicu", "--root", str(raw), "--out", str(tmp_path / "s"), "--codes", "study", "-q")
    assert built.returncode == 0, built.stderr
    study = read_build_manifest(tmp_path / "s" / "build_manifest.json")
    assert medldr["102"]["top_1_icd"]["code"] == "A419"
    assert "102" not in _cases(tmp_path / "s")
    assert {d.reason: d.count for d in study.dropped}["primary ICD-10 code outside the label space"] == 1
    assert split_codes("427.31,I48.0") == ("427.31", "I48.0") and split_codes(None) == ("", "")


def test_top_strings_and_top_n_labels(raw: Path, tmp_path: Path) -> None:
    manifest = build_eicu(open_eicu(raw), tmp_path / "out", EicuConfig(top_strings=5, label_space="top3", threads=1))
    assert {d.reason for d in manifest.dropped} >= {"a coded diagnosis outside the top diagnosis strings"}
    assert "401" not in _cases(tmp_path / "out")  # its acetaminophen overdose is the rarest string
    # five codes on two stays each: ties go in code order; a stay whose primary is then no label is dropped
    assert manifest.label_space.codes == ("A419", "E876", "I480")
    assert manifest.label_space.labels[0].name == "cardiovascular|shock / hypotension|sepsis"
    assert manifest.label_space.system == "icd10"
    assert sorted(_cases(tmp_path / "out")) == ["102"]
    assert {d.reason: d.count for d in manifest.dropped}["primary ICD-10 code outside the label space"] == 3


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_same_bytes_from_every_file_form_and_every_run(raw: Path, tmp_path: Path, suffix: str) -> None:
    build_eicu(open_eicu(raw), tmp_path / "a", EicuConfig(threads=2))
    other = write_eicu(tmp_path / "raw", suffix)
    build_eicu(open_eicu(other), tmp_path / "b", EicuConfig(threads=1))
    for name in CASE_FILES:
        assert (tmp_path / "a" / f"{name}.jsonl").read_bytes() == (tmp_path / "b" / f"{name}.jsonl").read_bytes()


def test_bad_input_is_one_line(raw: Path, tmp_path: Path) -> None:
    broken = write_eicu(tmp_path / "broken", drop={"lab": "labresultrevisedoffset"})
    with pytest.raises(MedldrError, match=r"lab\.csv\.gz: table eicu/lab is missing column 'labresultrevisedoffset'"):
        open_eicu(broken)
    (tmp_path / "empty").mkdir()
    for table in ("patient", "diagnosis", "pastHistory", "physicalExam", "lab"):
        source = (raw / f"{table}.csv.gz").read_bytes()
        (tmp_path / "empty" / f"{table}.csv.gz").write_bytes(source)
    import gzip

    header = gzip.decompress((raw / "diagnosis.csv.gz").read_bytes()).splitlines()[0] + b"\n"
    (tmp_path / "empty" / "diagnosis.csv.gz").write_bytes(gzip.compress(header))
    with pytest.raises(MedldrError, match=r"diagnosis\.csv\.gz: table eicu/diagnosis is empty"):
        open_eicu(tmp_path / "empty")
    with pytest.raises(MedldrError, match="--window is an option of MIMIC builds"):
        eicu_settings({"window": "ed"})
    with pytest.raises(MedldrError, match="ICD-9 codes; an eICU build's labels are ICD-10"):
        eicu_settings({"label_space": "paper40"})
    with pytest.raises(MedldrError, match=r"--ratios: split ratios .* must be non-negative and sum to 1"):
        eicu_settings({"ratios": (0.5, 0.5, 0.5)})
    with pytest.raises(MedldrError, match="--memory-limit: 'lots' is not a size"):
        eicu_settings({"memory_limit": "lots"})
    result = cli_in_process("build", "eicu", "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "build eicu needs --root" in result.stderr and "Traceback" not in result.stderr
    result = cli_in_process("build", "eicu", "--root", str(raw), "--out", str(tmp_path / "y"), "--hours", "24")
    assert result.returncode == 2 and "--hours is an option of MIMIC builds" in result.stderr
    result = cli_in_process("build", "eicu", "--root", str(raw), "--out", str(tmp_path / "y"), "--codes", "icd9")
    assert result.returncode == 2 and "--codes: Input should be 'medldr' or 'study'" in result.stderr
    result = cli_in_process("build", "demo", "--out", str(tmp_path / "z"), "--codes", "study")
    assert result.returncode == 2 and "--codes is an option of eICU builds" in result.stderr


def test_cli_build_and_the_guard_treats_eicu_as_credentialed(
    raw: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli_in_process("build", "eicu", "--root", str(raw), "--out", str(tmp_path / "cases"), "--quiet")
    assert result.returncode == 0, result.stderr
    manifest = read_build_manifest(tmp_path / "cases" / "build_manifest.json")
    assert manifest.settings["label_space"] == "eicu74" and manifest.counts["cases"] == 5
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with pytest.raises(MedldrError, match="data-use rule: cases from eicu-crd count as credentialed"):
        data_use_decision(tmp_path / "cases" / "test.jsonl", get_provider("openai:gpt-4.1"), None, allow_sharing=False)
    local = data_use_decision(
        tmp_path / "cases" / "test.jsonl",
        get_provider("vllm:m", base_url="http://127.0.0.1:8000/v1"),
        "http://127.0.0.1:8000/v1",
        allow_sharing=False,
    )
    assert local["decision"] == "allowed"


def test_the_shipped_label_space_is_the_studys() -> None:
    labels = eicu74_labels()
    codes = [label.code for label in labels]
    assert len(codes) == 74 == len(set(codes)) and codes[0] == "A41.9" and codes[-1] == "R73.9"
    assert all(label.name and label.name != label.code for label in labels)
    assert json.loads(json.dumps(codes)) == sorted(codes)  # the study's map lists them in code order


def test_the_studys_format_is_written_and_read_unchanged(raw: Path, tmp_path: Path) -> None:
    from medldr.schema import to_study_eicu

    build_eicu(open_eicu(raw), tmp_path / "out", EicuConfig(threads=1))
    study_file = tmp_path / "out" / "inference_study.json"
    written = json.loads(study_file.read_text())
    ours = read_cases(tmp_path / "out" / "inference.jsonl")
    assert [r["case_id"] for r in written] == [c.case_id.split("/")[-1] for c in ours]
    assert set(written[0]) == {"case_id", "input", "output"}
    assert written[0]["output"]["all_diseases"][0]["icd10code"] == "J96.00"  # the study's dotted codes
    read_back = read_cases(study_file)
    assert [to_study_eicu(case) for case in read_back] == written  # read and written back unchanged
    first = read_back[0]
    assert first.case_id == "101/101/101"  # no patient id in the study's files: each stay its own patient
    assert first.top_1_icd.code == "J9600" and first.output_dict.output_icd_id == ["J9600", "A419", "E876"]
    assert first.input_dict.model_dump(exclude_none=True) == ours[0].input_dict.model_dump(exclude_none=True)
