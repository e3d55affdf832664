"""How the LDR-eICU build scales: a synthetic eICU-CRD 2.0 of N ICU stays at the real release's proportions.

    python bench/eicu_build_scale.py 20000 200000     # one line per N: rows, seconds, peak RSS, cases

eICU-CRD 2.0 holds 200,859 stays with about 13 diagnosis rows, 195 lab rows, 6 past-history rows and 46 physical-exam
rows each; the synthetic tables (official columns, .csv.gz, written by DuckDB) keep those ratios. Diagnosis strings
come from a pool of 150 with a skewed frequency, each with an "ICD-9, ICD-10" code field (some with four codes),
so the study's cohort rule keeps a share of the stays as on the real data. Each build runs in its own process, so
its peak RSS (ru_maxrss) is its own. Goal: the full size within 15 min and 6 GB RSS on 2 cores.
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

from medldr.icd import eicu74_labels


def make_tables(n: int, root: Path) -> dict[str, int]:
    """Write the five tables for ``n`` stays; returns their row counts."""
    root.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    codes = [label.code for label in eicu74_labels()]
    pool = [
        (f"organ {i % 12}|finding {i}|disease {i}", f"{400 + i}.{i % 10}, {codes[i % len(codes)]}") for i in range(150)
    ]
    pool[7] = (pool[7][0], f"038.9, 995.92, {codes[7]}, R65.20")  # a field with four codes
    con.execute("CREATE MACRO h(x, k) AS CAST(hash(x) % k AS BIGINT)")  # a signed pseudo-random number below k
    con.execute("CREATE TABLE pool (k INTEGER, name VARCHAR, codes VARCHAR)")
    con.executemany("INSERT INTO pool VALUES (?, ?, ?)", [(i, s, c) for i, (s, c) in enumerate(pool)])
    out = {
        "patient": f"""SELECT s AS patientunitstayid, s // 2 AS patienthealthsystemstayid,
            CASE WHEN s % 2 = 0 THEN 'Male' ELSE 'Female' END AS gender, CAST(20 + s % 70 AS VARCHAR) AS age,
            'Caucasian' AS ethnicity, s % 208 AS hospitalid, 1 AS wardid, 'Sepsis' AS apacheadmissiondx,
            170.0 AS admissionheight, '08:00:00' AS hospitaladmittime24, -60 AS hospitaladmitoffset,
            'Emergency Department' AS hospitaladmitsource, 2014 AS hospitaldischargeyear,
            '10:00:00' AS hospitaldischargetime24, 5000 AS hospitaldischargeoffset, 'Home' AS hospitaldischargelocation,
            'Alive' AS hospitaldischargestatus, 'Med-Surg ICU' AS unittype, '09:00:00' AS unitadmittime24,
            'Emergency Department' AS unitadmitsource, 1 AS unitvisitnumber, 'admit' AS unitstaytype,
            80.0 AS admissionweight, 79.0 AS dischargeweight, '11:00:00' AS unitdischargetime24,
            3000 AS unitdischargeoffset, 'Floor' AS unitdischargelocation, 'Alive' AS unitdischargestatus,
            printf('%03d-%d', s % 1000, s // 3) AS uniquepid
            FROM range({n}) t(s)""",
        "diagnosis": f"""SELECT s * 13 + j AS diagnosisid, s AS patientunitstayid, 'True' AS activeupondischarge,
            j * 60 AS diagnosisoffset, p.name AS diagnosisstring,
            CASE WHEN j = 12 THEN NULL ELSE p.codes END AS icd9code,
            CASE WHEN j = 0 THEN 'Primary' WHEN j < 3 THEN 'Major' WHEN j = 5 THEN NULL ELSE 'Other' END
              AS diagnosispriority
            FROM range({n}) t(s), range(13) u(j)
            JOIN pool p ON p.k = CAST(floor(pow(h(s * 13 + j, 10000) / 10000.0, 3) * 150) AS INTEGER)""",
        "pastHistory": f"""SELECT s * 6 + j AS pasthistoryid, s AS patientunitstayid, 10 AS pasthistoryoffset,
            10 AS pasthistoryenteredoffset, 'Admit' AS pasthistorynotetype,
            'notes/Progress Notes/Past History/Organ Systems/Condition ' || h(s + j, 40) AS pasthistorypath,
            'condition' AS pasthistoryvalue, CASE WHEN j = 5 THEN 'Performed' ELSE 'condition' END
              AS pasthistoryvaluetext
            FROM range({n}) t(s), range(6) u(j)""",
        "physicalExam": f"""SELECT s * 46 + j AS physicalexamid, s AS patientunitstayid, 20 AS physicalexamoffset,
            'notes/Progress Notes/Physical Exam/Physical Exam/Item ' || j || '/' || h(s * 46 + j, 100)
              AS physicalexampath, CAST(h(s * 46 + j, 100) AS VARCHAR) AS physicalexamvalue,
            CAST(h(s * 46 + j, 100) AS VARCHAR) AS physicalexamtext
            FROM range({n}) t(s), range(46) u(j)""",
        "lab": f"""SELECT s * 195 + j AS labid, s AS patientunitstayid,
            h(s * 195 + j, 5000) - 200 AS labresultoffset,
            CASE WHEN j % 9 = 0 THEN 7 ELSE 1 END AS labtypeid,
            CASE WHEN j % 13 = 0 THEN 'bedside glucose' ELSE 'lab test ' || (j % 40) END AS labname,
            round(h(s * 195 + j, 20000) / 100.0, 2) AS labresult, '' AS labresulttext,
            'mg/dL' AS labmeasurenamesystem, 'mg/dL' AS labmeasurenameinterface,
            h(s * 195 + j, 5000) - 190 AS labresultrevisedoffset
            FROM range({n}) t(s), range(195) u(j)""",
    }
    rows = {}
    for name, query in out.items():
        con.execute(f"COPY ({query}) TO '{root / name}.csv.gz' (FORMAT CSV, HEADER, COMPRESSION GZIP)")
        rows[name] = con.sql(f"SELECT count(*) FROM read_csv('{root / name}.csv.gz')").fetchall()[0][0]
    return rows


def build_once(root: Path, out: Path) -> None:
    """Run in a child process: build, then print seconds, peak RSS and the case count as JSON."""
    from medldr.assemble import EicuConfig, build_eicu
    from medldr.sources import open_eicu

    start = time.perf_counter()
    manifest = build_eicu(open_eicu(root), out, EicuConfig(memory_limit="4GB"))
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - start,
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
                "cases": manifest.counts["cases"],
                "inference": manifest.counts["inference"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", type=int, nargs="*", default=[20000])
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        build_once(Path(args.child[0]), Path(args.child[1]))
        return
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            rows = make_tables(n, Path(tmp) / "raw")
            made = time.perf_counter() - start
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(Path(tmp) / "raw"), str(Path(tmp) / "out")],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            result = json.loads(child.stdout.strip().splitlines()[-1])
            print(
                f"eICU {n:,} stays ({rows['diagnosis']:,} diagnosis, {rows['lab']:,} lab rows; tables written in "
                f"{made:.0f} s): build {result['seconds']:.1f} s, peak RSS {result['peak_rss_gb']:.2f} GB, "
                f"{result['cases']:,} cases ({result['inference']:,} inference)"
            )


if __name__ == "__main__":
    main()
