"""raw tables -> LDR cases: the build stage's one entry point, ``build_cases``.

DuckDB does the heavy work (joins, windows, aggregation over labevents) out-of-core; Python only renders each kept
case's text and streams it to the split files, so memory stays flat as the cohort grows.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medldr.assemble import cohort as cohort_sql
from medldr.assemble import fields as fields_sql
from medldr.assemble import render
from medldr.assemble.envelope import (
    Progress,
    assign_splits,
    check_ratios,
    check_size,
    in_build_folder,
    write_manifest,
    write_split_files,
)
from medldr.errors import MedldrError
from medldr.icd import LabelCode, LabelSpace, parse_label_spec
from medldr.schema import (
    CASE_FILES,
    BuildManifest,
    Case,
    SourceFile,
    option_error,
)
from medldr.sources import Source, discharge_note_sections, drop_findings

OUTPUT_FILES = CASE_FILES


class BuildConfig(BaseModel):
    """Settings of one build; all of them go into the manifest."""

    model_config = ConfigDict(extra="forbid")

    label_space: str = Field("top50", description="'topN' of the cohort, 'paper40', or a file of ICD-9 codes.")
    seed: int = 2025
    ratios: tuple[float, float, float] = Field((0.8, 0.1, 0.1), description="train, validation, test shares.")
    labs: fields_sql.LabMode = Field("earliest", description="'earliest' result per test (the study) or 'all'.")
    window: cohort_sql.Window = Field("study", description="Which events enter a case: 'study' or 'ed'.")
    hours: float | None = Field(None, gt=0, description="Only events in the first H hours after the window opens.")
    drop_drug_levels: bool = Field(False, description="Drop therapeutic drug monitoring results (drug_levels.txt).")
    per_code: int = Field(30, ge=1, description="Inference subset: cases per label code.")
    memory_limit: str = Field("4GB", description="DuckDB memory limit; larger work spills to disk.")
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    @field_validator("ratios")
    @classmethod
    def _ratios_sum_to_one(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        return check_ratios(value)

    @field_validator("memory_limit")
    @classmethod
    def _a_size(cls, value: str) -> str:
        return check_size(value)

    @classmethod
    def from_profile(cls, profile: str, **overrides: Any) -> BuildConfig:
        """A profile's settings (``PROFILES``) with the options given explicitly on top (None: not given)."""
        if profile not in PROFILES:
            raise MedldrError(f"--profile {profile!r}: expected {' or '.join(PROFILES)}")
        return cls(**{**PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}})

    def recorded(self) -> dict[str, Any]:
        """The settings that decide the output (threads and memory do not)."""
        return self.model_dump(mode="json", exclude={"memory_limit", "threads"})


PROFILES: dict[str, dict[str, Any]] = {
    # the study's recipe: its window, its top-50 label space, 8:1:1 patient split, 30 inference cases per code
    "study": {"window": "study", "label_space": "top50", "ratios": (0.8, 0.1, 0.1), "per_code": 30, "labs": "earliest"},
    # medldr's recommendation: what a clinician has in the first day (ED draws included), no treatment-revealing
    # drug levels; otherwise the study's recipe, so the two stay comparable
    "medldr": {
        "window": "ed",
        "hours": 24.0,
        "drop_drug_levels": True,
        "label_space": "top50",
        "ratios": (0.8, 0.1, 0.1),
        "per_code": 30,
        "labs": "earliest",
    },
}


def _eligibility(con: duckdb.DuckDBPyConnection) -> Counter[str]:
    """Table ``screened``: every cohort admission with its primary code and name, and ``reason`` (NULL when eligible:
    a valid window, a named ICD-9 primary and at least one lab). Returns the count of drops per (first) reason.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE screened AS
        SELECT c.*, p.icd9 AS primary_code, n.name AS primary_name,
               CASE
                 WHEN c.window_end IS NULL OR c.window_start IS NULL OR c.window_end < c.window_start
                   THEN 'invalid admission window (no discharge time, or discharge before arrival)'
                 WHEN p.found IS NULL THEN 'no primary diagnosis (seq_num = 1)'
                 WHEN p.icd9 IS NULL THEN 'primary ICD-10 code has no ICD-9 mapping'
                 WHEN n.name IS NULL THEN 'primary ICD-9 code not in d_icd_diagnoses'
                 WHEN l.hadm_id IS NULL THEN 'no numeric lab result with reference range in the window'
               END AS reason
        FROM cohort c
        LEFT JOIN (SELECT hadm_id, min(icd9) AS icd9, true AS found
                   FROM dx WHERE seq_num = 1 GROUP BY hadm_id) p ON p.hadm_id = c.hadm_id
        LEFT JOIN icd9_names n ON n.code = p.icd9
        LEFT JOIN (SELECT DISTINCT hadm_id FROM case_lab) l ON l.hadm_id = c.hadm_id
        """
    )
    return Counter(
        dict(con.sql("SELECT reason, count(*) FROM screened WHERE reason IS NOT NULL GROUP BY 1").fetchall())
    )


def _label_space(con: duckdb.DuckDBPyConnection, spec: str) -> LabelSpace:
    """Resolve the label space against the eligible cases: top-N by number of cases carrying the code, or fixed."""
    parsed = parse_label_spec(spec)
    if parsed.system == "icd10":
        raise MedldrError(f"label space {spec}: ICD-10 codes; a MIMIC-IV build's labels are ICD-9 (ICD-10 mapped)")
    counts = dict(
        con.sql(
            "SELECT code, count(DISTINCT hadm_id) FROM case_dx "
            "WHERE hadm_id IN (SELECT hadm_id FROM screened WHERE reason IS NULL) GROUP BY code"
        ).fetchall()
    )
    if parsed.n is not None:
        codes = [code for code, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))][: parsed.n]
        if not codes:
            raise MedldrError("the cohort has no eligible cases, so no label space can be chosen")
        origin = f"the {parsed.n} most frequent ICD-9 labels of this cohort; names from d_icd_diagnoses"
    else:
        codes = list(parsed.codes)
        origin = f"{spec}; names from d_icd_diagnoses"
    names = dict(
        con.sql(
            "SELECT code, name FROM icd9_names WHERE code IN (SELECT unnest(?::VARCHAR[]))", params=[codes]
        ).fetchall()
    )
    unknown = [code for code in codes if code not in names]
    if unknown:
        raise MedldrError(f"label space {spec}: ICD-9 code(s) {', '.join(unknown)} not in d_icd_diagnoses")
    labels = tuple(LabelCode(code=code, name=names[code], count=counts.get(code, 0)) for code in codes)
    return LabelSpace(spec=spec, labels=labels, system="icd9", origin=origin)


def _keep(con: duckdb.DuckDBPyConnection, space: LabelSpace) -> int:
    """Table ``kept``: eligible cases whose primary is in the label space; table ``gold``: their labels in it."""
    con.execute("CREATE OR REPLACE TEMP TABLE space AS SELECT unnest(?::VARCHAR[]) AS code", [list(space.codes)])
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE kept AS
        SELECT * FROM screened WHERE reason IS NULL AND primary_code IN (SELECT code FROM space)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE gold AS
        SELECT x.hadm_id, list(x.code ORDER BY x.seq, x.code) AS codes, list(x.name ORDER BY x.seq, x.code) AS names
        FROM case_dx x WHERE x.hadm_id IN (SELECT hadm_id FROM kept) AND x.code IN (SELECT code FROM space)
        GROUP BY x.hadm_id
        """
    )
    return con.sql("SELECT count(*) FROM kept").fetchall()[0][0]


def _assembly_query(source: Source) -> str:
    has_ed, has_note = source.has("ed"), source.has("note")
    triage = (
        "[t.temperature, t.heartrate, t.resprate, t.o2sat, t.sbp, t.dbp]::VARCHAR[] || [t.pain]" if has_ed else "NULL"
    )
    # one triage row per ED stay, deterministically
    triage_join = "LEFT JOIN (SELECT DISTINCT ON (stay_id) * FROM triage ORDER BY ALL) t ON t.stay_id = k.stay_id"
    triage_join = triage_join if has_ed else ""
    return f"""
        SELECT k.subject_id, k.hadm_id, k.stay_id, k.primary_code, k.primary_name, g.codes, g.names,
               lab.lines AS lab_lines, coalesce(mi.lines, []) AS micro_lines, pt.gender, pt.anchor_age,
               {triage} AS triage, {"t.chiefcomplaint" if has_ed else "NULL"} AS chiefcomplaint,
               {"dn.text" if has_note else "NULL"} AS discharge_text,
               {"coalesce(rr.texts, [])" if has_note else "NULL"} AS reports,
               coalesce(h.codes, []) AS history, coalesce(cd.codes, []) AS coded
        FROM kept k
        JOIN gold g ON g.hadm_id = k.hadm_id
        JOIN (SELECT hadm_id, list(line ORDER BY charttime, itemid, labevent_id) AS lines FROM case_lab
              GROUP BY hadm_id) lab ON lab.hadm_id = k.hadm_id
        LEFT JOIN case_micro mi ON mi.hadm_id = k.hadm_id
        LEFT JOIN patients pt ON pt.subject_id = k.subject_id
        {triage_join}
        {"LEFT JOIN case_discharge dn ON dn.hadm_id = k.hadm_id" if has_note else ""}
        {"LEFT JOIN case_radiology rr ON rr.hadm_id = k.hadm_id" if has_note else ""}
        LEFT JOIN history h ON h.hadm_id = k.hadm_id
        LEFT JOIN coded cd ON cd.hadm_id = k.hadm_id
        ORDER BY k.subject_id, k.hadm_id
    """


def _case_from_row(row: dict[str, Any], *, has_ed: bool, has_note: bool, window: cohort_sql.Window) -> Case:
    inputs: dict[str, Any] = {
        "lab": render.render_lab(row["lab_lines"]),
        "ed_info": render.render_ed_info(row["gender"], row["anchor_age"], row["triage"] if has_ed else None),
        "micro_info": render.render_micro(row["micro_lines"]),
    }
    if has_ed:
        inputs["ed_chiefcomplaint"] = render.render_text(render.CHIEF_COMPLAINT, row["chiefcomplaint"])
    if has_note:
        sections = discharge_note_sections(row["discharge_text"])
        inputs["family_history"] = render.render_text(render.FAMILY_HISTORY, sections["family_history"])
        inputs["past_medical_history"] = render.render_text(
            render.PAST_MEDICAL_HISTORY, sections["past_medical_history"]
        )
        inputs["hpi_text"] = render.render_text(render.HPI, sections["hpi"])
        inputs["physical_text"] = render.render_text(render.PHYSICAL_EXAM, sections["physical_exam"])
        inputs["report"] = [drop_findings(text, window) for text in row["reports"] if text and text.strip()]
    codes, names = row["codes"], row["names"]
    return Case.model_validate(
        {
            "case_id": f"{row['subject_id']}/{row['hadm_id']}/{row['stay_id']}",
            "input_dict": inputs,
            "output_dict": {
                "output_icd_id": codes,
                "output_icd_name": names,
                "output_icd_id_and_name": [f"{c}:{n}" for c, n in zip(codes, names, strict=True)],
            },
            "top_1_icd": {"code": row["primary_code"], "name": row["primary_name"]},
            "history_icd": row["history"],
            "coded_icd": row["coded"],
        }
    )


def _rows(con: duckdb.DuckDBPyConnection, query: str, batch: int = 2000) -> Iterator[dict[str, Any]]:
    cursor = con.execute(query)
    names = [column[0] for column in cursor.description]
    while chunk := cursor.fetchmany(batch):
        for values in chunk:
            yield dict(zip(names, values, strict=True))


def _fields(source: Source) -> tuple[list[str], dict[str, str]]:
    present = ["lab", "ed_info", "micro_info"]
    absent: dict[str, str] = {}
    if source.has("ed"):
        present.append("ed_chiefcomplaint")
    else:
        absent["ed_chiefcomplaint"] = "no ED module (give --ed): ed.triage is the source"
        absent["ed_info triage vitals"] = "no ED module (give --ed): ed_info holds gender and age from patients only"
    note_fields = ("family_history", "past_medical_history", "hpi_text", "physical_text", "report")
    if source.has("note"):
        present.extend(note_fields)
    else:
        for name in note_fields:
            absent[name] = "no note module (give --note): note.discharge / note.radiology are the source"
    return present, absent


def build_cases(
    source: Source,
    out: Path,
    config: BuildConfig | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildManifest:
    """Build LDR cases from a checked raw-data source into ``out``: the four split files and build_manifest.json.

    Same source bytes and settings give byte-identical files. Raises MedldrError (one line) on bad input.
    """
    config = config or BuildConfig()
    notify: Progress = progress or (lambda stage, done, total: None)
    out = Path(out)

    return in_build_folder(
        source,
        out,
        config.recorded(),
        (config.threads, config.memory_limit),
        force=force,
        notify=notify,
        work=lambda con, sources: _build(con, source, out, config, sources, notify),
    )


def _build(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    out: Path,
    config: BuildConfig,
    sources: list[SourceFile],
    notify: Progress,
) -> BuildManifest:
    def stage(name: str, work: Callable[[], Any]) -> Any:
        notify(name, 0, 1)
        result = work()
        notify(name, 1, 1)
        return result

    source.register(con)
    has_ed, has_note = source.has("ed"), source.has("note")
    rule = stage(
        "cohort",
        lambda: cohort_sql.create_cohort(
            con, has_ed=has_ed, has_note=has_note, window=config.window, hours=config.hours
        ),
    )
    stage("diagnoses", lambda: (cohort_sql.create_diagnoses(con), cohort_sql.create_case_labels(con)))
    unmapped = cohort_sql.unmapped_icd10(con)
    removed = stage(
        "labs",
        lambda: fields_sql.create_labs(
            con,
            mode=config.labs,
            window=config.window,
            drop_drug_levels=config.drop_drug_levels,
            cut=config.hours is not None,
        ),
    )
    dropped = stage("eligibility", lambda: _eligibility(con))
    space = _label_space(con, config.label_space)
    n_kept = _keep(con, space)
    outside = con.sql("SELECT count(*) FROM screened WHERE reason IS NULL").fetchall()[0][0] - n_kept
    if outside:
        dropped["primary diagnosis outside the label space"] = outside
    stage("microbiology", lambda: fields_sql.create_micro(con, window=config.window))
    stage("history", lambda: (cohort_sql.create_history(con), cohort_sql.create_coded(con)))
    if has_note:
        stage("notes", lambda: fields_sql.create_notes(con, window=config.window))

    labels: dict[str, tuple[str, list[str]]] = {}
    subject_of: dict[str, int] = {}
    for subject, hadm, stay, primary, codes in con.sql(
        "SELECT k.subject_id, k.hadm_id, k.stay_id, k.primary_code, g.codes FROM kept k JOIN gold g USING (hadm_id)"
    ).fetchall():
        case_id = f"{subject}/{hadm}/{stay}"
        labels[case_id] = (primary, codes)
        subject_of[case_id] = subject
    split_of, inference = assign_splits(labels, subject_of, config.ratios, config.seed, config.per_code)
    cases = (
        _case_from_row(row, has_ed=has_ed, has_note=has_note, window=config.window)
        for row in _rows(con, _assembly_query(source))
    )
    counts, per_code = write_split_files(out, cases, split_of, inference, space, len(labels), notify)
    present, absent = _fields(source)
    return write_manifest(
        out,
        source,
        sources,
        settings=config.recorded(),
        space=space,
        counts={"cohort": con.sql("SELECT count(*) FROM cohort").fetchall()[0][0], "cases": len(labels), **counts},
        per_code=per_code,
        dropped=dropped,
        cohort_rule=rule,
        window=cohort_sql.WINDOWS[config.window] + (f"; only the first {config.hours:g} hours" if config.hours else ""),
        fields_present=present,
        fields_absent=absent,
        unmapped_icd10=unmapped,
        removed=removed,
    )


def settings(options: dict[str, Any]) -> BuildConfig:
    """The settings of ``medldr build demo|mimic`` from the build options given (None: not given): the profile's
    (``PROFILES``, default 'study') with the given options on top; a bad value or an eICU-only option is one line
    naming the option."""
    if options.get("codes") is not None:
        raise MedldrError("build: --codes is an option of eICU builds")
    given = {k: v for k, v in options.items() if k != "codes"}
    try:
        return BuildConfig.from_profile(given.pop("profile", None) or "study", **given)
    except ValidationError as err:
        raise option_error(err) from None
