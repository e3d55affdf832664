"""Which events enter a case: the study's window exactly, medldr's ED window, a window that ends before treatment,
drug levels, the study's renderings, every coded diagnosis kept, and the profiles (small tables the test writes)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import pytest

from medldr.assemble import BuildConfig, build_cases
from medldr.schema import BuildManifest, Case, read_cases
from medldr.sources import open_mimic
from tests.conftest import run_cli
from tests.mimic_tables import mini_mimic, write_table

CASE = "1/101/1001"  # admitted 2150-06-01 10:00 after ED arrival at 06:00; discharge note 06-05 00:00, dischtime 12:00
LAB = dict(subject_id=1, hadm_id=101, valueuom="mEq/L", ref_range_lower=3.3, ref_range_upper=5.1)


def _extend(root: Path, table: str, rows: list[dict[str, object]]) -> None:
    with gzip.open(root / f"{table}.csv.gz", "rt", newline="", encoding="utf-8") as fh:
        existing = list(csv.DictReader(fh))
    write_table(root, table, [*existing, *rows])


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = mini_mimic(tmp_path_factory.mktemp("mimic"))
    _extend(
        root,
        "hosp/d_labitems",
        [dict(itemid=51009, label="Vancomycin", fluid="Blood", category="Chemistry")],
    )
    _extend(
        root,
        "hosp/labevents",
        [
            # sodium after the discharge note but before dischtime: not in the study's window
            {
                **LAB,
                "labevent_id": 40,
                "itemid": 50983,
                "charttime": "2150-06-05 06:00:00",
                "value": "139",
                "ref_range_lower": 133,
                "ref_range_upper": 145,
            },
            # potassium: the earliest in the study's window is not numeric, so no potassium (no fall-back)
            {**LAB, "labevent_id": 41, "itemid": 50971, "charttime": "2150-06-02 08:00:00", "value": "HEMOLYZED"},
            {**LAB, "labevent_id": 42, "itemid": 50971, "charttime": "2150-06-03 08:00:00", "value": "4.0"},
            # a vancomycin level two days in
            {
                **LAB,
                "labevent_id": 43,
                "itemid": 51009,
                "charttime": "2150-06-03 10:00:00",
                "value": "15",
                "valueuom": "ug/mL",
                "ref_range_lower": 10,
                "ref_range_upper": 20,
            },
        ],
    )
    _extend(
        root,
        "hosp/microbiologyevents",
        [
            dict(
                subject_id=1,
                hadm_id=101,
                microevent_id=6,
                chartdate="2150-06-02 00:00:00",
                charttime="2150-06-02 11:00:00",
                spec_type_desc="SPUTUM",
                test_name="GRAM STAIN",
            ),
        ],
    )
    _extend(
        root,
        "note/radiology",
        [
            dict(
                note_id="1-RR-3",
                subject_id=1,
                hadm_id=101,
                note_type="RR",
                note_seq=3,
                charttime="2150-06-02 12:00:00",
                storetime="2150-06-02 13:00:00",
                text="EXAMINATION: CT HEAD\nFINDINGS: no bleed.",
            ),
        ],
    )
    return root


def _case(out: Path) -> Case:
    cases = {c.case_id: c for s in ("train", "validation", "test") for c in read_cases(out / f"{s}.jsonl")}
    return cases[CASE]


def _labs(case: Case) -> dict[str, str]:
    lines = case.input_dict.lab.splitlines()[2:]
    return {line.split(",")[0]: line.split(",")[3] for line in lines}


@pytest.fixture(scope="module")
def built(mini: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Case, BuildManifest]]:
    out = {}
    for name, config in {
        "study": BuildConfig(label_space="paper40"),
        "ed": BuildConfig(label_space="paper40", window="ed"),
        "early": BuildConfig(label_space="paper40", hours=24, drop_drug_levels=True),
    }.items():
        folder = tmp_path_factory.mktemp(name)
        manifest = build_cases(open_mimic(mini), folder, config)
        out[name] = (_case(folder), manifest)
    return out


def test_study_window_takes_the_admissions_own_events_until_the_discharge_note(built: dict) -> None:
    case, manifest = built["study"]
    # creatinine: the ED draw without hadm_id (07:00) and everything before admittime are out; earliest is 1.5
    # troponin: the earliest in the window (06-02) is numeric; sodium after the note is out; potassium's earliest
    # in the window is not numeric, so potassium is left out rather than taking the later 4.0
    assert _labs(case) == {"Creatinine": "1.5", "Troponin T": "0.05", "Vancomycin": "15.0"}
    assert manifest.settings["window"] == "study" and "discharge note" in manifest.window


def test_ed_window_adds_the_ed_draws_and_events_to_dischtime(built: dict) -> None:
    case, _ = built["ed"]
    labs = _labs(case)
    assert labs["Creatinine"] == "2.1" and labs["Potassium"] == "4.2" and labs["Sodium"] == "139.0"
    assert "Troponin T" not in labs  # its earliest result (ED, "<0.01") is not numeric


def test_study_renderings(built: dict) -> None:
    study, ed = built["study"][0], built["ed"][0]
    assert "GRAM STAIN,SPUTUM,NaN,NaN,NaN,NaN" in study.input_dict.micro_info
    assert "GRAM STAIN,SPUTUM,,NaN,NaN," in ed.input_dict.micro_info
    assert "EXAMINATION: CT HEAD\nFINDINGS: no bleed." in study.input_dict.report  # no IMPRESSION after it: kept
    assert "EXAMINATION: CT HEAD" in ed.input_dict.report


def test_a_window_that_ends_before_treatment(built: dict) -> None:
    case, manifest = built["early"]
    assert _labs(case) == {"Creatinine": "1.5", "Troponin T": "0.05"}  # vancomycin (day 3) is past 24 h
    assert manifest.removed["lab lines removed (after --hours)"] >= 1
    assert manifest.removed["lab lines removed (drug levels)"] == 0  # the cut took it first
    assert "first 24 hours" in manifest.window


def test_drug_levels_are_dropped_and_counted(mini: Path, tmp_path: Path) -> None:
    manifest = build_cases(open_mimic(mini), tmp_path, BuildConfig(label_space="paper40", drop_drug_levels=True))
    assert "Vancomycin" not in _labs(_case(tmp_path))
    assert manifest.removed == {
        "lab lines removed (drug levels)": 1,
        "admissions with lab lines removed (drug levels)": 1,
    }


def test_every_coded_diagnosis_is_kept(built: dict) -> None:
    case, _ = built["study"]
    assert [(c.code, c.seq_num) for c in case.coded_icd] == [("5849", 1), ("42833", 2), ("25000", 3), ("4019", 4)]
    assert case.output_dict.output_icd_id == ["5849", "42833"]  # paper40 gold: 25000 is not in it
    published = json.loads(case.model_dump_json(exclude={"coded_icd"}))
    assert Case.model_validate(published).coded_icd is None  # MedLDR's JSON, without the field, still loads


def test_profiles(tmp_path: Path) -> None:
    assert BuildConfig.from_profile("study") == BuildConfig()
    ours = BuildConfig.from_profile("medldr", per_code=5)
    assert (ours.window, ours.hours, ours.drop_drug_levels, ours.per_code) == ("ed", 24.0, True, 5)
    done = run_cli("build", "demo", "--profile", "medldr", "--out", str(tmp_path / "ours"), "-q")
    assert done.returncode == 0, done.stderr
    settings = json.loads((tmp_path / "ours" / "build_manifest.json").read_text())["settings"]
    assert settings["window"] == "ed" and settings["hours"] == 24.0 and settings["drop_drug_levels"] is True
    for bad, message in (
        (["--profile", "paper"], "--profile 'paper': expected study or medldr"),
        (["--window", "icu"], "--window"),
        (["--hours", "0"], "--hours"),
    ):
        result = run_cli("build", "demo", *bad, "--out", str(tmp_path / "bad"), "-q")
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, bad
