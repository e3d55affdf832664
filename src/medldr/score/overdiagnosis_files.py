"""The overdiagnosis typing's file edge: read a run, type every overdiagnosed code, write overdiagnosis.jsonl and
overdiagnosis_summary.json (the judge, which asks a model, is medldr.judging's)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from medldr._files import atomic_write_lines, atomic_write_text, folder_lock, sha256_file
from medldr.answer import Mode
from medldr.errors import MedldrError
from medldr.icd import normalize_code
from medldr.prompts import richest_task, task_fields
from medldr.schema import OVERDIAGNOSIS, OVERDIAGNOSIS_SUMMARY, Case, OverdiagnosisSummary, read_cases, read_responses
from medldr.score.files import RunInputs, scoring_labels
from medldr.score.overdiagnosis import share_intervals, summarize, type_overdiagnoses
from medldr.score.scoring import against_labels, answers_by_round, latest_records


@dataclass
class Typed:
    records: list[dict[str, Any]]
    summary: dict[str, Any]
    cases: list[Case]


def type_responses(
    cases: list[Case],
    responses_file: Path,
    labels: list[str],
    *,
    mode: Mode = "robust",
    allow_missing: bool = False,
    expected_rounds: int | None = None,
    history_shown: bool = True,
) -> tuple[list[dict[str, Any]], int, dict[str, float]]:
    """Every overdiagnosed code of every (case, round) answer, typed; the number of answers; and the overdiagnosis
    rate (mean over answers of |P \\ G| / |P|, 0 for an empty P, as the metric) with and without the S codes. Cases
    scoring sets aside against the label space (``against_labels``) are set aside here too, and a missing answer is
    refused as scoring refuses it (``allow_missing``: it has no codes to type, and counts as an answer)."""
    every = frozenset(case.case_id for case in cases)
    cases = against_labels(cases, labels)[0]
    where = str(responses_file)
    set_aside = every - {case.case_id for case in cases}
    rounds, answers = answers_by_round(
        cases,
        latest_records(cases, read_responses(responses_file), where=where, set_aside=set_aside),
        mode=mode,
        allow_missing=allow_missing,
        where=where,
        expected_rounds=expected_rounds,
    )
    records: list[dict[str, Any]] = []
    rates: list[tuple[float, float]] = []
    space = set(labels)
    for r, row in zip(rounds, answers, strict=True):
        for case, answer in zip(cases, row, strict=True):
            typed = type_overdiagnoses(case, answer.predictions, labels, history_shown=history_shown)
            records += [t.record(case.case_id, r) for t in typed]
            named = len({normalize_code(p) for p in answer.predictions} & space)
            clinical = sum(t.type != "S" for t in typed)
            rates.append((len(typed) / named, clinical / named) if named else (0.0, 0.0))
    n = len(rates) or 1
    study, without = sum(a for a, _ in rates) / n, sum(b for _, b in rates) / n
    return records, len(rounds) * len(cases), {"overdiagnosis_rate": study, "overdiagnosis_rate_without_S": without}


def type_run(
    inputs: RunInputs,
    *,
    label_space: str | None = None,
    mode: Mode = "robust",
    allow_missing: bool = False,
    task: str | None = None,
) -> Typed:
    """Type a run's overdiagnoses (every overdiagnosed code of every case and round) and summarize them. ``task``:
    the fields the model was shown (default: the run's; else the richest the cases support, the run's default)."""
    cases_file, responses_file = inputs.cases, inputs.responses
    space = scoring_labels(inputs, label_space)
    if space.system != "icd9":  # a verdict only where it is measured: Type C climbs ICD-9's tree (CCS, blocks)
        raise MedldrError(
            f"{inputs.responses}: scored in an {space.revision} label space ({space.spec}); overdiagnosis typing "
            "reads the ICD-9 tree (categories, CCS groups, blocks), so it does not type these codes"
        )
    labels = list(space.codes)
    cases = read_cases(cases_file)[: inputs.n_cases]
    shown = task or inputs.task or richest_task(cases)
    records, n_answers, rates = type_responses(
        cases,
        responses_file,
        labels,
        mode=mode,
        allow_missing=allow_missing,
        expected_rounds=inputs.rounds,
        history_shown="past_medical_history" in task_fields(shown),
    )
    summary = summarize(records, n_answers, {case.case_id: case.top_1_icd.code for case in cases})
    summary |= rates | {"task": shown}
    summary["share_ci"] = share_intervals(records, {case.case_id: case.subject_id for case in cases})
    summary |= {"extraction": mode, "n_cases": len(cases), "responses_sha256": sha256_file(responses_file)}
    return Typed(records, summary, cases)


def write_typed(typed: Typed, out: Path) -> list[Path]:
    """OUT/overdiagnosis.jsonl and OUT/overdiagnosis_summary.json, each written atomically."""
    written = [out / OVERDIAGNOSIS, out / OVERDIAGNOSIS_SUMMARY]
    with folder_lock(out):
        atomic_write_lines(written[0], (orjson.dumps(r).decode() for r in typed.records))
        OverdiagnosisSummary.model_validate(typed.summary)  # what is written is what the file contract reads
        atomic_write_text(written[1], json.dumps(typed.summary, indent=2))
    return written
