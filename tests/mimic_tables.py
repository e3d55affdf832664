"""Writes small MIMIC-IV tables in the official column layout, for tests that need exact, hand-checked inputs."""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path
from typing import Any

SHARED_DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "mimic-iv-demo-2.2"

COLUMNS: dict[str, list[str]] = {
    "hosp/admissions": [
        "subject_id",
        "hadm_id",
        "admittime",
        "dischtime",
        "deathtime",
        "admission_type",
        "admit_provider_id",
        "admission_location",
        "discharge_location",
        "insurance",
        "language",
        "marital_status",
        "race",
        "edregtime",
        "edouttime",
        "hospital_expire_flag",
    ],
    "hosp/patients": ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"],
    "hosp/diagnoses_icd": ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"],
    "hosp/labevents": [
        "labevent_id",
        "subject_id",
        "hadm_id",
        "specimen_id",
        "itemid",
        "order_provider_id",
        "charttime",
        "storetime",
        "value",
        "valuenum",
        "valueuom",
        "ref_range_lower",
        "ref_range_upper",
        "flag",
        "priority",
        "comments",
    ],
    "hosp/d_labitems": ["itemid", "label", "fluid", "category"],
    "hosp/microbiologyevents": [
        "microevent_id",
        "subject_id",
        "hadm_id",
        "micro_specimen_id",
        "order_provider_id",
        "chartdate",
        "charttime",
        "spec_itemid",
        "spec_type_desc",
        "test_seq",
        "storedate",
        "storetime",
        "test_itemid",
        "test_name",
        "org_itemid",
        "org_name",
        "isolate_num",
        "quantity",
        "ab_itemid",
        "ab_name",
        "dilution_text",
        "dilution_comparison",
        "dilution_value",
        "interpretation",
        "comments",
    ],
    "ed/edstays": [
        "subject_id",
        "hadm_id",
        "stay_id",
        "intime",
        "outtime",
        "gender",
        "race",
        "arrival_transport",
        "disposition",
    ],
    "ed/triage": [
        "subject_id",
        "stay_id",
        "temperature",
        "heartrate",
        "resprate",
        "o2sat",
        "sbp",
        "dbp",
        "pain",
        "acuity",
        "chiefcomplaint",
    ],
    "note/discharge": ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"],
    "note/radiology": ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"],
}


def write_table(root: Path, table: str, rows: list[dict[str, Any]], suffix: str = ".csv.gz") -> Path:
    """Write ``rows`` (missing keys -> empty) under ``root/<module>/<name><suffix>`` with the official header."""
    path = root / f"{table}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if suffix.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS[table], quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in COLUMNS[table]})
    return path


def copy_demo_table(root: Path, name: str) -> Path:
    """Copy one real table of the open demo (e.g. d_icd_diagnoses) into ``root/hosp``."""
    target = root / "hosp" / f"{name}.csv.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHARED_DEMO / "hosp" / f"{name}.csv.gz", target)
    return target


DISCHARGE_NOTE = """ \nName:  ___                     Unit No:   ___\n \nAdmission Date:  ___              Discharge Date:   ___\n \nDate of Birth:  ___             Sex:   M\n \nService: MEDICINE\n \nAllergies: \nPenicillins\n \nAttending: ___.\n \nChief Complaint:\nShortness of breath\n \nMajor Surgical or Invasive Procedure:\nNone\n \nHistory of Present Illness:\nMr. ___ is a ___ year old man with HFpEF and CKD stage III who\npresents with 3 days of worsening dyspnea on exertion and\nbilateral leg swelling after running out of his torsemide.\n \nPast Medical History:\n- Hypertension\n- Type 2 diabetes mellitus, diet controlled\n- Chronic kidney disease stage III (baseline Cr 1.3)\nPAST SURGICAL HISTORY:\n- Appendectomy\n \nSocial History:\n___\nFamily History:\nMother with coronary artery disease, died of MI at ___. Father with\nCOPD.\n \nPhysical Exam:\nADMISSION PHYSICAL EXAM:\nVS: 98.6 140/85 88 18 97% RA\nGeneral: Mildly dyspneic, speaking full sentences\nLungs: Bibasilar crackles\nExt: 2+ pitting edema to the knees\n\nDISCHARGE PHYSICAL EXAM:\nVS: 98.1 128/76 72 16 98% RA\nLungs: LEAKSENTINEL-EXAM clear\n \nPertinent Results:\nADMISSION LABS:\n___ 07:00AM BLOOD Creat-2.1* LEAKSENTINEL-RESULTS\n \nBrief Hospital Course:\nLEAKSENTINEL-COURSE Diuresed with IV furosemide.\n \nMedications on Admission:\n1. Torsemide 20 mg PO DAILY\n \nDischarge Medications:\n1. Torsemide 40 mg PO DAILY\n \nDischarge Disposition:\nHome\n \nDischarge Diagnosis:\nLEAKSENTINEL-DIAGNOSIS Acute on chronic diastolic heart failure\n \nDischarge Condition:\nMental Status: Clear and coherent.\n \nDischarge Instructions:\nLEAKSENTINEL-INSTRUCTIONS Weigh yourself every morning.\n \nFollowup Instructions:\n___\n"""  # noqa: E501

RADIOLOGY_IN_STAY = """EXAMINATION:  CHEST (PA AND LAT)\n\nINDICATION:  ___ year old man with dyspnea  // eval for effusion\n\nTECHNIQUE:  Chest PA and lateral\n\nFINDINGS: \n\nLEAKSENTINEL-FINDINGS Moderate bilateral pleural effusions.\nMild interstitial edema.\n\nIMPRESSION: \n\nModerate pulmonary edema with bilateral effusions."""  # noqa: E501


def mini_mimic(root: Path, *, with_ed: bool = True, with_note: bool = True) -> Path:
    """A 5-patient MIMIC-IV in the official schema whose every expected case field is worked out by hand.

    Patient 1: an earlier admission 100 (history 4019, 25000; no labs) and the case admission 101 (ED stay 1001,
    ICD-10 N179 -> 5849 primary, I5033 -> 42833, E119 -> 25000) with labs that exercise every lab rule. Patient 2:
    admission 200 (ICD-9 486 primary, 5849). Patient 3: primary U071 has no ICD-9. Patient 4: no labs. Patient 5: no
    ED visit, so outside the cohort.
    """
    admissions = [
        dict(
            subject_id=1,
            hadm_id=100,
            admittime="2150-01-01 10:00:00",
            dischtime="2150-01-05 10:00:00",
            edregtime="2150-01-01 08:00:00",
            edouttime="2150-01-01 10:00:00",
            admission_type="EW EMER.",
        ),
        dict(
            subject_id=1,
            hadm_id=101,
            admittime="2150-06-01 10:00:00",
            dischtime="2150-06-05 12:00:00",
            edregtime="2150-06-01 06:00:00",
            edouttime="2150-06-01 10:00:00",
            admission_type="EW EMER.",
        ),
        dict(
            subject_id=2,
            hadm_id=200,
            admittime="2160-03-01 12:00:00",
            dischtime="2160-03-04 12:00:00",
            edregtime="2160-03-01 09:00:00",
            edouttime="2160-03-01 12:00:00",
            admission_type="EW EMER.",
        ),
        dict(
            subject_id=3,
            hadm_id=300,
            admittime="2170-01-01 12:00:00",
            dischtime="2170-01-03 12:00:00",
            edregtime="2170-01-01 09:00:00",
            edouttime="2170-01-01 12:00:00",
            admission_type="EW EMER.",
        ),
        dict(
            subject_id=4,
            hadm_id=400,
            admittime="2180-01-01 12:00:00",
            dischtime="2180-01-03 12:00:00",
            edregtime="2180-01-01 09:00:00",
            edouttime="2180-01-01 12:00:00",
            admission_type="EW EMER.",
        ),
        dict(
            subject_id=5,
            hadm_id=500,
            admittime="2190-01-01 12:00:00",
            dischtime="2190-01-03 12:00:00",
            admission_type="ELECTIVE",
        ),
    ]
    write_table(root, "hosp/admissions", admissions)
    write_table(
        root,
        "hosp/patients",
        [
            dict(subject_id=1, gender="M", anchor_age=71, anchor_year=2150, anchor_year_group="2011 - 2013"),
            dict(subject_id=2, gender="F", anchor_age=58, anchor_year=2160, anchor_year_group="2014 - 2016"),
            dict(subject_id=3, gender="F", anchor_age=40, anchor_year=2170, anchor_year_group="2017 - 2019"),
            dict(subject_id=4, gender="M", anchor_age=33, anchor_year=2180, anchor_year_group="2017 - 2019"),
            dict(subject_id=5, gender="M", anchor_age=50, anchor_year=2190, anchor_year_group="2017 - 2019"),
        ],
    )
    write_table(
        root,
        "hosp/diagnoses_icd",
        [
            dict(subject_id=1, hadm_id=100, seq_num=1, icd_code="4019", icd_version=9),
            dict(subject_id=1, hadm_id=100, seq_num=2, icd_code="25000", icd_version=9),
            dict(subject_id=1, hadm_id=101, seq_num=1, icd_code="N179", icd_version=10),
            dict(subject_id=1, hadm_id=101, seq_num=2, icd_code="I5033", icd_version=10),
            dict(subject_id=1, hadm_id=101, seq_num=3, icd_code="E119", icd_version=10),
            dict(subject_id=1, hadm_id=101, seq_num=4, icd_code="I10", icd_version=10),
            dict(subject_id=2, hadm_id=200, seq_num=1, icd_code="486", icd_version=9),
            dict(subject_id=2, hadm_id=200, seq_num=2, icd_code="5849", icd_version=9),
            dict(subject_id=3, hadm_id=300, seq_num=1, icd_code="U071", icd_version=10),
            dict(subject_id=4, hadm_id=400, seq_num=1, icd_code="486", icd_version=9),
            dict(subject_id=5, hadm_id=500, seq_num=1, icd_code="486", icd_version=9),
        ],
    )
    copy_demo_table(root, "d_icd_diagnoses")
    write_table(
        root,
        "hosp/d_labitems",
        [
            dict(itemid=50912, label="Creatinine", fluid="Blood", category="Chemistry"),
            dict(itemid=50971, label="Potassium", fluid="Blood", category="Chemistry"),
            dict(itemid=51003, label="Troponin T", fluid="Blood", category="Chemistry"),
            dict(itemid=50983, label="Sodium", fluid="Blood", category="Chemistry"),
            dict(itemid=51222, label="Hemoglobin", fluid="Blood", category="Hematology"),
            dict(itemid=52000, label="Beta-2 Microglobulin", fluid="Blood", category="Chemistry"),
        ],
    )
    lab = dict(subject_id=1, hadm_id=101, valueuom="mg/dL", ref_range_lower=0.5, ref_range_upper=1.2)
    labs = [
        # before ED arrival (06:00): outside the window
        {**lab, "labevent_id": 1, "itemid": 50912, "charttime": "2150-06-01 05:00:00", "value": "9.9"},
        # earliest in window, an ED draw without hadm_id
        {**lab, "labevent_id": 2, "itemid": 50912, "charttime": "2150-06-01 07:00:00", "value": "2.1", "hadm_id": ""},
        {**lab, "labevent_id": 3, "itemid": 50912, "charttime": "2150-06-02 07:00:00", "value": "1.5"},
        # cancelled first result, then a real one
        {
            **lab,
            "labevent_id": 4,
            "itemid": 50971,
            "charttime": "2150-06-01 07:00:00",
            "value": "",
            "valueuom": "mEq/L",
            "ref_range_lower": 3.3,
            "ref_range_upper": 5.1,
            "comments": "Test cancelled by lab.",
        },
        {
            **lab,
            "labevent_id": 5,
            "itemid": 50971,
            "charttime": "2150-06-01 08:00:00",
            "value": "4.2",
            "valueuom": "mEq/L",
            "ref_range_lower": 3.3,
            "ref_range_upper": 5.1,
        },
        # earliest is not numeric: the test is dropped, no fall-back to the later numeric value
        {
            **lab,
            "labevent_id": 6,
            "itemid": 51003,
            "charttime": "2150-06-01 07:00:00",
            "value": "<0.01",
            "valueuom": "ng/mL",
            "ref_range_lower": 0.0,
            "ref_range_upper": 0.01,
        },
        {
            **lab,
            "labevent_id": 7,
            "itemid": 51003,
            "charttime": "2150-06-02 07:00:00",
            "value": "0.05",
            "valueuom": "ng/mL",
            "ref_range_lower": 0.0,
            "ref_range_upper": 0.01,
        },
        # after discharge
        {
            **lab,
            "labevent_id": 8,
            "itemid": 50983,
            "charttime": "2150-06-06 07:00:00",
            "value": "150",
            "valueuom": "mEq/L",
            "ref_range_lower": 133,
            "ref_range_upper": 145,
        },
        # no reference range
        {
            **lab,
            "labevent_id": 9,
            "itemid": 51222,
            "charttime": "2150-06-01 07:00:00",
            "value": "10.0",
            "valueuom": "g/dL",
            "ref_range_lower": "",
            "ref_range_upper": "",
        },
        {
            **lab,
            "labevent_id": 10,
            "itemid": 52000,
            "charttime": "2150-06-01 09:00:00",
            "value": "3",
            "valueuom": "mg/L",
            "ref_range_lower": 0.8,
            "ref_range_upper": 2.2,
        },
        # patient 2
        dict(
            labevent_id=20,
            subject_id=2,
            hadm_id=200,
            itemid=50912,
            charttime="2160-03-01 10:00:00",
            value="1.9",
            valueuom="mg/dL",
            ref_range_lower=0.4,
            ref_range_upper=1.1,
        ),
        # patient 3 (dropped for its unmapped primary, not for labs)
        dict(
            labevent_id=30,
            subject_id=3,
            hadm_id=300,
            itemid=50912,
            charttime="2170-01-01 10:00:00",
            value="0.9",
            valueuom="mg/dL",
            ref_range_lower=0.4,
            ref_range_upper=1.1,
        ),
    ]
    write_table(root, "hosp/labevents", labs)
    micro = dict(subject_id=1, hadm_id=101, spec_type_desc="BLOOD CULTURE", test_name="Blood Culture, Routine")
    write_table(
        root,
        "hosp/microbiologyevents",
        [
            {
                **micro,
                "microevent_id": 1,
                "chartdate": "2150-06-01 00:00:00",
                "charttime": "2150-06-01 08:00:00",
                "org_name": "STAPH AUREUS COAG +",
                "ab_itemid": 90015,
                "ab_name": "OXACILLIN",
                "interpretation": "R",
            },
            {
                **micro,
                "microevent_id": 2,
                "chartdate": "2150-06-01 00:00:00",
                "charttime": "2150-06-01 08:00:00",
                "org_name": "STAPH AUREUS COAG +",
                "ab_itemid": 90016,
                "ab_name": "VANCOMYCIN",
                "interpretation": "S",
            },
            {
                **micro,
                "microevent_id": 3,
                "chartdate": "2150-06-01 00:00:00",
                "charttime": "2150-06-01 09:00:00",
                "spec_type_desc": "URINE",
                "test_name": "URINE CULTURE",
                "comments": "NO GROWTH.",
            },
            {
                **micro,
                "microevent_id": 4,
                "chartdate": "2150-06-02 00:00:00",
                "charttime": "2150-06-02 09:00:00",
                "spec_type_desc": "URINE",
                "test_name": "URINE CULTURE",
                "comments": "LEAKSENTINEL second urine",
            },
            {
                **micro,
                "microevent_id": 5,
                "chartdate": "2150-06-01 00:00:00",
                "charttime": "2150-06-01 10:00:00",
                "spec_type_desc": "STOOL",
                "test_name": "C. difficile PCR",
                "comments": "Test cancelled, LEAKSENTINEL",
            },
        ],
    )
    if with_ed:
        write_table(
            root,
            "ed/edstays",
            [
                dict(subject_id=s, hadm_id=h, stay_id=s * 1000 + h % 100, intime=t, outtime=o, gender=g)
                for s, h, t, o, g in [
                    (1, 100, "2150-01-01 08:00:00", "2150-01-01 10:00:00", "M"),
                    (1, 101, "2150-06-01 06:00:00", "2150-06-01 10:00:00", "M"),
                    (2, 200, "2160-03-01 09:00:00", "2160-03-01 12:00:00", "F"),
                    (3, 300, "2170-01-01 09:00:00", "2170-01-01 12:00:00", "F"),
                    (4, 400, "2180-01-01 09:00:00", "2180-01-01 12:00:00", "M"),
                ]
            ],
        )
        write_table(
            root,
            "ed/triage",
            [
                dict(
                    subject_id=1,
                    stay_id=1001,
                    temperature=98.6,
                    heartrate=88,
                    resprate=18,
                    o2sat=97,
                    sbp=140,
                    dbp=85,
                    pain="5",
                    acuity=2,
                    chiefcomplaint="Dyspnea, Leg swelling",
                ),
            ],
        )
    if with_note:
        write_table(
            root,
            "note/discharge",
            [
                dict(
                    note_id="1-DS-1",
                    subject_id=1,
                    hadm_id=101,
                    note_type="DS",
                    note_seq=1,
                    charttime="2150-06-05 00:00:00",
                    storetime="2150-06-05 15:00:00",
                    text=DISCHARGE_NOTE,
                ),
            ],
        )
        write_table(
            root,
            "note/radiology",
            [
                dict(
                    note_id="1-RR-1",
                    subject_id=1,
                    hadm_id=101,
                    note_type="RR",
                    note_seq=1,
                    charttime="2150-06-01 08:30:00",
                    storetime="2150-06-01 09:30:00",
                    text=RADIOLOGY_IN_STAY,
                ),
                dict(
                    note_id="1-RR-2",
                    subject_id=1,
                    hadm_id="",
                    note_type="RR",
                    note_seq=2,
                    charttime="2150-06-20 08:30:00",
                    storetime="2150-06-20 09:30:00",
                    text="EXAMINATION: CHEST\nIMPRESSION: LEAKSENTINEL-POSTDISCHARGE",
                ),
            ],
        )
    return root
