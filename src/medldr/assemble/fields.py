"""Input fields in DuckDB SQL: labs (the study's earliest-result rule), microbiology, triage, notes.

Every event is matched to a case by patient and time, inside the case's window (``cohort.WINDOWS``): with the
study's window only events charted to the admission itself; with medldr's ``ed`` window also events charted to no
admission at all (ED draws before the admission often carry no hadm_id). Nothing charted after discharge can enter a
case. Labs are picked over the whole window and then cut at ``cut_end`` (``--hours``), which gives the same earliest
results as picking inside the shorter window and lets the build count what the cut removed.
"""

from __future__ import annotations

from importlib import resources
from typing import Literal

import duckdb

from medldr.assemble.cohort import Window
from medldr.assemble.render import MICRO_MAX_ROWS, SENSITIVITY

LabMode = Literal["earliest", "all"]
DRUG_LEVELS = resources.files("medldr.assemble") / "drug_levels.txt"


def in_window(e: str, t: str, window: Window, end: str = "window_end") -> str:
    """SQL: event alias ``e`` with time ``t`` belongs to case ``c`` under ``window``, up to ``c.{end}``."""
    admission = f"{e}.hadm_id = c.hadm_id" if window == "study" else f"({e}.hadm_id = c.hadm_id OR {e}.hadm_id IS NULL)"
    return f"{e}.subject_id = c.subject_id AND {t} >= c.window_start AND {t} <= c.{end} AND {admission}"


def drug_level_labels() -> list[str]:
    """The d_labitems labels of therapeutic drug monitoring results (lower case), from the shipped list."""
    lines = DRUG_LEVELS.read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip().lower() for line in lines if line.split("#", 1)[0].strip()]


def create_labs(
    con: duckdb.DuckDBPyConnection,
    *,
    mode: LabMode,
    window: Window,
    drop_drug_levels: bool = False,
    cut: bool = False,
    cases: str = "cohort",
) -> dict[str, int]:
    """Table ``case_lab``: rendered lab lines per case; returns what ``--hours`` (``cut``) and ``--drop-drug-levels``
    removed (lab lines, and the admissions they were removed from).

    ``earliest``: per lab test (itemid) only its earliest non-cancelled result in the window, kept only when that
    result is numeric with both reference bounds; no fall-back to a later value. ``all``: every such result.
    """
    pick = (
        "QUALIFY row_number() OVER (PARTITION BY hadm_id, itemid ORDER BY charttime, labevent_id) = 1"
        if mode == "earliest"
        else ""
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE drug_level AS SELECT unnest(?::VARCHAR[]) AS label", [drug_level_labels()]
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE case_lab AS
        WITH hits AS (
            SELECT c.hadm_id, l.labevent_id, l.itemid, l.charttime, l.value, l.valueuom,
                   l.ref_range_lower, l.ref_range_upper
            FROM labevents l JOIN {cases} c ON {in_window("l", "l.charttime", window)}
            WHERE l.comments IS NULL OR NOT contains(lower(l.comments), 'cancel')
        ), picked AS (
            SELECT *, TRY_CAST(trim(value) AS DOUBLE) AS number FROM hits {pick}
        )
        SELECT p.hadm_id, p.itemid, p.charttime, p.labevent_id,
               p.charttime > c.cut_end AS late, lower(coalesce(d.label, '')) IN (SELECT label FROM drug_level) AS drug,
               concat_ws(',', coalesce(d.label, 'nan'), coalesce(d.fluid, 'nan'), coalesce(d.category, 'nan'),
                         CAST(p.number AS VARCHAR), coalesce(p.valueuom, 'nan'),
                         CAST(p.ref_range_lower AS VARCHAR), CAST(p.ref_range_upper AS VARCHAR)) AS line
        FROM picked p JOIN d_labitems d ON d.itemid = p.itemid JOIN {cases} c ON c.hadm_id = p.hadm_id
        WHERE p.number IS NOT NULL AND isfinite(p.number)
          AND p.ref_range_lower IS NOT NULL AND p.ref_range_upper IS NOT NULL
          AND coalesce(d.label, '') <> 'Delete'
        """
    )
    removed: dict[str, int] = {}
    # without --hours nothing is late: cut_end is then the window's own end
    for flag, wanted, what in (("late", cut, "after --hours"), ("drug", drop_drug_levels, "drug levels")):
        if not wanted:
            continue
        lines, n_cases = con.sql(f"SELECT count(*), count(DISTINCT hadm_id) FROM case_lab WHERE {flag}").fetchall()[0]
        con.execute(f"DELETE FROM case_lab WHERE {flag}")
        removed[f"lab lines removed ({what})"] = lines
        removed[f"admissions with lab lines removed ({what})"] = n_cases
    return removed


def create_micro(con: duckdb.DuckDBPyConnection, *, window: Window, cases: str = "kept") -> None:
    """Table ``case_micro``: up to 15 microbiology rows per case (up to ``cut_end``), by the study's rule.

    Cancelled rows are dropped; a test with any row lacking an antibiotic keeps only its earliest row, otherwise all
    its susceptibility rows; tests in order of their first result. A missing organism or comment prints as the
    study's files print it (``NaN``) with its window, as an empty cell with medldr's.
    """
    missing = "'NaN'" if window == "study" else "''"
    cases_sql = " ".join(f"WHEN '{code}' THEN '{word}'" for code, word in SENSITIVITY.items())
    sensitivity = f"CASE m.interpretation {cases_sql} ELSE coalesce(m.interpretation, 'NaN') END"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE case_micro AS
        WITH hits AS (
            SELECT c.hadm_id, m.microevent_id, coalesce(m.charttime, m.chartdate) AS t, m.ab_itemid,
                   coalesce(m.test_name, 'NaN') AS test_name,
                   concat_ws(',', coalesce(m.test_name, 'NaN'), coalesce(m.spec_type_desc, 'NaN'),
                             coalesce(lower(m.org_name), {missing}), coalesce(m.ab_name, 'NaN'), {sensitivity},
                             coalesce(lower(m.comments), {missing})) AS line
            FROM microbiologyevents m
            JOIN {cases} c ON {in_window("m", "coalesce(m.charttime, m.chartdate)", window, "cut_end")}
            WHERE NOT contains(lower(coalesce(m.org_name, '')), 'cancel')
              AND NOT contains(lower(coalesce(m.comments, '')), 'cancel')
              AND NOT contains(coalesce(m.comments, ''), '___')
        ), per_test AS (
            SELECT *, min(t) OVER w AS test_first, bool_or(ab_itemid IS NULL) OVER w AS lacks_antibiotic,
                   row_number() OVER (PARTITION BY hadm_id, test_name ORDER BY t, microevent_id) AS nth
            FROM hits WINDOW w AS (PARTITION BY hadm_id, test_name)
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY hadm_id ORDER BY test_first, test_name, t, microevent_id) AS rn
            FROM per_test WHERE NOT lacks_antibiotic OR nth = 1
        )
        SELECT hadm_id, list(line ORDER BY rn) AS lines FROM ranked WHERE rn <= {MICRO_MAX_ROWS} GROUP BY hadm_id
        """
    )


def create_notes(con: duckdb.DuckDBPyConnection, *, window: Window, cases: str = "kept") -> None:
    """Tables ``case_discharge`` (the admission's discharge summary) and ``case_radiology`` (reports in the window,
    up to ``report_end``: with the study's window, as its scripts took them, the admission's reports from admittime
    to dischtime)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE case_discharge AS
        SELECT n.hadm_id, n.text FROM discharge n WHERE n.hadm_id IN (SELECT hadm_id FROM {cases})
        QUALIFY row_number() OVER (PARTITION BY n.hadm_id ORDER BY n.charttime, n.note_id) = 1
        """
    )
    radiology = in_window("r", "r.charttime", window, "report_end")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE case_radiology AS
        SELECT c.hadm_id, list(r.text ORDER BY r.charttime, r.note_id) AS texts
        FROM radiology r JOIN {cases} c ON {radiology}
        GROUP BY c.hadm_id
        """
    )
