"""How the build scales: the demo replicated N times (fresh subject/hadm ids, so the cohort grows N times).

    python bench/build_scale.py 1 10 100          # prints one line per N: rows, seconds, peak RSS, cases

Each build runs in its own process so its peak RSS (ru_maxrss) is its own. Goal: linear growth, and a full-size
MIMIC-IV build (about 1000x the demo's labevents) within 15 min and 6 GB RSS on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from medldr.sources import DEMO_ROOT

# Columns that hold patient, admission or event ids; each replica k adds k * offset to them.
ID_OFFSETS = {
    "subject_id": 100_000_000,
    "hadm_id": 100_000_000,
    "labevent_id": 1_000_000_000,
    "microevent_id": 1_000_000_000,
}
REPLICATED = ("admissions", "patients", "diagnoses_icd", "labevents", "microbiologyevents")
SHARED = ("d_icd_diagnoses", "d_labitems")


def replicate(n: int, root: Path) -> int:
    """Write the demo's hosp tables replicated ``n`` times under ``root/hosp``; returns the labevents row count."""
    hosp = root / "hosp"
    hosp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")  # stream the copies instead of materialising them
    con.execute("SET memory_limit = '8GB'")
    for table in REPLICATED:
        source = f"read_csv('{DEMO_ROOT / 'hosp' / table}.csv.gz', all_varchar=true)"
        columns = [row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        select = ", ".join(
            f"CAST(CAST({c} AS BIGINT) + k * {ID_OFFSETS[c]} AS VARCHAR) AS {c}" if c in ID_OFFSETS else c
            for c in columns
        )
        con.execute(
            f"COPY (SELECT {select} FROM {source}, range({n}) AS r(k)) "
            f"TO '{hosp / table}.csv.gz' (FORMAT CSV, HEADER, COMPRESSION GZIP)"
        )
    for table in SHARED:
        (hosp / f"{table}.csv.gz").write_bytes((DEMO_ROOT / "hosp" / f"{table}.csv.gz").read_bytes())
    return con.sql(f"SELECT count(*) FROM read_csv('{hosp / 'labevents'}.csv.gz')").fetchall()[0][0]


def _peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forking parent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_build(root: Path, out: Path, threads: int, memory: str) -> None:
    """Child process: build, then print seconds and this process's peak RSS as JSON."""
    from medldr.build import BuildConfig, build_cases
    from medldr.sources import open_mimic

    start = time.perf_counter()
    manifest = build_cases(open_mimic(root), out, BuildConfig(threads=threads, memory_limit=memory), force=True)
    seconds = time.perf_counter() - start
    peak_mb = _peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb, "cases": manifest.counts["cases"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="*", type=int, default=[1, 10, 100], help="replication factors")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--one", nargs=2, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_build(Path(args.one[0]), Path(args.one[1]), args.threads, args.memory_limit)
        return
    print(f"{'N':>5} {'labevents':>12} {'seconds':>8} {'s/M lab rows':>12} {'peak RSS MB':>12} {'cases':>7}")
    rows = []
    for n in args.n:
        with tempfile.TemporaryDirectory(prefix=f"medldr-bench-{n}-") as tmp:
            lab_rows = replicate(n, Path(tmp) / "mimic")
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--one",
                    f"{tmp}/mimic",
                    f"{tmp}/cases",
                    "--threads",
                    str(args.threads),
                    "--memory-limit",
                    args.memory_limit,
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(child.stdout.strip().splitlines()[-1])
        per_million = result["seconds"] / (lab_rows / 1e6)
        rows.append((lab_rows, result["seconds"]))
        print(
            f"{n:>5} {lab_rows:>12,} {result['seconds']:>8.1f} {per_million:>12.2f} "
            f"{result['peak_rss_mb']:>12.0f} {result['cases']:>7}",
            flush=True,
        )
    if len(rows) >= 2:
        (r0, s0), (r1, s1) = rows[-2], rows[-1]
        slope = (s1 - s0) / (r1 - r0)  # seconds per labevents row, from the two largest runs
        full = 118_000_000  # labevents rows of MIMIC-IV 3.1, about 1100x the demo
        print(f"extrapolated full MIMIC-IV ({full:,} labevents rows): {s1 + slope * (full - r1):.0f} s (linear fit)")


if __name__ == "__main__":
    main()
