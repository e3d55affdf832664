"""Small eICU-CRD 2.0 tables in the official schema (every column of the five tables the build reads, named and typed
as the eICU-CRD documentation lists them), with the awkward parts of the real data: offsets instead of times,
several ICD codes in one ``icd9code`` field, a missing priority, a diagnosis coded twice, a row without a code,
duplicate lab rows, a lab drawn before unit admission (negative offset), "Performed" placeholder rows."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import Any

PATIENT = ["patientunitstayid", "patienthealthsystemstayid", "gender", "age", "ethnicity", "hospitalid", "wardid",
           "apacheadmissiondx", "admissionheight", "hospitaladmittime24", "hospitaladmitoffset",
           "hospitaladmitsource", "hospitaldischargeyear", "hospitaldischargetime24", "hospitaldischargeoffset",
           "hospitaldischargelocation", "hospitaldischargestatus", "unittype", "unitadmittime24", "unitadmitsource",
           "unitvisitnumber", "unitstaytype", "admissionweight", "dischargeweight", "unitdischargetime24",
           "unitdischargeoffset", "unitdischargelocation", "unitdischargestatus", "uniquepid"]  # fmt: skip
DIAGNOSIS = ["diagnosisid", "patientunitstayid", "activeupondischarge", "diagnosisoffset", "diagnosisstring",
             "icd9code", "diagnosispriority"]  # fmt: skip
PAST_HISTORY = ["pasthistoryid", "patientunitstayid", "pasthistoryoffset", "pasthistoryenteredoffset",
                "pasthistorynotetype", "pasthistorypath", "pasthistoryvalue", "pasthistoryvaluetext"]  # fmt: skip
PHYSICAL_EXAM = ["physicalexamid", "patientunitstayid", "physicalexamoffset", "physicalexampath",
                 "physicalexamvalue", "physicalexamtext"]  # fmt: skip
LAB = ["labid", "patientunitstayid", "labresultoffset", "labtypeid", "labname", "labresult", "labresulttext",
       "labmeasurenamesystem", "labmeasurenameinterface", "labresultrevisedoffset"]  # fmt: skip

ARF = "pulmonary|respiratory failure|acute respiratory failure"
SEPSIS = "cardiovascular|shock / hypotension|sepsis"
HYPOK = "renal|electrolyte imbalance|hypokalemia"
AFIB = "cardiovascular|arrhythmias|atrial fibrillation"
CHF = "cardiovascular|ventricular disorders|congestive heart failure"
RARE = "toxicology|drug overdose|acetaminophen overdose"


def patient(stay: int, system: int, pid: str, gender: str = "Male", age: str = "67") -> dict[str, Any]:
    return {"patientunitstayid": stay, "patienthealthsystemstayid": system, "gender": gender, "age": age,
            "ethnicity": "Caucasian", "hospitalid": 73, "wardid": 97, "apacheadmissiondx": "Sepsis, pulmonary",
            "admissionheight": 170.2, "hospitaladmittime24": "08:00:00", "hospitaladmitoffset": -120,
            "hospitaladmitsource": "Emergency Department", "hospitaldischargeyear": 2014,
            "hospitaldischargetime24": "10:00:00", "hospitaldischargeoffset": 9000, "hospitaldischargelocation": "Home",
            "hospitaldischargestatus": "Alive", "unittype": "Med-Surg ICU", "unitadmittime24": "10:00:00",
            "unitadmitsource": "Emergency Department", "unitvisitnumber": 1, "unitstaytype": "admit",
            "admissionweight": 80.1, "dischargeweight": 79.0, "unitdischargetime24": "12:00:00",
            "unitdischargeoffset": 4000, "unitdischargelocation": "Floor", "unitdischargestatus": "Alive",
            "uniquepid": pid}  # fmt: skip


def dx(did: int, stay: int, string: str, codes: str | None, priority: str | None) -> dict[str, Any]:
    return {"diagnosisid": did, "patientunitstayid": stay, "activeupondischarge": "True", "diagnosisoffset": 60,
            "diagnosisstring": string, "icd9code": codes, "diagnosispriority": priority}  # fmt: skip


def past(pid: int, path: str, stay: int = 101) -> dict[str, Any]:
    value = path.split("/")[-1]
    return {"pasthistoryid": pid, "patientunitstayid": stay, "pasthistoryoffset": 30, "pasthistoryenteredoffset": 30,
            "pasthistorynotetype": "Admit", "pasthistorypath": f"notes/Progress Notes/Past History/{path}",
            "pasthistoryvalue": value, "pasthistoryvaluetext": value}  # fmt: skip


def physical(eid: int, path: str, stay: int = 101) -> dict[str, Any]:
    value = path.split("/")[-1]
    return {"physicalexamid": eid, "patientunitstayid": stay, "physicalexamoffset": 20,
            "physicalexampath": f"notes/Progress Notes/Physical Exam/{path}", "physicalexamvalue": value,
            "physicalexamtext": value}  # fmt: skip


def lab(lid: int, stay: int, offset: int, name: str, result: float | None, unit: str | None, typeid: int = 1,
        revised: int | None = None) -> dict[str, Any]:  # fmt: skip
    return {"labid": lid, "patientunitstayid": stay, "labresultoffset": offset, "labtypeid": typeid,
            "labname": name, "labresult": result, "labresulttext": "" if result is None else str(result),
            "labmeasurenamesystem": unit, "labmeasurenameinterface": unit,
            "labresultrevisedoffset": offset if revised is None else revised}  # fmt: skip


def tables() -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    """Six stays of five patients (see the module docstring for what each exercises)."""
    patients = [patient(101, 10, "002-1"), patient(102, 11, "002-1", age="> 89"), patient(201, 20, "002-2", "Female"),
                patient(301, 30, "002-3"), patient(401, 40, "002-4"), patient(501, 50, "002-5", gender="")]  # fmt: skip
    diagnoses = [
        dx(1, 101, ARF, "518.81, J96.00", "Primary"),
        dx(2, 101, SEPSIS, "038.9, A41.9", "Major"),
        dx(3, 101, HYPOK, "276.8, E87.6", "Other"),
        dx(4, 101, ARF, "518.81, J96.00", "Other"),  # coded twice: the first row counts
        dx(5, 101, "general|ongoing issue", None, "Other"),  # no code: not a coded diagnosis
        dx(6, 102, SEPSIS, "038.9, 995.92, A41.9, R65.20", "Primary"),  # four codes in one field
        dx(7, 102, AFIB, "427.31, I48.0", "Major"),
        dx(8, 201, CHF, "428.0, I50.9", "Primary"),
        dx(9, 201, AFIB, "427.31, I48.0", "Major"),
        dx(10, 201, HYPOK, "276.8, E87.6", None),  # no priority: other
        dx(11, 301, ARF, "518.81, J96.00", "Primary"),
        dx(12, 301, HYPOK, "276.8, E87.6", "Other"),  # no Major diagnosis
        dx(13, 401, SEPSIS, "038.9, A41.9", "Primary"),
        dx(14, 401, CHF, "428.0, I50.9", "Major"),
        dx(15, 401, RARE, "965.4, T39.1X1A", "Other"),  # a rare string: outside the top strings
        dx(16, 501, CHF, "428.0, I50.9", "Primary"),
        dx(17, 501, ARF, "518.81, J96.00", "Major"),
    ]
    for did in (18, 19, 20, 21):  # stays without a patient row that make ARF and CHF the commonest strings
        diagnoses.append(
            dx(did, 999, ARF if did % 2 else CHF, "518.81, J96.00", "Other") | {"patientunitstayid": 900 + did}
        )
    history = [
        past(1, "Organ Systems/Cardiovascular (R)/Hypertension Requiring Treatment/hypertension requiring treatment"),
        past(2, "Organ Systems/Cardiovascular (R)/Hypertension Requiring Treatment/hypertension requiring treatment"),
        past(3, "Past History Obtain Options/Performed"),  # a placeholder: "Performed"
        past(4, "Organ Systems/Pulmonary/COPD/COPD  - moderate"),
    ]
    exam = [
        physical(1, "Physical Exam Obtain Options/Performed - Structured"),  # a placeholder
        physical(2, "Physical Exam/Vital Sign and Physiological Data/HR/HR Current/112"),
        physical(3, "Physical Exam/Neurologic/GCS/Verbal Score/4"),
    ]
    labs = [
        lab(1, 101, 10, "bedside glucose", 150.0, "mg/dL", 4),
        lab(2, 101, 100, "bedside glucose", 171.0, "mg/dL", 4),  # same 4 h: averaged with the one above
        lab(3, 101, 300, "bedside glucose", 98.0, "mg/dL", 4),
        lab(4, 101, 61, "pH", 7.31, None, 7),
        lab(5, 101, 65, "pH", 7.28, None, 7),  # same 30 min: the later one
        lab(6, 101, 100, "sodium", 133.0, "mmol/L", 1),
        lab(7, 101, 200, "sodium", 135.0, "mmol/L", 1, revised=210),  # same 6 h: the later (revised) one
        lab(8, 101, 200, "sodium", 135.0, "mmol/L", 1, revised=210),  # an exact duplicate row
        lab(9, 101, -30, "potassium", 3.1, "mmol/L", 1),  # drawn before unit admission
        lab(10, 101, 400, "WBC x 1000", 14.2, "K/mcL", 1),
        lab(11, 101, 500, "fibrinogen", None, "mg/dL", 1),  # no result: left out
        lab(12, 102, 20, "lactate", 4.1, "mmol/L", 1),
        lab(13, 201, 15, "BNP", 1250.0, "pg/mL", 1),
        lab(14, 401, 15, "sodium", 140.0, "mmol/L", 1),
        lab(15, 301, 15, "sodium", 141.0, "mmol/L", 1),
    ]
    return {
        "patient": (PATIENT, patients),
        "diagnosis": (DIAGNOSIS, diagnoses),
        "pastHistory": (PAST_HISTORY, history),
        "physicalExam": (PHYSICAL_EXAM, exam),
        "lab": (LAB, labs),
    }


def write_eicu(folder: Path, suffix: str = ".csv.gz", drop: dict[str, str] | None = None) -> Path:
    """The tables as PhysioNet ships them (flat, ``NAME.csv.gz``), or ``.csv`` / ``.parquet``; ``drop`` removes a
    column from a table (a bad layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (columns, rows) in tables().items():
        columns = [c for c in columns if (drop or {}).get(name) != c]
        path = folder / f"{name}{suffix}"
        if suffix == ".parquet":
            import duckdb

            csv_path = folder / f"{name}.tmp.csv"
            _write_csv(csv_path, columns, rows, gzip_it=False)
            duckdb.sql(f"COPY (SELECT * FROM read_csv('{csv_path}', header=true)) TO '{path}' (FORMAT parquet)")
            csv_path.unlink()
        else:
            _write_csv(path, columns, rows, gzip_it=suffix == ".csv.gz")
    return folder


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]], gzip_it: bool) -> None:
    opener = gzip.open if gzip_it else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:  # type: ignore[operator]
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
