"""Input fields in DuckDB SQL: labs (the study's earliest-result rule), microbiology, triage, notes.

Every event is matched to a case by patient and time: inside [window_start, window_end], and either charted to the
case's admission or to no admission at all (ED draws before the admission often carry no hadm_id). Nothing charted
after discharge can enter a case.
"""

from __future__ import annotations

from typing import Literal

import duckdb

from medldr.build.render import MICRO_MAX_ROWS, SENSITIVITY

LabMode = Literal["earliest", "all"]

_IN_WINDOW = """
    {e}.subject_id = c.subject_id AND {t} >= c.window_start AND {t} <= c.window_end
    AND ({e}.hadm_id = c.hadm_id OR {e}.hadm_id IS NULL)
"""


def create_labs(con: duckdb.DuckDBPyConnection, *, mode: LabMode, cases: str = "cohort") -> None:
    """Table ``case_lab``: rendered lab lines per case.

    ``earliest``: per lab test (itemid) only its earliest non-cancelled result in the window, kept only when that
    result is numeric with both reference bounds; no fall-back to a later value. ``all``: every such result.
    """
    pick = (
        "QUALIFY row_number() OVER (PARTITION BY hadm_id, itemid ORDER BY charttime, labevent_id) = 1"
        if mode == "earliest"
        else ""
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE case_lab AS
        WITH hits AS (
            SELECT c.hadm_id, l.labevent_id, l.itemid, l.charttime, l.value, l.valueuom,
                   l.ref_range_lower, l.ref_range_upper
            FROM labevents l JOIN {cases} c ON {_IN_WINDOW.format(e="l", t="l.charttime")}
            WHERE l.comments IS NULL OR NOT contains(lower(l.comments), 'cancel')
        ), picked AS (
            SELECT *, TRY_CAST(trim(value) AS DOUBLE) AS number FROM hits {pick}
        )
        SELECT p.hadm_id, p.itemid, p.charttime, p.labevent_id,
               concat_ws(',', coalesce(d.label, 'nan'), coalesce(d.fluid, 'nan'), coalesce(d.category, 'nan'),
                         CAST(p.number AS VARCHAR), coalesce(p.valueuom, 'nan'),
                         CAST(p.ref_range_lower AS VARCHAR), CAST(p.ref_range_upper AS VARCHAR)) AS line
        FROM picked p JOIN d_labitems d ON d.itemid = p.itemid
        WHERE p.number IS NOT NULL AND isfinite(p.number)
          AND p.ref_range_lower IS NOT NULL AND p.ref_range_upper IS NOT NULL
          AND coalesce(d.label, '') <> 'Delete'
        """
    )


def create_micro(con: duckdb.DuckDBPyConnection, *, cases: str = "kept") -> None:
    """Table ``case_micro``: up to 15 microbiology rows per case, by the study's rule.

    Cancelled rows are dropped; a test with any row lacking an antibiotic keeps only its earliest row, otherwise all
    its susceptibility rows; tests in order of their first result.
    """
    cases_sql = " ".join(f"WHEN '{code}' THEN '{word}'" for code, word in SENSITIVITY.items())
    sensitivity = f"CASE m.interpretation {cases_sql} ELSE coalesce(m.interpretation, 'NaN') END"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE case_micro AS
        WITH hits AS (
            SELECT c.hadm_id, m.microevent_id, coalesce(m.charttime, m.chartdate) AS t, m.ab_itemid,
                   coalesce(m.test_name, 'NaN') AS test_name,
                   concat_ws(',', coalesce(m.test_name, 'NaN'), coalesce(m.spec_type_desc, 'NaN'),
                             lower(coalesce(m.org_name, '')), coalesce(m.ab_name, 'NaN'), {sensitivity},
                             lower(coalesce(m.comments, ''))) AS line
            FROM microbiologyevents m
            JOIN {cases} c ON {_IN_WINDOW.format(e="m", t="coalesce(m.charttime, m.chartdate)")}
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


def create_notes(con: duckdb.DuckDBPyConnection, *, cases: str = "kept") -> None:
    """Tables ``case_discharge`` (the admission's discharge summary) and ``case_radiology`` (reports in the window)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE case_discharge AS
        SELECT n.hadm_id, n.text FROM discharge n WHERE n.hadm_id IN (SELECT hadm_id FROM {cases})
        QUALIFY row_number() OVER (PARTITION BY n.hadm_id ORDER BY n.charttime, n.note_id) = 1
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE case_radiology AS
        SELECT c.hadm_id, list(r.text ORDER BY r.charttime, r.note_id) AS texts
        FROM radiology r JOIN {cases} c ON {_IN_WINDOW.format(e="r", t="r.charttime")}
        GROUP BY c.hadm_id
        """
    )
