"""How the build scales: the demo replicated N times (fresh subject/hadm ids, so the cohort grows N times).

    python bench/build_scale.py 1 10 100          # prints one line per N: rows, seconds, peak RSS, cases
    python bench/build_scale.py 1 10 100 --modules   # with synthetic ED (edstays, triage) and note tables

Each build runs in its own process so its peak RSS (ru_maxrss) is its own. ``--modules`` adds, per admission with an
ED registration, an ED stay and its triage row, and per such admission the note module at MIMIC-IV-Note 2.2's
proportions: one discharge summary of about 10 KB with the sections the build reads, and 7 radiology reports of
about 1.5 KB (331k and 2.3M at full size). Goal: linear growth; a full-size build (about 1000x the demo's labevents)
within 15 min and 6 GB RSS on 2 cores with hosp alone, within 10 min and 6 GB with ED and notes (issue 16's aim).
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


DISCHARGE = (
    "Chief Complaint:\nShortness of breath\n \nHistory of Present Illness:\n{filler}\n \nPast Medical History:\n"
    "- Hypertension\n- CKD stage III\n \nSocial History:\n___\nFamily History:\nMother with CAD.\n \n"
    "Physical Exam:\nADMISSION PHYSICAL EXAM:\n{filler}\nDISCHARGE PHYSICAL EXAM:\nclear\n \n"
    "Pertinent Results:\n{filler}\n \nBrief Hospital Course:\n{course}\n \nDischarge Diagnosis:\nCHF\n"
)
RADIOLOGY = "EXAMINATION: CHEST (PA AND LAT)\nINDICATION: dyspnea\nFINDINGS:\n{filler}\nIMPRESSION:\n{filler}"
REPORTS_PER_ADMISSION = 7


def add_modules(n: int, root: Path) -> tuple[int, int]:
    """Synthetic ED and note tables for the replicated admissions; returns (discharge notes, radiology reports)."""
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET memory_limit = '8GB'")
    admissions = f"read_csv('{root / 'hosp' / 'admissions'}.csv.gz', all_varchar=true)"
    ed_rows = f"SELECT * FROM {admissions} WHERE edregtime IS NOT NULL AND edregtime <> ''"
    (root / "ed").mkdir(parents=True, exist_ok=True)
    (root / "note").mkdir(parents=True, exist_ok=True)
    con.execute(
        f"COPY (SELECT subject_id, hadm_id, hadm_id AS stay_id, edregtime AS intime, edouttime AS outtime "
        f"FROM ({ed_rows})) TO '{root / 'ed' / 'edstays'}.csv.gz' (FORMAT CSV, HEADER, COMPRESSION GZIP)"
    )
    con.execute(
        f"COPY (SELECT subject_id, hadm_id AS stay_id, 98.6 AS temperature, 88 AS heartrate, 18 AS resprate, "
        f"97 AS o2sat, 140 AS sbp, 85 AS dbp, '5' AS pain, 'Dyspnea' AS chiefcomplaint FROM ({ed_rows})) "
        f"TO '{root / 'ed' / 'triage'}.csv.gz' (FORMAT CSV, HEADER, COMPRESSION GZIP)"
    )
    filler = "word " * 600  # about 3 KB per filled section
    discharge = DISCHARGE.format(filler=filler, course=filler)
    con.execute(
        f"COPY (SELECT hadm_id || '-DS-1' AS note_id, subject_id, hadm_id, dischtime AS charttime, "
        f"? || hadm_id AS text FROM ({ed_rows})) TO '{root / 'note' / 'discharge'}.csv.gz' "
        "(FORMAT CSV, HEADER, COMPRESSION GZIP)",
        [discharge],
    )
    report = RADIOLOGY.format(filler="word " * 140)
    con.execute(
        f"COPY (SELECT hadm_id || '-RR-' || k AS note_id, subject_id, hadm_id, "
        f"CAST(CAST(edregtime AS TIMESTAMP) + INTERVAL (k) HOUR AS VARCHAR) AS charttime, ? || k AS text "
        f"FROM ({ed_rows}), range({REPORTS_PER_ADMISSION}) AS r(k)) "
        f"TO '{root / 'note' / 'radiology'}.csv.gz' (FORMAT CSV, HEADER, COMPRESSION GZIP)",
        [report],
    )
    notes = con.sql(f"SELECT count(*) FROM ({ed_rows})").fetchall()[0][0]
    return notes, notes * REPORTS_PER_ADMISSION


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
    from medldr.assemble import BuildConfig, build_cases
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
    parser.add_argument("--modules", action="store_true", help="also synthetic ED and note modules")
    parser.add_argument("--one", nargs=2, metavar=("ROOT", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_build(Path(args.one[0]), Path(args.one[1]), args.threads, args.memory_limit)
        return
    print(
        f"{'N':>5} {'labevents':>12} {'notes':>9} {'reports':>10} {'seconds':>8} {'s/M lab rows':>12} "
        f"{'peak RSS MB':>12} {'cases':>7}"
    )
    rows = []
    for n in args.n:
        with tempfile.TemporaryDirectory(prefix=f"medldr-bench-{n}-") as tmp:
            lab_rows = replicate(n, Path(tmp) / "mimic")
            notes, reports = add_modules(n, Path(tmp) / "mimic") if args.modules else (0, 0)
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
            f"{n:>5} {lab_rows:>12,} {notes:>9,} {reports:>10,} {result['seconds']:>8.1f} {per_million:>12.2f} "
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
