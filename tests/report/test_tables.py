"""Table renderings on hand-made tables: formatting, best marks, escaping, raw CSV numbers."""

from __future__ import annotations

import csv
import io

from medldr.report.tables import Column, Estimate, Table, to_csv, to_latex, to_markdown

COLUMNS = [
    Column("run", "Run", "text"),
    Column("acc", "Accuracy", better=1),
    Column("miss", "Miss rate", better=-1),
    Column("l2", "Same category"),
    Column("cost", "Cost", "usd"),
]


def _table() -> Table:
    rows = [
        {
            "run": "gpt_4.1 & co",
            "acc": Estimate(0.618, 0.581, 0.652),
            "miss": Estimate(0.30, 0.2, 0.4),
            "l2": 0.1,
            "cost": 1.5,
        },
        {"run": "o3", "acc": Estimate(0.55, 0.5, 0.6), "miss": Estimate(0.25, 0.2, 0.3), "l2": 0.3, "cost": None},
        {"run": "v3", "acc": Estimate(0.618, 0.59, 0.66), "miss": Estimate(0.4, 0.3, 0.5), "l2": 0.2, "cost": 0.25},
    ]
    return Table("t", "A 50% table", COLUMNS, rows, note="note_1")


def test_best_marks_follow_the_direction_and_ties() -> None:
    table = _table()
    assert table.best == {"run": set(), "acc": {0, 2}, "miss": {1}, "l2": set(), "cost": set()}


def test_no_best_when_all_equal() -> None:
    rows = [{"run": "a", "acc": Estimate(0.0)}, {"run": "b", "acc": Estimate(0.0)}]
    assert Table("t", "T", COLUMNS[:2], rows).best["acc"] == set()


def test_markdown_cells() -> None:
    lines = to_markdown(_table()).splitlines()
    assert lines[0] == "| Run | Accuracy | Miss rate | Same category | Cost |"
    assert lines[1] == "|---|---:|---:|---:|---:|"
    assert lines[2] == "| gpt_4.1 &amp; co | **61.8 [58.1, 65.2]** | 30.0 [20.0, 40.0] | 10.0 | $1.50 |"
    assert (
        lines[3] == "| o3 | 55.0 [50.0, 60.0] | **25.0 [20.0, 30.0]** | 30.0 | unknown |"
    )  # a cost without a price is unknown, never a dash or $0
    assert lines[-1] == "note_1"


def test_latex_is_booktabs_and_escaped() -> None:
    tex = to_latex(_table())
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\caption{A 50\% table}" in tex and r"\begin{tabular}{lrrrr}" in tex
    assert r"gpt\_4.1 \& co & \textbf{61.8 [58.1, 65.2]} & 30.0 [20.0, 40.0] & 10.0 & \$1.50 \\" in tex
    assert r"o3 & 55.0 [50.0, 60.0] & \textbf{25.0 [20.0, 30.0]} & 30.0 & unknown \\" in tex


def test_csv_keeps_raw_numbers() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(_table()))))
    assert list(rows[0]) == [
        "run",
        "acc",
        "acc_ci_low",
        "acc_ci_high",
        "miss",
        "miss_ci_low",
        "miss_ci_high",
        "l2",
        "cost",
    ]
    assert float(rows[0]["acc"]) == 0.618 and float(rows[0]["acc_ci_high"]) == 0.652
    assert rows[1]["cost"] == "" and rows[0]["run"] == "gpt_4.1 & co"


def test_undefined_numbers_and_markup_in_names_render_safely() -> None:
    """NaN and infinity are shown as missing (not 'nan' / 'inf') and never marked best; a run named like HTML is
    literal text in the Markdown (a renderer would have run it) and in the LaTeX."""
    rows = [
        {"run": "<img src=x onerror=alert(2)>", "acc": Estimate(float("nan")), "miss": float("inf"), "cost": 1.0},
        {"run": "b", "acc": Estimate(0.5, 0.4, 0.6), "miss": 0.2, "cost": 2.0},
        {"run": "c", "acc": Estimate(0.4, 0.3, 0.5), "miss": 0.3, "cost": float("-inf")},
    ]
    table = Table("t", "T", COLUMNS, rows)
    assert table.best["acc"] == {1} and table.best["miss"] == {1}
    markdown = to_markdown(table)
    assert "<img" not in markdown and "&lt;img src=x onerror=alert(2)&gt;" in markdown
    assert not any(word in markdown.lower() for word in ("nan", "inf"))
    assert "| — | — |" in markdown
    assert "nan" not in to_latex(table).lower()
