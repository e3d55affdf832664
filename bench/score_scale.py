"""Scoring speed: 100,000 cases x 3 rounds of synthetic responses, against a plain per-case Python loop.

    python bench/score_scale.py                 # prints seconds per phase, the loop's, the ratio; checks agreement
    taskset -c 0,1 python bench/score_scale.py --cases 333334   # 1,000,000 responses on 2 cores

Phases timed: extraction, all metrics, reliability, a 1000-resample patient bootstrap. The loop computes the same
definitions case by case with Python sets; its bootstrap is timed on 50 resamples and scaled to 1000.
Goal: 1,000,000 responses (one model's sweep of styles and tasks) scored end to end, with the label-space checks,
micro/macro averages and every CI, within 20 s on 2 cores, and at least 50x the loop.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import numpy as np

from medldr.icd import PAPER40, LabelCode, LabelSpace, category, chapter
from medldr.schema import Case, ResponseRecord
from medldr.score import bootstrap_replicates, extract, percentile_interval, score_responses
from medldr.score.encode import Vocabulary, encode
from medldr.score.metrics import METRICS, per_case
from medldr.score.reliability import reliability

LABELS = list(
    dict.fromkeys([*PAPER40, "5990", "2724", "25000", "4280", "5859", "2859", "V5861", "53081", "3051", "3004"])
)
SPACE = LabelSpace(spec="bench", labels=tuple(LabelCode(code=c, name=c) for c in LABELS), system="icd9")


def synthetic(n_cases: int, rounds: int, seed: int = 0) -> tuple[list[Case], list[tuple[int, ResponseRecord]]]:
    rng = random.Random(seed)
    cases, records = [], []
    for i in range(n_cases):
        gold = rng.sample(LABELS, rng.randint(1, 3))
        cases.append(
            Case.model_validate(
                {
                    "case_id": f"{i // 3}/{i}/0",
                    "input_dict": {},
                    "output_dict": {"output_icd_id": gold, "output_icd_name": gold, "output_icd_id_and_name": gold},
                    "top_1_icd": {"code": gold[0], "name": gold[0]},
                }
            )
        )
    line = 0
    for r in range(rounds):
        for case in cases:
            gold = case.output_dict.output_icd_id
            top = list(dict.fromkeys([*rng.sample(gold, len(gold)), *rng.sample([*LABELS, "9999", "V4581"], 9)]))[:10]
            predictions = top[: rng.randint(1, 3)]
            kind = rng.random()
            if kind < 0.05:
                text, finish = "I am not able to answer.", "stop"
            elif kind < 0.07:
                text, finish = '```json\n{"top10": ["' + top[0], "length"
            else:
                body = json.dumps({"top10": [f"{c}:name" for c in top], "predictions": predictions})
                text, finish = f"<think>reasoning about case {case.case_id}</think>\n```json\n{body}\n```", "stop"
            line += 1
            records.append((line, ResponseRecord(case_id=case.case_id, round=r, text=text, finish_reason=finish)))
    return cases, records


def loop_metrics(gold: list[str], primary: str, pred: list[str], top10: list[str], n_labels: int) -> list[float]:
    """The metric definitions (README, "Score any model's outputs"), one case at a time, with Python sets."""
    g, p = set(gold), set(pred)
    inter = len(g & p)
    union = len(g | p)

    def level(code: str) -> int:
        if code == primary:
            return 1
        if category(code) == category(primary):
            return 2
        return 3 if chapter(code) == chapter(primary) else 4

    best = min((level(c) for c in pred), default=4)
    return [
        float(primary in p),
        float(p == g),
        inter / union,
        inter / len(p) if p else 0.0,
        inter / len(g),
        2 * inter / (len(g) + len(p)),
        (len(g) + len(p) - 2 * inter) / n_labels,
        (len(g) - inter) / len(g),
        (len(p) - inter) / len(p) if p else 0.0,
        *(len(g & set(top10[:k])) / len(g) for k in (3, 5, 10)),
        *(float(best == lv) for lv in (1, 2, 3, 4)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cases, records = synthetic(args.cases, args.rounds)
    print(f"{args.cases:,} cases x {args.rounds} rounds = {len(records):,} responses")

    # ours, phase by phase
    t0 = time.perf_counter()
    answers = [extract(r.text, finish_reason=r.finish_reason) for _, r in records]
    t_extract = time.perf_counter() - t0
    n = len(cases)
    gold = [c.output_dict.output_icd_id for c in cases]
    primary = [c.top_1_icd.code for c in cases]
    t0 = time.perf_counter()
    batches, vocab = [], Vocabulary()  # one vocabulary for all rounds: ids must match across rounds
    for r in range(args.rounds):
        row = answers[r * n : (r + 1) * n]
        batches.append(
            encode(
                gold,
                [a.predictions for a in row],
                primary=primary,
                labels=LABELS,
                top10=[a.top10 for a in row],
                valid=[a.valid for a in row],
                vocab=vocab,
            )
        )
    values = np.stack([per_case(b) for b in batches])
    t_metrics = time.perf_counter() - t0
    t0 = time.perf_counter()
    steady = np.all([b.valid for b in batches], axis=0)
    rel = reliability([b.top10[steady] for b in batches], [b.pred[steady] for b in batches])
    t_reliability = time.perf_counter() - t0
    t0 = time.perf_counter()
    patients = [c.subject_id for c in cases]
    mean_values = values.mean(axis=0)
    how = [m.aggregate for m in METRICS.values()]
    replicates = bootstrap_replicates(mean_values, patients, how=how, n_resamples=1000)
    interval = percentile_interval(replicates)
    t_bootstrap = time.perf_counter() - t0
    ours = t_extract + t_metrics + t_reliability + t_bootstrap

    t0 = time.perf_counter()
    score_responses(cases, records, SPACE, n_resamples=1000)
    t_end_to_end = time.perf_counter() - t0

    # the plain loop, same definitions
    t0 = time.perf_counter()
    loop_answers = [extract(r.text, finish_reason=r.finish_reason) for _, r in records]
    t_loop_extract = time.perf_counter() - t0
    label_set = set(LABELS)
    t0 = time.perf_counter()
    loop_values = []
    for r in range(args.rounds):
        for i in range(n):
            a = loop_answers[r * n + i]
            pred = [c for c in a.predictions if c in label_set]
            loop_values.append(loop_metrics(gold[i], primary[i], pred, list(a.top10), len(LABELS)))
    t_loop_metrics = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop_rel = []
    for i in np.flatnonzero(steady):
        rows = [loop_answers[r * n + i] for r in range(args.rounds)]
        tops = [set(a.top10[:10]) for a in rows]
        preds = [{c for c in a.predictions if c in label_set} for a in rows]
        union = set().union(*tops)
        pred_union = set().union(*preds)
        loop_rel.append(
            (
                len(set.intersection(*tops)) / len(union) if union else 1.0,
                len(set.intersection(*preds)) / len(pred_union) if pred_union else 1.0,
            )
        )
    t_loop_rel = time.perf_counter() - t0
    per_patient: dict[str, list[float]] = {}
    primary_column = [statistics.fmean(loop_values[r * n + i][0] for r in range(args.rounds)) for i in range(n)]
    for patient, value in zip(patients, primary_column, strict=True):
        per_patient.setdefault(patient, []).append(value)
    keys = list(per_patient)
    rng = random.Random(0)
    t0 = time.perf_counter()
    loop_reps = []
    for _ in range(50):
        drawn = rng.choices(keys, k=len(keys))
        total = count = 0.0
        for key in drawn:
            for v in per_patient[key]:
                total += v
                count += 1
        loop_reps.append(total / count)
    t_loop_boot = (time.perf_counter() - t0) * 1000 / 50 * len(METRICS)  # 1000 resamples, every metric
    loop = t_loop_extract + t_loop_metrics + t_loop_rel + t_loop_boot

    # agreement
    ours_flat = values.reshape(-1, values.shape[2])[:, :16]
    bad = ~np.isclose(ours_flat, np.array(loop_values)).all(axis=0)
    assert not bad.any(), f"metrics disagree with the loop: {np.array(list(METRICS))[:16][bad]}"
    assert np.allclose(rel["topn_jaccard_10"], [x[0] for x in loop_rel]), "reliability disagrees"
    assert np.allclose(rel["consistency_all"], [x[1] for x in loop_rel]), "consistency disagrees"
    loop_width = np.percentile(loop_reps, 97.5) - np.percentile(loop_reps, 2.5)
    ours_width = interval[0, 1] - interval[0, 0]
    print(
        "agreement: per-case metrics and reliability identical to the loop; primary-accuracy CI width "
        f"{ours_width:.4f} (ours, 1000 resamples) vs {loop_width:.4f} (loop, 50 resamples)"
    )

    print(f"{'phase':<14}{'ours s':>9}{'loop s':>9}{'ratio':>8}")
    for name, a, b in (
        ("extraction", t_extract, t_loop_extract),
        ("metrics", t_metrics, t_loop_metrics),
        ("reliability", t_reliability, t_loop_rel),
        ("bootstrap", t_bootstrap, t_loop_boot),
        ("total", ours, loop),
    ):
        print(f"{name:<14}{a:>9.2f}{b:>9.2f}{b / a:>8.1f}")
    print(f"score_responses end to end (incl. breakdowns, reliability CI): {t_end_to_end:.2f} s")
    print(f"ratio excluding extraction (the shared parser): {(loop - t_loop_extract) / (ours - t_extract):.0f}x")


if __name__ == "__main__":
    main()
