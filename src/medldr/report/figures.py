"""The report's figures (matplotlib, object API: no pyplot state, no display needed).

One style for all: the Okabe-Ito colour-blind-safe palette, labelled axes with units, fixed sizes so a figure's
pixel size is known (FIGURE_INCHES x DPI; the heatmap grows with the number of diseases).
"""

from __future__ import annotations

import functools
import io
import textwrap
from collections.abc import Callable, Sequence
from typing import ParamSpec, TypeVar

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from medldr.report.inputs import ScoredFolder
from medldr.score.reliability import TOP_N

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
DPI = 150
FIGURE_INCHES = (7.0, 4.0)
HEATMAP_WIDTH = 8.0
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
    "svg.hashsalt": "medldr",  # stable SVG ids: the same report twice is the same files
}
LEVELS = ["L1 exact", "L2 same category", "L3 same chapter", "L4 unrelated"]
LEVEL_COLOURS = ["#009E73", "#56B4E9", "#E69F00", "#BBBBBB"]


P = ParamSpec("P")
R = TypeVar("R")


def _styled(function: Callable[P, R]) -> Callable[P, R]:
    """Build the figure under the house style (rc settings are read when axes are made)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def colour(i: int) -> str:
    return OKABE_ITO[i % len(OKABE_ITO)]


def _figure(size: tuple[float, float] = FIGURE_INCHES) -> Figure:
    return Figure(figsize=size, dpi=DPI, layout="constrained")


def _bars(runs: Sequence[ScoredFolder]) -> tuple[Figure, Axes, np.ndarray]:
    """A figure with one axes and a bar position per run."""
    fig = _figure()
    return fig, fig.add_subplot(), np.arange(len(runs))


def _run_ticks(ax: Axes, x: np.ndarray, runs: Sequence[ScoredFolder]) -> None:
    """Run names under the bars, slanted when there are many."""
    crowded = len(runs) > 4
    ax.set_xticks(x, [run.name for run in runs], rotation=25 if crowded else 0, ha="right" if crowded else "center")


def _stack_legend(ax: Axes) -> None:
    """Legend beside a stacked bar chart, top entry = top segment."""
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def _errors(runs: Sequence[ScoredFolder], key: str) -> np.ndarray:
    """(2, n) distances from the point to the CI bounds, in %, (0 where the run has no CI)."""
    out = np.zeros((2, len(runs)))
    for i, run in enumerate(runs):
        if key in run.scores.ci:
            low, high = run.scores.ci[key]
            value = run.scores.mean[key]
            out[:, i] = [max(value - low, 0.0) * 100, max(high - value, 0.0) * 100]
    return out


@_styled
def accuracy_figure(runs: Sequence[ScoredFolder]) -> Figure:
    """Primary accuracy and exact match per run, with CI bars."""
    fig, ax, x = _bars(runs)
    width = 0.38
    for j, (key, label) in enumerate((("primary_accuracy", "Primary accuracy"), ("exact_match", "Exact match"))):
        values = [run.scores.mean[key] * 100 for run in runs]
        ax.bar(
            x + (j - 0.5) * width,
            values,
            width,
            yerr=_errors(runs, key),
            capsize=3,
            label=label,
            color=colour(j),
            ecolor="#333333",
        )
    _run_ticks(ax, x, runs)
    ax.set_ylabel("Cases (%)")
    ax.set_xlabel("Run")
    ax.set_ylim(0, 100)
    ax.set_title("Accuracy with 95% CI")
    if all(run.scores.mean[key] == 0 for run in runs for key in ("primary_accuracy", "exact_match")):
        ax.text(0.5, 0.5, "0% for every run: no case answered right", ha="center", transform=ax.transAxes)
    else:  # bars of height 0 under a legend look like a broken figure
        ax.legend(loc="upper right", frameon=False)
    return fig


@_styled
def relevance_figure(runs: Sequence[ScoredFolder]) -> Figure:
    """Clinical relevance of the predictions to the primary diagnosis, stacked per run."""
    fig, ax, x = _bars(runs)
    bottom = np.zeros(len(runs))
    for level, (label, shade) in enumerate(zip(LEVELS, LEVEL_COLOURS, strict=True), start=1):
        values = np.array([run.scores.mean[f"relevance_{level}"] * 100 for run in runs])
        ax.bar(x, values, 0.6, bottom=bottom, label=label, color=shade, edgecolor="white")
        bottom += values
    _run_ticks(ax, x, runs)
    ax.set_ylabel("Cases (%)")
    ax.set_xlabel("Run")
    ax.set_ylim(0, 100)
    ax.set_title("Clinical relevance of the best prediction to the primary diagnosis")
    _stack_legend(ax)
    return fig


@_styled
def reliability_figure(runs: Sequence[ScoredFolder]) -> Figure | None:
    """Top-n Jaccard across rounds vs n, one line per run; None when no run has two rounds."""
    with_rel = [(i, run) for i, run in enumerate(runs) if run.scores.reliability]
    if not with_rel:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for i, run in with_rel:
        rel, ci = run.scores.reliability or {}, run.scores.reliability_ci or {}
        keys = [f"topn_jaccard_{n}" for n in TOP_N]
        values = np.array([rel[k] * 100 for k in keys])
        ax.plot(TOP_N, values, marker="o", color=colour(i), label=run.name)
        if ci:
            ax.fill_between(
                TOP_N,
                [ci[k][0] * 100 for k in keys],
                [ci[k][1] * 100 for k in keys],
                color=colour(i),
                alpha=0.15,
                linewidth=0,
            )
    ax.set_xticks(TOP_N)
    ax.grid(True, axis="both")
    ax.set_xlabel("n (top-n of the ranked list)")
    ax.set_ylabel("Top-n agreement across rounds (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Reliability: agreement of the rounds' top-n lists (band: 95% CI)")
    ax.legend(frameon=False)
    return fig


@_styled
def miss_overdiagnosis_figure(runs: Sequence[ScoredFolder]) -> Figure:
    """Miss rate vs overdiagnosis rate per run, with CI bars in both directions."""
    fig = _figure()
    ax = fig.add_subplot()
    for i, run in enumerate(runs):
        x, y = run.scores.mean["miss_rate"] * 100, run.scores.mean["overdiagnosis_rate"] * 100
        ax.errorbar(
            [x],
            [y],
            xerr=_errors([run], "miss_rate"),
            yerr=_errors([run], "overdiagnosis_rate"),
            fmt="o",
            color=colour(i),
            capsize=3,
            label=run.name,
        )
    ax.grid(True, axis="both")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("Miss rate: gold codes not predicted (%)")
    ax.set_ylabel("Overdiagnosis rate: predictions not in gold (%)")
    ax.set_title("Missed vs overdiagnosed codes (95% CI)")
    ax.legend(frameon=False, loc="best")
    return fig


TYPE_COLOURS = {"A": "#D55E00", "B": "#0072B2", "C": "#E69F00", "S": "#999999"}
TYPE_LABELS = {
    "A": "A: evidence over-interpretation",
    "B": "B: temporal confusion",
    "C": "C: hierarchy confusion",
    "S": "S: coded for the stay below top 3",
}


def _accuracy_against(ax: Axes, xlabel: str, title: str) -> None:
    """Primary accuracy in % on the y axis (0 to 100) against ``xlabel``, titled, with the runs' legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Primary accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(frameon=False, loc="best")


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> list[bool]:
    """Whether each point is on the cost-accuracy front: no other point costs no more and is at least as accurate,
    and better in one of the two.

    >>> pareto_front([1.0, 2.0, 3.0, 2.0], [0.5, 0.7, 0.6, 0.4])
    [True, True, False, False]
    """
    points = list(zip(costs, accuracies, strict=True))
    return [not any(c <= cost and a >= acc and (c, a) != (cost, acc) for c, a in points) for cost, acc in points]


@_styled
def cost_accuracy_figure(runs: Sequence[ScoredFolder], costs: Sequence[float | None]) -> Figure | None:
    """Primary accuracy (95% CI) against USD per 100 cases, the Pareto front joined and filled, over the runs whose
    cost is known (a run without a price is left out, never drawn as free); None when no run's cost is known."""
    priced = [i for i, cost in enumerate(costs) if cost is not None]
    if not priced:
        return None
    runs, costs = [runs[i] for i in priced], [costs[i] for i in priced]
    x = np.array(costs, dtype=float)
    y = np.array([run.scores.mean["primary_accuracy"] * 100 for run in runs])
    on_front = pareto_front(list(x), list(y))
    fig = _figure()
    ax = fig.add_subplot()
    ax.errorbar(x, y, yerr=_errors(runs, "primary_accuracy"), fmt="none", ecolor="#333333", capsize=3)
    for i, run in enumerate(runs):
        ax.scatter(
            x[i],
            y[i],
            s=45,
            color=colour(i),
            edgecolor="black",
            label=run.name,
            zorder=3,
            facecolor=colour(i) if on_front[i] else "white",
        )
    front = sorted((x[i], y[i]) for i in range(len(runs)) if on_front[i])
    ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="#777777", linestyle="--", zorder=1)
    _accuracy_against(ax, "USD per 100 cases (every round)", "Cost and accuracy (filled: on the Pareto front)")
    return fig


@_styled
def thinking_figure(runs: Sequence[ScoredFolder]) -> Figure | None:
    """Primary accuracy (95% CI) per thinking-length quartile against the quartile's midpoint, one line per run that
    captured or reported reasoning; None when none did."""
    thinking = [(i, run) for i, run in enumerate(runs) if run.scores.thinking]
    if not thinking:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for i, run in thinking:
        bins = run.scores.thinking["bins"]  # type: ignore[index]
        x = np.array([(b["low"] + b["high"]) / 2 for b in bins])
        y = np.array([100 * b["primary_accuracy"] for b in bins])
        cis = [b.get("primary_accuracy_ci") for b in bins]
        err = np.array([[y[j] - 100 * c[0], 100 * c[1] - y[j]] if c else [0, 0] for j, c in enumerate(cis)]).T
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=colour(i), label=run.name)
    ax.set_xscale("symlog")
    _accuracy_against(ax, "Thinking length (tokens; quartile midpoints)", "Accuracy against thinking length (95% CI)")
    return fig


@_styled
def overdiagnosis_figure(runs: Sequence[ScoredFolder]) -> Figure | None:
    """Overdiagnosed codes per answer, stacked by type, per typed run; None when no run was typed."""
    typed = [run for run in runs if run.overdiagnosis]
    if not typed:
        return None
    fig, ax, x = _bars(typed)
    bottom = np.zeros(len(typed))
    for kind in "SCBA":
        values = np.array(
            [
                run.overdiagnosis["counts"].get(kind, 0) / max(run.overdiagnosis["n_answers"], 1)
                for run in typed
                if run.overdiagnosis
            ]
        )
        ax.bar(x, values, 0.6, bottom=bottom, label=TYPE_LABELS[kind], color=TYPE_COLOURS[kind], edgecolor="white")
        bottom += values
    _run_ticks(ax, x, typed)
    ax.set_xlabel("Run")
    ax.set_ylabel("Overdiagnosed codes per answer")
    ax.set_ylim(0, max(bottom.max() * 1.15, 0.1))
    ax.set_title("Why the runs overdiagnosed")
    _stack_legend(ax)
    return fig


def heatmap_inches(n_diseases: int) -> tuple[float, float]:
    return HEATMAP_WIDTH, max(FIGURE_INCHES[1], 1.4 + 0.24 * n_diseases)


@_styled
def per_disease_figure(runs: Sequence[ScoredFolder], codes: Sequence[str]) -> Figure:
    """Primary accuracy per primary diagnosis (rows) and run (columns); blank where a run has no such case. Codes
    are named, and the axis headed, as the runs' scored label spaces name them."""
    names: dict[str, str] = {}
    for run in runs:
        names |= run.scores.label_space.names
    revision = ", ".join(dict.fromkeys(run.scores.label_space.revision for run in runs))
    matrix = np.full((len(codes), len(runs)), np.nan)
    for j, run in enumerate(runs):
        for i, code in enumerate(codes):
            cell = run.scores.per_disease.get(code)
            if cell:
                matrix[i, j] = cell["primary_accuracy"] * 100
    fig = _figure(heatmap_inches(len(codes)))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, aspect="auto", cmap="cividis", vmin=0, vmax=100, interpolation="nearest")
    ax.grid(False)
    ax.set_xticks(np.arange(len(runs)), [run.name for run in runs], rotation=30, ha="right")
    labels = [textwrap.shorten(f"{code} {names.get(code, '')}", 48, placeholder=" …") for code in codes]
    ax.set_yticks(np.arange(len(codes)), labels, fontsize=7)
    ax.set_xlabel("Run")
    ax.set_ylabel(f"Primary diagnosis ({revision})")
    if len(codes) * len(runs) <= 400:
        for (i, j), value in np.ndenumerate(matrix):
            if not np.isnan(value):
                ax.text(
                    j, i, f"{value:.0f}", ha="center", va="center", fontsize=6, color="black" if value > 60 else "white"
                )
    fig.colorbar(image, ax=ax, label="Primary accuracy (%)", shrink=0.8)
    ax.set_title("Primary accuracy per disease")
    return fig


def render(fig: Figure, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes (fixed size: no tight bbox), without time stamps."""
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    with matplotlib.rc_context(STYLE):
        fig.savefig(buffer, format=fmt, dpi=DPI, metadata=metadata)
    return buffer.getvalue()


def _robust(runs: Sequence[ScoredFolder]) -> list[tuple[int, ScoredFolder]]:
    return [(i, run) for i, run in enumerate(runs) if run.robustness and run.robustness.get("kinds")]


@_styled
def robustness_figure(runs: Sequence[ScoredFolder]) -> Figure | None:
    """Flip rate per perturbation kind (95% CI) against the band of the model's own round-to-round flips (its 95%
    CI), one colour per run; None when no run has a robustness summary."""
    compared = _robust(runs)
    if not compared:
        return None
    kinds = list(dict.fromkeys(k["kind"] for _, run in compared for k in run.robustness["kinds"]))  # type: ignore[index]
    fig = _figure((max(FIGURE_INCHES[0], 1.0 + 0.55 * len(kinds)), FIGURE_INCHES[1]))
    ax = fig.add_subplot()
    width = 0.7 / len(compared)
    for j, (i, run) in enumerate(compared):
        entries = {k["kind"]: k for k in run.robustness["kinds"]}  # type: ignore[index]
        noise = next(iter(entries.values()))
        low, high = noise["noise_flip_rate_ci"]
        ax.axhspan(100 * low, 100 * high, color=colour(i), alpha=0.15, lw=0)
        ax.axhline(100 * noise["noise_flip_rate"], color=colour(i), lw=1, ls="--")
        x = np.array([kinds.index(k) for k in entries]) - 0.35 + width * (j + 0.5)
        y = np.array([100 * e["flip_rate"] for e in entries.values()])
        err = np.array([[y[n] - 100 * e["flip_rate_ci"][0], 100 * e["flip_rate_ci"][1] - y[n]] for n, e in
                        enumerate(entries.values())]).T  # fmt: skip
        markers = ["o" if e["expect"] == "invariant" else "s" for e in entries.values()]
        for xi, yi, ei, marker in zip(x, y, err.T, markers, strict=True):
            ax.errorbar([xi], [yi], yerr=ei[:, None], fmt=marker, capsize=3, color=colour(i))
        ax.plot([], [], "o", color=colour(i), label=f"{run.name} (band: its own noise)")
    crowded = len(kinds) > 4
    ax.set_xticks(range(len(kinds)), kinds, rotation=30 if crowded else 0, ha="right" if crowded else "center")
    ax.set_ylabel("Primary-diagnosis flip rate (%)")
    ax.set_ylim(0, 104)
    ax.set_title("Flip rate per perturbation against the model's own noise (95% CI)")
    ax.legend(frameon=False, loc="best")
    return fig


@_styled
def information_curve_figure(runs: Sequence[ScoredFolder]) -> Figure | None:
    """Primary accuracy (95% CI) against the share of the lab lines kept (the lab_first_P kinds; 100%: the original
    cases); None when no run was compared with a truncated lab block."""
    curves = []
    for i, run in _robust(runs):
        points = {}
        for entry in run.robustness["kinds"]:  # type: ignore[index]
            if entry["kind"].startswith("lab_first_"):
                points[int(entry["kind"].rsplit("_", 1)[1])] = (
                    entry["primary_accuracy_perturbed"],
                    entry["primary_accuracy_perturbed_ci"],
                )
                points[100] = (entry["primary_accuracy_original"], entry["primary_accuracy_original_ci"])
        if len(points) > 1:
            curves.append((i, run, dict(sorted(points.items()))))
    if not curves:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for i, run, points in curves:
        x = np.array(list(points))
        y = np.array([100 * v for v, _ in points.values()])
        err = np.array([[y[n] - 100 * ci[0], 100 * ci[1] - y[n]] for n, (_, ci) in enumerate(points.values())]).T
        ax.errorbar(x, y, yerr=err, marker="o", capsize=3, color=colour(i), label=run.name)
    _accuracy_against(ax, "Lab lines kept (% of the block, from the top)", "Information curve (95% CI)")
    return fig
