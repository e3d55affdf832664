"""Report speed at scale: four runs of 100,000 synthetic cases x 3 rounds (two groups), from scores to index.html.

    python bench/report_scale.py                  # prints seconds per phase and peak RSS
    python bench/report_scale.py --cases 20000

Phases: scoring each run and writing its scores.json + per_case.csv (the score stage), then `write_report` (reading
the per-case values back, the group comparison with 1000 paired resamples for 9 metrics, tables, figures, HTML).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from score_scale import SPACE, synthetic

from medldr.report import write_report
from medldr.score import score_responses
from medldr.score.files import write_scores


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="medldr-report-bench-"))
    cases, _ = synthetic(args.cases, 1, seed=0)
    folders, score_s = [], 0.0
    for seed in range(args.runs):
        _, records = synthetic(args.cases, 3, seed=seed)
        start = time.perf_counter()
        scored = score_responses(cases, records, SPACE, n_resamples=1000)
        folder = work / f"run{seed}"
        write_scores(scored, folder / "scores.json")
        score_s += time.perf_counter() - start
        folders.append(folder)
        size = (folder / "per_case.csv").stat().st_size / 2**20
    half = args.runs // 2
    start = time.perf_counter()
    written = write_report(folders, work / "report", groups={"a": folders[:half], "b": folders[half:]})
    report_s = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"{args.runs} runs x {args.cases:,} cases x 3 rounds; per_case.csv {size:.0f} MB per run")
    print(f"score + write (all runs)   {score_s:7.1f} s")
    print(f"report (read, compare, tables, figures, HTML)   {report_s:7.1f} s")
    print(f"index.html {written.index.stat().st_size / 2**20:.1f} MB; peak RSS {rss:.2f} GiB")


if __name__ == "__main__":
    main()
