"""Walks the metric registry: every entry reaches scores.json, per_case.csv, the console table and the report, as
the entry describes itself (label, direction, binary), so adding a metric is one entry in score/metrics.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from medldr.score.metrics import BINARY, METRICS
from tests.conftest import run_cli

TABLES = {"accuracy", "assistance", "usage"}


def test_every_metric_reaches_every_output(report: Path, scored_runs: list[Path], tmp_path: Path) -> None:
    folder = scored_runs[0]
    scores = json.loads((folder / "scores.json").read_text())
    with open(folder / "per_case.csv", newline="") as fh:
        per_case_header = next(csv.reader(fh))
    console = run_cli("score", str(folder), "--out", str(tmp_path / "scores.json"), "--resamples", "20")
    assert console.returncode == 0, console.stderr
    console_keys = {line.split("│")[1].split()[0] for line in console.stdout.splitlines() if line.count("│") >= 2}
    report_columns: dict[str, list[str]] = {}
    for table in TABLES:
        with open(report / "tables" / f"{table}.csv", newline="") as fh:
            report_columns[table] = next(csv.reader(fh))
    markdown = {table: (report / "tables" / f"{table}.md").read_text() for table in TABLES}
    with open(report / "tables" / "comparison.csv", newline="") as fh:
        compared = [row["metric"] for row in csv.DictReader(fh)]

    for name, metric in METRICS.items():
        assert name in scores["mean"] and name in scores["ci"] and name in scores["per_round"][0], name
        assert name in per_case_header, name
        assert name in console_keys, name
        assert metric.table in TABLES, name
        assert name in report_columns[metric.table] and f"{name}_ci_low" in report_columns[metric.table], name
        assert f" {metric.label} " in markdown[metric.table].splitlines()[0], name
        assert (metric.label in compared) == metric.compared, name
        assert metric.better in (-1, 0, 1) and metric.aggregate in ("mean", "sum"), name
    assert list(METRICS)[: len(per_case_header) - 4] == per_case_header[4:]  # registry order = column order


def test_binary_metrics_are_zero_one_and_get_mcnemar(scored_runs: list[Path], tmp_path: Path) -> None:
    """A metric declared binary has 0/1 per-case values (so an exact paired test is valid), and compare runs one."""
    with open(scored_runs[0] / "per_case.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for name, metric in METRICS.items():
        values = {float(row[name]) for row in rows}
        if metric.binary:
            assert values <= {0.0, 1.0}, name
    assert set(BINARY) == {name for name, m in METRICS.items() if m.binary}
    for name in ("primary_accuracy", "jaccard"):
        out = tmp_path / f"{name}.json"
        result = run_cli(
            "compare",
            str(scored_runs[0]),
            str(scored_runs[1]),
            "--metric",
            name,
            "--out",
            str(out),
            "--resamples",
            "50",
        )
        assert result.returncode == 0, result.stderr
        assert ("mcnemar_clustered" in json.loads(out.read_text())["differences"][0]["p"]) == METRICS[name].binary


def test_compare_prints_the_units_score_prints(scored_runs: list[Path], tmp_path: Path) -> None:
    """Issue 19: `score` printed percentages, `compare` proportions to 4 decimals. Human output is in percent (its
    differences in points), the JSON in proportions."""
    from rich.console import Console

    from medldr._console import comparison_table
    from medldr.score.files import read_scored

    scores, _ = read_scored(scored_runs[0])
    out = tmp_path / "c.json"
    args = [str(scored_runs[0]), str(scored_runs[1]), "--metric", "primary_accuracy", "--out", str(out)]
    assert run_cli("compare", *args, "--resamples", "50").returncode == 0
    result = json.loads(out.read_text())
    assert result["runs"]["primary_accuracy"][str(scored_runs[0])]["value"] == pytest.approx(
        scores.mean["primary_accuracy"]
    )
    console = Console(width=300, record=True, file=open(tmp_path / "screen", "w"))  # noqa: SIM115
    console.print(comparison_table(result))
    text = console.export_text()
    assert f"{100 * scores.mean['primary_accuracy']:.1f} [" in text and "primary_accuracy (%)" in text
    assert f"{scores.mean['primary_accuracy']:.4f}" not in text and "percentage points" in text
