"""A small MIMIC-IV with ED and note modules, written by the test, whose every expected field is worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from medldr.assemble import BuildConfig, build_cases
from medldr.schema import BuildManifest, Case, read_cases
from medldr.sources import open_mimic
from tests.mimic_tables import mini_mimic


def _all_cases(out: Path) -> dict[str, Case]:
    return {c.case_id: c for s in ("train", "validation", "test") for c in read_cases(out / f"{s}.jsonl")}


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mini_mimic(tmp_path_factory.mktemp("mimic"))


@pytest.fixture(scope="module")
def built(mini: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildManifest]:
    out = tmp_path_factory.mktemp("cases")
    return out, build_cases(open_mimic(mini), out, BuildConfig(label_space="paper40", window="ed"))


def test_cohort_labels_and_drops(built: tuple[Path, BuildManifest]) -> None:
    out, manifest = built
    cases = _all_cases(out)
    assert sorted(cases) == ["1/101/1001", "2/200/2000"]
    case = cases["1/101/1001"]
    # N179 -> 5849 (primary), I5033 -> 42833; E119 -> 25000 is outside paper40; I10 has seq_num 4
    assert case.output_dict.output_icd_id == ["5849", "42833"]
    assert case.output_dict.output_icd_id_and_name[0] == "5849:Acute kidney failure, unspecified"
    assert case.top_1_icd.code == "5849"
    assert case.history_icd == ["25000", "4019"]
    assert cases["2/200/2000"].history_icd == []
    assert manifest.counts["cohort"] == 5  # patient 5 never came through the ED
    assert {d.reason: d.count for d in manifest.dropped} == {
        "no numeric lab result with reference range in the window": 2,
        "primary ICD-10 code has no ICD-9 mapping": 1,
    }
    assert manifest.unmapped_icd10 == {"U071": 1}
    assert manifest.label_space.spec == "paper40" and len(manifest.label_space) == 40
    assert "ed.edstays" in manifest.cohort_rule and not manifest.fields_absent


def test_lab_rule_earliest_result_per_test(built: tuple[Path, BuildManifest]) -> None:
    out, _ = built
    lab = _all_cases(out)["1/101/1001"].input_dict.lab
    assert lab.splitlines()[2:] == [
        "Creatinine,Blood,Chemistry,2.1,mg/dL,0.5,1.2",  # 9.9 was before ED arrival; 1.5 is later
        "Potassium,Blood,Chemistry,4.2,mEq/L,3.3,5.1",  # the cancelled 07:00 result is skipped
        "Beta-two Microglobulin,Blood,Chemistry,3.0,mg/L,0.8,2.2",
    ]  # troponin: earliest '<0.01' is not numeric, no fall-back; sodium after discharge; Hb without range


def test_lab_rule_all_results(mini: Path, tmp_path: Path) -> None:
    build_cases(open_mimic(mini), tmp_path, BuildConfig(label_space="paper40", labs="all", window="ed"))
    lab = _all_cases(tmp_path)["1/101/1001"].input_dict.lab
    assert lab.splitlines()[2:] == [
        "Creatinine,Blood,Chemistry,2.1,mg/dL,0.5,1.2",
        "Potassium,Blood,Chemistry,4.2,mEq/L,3.3,5.1",
        "Beta-two Microglobulin,Blood,Chemistry,3.0,mg/L,0.8,2.2",
        "Creatinine,Blood,Chemistry,1.5,mg/dL,0.5,1.2",
        "Troponin T,Blood,Chemistry,0.05,ng/mL,0.0,0.01",
    ]


def test_ed_and_microbiology_fields(built: tuple[Path, BuildManifest]) -> None:
    out, _ = built
    case = _all_cases(out)["1/101/1001"].input_dict
    assert case.ed_info == (
        "The ED info:\ngender,age approximation,temperature,heartrate,resprate,oxygen saturation,"
        "systolic blood pressure,diastolic blood pressure,pain level\nM,71,98.6,88.0,18.0,97.0,140.0,85.0,5\n"
    )
    assert case.ed_chiefcomplaint == "The chief complaint: Dyspnea, Leg swelling"
    assert case.micro_info.splitlines()[2:] == [
        "Blood Culture, Routine,BLOOD CULTURE,staph aureus coag +,OXACILLIN,resistant,",
        "Blood Culture, Routine,BLOOD CULTURE,staph aureus coag +,VANCOMYCIN,sensitive,",
        "URINE CULTURE,URINE,,NaN,NaN,no growth.",  # a test without antibiotics keeps its earliest row only
    ]
    other = _all_cases(out)["2/200/2000"].input_dict
    assert other.ed_chiefcomplaint == "The chief complaint: None"  # ED stay without a triage row
    assert other.micro_info == "The microbiology tests for the patient: None"


def test_note_sections_without_leakage(built: tuple[Path, BuildManifest]) -> None:
    out, _ = built
    case = _all_cases(out)["1/101/1001"]
    fields = case.input_dict
    assert fields.past_medical_history.startswith("The past medical history: - Hypertension")
    assert "PAST SURGICAL HISTORY" in fields.past_medical_history and "Social" not in fields.past_medical_history
    assert fields.family_history == (
        "The family history: Mother with coronary artery disease, died of MI at ___. Father with\nCOPD."
    )
    assert fields.hpi_text.startswith("The history of present illness : Mr. ___ is a ___ year old man")
    assert fields.physical_text.startswith("The physical exam on admission : ADMISSION PHYSICAL EXAM:")
    assert "2+ pitting edema" in fields.physical_text and "98.1" not in fields.physical_text
    assert fields.report == [
        "EXAMINATION:  CHEST (PA AND LAT)\n\nINDICATION:  ___ year old man with dyspnea  // eval for effusion\n\n"
        "TECHNIQUE:  Chest PA and lateral\n\nIMPRESSION: \n\nModerate pulmonary edema with bilateral effusions."
    ]
    everything = "\n".join((out / f"{s}.jsonl").read_text() for s in ("train", "validation", "test", "inference"))
    assert "LEAKSENTINEL" not in everything
    other = _all_cases(out)["2/200/2000"].input_dict
    assert other.past_medical_history == "The past medical history: None" and other.report == []


def test_plain_csv_and_parquet_read_the_same(mini: Path, built: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    """The same tables as .csv and .parquet give byte-identical cases."""
    out, _ = built
    con = duckdb.connect()
    for module in ("hosp", "ed", "note"):
        for table in (mini / module).glob("*.csv.gz"):
            name = table.name.removesuffix(".csv.gz")
            # CSV as plain text; parquet with the column types DuckDB infers (BIGINT ids, TIMESTAMPs), as a user's
            for suffix, fmt, all_varchar in (
                (".csv", "FORMAT CSV, HEADER", "true"),
                (".parquet", "FORMAT PARQUET", "false"),
            ):
                target = tmp_path / suffix.strip(".") / module / f"{name}{suffix}"
                target.parent.mkdir(parents=True, exist_ok=True)
                reader = f"read_csv('{table}', all_varchar={all_varchar})"
                con.execute(f"COPY (SELECT * FROM {reader}) TO '{target}' ({fmt})")
    for fmt in ("csv", "parquet"):
        build_cases(
            open_mimic(tmp_path / fmt), tmp_path / f"out-{fmt}", BuildConfig(label_space="paper40", window="ed")
        )
        for split in ("train", "validation", "test", "inference"):
            assert (tmp_path / f"out-{fmt}" / f"{split}.jsonl").read_bytes() == (out / f"{split}.jsonl").read_bytes()


def test_separate_module_folders_like_physionet(mini: Path, tmp_path: Path) -> None:
    """--ed and --note may point at PhysioNet's own release folders (which hold ed/ and note/)."""
    (tmp_path / "mimiciv" / "3.1").mkdir(parents=True)
    (tmp_path / "mimiciv" / "3.1" / "hosp").symlink_to(mini / "hosp")
    (tmp_path / "ed" / "2.2").mkdir(parents=True)
    (tmp_path / "ed" / "2.2" / "ed").symlink_to(mini / "ed")
    source = open_mimic(tmp_path / "mimiciv" / "3.1", ed=tmp_path / "ed" / "2.2", note=mini / "note")
    assert source.version == "3.1" and source.has("ed") and source.has("note")
    manifest = build_cases(source, tmp_path / "out", BuildConfig(label_space="paper40", window="ed"))
    assert manifest.source_version == "3.1" and manifest.counts["cases"] == 2
    record = json.loads((tmp_path / "out" / "train.jsonl").read_text().splitlines()[0])
    assert record["case_id"].endswith(("/1001", "/2000"))


def test_top_n_label_space(mini: Path, tmp_path: Path) -> None:
    """top-N counts cases per code among eligible cases, ties broken by code; primaries outside it are dropped."""
    manifest = build_cases(open_mimic(mini), tmp_path, BuildConfig(label_space="top2", window="ed"))
    assert [(label.code, label.count) for label in manifest.label_space.labels] == [("5849", 2), ("25000", 1)]
    assert sorted(_all_cases(tmp_path)) == ["1/101/1001"]
    assert _all_cases(tmp_path)["1/101/1001"].output_dict.output_icd_id == ["5849", "25000"]
    assert {d.reason: d.count for d in manifest.dropped}["primary diagnosis outside the label space"] == 1
