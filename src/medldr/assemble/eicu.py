"""eICU-CRD -> LDR-eICU cases: the study's second benchmark, built out-of-core in DuckDB.

The study's recipe (HandsomeWuuu/MedLDR ``data/make_ldr_eicu``), and where medldr departs from it:
- Coded diagnoses are ``diagnosis`` rows with a non-empty ``icd9code``. Cohort: ICU stays whose every coded
  diagnosis string is among the ``top_strings`` (100) most frequent ones, with at least one Primary and one Major
  diagnosis (the study's rule).
- A stay's diagnoses: one per diagnosis string (its first row by ``diagnosisid``), grouped by that row's priority
  (Primary, Major, anything else -> other). ``icd9code`` holds several codes in one field (``"518.81, J96.00"``,
  ``"038.9, 995.92, A41.9, R65.20"``). The study took the first comma-separated code as ICD-9 and the second as
  ICD-10, so a field with two ICD-9 codes gave an ICD-9 code as "ICD-10"; medldr's ``codes="medldr"`` (default)
  takes the first ICD-10-shaped code, ``codes="study"`` the study's second token.
- Gold labels: the stays' ICD-10 codes in the label space (the study's 74 codes, ``eicu74``, shipped in
  medldr/eicu74_labels.tsv; or ``topN`` of this cohort), written without dots as every stage compares codes (the study's
  dotted codes stay in the output lists); each label is named, as the study's label list named it, by the diagnosis
  strings behind it (read from the user's tables), else by its ICD-10-CM title. The primary diagnosis is the first
  Primary one. A stay whose primary
  code is outside the label space is dropped (counted), as in the MIMIC build.
- Inputs, as the study renders them: ``patient_info`` (gender, age), ``past_history`` (pastHistory paths without
  their "notes/Progress Notes/Past History/" prefix, deduplicated, "Performed" rows dropped), ``physical_exam``
  (physicalExam "name: text", deduplicated, "Performed - Structured" rows dropped), ``lab_results`` (a CSV of
  offset, name, result, unit: bedside glucose averaged per 4 h as NAME_4h_avg, blood gases (labtypeid 7) the latest
  per name per 30 min, other tests the latest per name per 6 h, by revised offset, sorted by offset and name).
  Rows are taken in id order and ties broken by id (the study's pandas sort left them unspecified); a missing
  gender, age or exam text is written "unknown" / "" (the study's pandas wrote "nan"). The study truncates the lab
  block to 8,168 tokens when it builds the prompt, not here.
- Splits by patient (``uniquepid``), seeded; the inference subset up to ``per_code`` held-out cases per label code,
  seeded (the study sampled 20 stays per diagnosis string, unseeded, and had no training split).
- The inference subset is also written in the study's own format (``inference_study.json``, a JSON list of
  ``{"case_id", "input", "output"}``); ``read_cases`` reads that format too, unchanged.
- Case ids are ``uniquepid/patienthealthsystemstayid/patientunitstayid``: the patient first, so every statistic
  that resamples patients clusters the stays of one patient. The study's own output lists (``all_diseases``,
  ``primary_diseases``, ``major_diseases``, ``other_diseases``: name, icd9code, icd10code) are kept in each case's
  ``output_dict``.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from medldr._files import atomic_write_text
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
from medldr.icd import LabelCode, LabelSpace, eicu74_labels, normalize_code, parse_label_spec
from medldr.schema import (
    INFERENCE_STUDY,
    BuildManifest,
    Case,
    study_codes,
    to_study_eicu,
)
from medldr.sources.eicu import EicuSource

"""The inference subset again, in the study's own format (its eicu_llm_dataset.json), for its scripts."""
HISTORY_PREFIX = "notes/Progress Notes/Past History/"
LAB_HEADER = "labresultoffset,labname,labresult,labmeasurenamesystem"
INPUT_FIELDS = ("patient_info", "past_history", "physical_exam", "lab_results")
_ICD10 = re.compile(r"^(?:[A-DF-UW-Z]\d|E\d\d(?:\.|$))[0-9A-Z]*(?:\.[0-9A-Z]{1,4})?$")


class EicuConfig(BaseModel):
    """Settings of one LDR-eICU build; all of them go into the manifest."""

    model_config = ConfigDict(extra="forbid")

    label_space: str = Field(
        "eicu74", description="'eicu74' (the study's 74 ICD-10 codes), 'topN' of the cohort or a file of ICD-10 codes."
    )
    top_strings: int = Field(100, ge=1, description="Cohort: stays whose coded diagnoses are all among the top N.")
    codes: Literal["medldr", "study"] = Field("medldr", description="How the multi-code icd9code field is read.")
    seed: int = 2025
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)
    per_code: int = Field(20, ge=1, description="Inference subset: held-out cases per label code.")
    memory_limit: str = "4GB"
    threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)

    @field_validator("label_space")
    @classmethod
    def _known_space(cls, value: str) -> str:
        try:
            parsed = parse_label_spec(value)
        except MedldrError as err:
            raise ValueError(str(err)) from None
        if parsed.system == "icd9":
            raise ValueError(f"label space {value!r}: ICD-9 codes; an eICU build's labels are ICD-10 (e.g. eicu74)")
        return value

    _ratios = field_validator("ratios")(classmethod(lambda cls, value: check_ratios(value)))
    _size = field_validator("memory_limit")(classmethod(lambda cls, value: check_size(value)))

    def recorded(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"memory_limit", "threads"})


def split_codes(field: str | None, mode: str = "medldr") -> tuple[str, str]:
    """eICU's ``icd9code`` field -> (ICD-9 code, ICD-10 code), either possibly "".

    >>> split_codes("518.81, J96.00"), split_codes("038.9, 995.92, A41.9, R65.20")
    (('518.81', 'J96.00'), ('038.9', 'A41.9'))
    >>> split_codes("038.9, 995.92, A41.9, R65.20", "study"), split_codes("E87.2"), split_codes("V45.81")
    (('038.9', '995.92'), ('', 'E87.2'), ('V45.81', ''))
    """
    if not field or not field.strip():
        return "", ""
    if mode == "study":
        tokens = field.split(", ")
        return tokens[0].strip(), tokens[1].strip() if len(tokens) > 1 else ""
    tokens = [t.strip().upper() for t in field.split(",") if t.strip()]
    icd10 = next((t for t in tokens if _ICD10.match(t)), "")
    icd9 = tokens[0] if tokens and not _ICD10.match(tokens[0]) else ""
    return icd9, icd10


def _csv_field(column: str) -> str:
    """SQL for a value as pandas' CSV writer prints it (quoted only when it must be; NULL as empty)."""
    text = f"coalesce(CAST({column} AS VARCHAR), '')"
    quoted = f"'\"' || replace({text}, '\"', '\"\"') || '\"'"
    return f"CASE WHEN regexp_matches({text}, '[,\"\\n\\r]') THEN {quoted} ELSE {text} END"


def _create_tables(con: duckdb.DuckDBPyConnection, config: EicuConfig) -> None:
    con.execute(
        """
        CREATE TEMP TABLE dx AS
        SELECT patientunitstayid AS stay, diagnosisid, diagnosisstring AS name, icd9code AS codes,
               diagnosispriority AS priority
        FROM diagnosis WHERE icd9code IS NOT NULL AND trim(icd9code) <> '' AND diagnosisstring IS NOT NULL
        """
    )
    con.execute(
        "CREATE TEMP TABLE top_strings AS SELECT name, count(*) AS n FROM dx GROUP BY name "
        f"ORDER BY n DESC, name LIMIT {int(config.top_strings)}"
    )
    con.execute(
        """
        CREATE TEMP TABLE screened AS
        SELECT d.stay, p.uniquepid, p.patienthealthsystemstayid AS hadm,
               CASE
                 WHEN p.patientunitstayid IS NULL THEN 'no patient row'
                 WHEN p.uniquepid IS NULL THEN 'no uniquepid'
                 WHEN NOT d.all_top THEN 'a coded diagnosis outside the top diagnosis strings'
                 WHEN NOT d.has_primary THEN 'no Primary diagnosis'
                 WHEN NOT d.has_major THEN 'no Major diagnosis'
               END AS reason
        FROM (SELECT stay, bool_and(t.name IS NOT NULL) AS all_top,
                     bool_or(priority = 'Primary') AS has_primary, bool_or(priority = 'Major') AS has_major
              FROM dx LEFT JOIN top_strings t USING (name) GROUP BY stay) d
        LEFT JOIN patient p ON p.patientunitstayid = d.stay
        """
    )
    con.execute("CREATE TEMP TABLE eligible AS SELECT stay, uniquepid, hadm FROM screened WHERE reason IS NULL")
    con.execute(
        """
        CREATE TEMP TABLE stay_dx AS
        SELECT stay, diagnosisid, name, codes, priority FROM (
          SELECT d.*, row_number() OVER (PARTITION BY d.stay, d.name ORDER BY d.diagnosisid) AS rn
          FROM dx d JOIN eligible USING (stay)) WHERE rn = 1
        """
    )


def _create_inputs(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""
        CREATE TEMP TABLE history AS
        SELECT stay, string_agg(item, ', ' ORDER BY pasthistoryid) FILTER (WHERE item IS NOT NULL) AS items,
               count(*) AS n
        FROM (SELECT h.patientunitstayid AS stay, min(h.pasthistoryid) AS pasthistoryid,
                     CASE WHEN starts_with(h.pasthistorypath, '{HISTORY_PREFIX}')
                          THEN replace(h.pasthistorypath, '{HISTORY_PREFIX}', '') END AS item
              FROM pastHistory h JOIN eligible e ON e.stay = h.patientunitstayid
              WHERE h.pasthistoryvaluetext IS DISTINCT FROM 'Performed'
              GROUP BY h.patientunitstayid, h.pasthistorypath, h.pasthistoryvalue, h.pasthistoryvaluetext)
        GROUP BY stay
        """
    )
    con.execute(
        """
        CREATE TEMP TABLE exam AS
        SELECT stay, string_agg(item, ', ' ORDER BY physicalexamid) AS items
        FROM (SELECT x.patientunitstayid AS stay, min(x.physicalexamid) AS physicalexamid,
                     split_part(x.physicalexampath, '/', -1) || ': ' || coalesce(x.physicalexamtext, '') AS item
              FROM physicalExam x JOIN eligible e ON e.stay = x.patientunitstayid
              WHERE x.physicalexamvalue IS DISTINCT FROM 'Performed - Structured' AND x.physicalexampath IS NOT NULL
              GROUP BY x.patientunitstayid, x.physicalexampath, x.physicalexamvalue, x.physicalexamtext)
        GROUP BY stay
        """
    )
    row = " || ',' || ".join(_csv_field(c) for c in ("labresultoffset", "labname", "labresult", "labmeasurenamesystem"))
    con.execute(
        f"""
        CREATE TEMP TABLE labs AS
        WITH base AS (
          SELECT l.* FROM lab l JOIN eligible e ON e.stay = l.patientunitstayid
          WHERE l.labname IS NOT NULL AND l.labresult IS NOT NULL),
        glucose AS (
          SELECT patientunitstayid, CAST(floor(labresultrevisedoffset / 240) * 240 AS BIGINT) AS labresultoffset,
                 labname || '_4h_avg' AS labname, avg(labresult) AS labresult,
                 first(labmeasurenamesystem ORDER BY labid) AS labmeasurenamesystem
          FROM base WHERE labname ILIKE '%glucose%'
          GROUP BY patientunitstayid, floor(labresultrevisedoffset / 240), labname),
        latest AS (
          SELECT patientunitstayid, labresultoffset, labname, labresult, labmeasurenamesystem FROM (
            SELECT *, row_number() OVER (
                PARTITION BY patientunitstayid, labname,
                  CASE WHEN labtypeid = 7 THEN floor(labresultrevisedoffset / 30)
                       ELSE floor(labresultrevisedoffset / 360) END, labtypeid = 7
                ORDER BY labresultrevisedoffset DESC NULLS LAST, labid DESC) AS rn
            FROM base WHERE NOT labname ILIKE '%glucose%') WHERE rn = 1),
        rows AS (SELECT DISTINCT * FROM (SELECT * FROM glucose UNION ALL SELECT * FROM latest))
        SELECT patientunitstayid AS stay,
               string_agg({row}, chr(10) ORDER BY labresultoffset, labname, labresult, labmeasurenamesystem) AS text
        FROM rows GROUP BY patientunitstayid
        """
    )


def _stays(con: duckdb.DuckDBPyConnection, texts: bool) -> Iterator[tuple[Any, ...]]:
    """One row per eligible stay, in (uniquepid, stay) order: its ids and diagnoses in id order, and with ``texts``
    its demographics and input texts too (streamed: a whole eICU's texts never sit in memory at once)."""
    dx = (
        "(SELECT list([name, codes, coalesce(priority, '')] ORDER BY diagnosisid) FROM stay_dx d WHERE d.stay = e.stay)"
    )
    if not texts:
        query = f"SELECT e.uniquepid, e.hadm, e.stay, {dx} FROM eligible e ORDER BY e.uniquepid, e.stay"
    else:
        query = f"""
            SELECT e.uniquepid, e.hadm, e.stay, {dx}, p.gender, p.age, h.items, h.n, x.items, l.text
            FROM eligible e JOIN patient p ON p.patientunitstayid = e.stay
            LEFT JOIN history h ON h.stay = e.stay LEFT JOIN exam x ON x.stay = e.stay
            LEFT JOIN labs l ON l.stay = e.stay
            ORDER BY e.uniquepid, e.stay
            """
    cursor = con.execute(query)  # the connection runs nothing else while the rows stream
    while batch := cursor.fetchmany(2000):
        yield from batch


def _inputs(gender: str | None, age: str | None, history: str | None, n_history: int | None, exam: str | None,
            labs: str | None) -> dict[str, str]:  # fmt: skip
    fields = {
        "patient_info": "Patient demographics and basic information: "
        f"gender: {gender or 'unknown'}, age: {age or 'unknown'}"
    }
    if n_history:
        fields["past_history"] = f"Patient's medical history and past conditions: {history or ''}"
    if exam is not None:
        fields["physical_exam"] = f"Physical examination findings and clinical observations: [{exam}]"
    if labs is not None:
        fields["lab_results"] = f"Laboratory test results with timestamps and measurements:\n{LAB_HEADER}\n{labs}\n"
    return fields


def build_eicu(
    source: EicuSource,
    out: Path,
    config: EicuConfig | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> BuildManifest:
    """Build LDR-eICU cases from checked eICU-CRD tables into ``out`` (the four split files and the manifest).
    Same source bytes and settings give byte-identical files. Raises MedldrError (one line) on bad input."""
    config = config or EicuConfig()
    notify: Progress = progress or (lambda stage, done, total: None)
    out = Path(out)

    def work(con: duckdb.DuckDBPyConnection, sources: list[Any]) -> BuildManifest:
        source.register(con)
        notify("cohort", 0, 1)
        _create_tables(con, config)
        notify("cohort", 1, 1)
        notify("inputs", 0, 1)
        _create_inputs(con)
        notify("inputs", 1, 1)
        return _write(con, source, out, config, sources, notify)

    resources = (config.threads, config.memory_limit)
    return in_build_folder(source, out, config.recorded(), resources, force=force, notify=notify, work=work)


def _diseases(dx: list[list[str]], mode: str) -> dict[str, list[dict[str, str]]]:
    """The study's output lists: every diagnosis, then by priority."""
    groups: dict[str, list[dict[str, str]]] = {k: [] for k in ("all", "primary", "major", "other")}
    for name, codes, priority in dx:
        icd9, icd10 = split_codes(codes, mode)
        disease = {"name": name, "icd9code": icd9, "icd10code": icd10}
        groups["all"].append(disease)
        groups[{"Primary": "primary", "Major": "major"}.get(priority, "other")].append(disease)
    return {f"{k}_diseases": v for k, v in groups.items()}


def _string_names(con: duckdb.DuckDBPyConnection, mode: str) -> dict[str, str]:
    """Each ICD-10 code's name as the study's label list gave it: the top diagnosis strings coded with it, most
    frequent first, joined by "; " (read from these tables, so eICU's vocabulary is never shipped)."""
    strings: dict[str, list[str]] = {}
    for name, codes in con.sql(
        "SELECT t.name, min(d.codes) FROM top_strings t JOIN dx d USING (name) GROUP BY t.name, t.n "
        "ORDER BY t.n DESC, t.name"
    ).fetchall():
        icd10 = normalize_code(split_codes(codes, mode)[1])
        if icd10:
            strings.setdefault(icd10, []).append(name)
    return {code: "; ".join(names) for code, names in strings.items()}


def _space(diagnoses: list[dict[str, list[dict[str, str]]]], config: EicuConfig, names: dict[str, str]) -> LabelSpace:
    """The label space, codes without dots (as every stage compares codes), named by their diagnosis strings where
    the cohort has them, else by their ICD-10-CM title."""
    parsed = parse_label_spec(config.label_space)
    count: Counter[str] = Counter()
    for stay in diagnoses:
        count.update({normalize_code(d["icd10code"]) for d in stay["all_diseases"] if d["icd10code"]})
    if parsed.n is None:
        fixed = parsed.fixed()
        return fixed.model_copy(
            update={
                "labels": tuple(
                    LabelCode(code=label.code, name=names.get(label.code, label.name), count=count.get(label.code, 0))
                    for label in fixed.labels
                ),
                "origin": f"{fixed.origin.split(';')[0]}; named by this cohort's diagnosis strings, else CDC titles",
            }
        )
    titles = {normalize_code(label.code): label.name for label in eicu74_labels()}
    top = sorted(count.items(), key=lambda item: (-item[1], item[0]))[: parsed.n]
    return LabelSpace(
        spec=config.label_space,
        labels=tuple(LabelCode(code=c, name=names.get(c) or titles.get(c, c), count=n) for c, n in top),
        system="icd10",
        origin=f"the {parsed.n} most frequent ICD-10 codes of this cohort, named by its diagnosis strings",
    )


def _labels(diseases: dict[str, list[dict[str, str]]], names: dict[str, str]) -> tuple[str, list[str]]:
    """(primary code, gold codes in the label space) of one stay."""
    primary = next(iter(study_codes(diseases["primary_diseases"])), "")
    return primary, [code for code in study_codes(diseases["all_diseases"]) if code in names]


def _write(
    con: duckdb.DuckDBPyConnection,
    source: EicuSource,
    out: Path,
    config: EicuConfig,
    sources: list[Any],
    notify: Progress,
) -> BuildManifest:
    # pass 1, ids and diagnoses only: the label space, who is kept, the splits and the inference subset
    stays = [(f"{u}/{h}/{s}", str(u), _diseases(dx, config.codes)) for u, h, s, dx in _stays(con, texts=False)]
    space = _space([d for _, _, d in stays], config, _string_names(con, config.codes))
    names = {label.code: label.name for label in space.labels}
    screened = con.sql("SELECT reason, count(*) FROM screened WHERE reason IS NOT NULL GROUP BY 1").fetchall()
    dropped: Counter[str] = Counter(dict(screened))
    labels: dict[str, tuple[str, list[str]]] = {}
    subject_of: dict[str, str] = {}
    for case_id, subject, diseases in stays:
        primary, gold = _labels(diseases, names)
        if primary in names:
            labels[case_id], subject_of[case_id] = (primary, gold), subject
        else:
            dropped["primary ICD-10 code outside the label space" if primary else "no ICD-10 code for the primary"] += 1
    del stays
    split_of, inference = assign_splits(labels, subject_of, config.ratios, config.seed, config.per_code)
    present: Counter[str] = Counter()
    study: list[dict[str, Any]] = []

    def cases() -> Iterator[Case]:
        """Pass 2: every kept stay's case, streamed; the inference cases also in the study's format."""
        for uniquepid, hadm, stay, dx, gender, age, history, n_history, exam, labs in _stays(con, texts=True):
            case_id = f"{uniquepid}/{hadm}/{stay}"
            if case_id not in labels:
                continue
            primary, gold = labels[case_id]
            case = Case(
                case_id=case_id,
                input_dict=_inputs(gender, age, history, n_history, exam, labs),
                output_dict={
                    "output_icd_id": gold,
                    "output_icd_name": [names[c] for c in gold],
                    "output_icd_id_and_name": [f"{c}:{names[c]}" for c in gold],
                    **_diseases(dx, config.codes),
                },
                top_1_icd={"code": primary, "name": names[primary]},
            )
            present.update(k for k in INPUT_FIELDS if getattr(case.input_dict, k, None))
            if case_id in inference:
                study.append(to_study_eicu(case))
            yield case

    counts, per_code = write_split_files(out, cases(), split_of, inference, space, len(labels), notify)
    atomic_write_text(out / INFERENCE_STUDY, json.dumps(study, ensure_ascii=False, indent=2))
    return write_manifest(
        out,
        source,
        sources,
        settings=config.recorded(),
        space=space,
        counts={"cohort": con.sql("SELECT count(*) FROM screened").fetchall()[0][0], "cases": len(labels), **counts},
        per_code=per_code,
        dropped=dropped,
        cohort_rule=(
            f"ICU stays whose coded diagnoses (icd9code not empty) are all among the {config.top_strings} most "
            "frequent diagnosis strings, with at least one Primary and one Major diagnosis, and a primary ICD-10 "
            "code in the label space"
        ),
        window="the whole ICU stay (eICU offsets: minutes from unit admission)",
        fields_present=[k for k in INPUT_FIELDS if present[k]],
        fields_absent={k: "no rows for any case" for k in INPUT_FIELDS if not present[k]},
        unmapped_icd10={},
    )


MIMIC_ONLY = ("window", "hours", "drop_drug_levels", "labs")


def settings(options: dict[str, Any]) -> EicuConfig:
    """The settings of ``medldr build eicu`` from the build options given (None: not given); an option that only a
    MIMIC build reads is refused in one line, as is a bad value, naming the option."""
    given = [name for name in MIMIC_ONLY if options.get(name) is not None]
    if options.get("profile") not in (None, "study"):
        given.insert(0, "profile")
    if given:
        raise MedldrError(f"build eicu: --{given[0].replace('_', '-')} is an option of MIMIC builds")
    mine = {k: v for k, v in options.items() if v is not None and k not in (*MIMIC_ONLY, "profile")}
    try:
        return EicuConfig(**mine)
    except ValidationError as err:
        first = err.errors()[0]
        option = str(first["loc"][0]).replace("_", "-") if first["loc"] else "settings"
        raise MedldrError(f"build eicu: --{option}: {first['msg'].removeprefix('Value error, ')}") from None
