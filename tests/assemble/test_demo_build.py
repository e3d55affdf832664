"""The build on the real open demo: counts against an independent query, windows, splits, determinism, formats."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from icdmappings import Mapper

from medldr.assemble import OUTPUT_FILES, BuildConfig, build_cases
from medldr.schema import BuildManifest, Case, read_build_manifest, read_cases, write_cases
from medldr.sources import DEMO_ROOT, open_demo, open_mimic
from tests.conftest import run_cli


def _csv(root: Path, name: str) -> str:
    return f"read_csv('{root / 'hosp' / name}.csv.gz', all_varchar=true)"


def _expected_case_ids(root: Path, top_n: int = 50, window: str = "study") -> set[str]:
    """The kept cases, recomputed independently of medldr: SQL for windows and labs, icd-mappings for ICD-10. The
    study's window: the admission's own events from admittime to dischtime (the demo has no notes); medldr's ed
    window: from ED registration, events without a hadm_id too."""
    con = duckdb.connect()
    events = (
        "l.charttime::TIMESTAMP BETWEEN a.adm AND a.dis AND l.hadm_id::BIGINT = a.hid"
        if window == "study"
        else "l.charttime::TIMESTAMP BETWEEN least(a.ed, a.adm) AND a.dis "
        "AND (l.hadm_id IS NULL OR l.hadm_id::BIGINT = a.hid)"
    )
    with_lab = {
        hadm
        for (hadm,) in con.sql(
            f"""
            WITH adm AS (
                SELECT subject_id::BIGINT AS sid, hadm_id::BIGINT AS hid, edregtime::TIMESTAMP AS ed,
                       admittime::TIMESTAMP AS adm, dischtime::TIMESTAMP AS dis
                FROM {_csv(root, "admissions")} WHERE edregtime IS NOT NULL
            ), labs AS (
                SELECT a.hid, l.itemid, l.value, l.ref_range_lower, l.ref_range_upper,
                       row_number() OVER (PARTITION BY a.hid, l.itemid
                                          ORDER BY l.charttime::TIMESTAMP, l.labevent_id::BIGINT) AS k
                FROM {_csv(root, "labevents")} l JOIN adm a ON l.subject_id::BIGINT = a.sid
                WHERE {events}
                  AND (l.comments IS NULL OR lower(l.comments) NOT LIKE '%cancel%')
            )
            SELECT DISTINCT labs.hid FROM labs JOIN {_csv(root, "d_labitems")} d ON d.itemid = labs.itemid
            WHERE k = 1 AND TRY_CAST(value AS DOUBLE) IS NOT NULL AND ref_range_lower IS NOT NULL
              AND ref_range_upper IS NOT NULL AND d.label <> 'Delete'
            """
        ).fetchall()
    }
    subject_of = dict(con.sql(f"SELECT hadm_id::BIGINT, subject_id FROM {_csv(root, 'admissions')}").fetchall())
    named = {
        code
        for (code,) in con.sql(f"SELECT icd_code FROM {_csv(root, 'd_icd_diagnoses')} WHERE icd_version='9'").fetchall()
    }
    mapper = Mapper()
    labels: dict[int, dict[int, str]] = {}
    for hadm, seq, code, version in con.sql(
        f"SELECT hadm_id::BIGINT, seq_num::INT, icd_code, icd_version FROM {_csv(root, 'diagnoses_icd')} "
        "WHERE seq_num::INT <= 3"
    ).fetchall():
        icd9 = code if version == "9" else mapper.map(code, source="icd10", target="icd9")
        if icd9 and icd9 != "NoDx" and icd9 in named:
            codes = labels.setdefault(hadm, {})
            codes[icd9] = min(seq, codes.get(icd9, seq))
    eligible = {h for h in with_lab if 1 in labels.get(h, {}).values()}
    counts = Counter(code for h in eligible for code in labels[h])
    top = {code for code, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_n]}
    stay = "0"
    return {
        f"{subject_of[h]}/{h}/{stay}"
        for h in eligible
        if next(code for code, seq in labels[h].items() if seq == 1) in top
    }


def _cases(out: Path, name: str) -> list[Case]:
    return read_cases(out / f"{name}.jsonl")


def test_case_set_equals_an_independent_query(
    demo_build: tuple[Path, BuildManifest], demo_root: Path, tmp_path: Path
) -> None:
    study_out = tmp_path / "study"
    study = build_cases(open_demo(), study_out, BuildConfig())  # the default: the study's window
    assert study.settings["window"] == "study" and study.window.startswith("the study's")
    study_built = {case.case_id for split in ("train", "validation", "test") for case in _cases(study_out, split)}
    assert study_built == _expected_case_ids(demo_root, window="study")
    out, manifest = demo_build
    assert manifest.settings["window"] == "ed" and manifest.window.startswith("medldr's")
    built = {case.case_id for split in ("train", "validation", "test") for case in _cases(out, split)}
    expected = _expected_case_ids(demo_root, window="ed")
    assert len(expected) > 30
    assert built == expected
    assert manifest.counts["cases"] == len(expected)
    assert manifest.counts["cohort"] == 182  # demo admissions with an edregtime
    assert sum(d.count for d in manifest.dropped) == manifest.counts["cohort"] - manifest.counts["cases"]


def test_lab_lines_come_from_inside_the_window(demo_build: tuple[Path, BuildManifest], demo_root: Path) -> None:
    """Every rendered lab line matches a labevents row of that patient charted inside [ED arrival, discharge]."""
    out, _ = demo_build
    con = duckdb.connect()
    con.execute(
        f"""
        CREATE TABLE lines AS
        SELECT l.subject_id::BIGINT AS sid, l.charttime::TIMESTAMP AS t,
               concat_ws(',', d.label, d.fluid, d.category, CAST(l.value::DOUBLE AS VARCHAR),
                         coalesce(l.valueuom, 'nan'), CAST(l.ref_range_lower::DOUBLE AS VARCHAR),
                         CAST(l.ref_range_upper::DOUBLE AS VARCHAR)) AS line
        FROM {_csv(demo_root, "labevents")} l JOIN {_csv(demo_root, "d_labitems")} d USING (itemid)
        WHERE TRY_CAST(l.value AS DOUBLE) IS NOT NULL
        """
    )
    windows = {
        f"{s}/{h}/0": (start, end)
        for s, h, start, end in con.sql(
            f"SELECT subject_id, hadm_id, least(edregtime::TIMESTAMP, admittime::TIMESTAMP), dischtime::TIMESTAMP "
            f"FROM {_csv(demo_root, 'admissions')} WHERE edregtime IS NOT NULL"
        ).fetchall()
    }
    checked = 0
    for case in _cases(out, "train") + _cases(out, "test") + _cases(out, "validation"):
        start, end = windows[case.case_id]
        rendered = case.input_dict.lab.splitlines()[2:]
        assert rendered, case.case_id
        for line in rendered:
            line = line.replace("Beta-two", "Beta-2")
            times = [
                t
                for (t,) in con.execute(
                    "SELECT t FROM lines WHERE sid = ? AND line = ?", [int(case.subject_id), line]
                ).fetchall()
            ]
            assert any(start <= t <= end for t in times), (case.case_id, line)
            checked += 1
    assert checked > 1000


def test_no_patient_in_two_splits_and_primary_in_label_space(demo_build: tuple[Path, BuildManifest]) -> None:
    out, manifest = demo_build
    split_of: dict[str, str] = {}
    space = set(manifest.label_space.codes)
    assert len(space) == 50
    for split in ("train", "validation", "test"):
        for case in _cases(out, split):
            assert split_of.setdefault(case.subject_id, split) == split, case.case_id
            assert case.top_1_icd.code in space
            assert case.top_1_icd.code in case.output_dict.output_icd_id
            assert set(case.output_dict.output_icd_id) <= space
            assert case.input_dict.ed_chiefcomplaint is None  # no ED module in the demo
    assert set(split_of.values()) == {"train", "validation", "test"}
    held_out = {c.case_id for s in ("validation", "test") for c in _cases(out, s)}
    inference = {c.case_id for c in _cases(out, "inference")}
    assert inference and inference <= held_out


def test_absent_sources_are_absent_fields_and_reported(demo_build: tuple[Path, BuildManifest]) -> None:
    out, manifest = demo_build
    first = json.loads((out / "train.jsonl").read_text().splitlines()[0])
    assert set(first["input_dict"]) == {"lab", "ed_info", "micro_info"}
    assert first["input_dict"]["ed_info"].startswith("The ED info:\ngender,age approximation\n")
    assert {"ed_chiefcomplaint", "past_medical_history", "report"} <= set(manifest.fields_absent)
    assert "edregtime" in manifest.cohort_rule
    assert read_build_manifest(out / "build_manifest.json") == manifest


def test_same_seed_same_bytes_other_seed_other_split(
    demo_build: tuple[Path, BuildManifest], demo_root: Path, tmp_path: Path
) -> None:
    out, _ = demo_build
    build_cases(open_mimic(demo_root), tmp_path / "a", BuildConfig(threads=1, window="ed"))
    for name in (*OUTPUT_FILES, "build_manifest"):
        suffix = ".json" if name == "build_manifest" else ".jsonl"
        assert (tmp_path / "a" / f"{name}{suffix}").read_bytes() == (out / f"{name}{suffix}").read_bytes(), name
    build_cases(open_demo(), tmp_path / "b", BuildConfig(seed=7, window="ed"))
    first = {c.subject_id for c in _cases(out, "test")}
    second = {c.subject_id for c in _cases(tmp_path / "b", "test")}
    assert first != second
    splits = ("train", "validation", "test")
    assert sum(len(_cases(tmp_path / "b", s)) for s in splits) == sum(len(_cases(out, s)) for s in splits)


def test_bundled_demo_is_the_open_demo(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    """The package's copy gives the same cases as ../shared/data; its manifest path is portable."""
    out, manifest = demo_build
    bundled = build_cases(open_demo(), tmp_path, BuildConfig(window="ed"))
    assert [s.sha256 for s in bundled.sources] == [s.sha256 for s in manifest.sources]
    assert all(s.path.startswith("medldr:mimic_iv_demo/") for s in bundled.sources)
    assert (tmp_path / "train.jsonl").read_bytes() == (out / "train.jsonl").read_bytes()
    assert (DEMO_ROOT / "LICENSE.txt").is_file() and "ODbL" in (DEMO_ROOT / "NOTICE.md").read_text()


def test_medldr_json_list_round_trips(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    """MedLDR's published files are one JSON list (indent 4); they load unchanged and write back losslessly."""
    out, _ = demo_build
    records = [json.loads(line) for line in (out / "test.jsonl").read_text().splitlines()]
    records[0]["report"] = []  # a top-level key some published records carry; must survive
    published = tmp_path / "test_data_top_icd_report.json"
    published.write_text(json.dumps(records, indent=4))
    cases = read_cases(published)
    assert [c.model_dump(mode="json", exclude_none=True) for c in cases] == records
    write_cases(tmp_path / "back.jsonl", cases)
    assert [json.loads(line) for line in (tmp_path / "back.jsonl").read_text().splitlines()] == records


def test_a_full_disk_leaves_the_earlier_build_whole(tmp_path: Path) -> None:
    """A build that runs out of space is one line, exit 2, and the folder still holds the earlier build, its manifest
    matching its files (needs a small tmpfs: root and a kernel that allows the mount, else skipped)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        out = disk / "cases"
        assert run_cli("build", "demo", "--window", "ed", "--out", str(out), "-q").returncode == 0
        before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".medldr.lock"}
        full = run_cli("build", "demo", "--window", "ed", "--labs", "all", "--out", str(out), "-q", "--force")
        assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr
        assert "No space left on device" in full.stderr and len(full.stderr.strip().splitlines()) == 1
        after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".medldr.lock"}
        assert after == before  # no .tmp file left, no split replaced, the manifest still the earlier build's
    finally:
        subprocess.run(["umount", str(disk)], check=False)
