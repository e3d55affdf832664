"""Calibration of every p-value `medldr compare` reports, on seeded clustered null datasets.

    python bench/compare_null.py                   # 1000 datasets per scenario; prints the rejection rate at 0.05
    python bench/compare_null.py --datasets 300    # quicker

Datasets come from ``medldr.score.null_simulation`` (patients with 1-4 admissions, three near-identical rounds, each
side right on its own half of the patients: no real difference, strong clustering). Scenarios: two runs; two groups
of two runs (CIs conditional on the models); two groups of three with --resample-models. For reference it also
prints the exact McNemar over pooled (case, round) pairs that medldr reported before (invalid under clustering).
Goal: every reported p-value's rejection rate within 0.03 of 0.05.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from medldr.score.compare import compare_runs
from medldr.score.metrics import METRICS
from medldr.score.null_simulation import null_runs

COLUMN = list(METRICS).index("primary_accuracy")


def pooled_mcnemar(a: np.ndarray, b: np.ndarray) -> float:
    """The former test: exact McNemar over every (case, round) pair as if independent."""
    only_a, only_b = int((a > b).sum()), int((a < b).sum())
    n = only_a + only_b
    if n == 0:
        return 1.0
    return min(1.0, 2 * sum(math.comb(n, k) for k in range(min(only_a, only_b) + 1)) / 2**n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--resamples", type=int, default=999)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    scenarios = [("two runs", 1, False), ("two groups of 2", 2, False), ("two groups of 3, --resample-models", 3, True)]
    start = time.perf_counter()
    worst = 0.0
    for title, per_side, resample_models in scenarios:
        rejections: dict[str, int] = {}
        for i in range(args.datasets):
            runs, sides = null_runs(rng, per_side=per_side)
            result = compare_runs(
                runs,
                "primary_accuracy",
                groups=sides if per_side > 1 else None,
                resample_models=resample_models,
                n_resamples=args.resamples,
                seed=i,
            )
            for test, p in result["differences"][0]["p"].items():  # type: ignore[index]
                rejections[test] = rejections.get(test, 0) + (p < 0.05)
            if per_side == 1:
                a, b = (runs[name].values[:, :, COLUMN].ravel() for name in ("a1", "b1"))
                rejections["(former) pooled exact McNemar"] = rejections.get("(former) pooled exact McNemar", 0) + (
                    pooled_mcnemar(a, b) < 0.05
                )
        print(f"{title}: {args.datasets} null datasets, rejection rate at 0.05")
        for test, hits in rejections.items():
            rate = hits / args.datasets
            if not test.startswith("(former)"):
                worst = max(worst, abs(rate - 0.05))
            print(f"  {test:34s} {rate:.3f}")
    print(f"largest distance from 0.05 among reported p-values: {worst:.3f} (goal <= 0.03)")
    print(f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
