"""Bad MIMIC-IV layouts: each fails with one line naming the file and what is wrong, and exit code 2."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from tests.conftest import cli_in_process, run_cli
from tests.mimic_tables import mini_mimic, write_table


def _one_line_error(args: list[str], *expected: str) -> str:
    result = cli_in_process("build", "mimic", *args, "--quiet")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def hosp_copy(demo_root: Path, tmp_path: Path) -> Path:
    """A writable copy of the demo's hosp tables."""
    root = tmp_path / "mimic"
    shutil.copytree(demo_root / "hosp", root / "hosp")
    return root


def test_missing_table(hosp_copy: Path, tmp_path: Path) -> None:
    (hosp_copy / "hosp" / "d_labitems.csv.gz").unlink()
    _one_line_error(
        ["--root", str(hosp_copy), "--out", str(tmp_path / "o")],
        "table hosp/d_labitems not found",
        str(hosp_copy / "hosp"),
    )
    assert not (tmp_path / "o").exists()


def test_renamed_column(hosp_copy: Path, tmp_path: Path) -> None:
    path = hosp_copy / "hosp" / "labevents.csv.gz"
    with gzip.open(path, "rt") as fh:
        text = fh.read()
    with gzip.open(path, "wt") as fh:
        fh.write(text.replace("charttime", "chart_time", 1))
    _one_line_error(["--root", str(hosp_copy), "--out", str(tmp_path / "o")], str(path), "missing column 'charttime'")


def test_truncated_gzip(hosp_copy: Path, tmp_path: Path) -> None:
    path = hosp_copy / "hosp" / "labevents.csv.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _one_line_error(["--root", str(hosp_copy), "--out", str(tmp_path / "o")], str(path), "truncated or corrupt gzip")


def test_truncated_gzip_found_late(hosp_copy: Path, tmp_path: Path) -> None:
    """A file whose head is intact (the column check passes) fails during the build, still naming the file."""
    path = hosp_copy / "hosp" / "labevents.csv.gz"
    with gzip.open(path, "rt") as fh:
        text = fh.read()
    big = text + "".join(text.splitlines(keepends=True)[1:]) * 30
    path.write_bytes(gzip.compress(big.encode(), compresslevel=1)[:-5000])
    _one_line_error(["--root", str(hosp_copy), "--out", str(tmp_path / "o")], str(path), "truncated or corrupt gzip")


def test_empty_note_table(tmp_path: Path) -> None:
    root = mini_mimic(tmp_path / "mimic")
    write_table(root, "note/discharge", [])
    _one_line_error(["--root", str(root), "--out", str(tmp_path / "o")], "note/discharge", "is empty (0 rows)")


@pytest.mark.parametrize("table", ["hosp/admissions", "hosp/diagnoses_icd", "hosp/labevents"])
def test_a_header_only_core_table_is_named(table: str, tmp_path: Path) -> None:
    """Was 'the cohort has no eligible cases', naming no file."""
    root = mini_mimic(tmp_path / "mimic")
    write_table(root, table, [])
    _one_line_error(["--root", str(root), "--out", str(tmp_path / "o")], table, "is empty (0 rows); every case needs")


def test_missing_folder_and_bad_options(tmp_path: Path) -> None:
    _one_line_error(["--root", str(tmp_path / "nowhere")], "no such MIMIC-IV folder")
    root = mini_mimic(tmp_path / "mimic")
    _one_line_error(["--root", str(root), "--ratios", "0.8,0.1"], "--ratios")
    _one_line_error(["--root", str(root), "--label-space", "top-ten"], "label space 'top-ten'")
    _one_line_error(["--root", str(root), "--labs", "latest"], "--labs")


def test_refuses_to_replace_a_different_build(tmp_path: Path) -> None:
    root = mini_mimic(tmp_path / "mimic")
    out = tmp_path / "cases"
    assert (
        run_cli("build", "mimic", "--root", str(root), "--out", str(out), "-q", "--label-space", "paper40").returncode
        == 0
    )
    before = (out / "train.jsonl").read_bytes()
    _one_line_error(["--root", str(root), "--out", str(out), "--seed", "1", "--label-space", "paper40"], "--force")
    assert (out / "train.jsonl").read_bytes() == before
    again = run_cli("build", "mimic", "--root", str(root), "--out", str(out), "-q", "--label-space", "paper40")
    assert again.returncode == 0, again.stderr  # the same build may be repeated


def test_build_source_and_paths_are_checked(tmp_path: Path) -> None:
    for args, text in (
        (["build", "mimic"], "build mimic needs --root"),
        (["build", "hirid"], "expected demo or mimic or eicu"),
        (["build", "demo", "--root", str(tmp_path)], "--root, --ed, --note and --release are for build mimic"),
    ):
        result = cli_in_process(*args, "--out", str(tmp_path / "o"))
        assert result.returncode == 2 and text in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_unbounded_numbers_are_refused(tmp_path: Path) -> None:
    """Values that hung, exhausted memory or were silently accepted (issue 14) stop at the option, exit 2."""
    cases = tmp_path / "c.jsonl"
    for args, option in (
        (["build", "demo", "--threads", "100000"], "--threads"),
        (["compare", str(tmp_path), str(tmp_path), "--resamples", "0"], "--resamples"),
        (["compare", str(tmp_path), str(tmp_path), "--resamples", "100000000"], "--resamples"),
        (["score", str(tmp_path), "--resamples", "-5"], "--resamples"),
        (["run", str(cases), "--model", "vllm:m", "--timeout", "-1"], "--timeout"),
        (["run", str(cases), "--model", "vllm:m", "--timeout", "0"], "--timeout"),
    ):
        result = cli_in_process(*args, "--out", str(tmp_path / "o"))
        assert result.returncode == 2 and option in result.stderr and "Traceback" not in result.stderr, args


def test_an_unwritable_out_is_one_line(tmp_path: Path) -> None:
    """A file where the output folder should be, or a folder medldr may not write (the OS's own errors: a full disk
    ends the same way), is one line naming the path."""
    taken = tmp_path / "taken"
    taken.write_text("a user's file\n")
    result = cli_in_process("build", "demo", "--out", str(taken), "-q")
    assert result.returncode == 2 and f"{taken}: cannot write here" in result.stderr
    assert taken.read_text() == "a user's file\n"


def test_a_parquet_value_of_the_wrong_type_names_its_file_and_column(tmp_path: Path) -> None:
    """DuckDB's conversion error for a Parquet table names no file (issue 14): the line must name the file, the
    column and the value."""
    import duckdb

    root = mini_mimic(tmp_path / "mimic")
    csv = root / "hosp" / "admissions.csv.gz"
    parquet = root / "hosp" / "admissions.parquet"
    duckdb.sql(
        f"COPY (SELECT * REPLACE (CASE WHEN hadm_id = '200' THEN 'x200' ELSE hadm_id END AS hadm_id) "
        f"FROM read_csv('{csv}', all_varchar=true)) TO '{parquet}' (FORMAT parquet)"
    )
    csv.unlink()
    _one_line_error(
        ["--root", str(root), "--out", str(tmp_path / "o")], f"{parquet}: column 'hadm_id'", "'x200'", "BIGINT"
    )
    assert not (tmp_path / "o" / "train.jsonl").exists()
