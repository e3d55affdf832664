"""Paper tables as plain data, and their renderings: CSV (raw numbers), Markdown, LaTeX ``booktabs``, HTML cells.

A table holds numbers, never formatted strings, so every rendering shows the same values and the CSV keeps full
precision; the best value of a column is marked where the column says which direction is better.
"""

from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

Unit = Literal["percent", "number", "count", "usd", "p", "text"]


class Estimate(NamedTuple):
    """A point estimate with its confidence interval (``None`` when the run was scored without resampling)."""

    value: float
    low: float | None = None
    high: float | None = None


Value = Estimate | float | int | str | None


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    unit: Unit = "percent"
    better: int = 0  # +1: higher is better, -1: lower is better, 0: no best marked


@dataclass
class Table:
    name: str  # file stem under tables/
    title: str
    columns: list[Column]
    rows: list[dict[str, Value]]
    note: str = ""
    best: dict[str, set[int]] = field(init=False)

    def __post_init__(self) -> None:
        self.best = {column.key: _best_rows(self.rows, column) for column in self.columns}

    def cells(self) -> list[list[tuple[str, bool]]]:
        """Each row's (formatted text, is best) per column: what Markdown, LaTeX and HTML show."""
        return [
            [(format_value(row.get(c.key), c.unit), i in self.best[c.key]) for c in self.columns]
            for i, row in enumerate(self.rows)
        ]


def _number(value: Value) -> float | None:
    """A cell's finite number (a NaN or infinity takes no part in picking the best)."""
    if isinstance(value, Estimate):
        number = value.value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        return None
    return number if math.isfinite(number) else None


def _best_rows(rows: list[dict[str, Value]], column: Column) -> set[int]:
    """Rows holding the column's best value (ties all marked); none when fewer than two rows have a value or all
    values are equal (nothing stands out)."""
    numbers = {i: _number(row.get(column.key)) for i, row in enumerate(rows)}
    numbers = {i: v for i, v in numbers.items() if v is not None}
    if column.better == 0 or len(numbers) < 2 or max(numbers.values()) - min(numbers.values()) < 1e-12:
        return set()
    target = max(numbers.values()) if column.better > 0 else min(numbers.values())
    return {i for i, v in numbers.items() if abs(v - target) < 1e-12}


def _scaled(x: float, unit: Unit) -> str:
    if not math.isfinite(x):  # undefined (e.g. no case to average over): shown as missing, never 'nan' or 'inf'
        return "—"
    if unit == "percent":
        return f"{100 * x:.1f}"
    if unit == "count":
        return f"{x:,.0f}"
    if unit == "usd":
        return f"${x:,.2f}"
    if unit == "p":
        return "<0.001" if x < 0.001 else f"{x:.3f}"
    return f"{x:.2f}"


def format_value(value: Value, unit: Unit) -> str:
    """``61.8 [58.1, 65.2]`` for a percent estimate with its CI; '—' for a missing value.

    >>> format_value(Estimate(0.6183, 0.5812, 0.6521), "percent")
    '61.8 [58.1, 65.2]'
    >>> format_value(Estimate(-0.021, -0.05, 0.01), "percent")
    '-2.1 [-5.0, 1.0]'
    >>> format_value(1234, "count"), format_value(None, "percent"), format_value(0.0004, "p")
    ('1,234', '—', '<0.001')
    >>> format_value(float("nan"), "percent"), format_value(Estimate(float("inf"), None, None), "count")
    ('—', '—')
    """
    if value is None:
        return "unknown" if unit == "usd" else "—"  # a cost without a price is not zero
    if isinstance(value, str):
        return value
    if isinstance(value, Estimate):
        text = _scaled(value.value, unit)
        if value.low is not None and value.high is not None:
            text += f" [{_scaled(value.low, unit)}, {_scaled(value.high, unit)}]"
        return text
    return _scaled(float(value), unit)


def to_csv(table: Table) -> str:
    """Raw numbers at full precision: an estimate becomes three columns (KEY, KEY_ci_low, KEY_ci_high); percents
    stay proportions in [0, 1], as in scores.json."""
    header: list[str] = []
    for column in table.columns:
        header.append(column.key)
        if any(isinstance(row.get(column.key), Estimate) for row in table.rows):
            header += [f"{column.key}_ci_low", f"{column.key}_ci_high"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in table.rows:
        out: list[object] = []
        for column in table.columns:
            value = row.get(column.key)
            with_ci = f"{column.key}_ci_low" in header
            if isinstance(value, Estimate):
                out += [repr(value.value), _raw(value.low), _raw(value.high)]
            else:
                out.append(_raw(value))
                out += ["", ""] if with_ci else []
        writer.writerow(out)
    return buffer.getvalue()


def _raw(value: object) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def _markdown_text(text: str) -> str:
    """Cell text as literal text: Markdown renderers pass HTML through, so a run named ``<img onerror=...>`` would
    run in a reader's browser; ``|`` would split the cell."""
    return html.escape(text, quote=False).replace("|", "/")


def to_markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table; best values in bold."""
    lines = [f"| {' | '.join(_markdown_text(c.label) for c in table.columns)} |"]
    lines.append("|" + "|".join("---" if c.unit == "text" else "---:" for c in table.columns) + "|")
    for cells in table.cells():
        texts = [f"**{_markdown_text(t)}**" if best else _markdown_text(t) for t, best in cells]
        lines.append(f"| {' | '.join(texts)} |")
    if table.note:
        lines += ["", _markdown_text(table.note)]
    return "\n".join(lines) + "\n"


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "—": "---",
}


def latex_escape(text: str) -> str:
    r"""Escape LaTeX's special characters.

    >>> latex_escape("50% of R&D_x")
    '50\\% of R\\&D\\_x'
    """
    return "".join(_LATEX.get(ch, ch) for ch in text)


def to_latex(table: Table) -> str:
    """A ``booktabs`` table (``\\usepackage{booktabs}``); best values in bold."""
    align = "".join("l" if c.unit == "text" else "r" for c in table.columns)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}",
        rf"\label{{tab:{table.name}}}",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(latex_escape(c.label) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    for cells in table.cells():
        texts = [rf"\textbf{{{latex_escape(t)}}}" if best else latex_escape(t) for t, best in cells]
        lines.append(" & ".join(texts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.note:
        lines.append(rf"\par\smallskip\footnotesize {latex_escape(table.note)}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"
