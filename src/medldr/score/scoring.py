"""Score a set of responses against the cases: extraction, per-round metrics, mean with CIs, reliability, breakdowns.

Pure: it takes records and returns numbers; reading and writing files is the CLI's job.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medldr.answer import Answer, Mode, extract
from medldr.errors import MedldrError
from medldr.icd import LabelSpace
from medldr.schema import Case, ResponseRecord, Scores, study_codes
from medldr.score.bootstrap import (
    Unit,
    bootstrap_replicates,
    boundary_interval,
    percentile_interval,
    resampled_totals,
    statistics,
)
from medldr.score.eicu_metrics import EICU_METRICS, eicu_hits, eicu_summary
from medldr.score.encode import Batch, Vocabulary, encode
from medldr.score.metrics import (
    BINARY,
    LABEL_AVERAGES,
    METRICS,
    aggregate,
    label_averages,
    label_outcomes,
    overdiagnosed_codes,
    per_case,
)
from medldr.score.reliability import reliability
from medldr.score.thinking import by_thinking, thinking_length


@dataclass
class CaseValues:
    """Per-round per-case metric values of one run: what paired comparisons need (written as per_case.csv)."""

    case_ids: list[str]
    patients: list[str]
    values: np.ndarray  # (R, N, K) per-case metric values, K in METRICS order
    rounds: list[int]
    primaries: list[str]
    # a source's own per-case metrics (source scope), name -> (R, N) values, NaN where a case is not counted (a
    # recall over the cases that have a primary diagnosis leaves the others out); per_case.csv columns after METRICS
    extra: dict[str, np.ndarray] = field(default_factory=dict, kw_only=True)


@dataclass
class ScoredRun(CaseValues):
    """Everything computed for one run, kept in memory: the scores, the per-case values and the encoded answers."""

    scores: Scores
    batches: list[Batch]


MISSING = "missing response"
"""The invalid reason of a (case, round) without an answer (scored only with --allow-missing)."""


def latest_records(
    cases: Sequence[Case],
    responses: Iterable[tuple[int, ResponseRecord]],
    *,
    where: str,
    set_aside: frozenset[str] = frozenset(),
) -> dict[tuple[int, int], ResponseRecord]:
    """(round, case position) -> the record that counts: the last answer (a re-asked answer replaces the earlier; an
    endpoint error record never replaces one, and a pair that only errored has none). Responses to the ``set_aside``
    cases (in the cases file, not scored) are skipped."""
    index = {case.case_id: i for i, case in enumerate(cases)}
    latest: dict[tuple[int, int], ResponseRecord] = {}
    for line, record in responses:
        position = index.get(record.case_id)
        if position is None:
            if record.case_id in set_aside:
                continue
            raise MedldrError(f"{where}: line {line}: case {record.case_id} is not in the cases file")
        if record.text is None and (record.model_extra or {}).get("error"):
            continue
        latest[(record.round, position)] = record
    return latest


def answers_by_round(
    cases: Sequence[Case],
    latest: dict[tuple[int, int], ResponseRecord],
    *,
    mode: Mode,
    allow_missing: bool,
    where: str,
    expected_rounds: int | None = None,
) -> tuple[list[int], list[list[Answer]]]:
    """Extract every counted response (``latest_records``), round by round. ``expected_rounds`` (the run
    manifest's): a round without any response is missing too, not silently left out."""
    seen = {r for r, _ in latest}
    rounds = sorted(seen | set(range(expected_rounds or 0)))
    if not rounds:
        raise MedldrError(f"{where}: no responses")
    absent = [r for r in rounds if r not in seen]
    if absent and not allow_missing:
        raise MedldrError(
            f"{where}: round {absent[0]} has no answers (the run asked for {expected_rounds} rounds); pass "
            "--allow-missing to score missing answers as invalid"
        )
    answers: list[list[Answer]] = []
    for r in rounds:
        row = []
        for position, case in enumerate(cases):
            record = latest.get((r, position))
            if record is None:
                if not allow_missing:
                    raise MedldrError(
                        f"{where}: no response for case {case.case_id} in round {r}; pass --allow-missing to score "
                        "missing answers as invalid"
                    )
                row.append(Answer(reason=MISSING))
            else:
                row.append(extract(record.text, finish_reason=record.finish_reason, mode=mode))
        answers.append(row)
    return rounds, answers


def _per_disease(cases: Sequence[Case], mean_values: np.ndarray, values: np.ndarray) -> dict[str, dict[str, float]]:
    names = list(METRICS)
    col = {name: names.index(name) for name in ("primary_accuracy", "missed_codes", "overdiagnosed_codes")}
    primaries = np.array([case.top_1_icd.code for case in cases])
    out = {}
    for code in sorted(set(primaries.tolist())):
        rows = primaries == code
        out[code] = {
            "n": float(rows.sum()),
            "primary_accuracy": float(mean_values[rows, col["primary_accuracy"]].mean()),
            "missed_codes": float(values[:, rows, col["missed_codes"]].sum(axis=1).mean()),
            "overdiagnosed_codes": float(values[:, rows, col["overdiagnosed_codes"]].sum(axis=1).mean()),
        }
    return out


EXCLUSIONS = (
    "cases_primary_outside_label_space",
    "gold_codes_outside_label_space",
    "cases_with_gold_codes_dropped",
    "repeated_gold_codes",
)
"""What scoring sets aside against the label space (the keys of ``scores.json``'s ``excluded``): a case whose primary
is not in the label space cannot be scored on it (the build keeps only such cases); a gold code outside it can never
be predicted; a gold code listed twice is one code."""


def exclusion_lines(excluded: dict[str, int]) -> list[str]:
    """What scoring set aside against the label space, in words (nothing when nothing was)."""
    lines = []
    if excluded.get("cases_primary_outside_label_space"):
        lines.append(
            f"{excluded['cases_primary_outside_label_space']} cases not scored (primary outside the label space)"
        )
    if excluded.get("gold_codes_outside_label_space"):
        lines.append(
            f"{excluded['gold_codes_outside_label_space']} gold codes outside the label space dropped (from "
            f"{excluded.get('cases_with_gold_codes_dropped', 0)} cases)"
        )
    if excluded.get("repeated_gold_codes"):
        lines.append(f"{excluded['repeated_gold_codes']} repeated gold codes counted once")
    if excluded.get("missing_answers"):
        lines.append(f"{excluded['missing_answers']} missing (case, round) answers scored as invalid (--allow-missing)")
    return lines


def against_labels(cases: Sequence[Case], labels: Sequence[str]) -> tuple[list[Case], list[list[str]], dict[str, int]]:
    """(scored cases, their gold codes in the label space, exclusion counts keyed by ``EXCLUSIONS``)."""
    label_set = set(labels)
    kept: list[Case] = []
    gold: list[list[str]] = []
    counts = dict.fromkeys(EXCLUSIONS, 0)
    for case in cases:
        counts["repeated_gold_codes"] += case.output_dict.repeated_codes
        if case.top_1_icd.code not in label_set:
            counts["cases_primary_outside_label_space"] += 1
            continue
        codes = case.output_dict.output_icd_id
        inside = [code for code in codes if code in label_set]
        if len(inside) < len(codes):
            counts["gold_codes_outside_label_space"] += len(codes) - len(inside)
            counts["cases_with_gold_codes_dropped"] += 1
        kept.append(case)
        gold.append(inside)
    return kept, gold, counts


def _per_label(batches: Sequence[Batch], labels: Sequence[str]) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """Per label code, pooled over rounds: support (cases with it in gold), tp, fp, fn, precision, recall, F1; then
    the micro and macro averages. Also the (N, 3L + 1) per-case matrix of tp, fp, fn per code and over-diagnosed
    entries, summed over rounds (ratios of its sums are the averages), from which the averages' bootstrap draws."""
    vocab = batches[0].vocab
    ids = np.array([vocab.id(code) for code in labels], dtype=np.int32)
    n_labels = len(labels)
    counts = np.zeros((batches[0].n, 3 * n_labels + 1), dtype=np.float32)  # summed over rounds: exact integers
    for batch in batches:
        for j, outcome in enumerate(label_outcomes(batch, ids)):
            counts[:, j * n_labels : (j + 1) * n_labels] += outcome
        counts[:, -1] += overdiagnosed_codes(batch)
    totals = counts.sum(axis=0, dtype=np.float64)
    tp, fp, fn = (totals[k * n_labels : (k + 1) * n_labels] for k in range(3))
    support = (tp + fn) / len(batches)  # cases with the code in gold: the same every round
    out = {}
    for i, code in enumerate(labels):
        p = tp[i] / (tp[i] + fp[i]) if tp[i] + fp[i] else 0.0
        r = tp[i] / (tp[i] + fn[i]) if tp[i] + fn[i] else 0.0
        out[code] = {
            "support": float(support[i]),
            "tp": float(tp[i]),
            "fp": float(fp[i]),
            "fn": float(fn[i]),
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
        }
    averages = label_averages(tp, fp, fn, totals[-1])
    for kind in ("micro", "macro"):
        out[f"{kind} avg"] = {
            "support": float(support.sum()),
            "tp": float(tp.sum()),
            "fp": float(totals[-1]),
            "fn": float(fn.sum()),
            **{name: float(averages[f"{kind}_{name}"]) for name in ("precision", "recall", "f1")},
        }
    return out, counts


def _intervals(
    mean_values: np.ndarray,
    label_values: np.ndarray,
    groups: Sequence[str],
    n_labels: int,
    *,
    n_resamples: int,
    seed: int,
    level: float,
) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """Bootstrap intervals of every metric and of the micro and macro averages, from one pass of resampled patients
    (the same draws for both)."""
    how = [m.aggregate for m in METRICS.values()]
    metric_draws, average_draws = [], []
    matrices = [mean_values, label_values]
    for (metric_totals, label_totals), n_cases in resampled_totals(
        matrices, groups, n_resamples=n_resamples, seed=seed
    ):
        metric_draws.append(statistics(metric_totals, n_cases, how))
        label_totals = label_totals.astype(float)
        tp, fp, fn = (label_totals[:, j * n_labels : (j + 1) * n_labels] for j in range(3))
        averages = label_averages(tp, fp, fn, label_totals[:, -1])
        average_draws.append(np.column_stack([averages[name] for name in LABEL_AVERAGES]))
    metric_interval = percentile_interval(np.concatenate(metric_draws), level)
    average_interval = percentile_interval(np.concatenate(average_draws), level)
    return (
        {name: (float(lo), float(hi)) for name, (lo, hi) in zip(METRICS, metric_interval, strict=True)},
        {name: (float(lo), float(hi)) for name, (lo, hi) in zip(LABEL_AVERAGES, average_interval, strict=True)},
    )


def _exact_at_the_boundary(
    ci: dict[str, tuple[float, float]], mean: dict[str, float], n_units: int, level: float
) -> tuple[dict[str, tuple[float, float]], list[str]]:
    """Binary metrics observed at 0 or 1 for every unit get the exact interval (``boundary_interval``) instead of a
    collapsed bootstrap one; returns the intervals and the metrics so treated."""
    out, exact = dict(ci), []
    for name in BINARY:
        value = mean[name]
        if name in out and value in (0.0, 1.0) and out[name][0] == out[name][1]:
            out[name] = boundary_interval(value == 1.0, n_units, level)
            exact.append(name)
    return out, exact


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Scoring allocates millions of small acyclic objects (answers, lists); the cyclic collector's repeated passes
    over them cost more than the scoring itself, and there are no cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def score_responses(
    cases: Sequence[Case],
    responses: Iterable[tuple[int, ResponseRecord]],
    space: LabelSpace,
    *,
    mode: Mode = "robust",
    allow_missing: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    unit: Unit = "patient",
    level: float = 0.95,
    where: str = "responses",
    expected_rounds: int | None = None,
) -> ScoredRun:
    """Score responses ((line, record) pairs) against ``cases`` within the label space ``space`` (its codes, in its
    ICD revision: relevance climbs that revision's tree).

    Every case of ``cases`` whose primary is in the label space is scored in every round seen, on its gold codes in
    the label space (see ``EXCLUSIONS``); a missing answer is an error unless ``allow_missing`` (then it scores as
    invalid).
    """
    with _no_cyclic_gc():
        return _score(
            cases, responses, space, mode, allow_missing, n_resamples, seed, unit, level, where, expected_rounds
        )


def _eicu_metrics(
    cases: Sequence[Case],
    answers: Sequence[Sequence[Answer]],
    labels: Sequence[str],
    patients: Sequence[str],
    n_resamples: int,
    seed: int,
    level: float,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The study's eICU recalls, each case's hits averaged over rounds, intervals over patients; and each recall's
    per-round per-case hits (NaN where the case is not counted), what compare pairs."""
    label_set = set(labels)
    gold = [case.output_dict.output_icd_id for case in cases]
    primaries = [study_codes(getattr(case.output_dict, "primary_diseases", None) or []) for case in cases]
    majors = [study_codes(getattr(case.output_dict, "major_diseases", None) or []) for case in cases]
    rounds = [
        eicu_hits(
            gold,
            primaries,
            majors,
            [[p for p in a.predictions if p in label_set] if a.valid else [] for a in row],
            [list(a.top10) if a.valid else [] for a in row],
        )
        for row in answers
    ]
    hits = np.mean([h for h, _ in rounds], axis=0)
    counted = rounds[0][1] > 0
    per_round = np.stack([np.where(counted, h, np.nan) for h, _ in rounds])  # (R, N, 6)
    summary = eicu_summary(hits, rounds[0][1], patients, n_resamples=n_resamples, seed=seed, level=level)
    return summary, {name: per_round[:, :, k] for k, name in enumerate(EICU_METRICS) if counted[:, k].any()}


def _score(
    cases: Sequence[Case],
    responses: Iterable[tuple[int, ResponseRecord]],
    space: LabelSpace,
    mode: Mode,
    allow_missing: bool,
    n_resamples: int,
    seed: int,
    unit: Unit,
    level: float,
    where: str,
    expected_rounds: int | None,
) -> ScoredRun:
    if not cases:
        raise MedldrError("no cases to score")
    labels = space.codes
    all_ids = frozenset(case.case_id for case in cases)
    cases, gold, excluded = against_labels(cases, labels)
    if not cases:
        raise MedldrError(
            f"none of the {len(all_ids)} cases has its primary diagnosis in the label space ({len(labels)} codes); "
            "score with the label space the cases were built with"
        )
    set_aside = all_ids - {case.case_id for case in cases}
    latest = latest_records(cases, responses, where=where, set_aside=set_aside)
    rounds, answers = answers_by_round(
        cases, latest, mode=mode, allow_missing=allow_missing, where=where, expected_rounds=expected_rounds
    )
    missing = sum(answer.reason == MISSING for row in answers for answer in row)
    if missing:  # counted and said, as the label-space exclusions are
        excluded["missing_answers"] = missing
    vocab = Vocabulary(space.system)
    primary = [case.top_1_icd.code for case in cases]
    batches = [
        encode(
            gold,
            [a.predictions for a in row],
            primary=primary,
            labels=labels,
            top10=[a.top10 for a in row],
            valid=[a.valid for a in row],
            vocab=vocab,
            repeats=mode == "reference",
        )
        for row in answers
    ]
    values = np.stack([per_case(batch) for batch in batches])
    per_round = [
        {"round": float(r), "n": float(len(cases)), **aggregate(v)} for r, v in zip(rounds, values, strict=True)
    ]
    mean_values = values.mean(axis=0)
    mean = aggregate(mean_values)
    patients = [case.subject_id for case in cases]
    groups = patients if unit == "patient" else [case.case_id for case in cases]
    per_label, label_values = _per_label(batches, list(labels))
    averages = {name: per_label[f"{name.split('_')[0]} avg"][name.split("_")[1]] for name in LABEL_AVERAGES}
    ci: dict[str, tuple[float, float]] = {}
    averages_ci: dict[str, tuple[float, float]] = {}
    exact: list[str] = []
    if n_resamples > 0:
        ci, averages_ci = _intervals(
            mean_values, label_values, groups, len(labels), n_resamples=n_resamples, seed=seed, level=level
        )
        ci, exact = _exact_at_the_boundary(ci, mean, len(set(groups)), level)

    rel = rel_ci = None
    if len(rounds) > 1:
        steady = np.all([b.valid for b in batches], axis=0)
        study = mode == "reference"  # the study's overlaps over its lists as written; else Jaccard over sets
        preds = [(b.pred_entries if study else b.pred)[steady] for b in batches]
        parts = reliability([b.top10[steady] for b in batches], preds, study=study)
        if steady.any():  # over no case a statistic is undefined, not 0: reliability is then absent
            rel = {"n_cases": float(steady.sum()), **{k: float(v.mean()) for k, v in parts.items()}}
        if steady.any() and n_resamples > 0:
            matrix = np.column_stack(list(parts.values()))
            steady_groups = [g for g, keep in zip(groups, steady, strict=True) if keep]
            rel_interval = percentile_interval(
                bootstrap_replicates(
                    matrix, steady_groups, how=["mean"] * len(parts), n_resamples=n_resamples, seed=seed
                ),
                level,
            )
            rel_ci = {k: (float(lo), float(hi)) for k, (lo, hi) in zip(parts, rel_interval, strict=True)}

    found = [[thinking_length(latest.get((r, i))) for i in range(len(cases))] for r in rounds]
    names = list(METRICS)
    thinking = by_thinking(
        np.array([[f[0] if f else np.nan for f in row] for row in found], dtype=float),
        values[:, :, names.index("primary_accuracy")],
        values[:, :, names.index("invalid_rate")],
        patients,
        sources={f[1] for row in found for f in row if f},
        n_resamples=n_resamples,
        seed=seed,
        level=level,
    )
    extra, source_values = None, {}
    if space.system == "icd10":  # LDR-eICU: the study's eICU recalls beside the common metrics
        summary, source_values = _eicu_metrics(cases, answers, labels, patients, n_resamples, seed, level)
        extra = {"study_eicu": summary}
    reasons = Counter(a.reason for row in answers for a in row if not a.valid)
    valid_answers = [a for row in answers for a in row if a.valid]
    prefix = sum(a.predictions_are_top_prefix for a in valid_answers) / len(valid_answers) if valid_answers else 0.0
    scores = Scores(
        extraction=mode,
        label_space=space,
        n_cases=len(cases),
        n_patients=len(set(patients)),
        rounds=rounds,
        per_round=per_round,
        mean=mean,
        ci=ci,
        bootstrap={
            "resamples": n_resamples,
            "seed": seed,
            "unit": unit,
            "level": level,
            "method": "percentile",
            **({"exact_clopper_pearson": exact} if exact else {}),
        },
        reliability=rel,
        reliability_ci=rel_ci,
        thinking=thinking,
        invalid_reasons=dict(reasons.most_common()),
        predictions_are_top_prefix=prefix,
        per_disease=_per_disease(cases, mean_values, values),
        per_label=per_label,
        excluded=excluded,
        label_averages=averages,
        label_averages_ci=averages_ci,
        source_metrics=extra,
    )
    return ScoredRun(
        case_ids=[c.case_id for c in cases],
        patients=patients,
        values=values,
        rounds=rounds,
        primaries=primary,
        scores=scores,
        batches=batches,
        extra=source_values,
    )
