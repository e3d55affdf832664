"""`medldr report` on scored runs: the tables hold scores.json's numbers, the figures are real images of the
expected size, the HTML is self-contained, and bad input fails in one line."""

from __future__ import annotations

import csv
import json
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from medldr.report.figures import DPI, FIGURE_INCHES, heatmap_inches
from medldr.report.tables import Estimate, format_value
from tests.conftest import cli_in_process, run_cli

FIGURES = ["accuracy", "relevance", "reliability", "miss_overdiagnosis", "per_disease", "overdiagnosis"]


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _scores(folder: Path) -> dict:
    return json.loads((folder / "scores.json").read_text())


def test_model_tables_hold_the_scores(report: Path, scored_runs: list[Path]) -> None:
    for table, keys in (
        ("accuracy", ["primary_accuracy", "jaccard", "overdiagnosis_rate"]),
        ("assistance", ["recall_at_10", "relevance_1", "relevance_4"]),
    ):
        rows = _csv(report / "tables" / f"{table}.csv")
        assert [r["run"] for r in rows] == ["strong", "middling", "weak"]
        for row, folder in zip(rows, scored_runs, strict=True):
            scores = _scores(folder)
            for key in keys:
                assert float(row[key]) == scores["mean"][key]
                assert [float(row[f"{key}_ci_low"]), float(row[f"{key}_ci_high"])] == scores["ci"][key]
    rel = _csv(report / "tables" / "reliability.csv")
    assert float(rel[0]["topn_jaccard_10"]) == _scores(scored_runs[0])["reliability"]["topn_jaccard_10"]
    averages = _csv(report / "tables" / "label_averages.csv")
    for row, folder in zip(averages, scored_runs, strict=True):
        scores = _scores(folder)
        for key in ("micro_f1", "macro_recall"):
            assert float(row[key]) == scores["label_averages"][key]
            assert [float(row[f"{key}_ci_low"]), float(row[f"{key}_ci_high"])] == scores["label_averages_ci"][key]
    assert "Micro and macro averages" in (report / "index.html").read_text()


def test_markdown_and_latex_show_value_ci_and_best(report: Path, scored_runs: list[Path]) -> None:
    accuracies = [_scores(f)["mean"]["primary_accuracy"] for f in scored_runs]
    best = accuracies.index(max(accuracies))
    scores = _scores(scored_runs[best])
    low, high = scores["ci"]["primary_accuracy"]
    text = f"{100 * accuracies[best]:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
    assert text == format_value(Estimate(accuracies[best], low, high), "percent")
    markdown = (report / "tables" / "accuracy.md").read_text().splitlines()
    assert markdown[2 + best].startswith(f"| {scored_runs[best].name} | **{text}** |")
    latex = (report / "tables" / "accuracy.tex").read_text()
    assert rf"\textbf{{{text}}}" in latex and r"\begin{tabular}" in latex and r"\bottomrule" in latex


def test_comparison_matches_medldr_compare(report: Path, scored_runs: list[Path], tmp_path: Path) -> None:
    strong, middling, weak = map(str, scored_runs)
    result = run_cli(
        "compare",
        strong,
        middling,
        weak,
        "--group",
        f"good={strong}",
        "--group",
        f"poor={middling},{weak}",
        "--resamples",
        "300",
        "--out",
        str(tmp_path / "c.json"),
    )
    assert result.returncode == 0, result.stderr
    expected = json.loads((tmp_path / "c.json").read_text())
    row = next(r for r in _csv(report / "tables" / "comparison.csv") if r["metric"] == "Primary acc.")
    side, (diff,) = expected["groups"]["primary_accuracy"], expected["differences"]
    assert float(row["a"]) == side["good"]["value"] and float(row["b"]) == side["poor"]["value"]
    assert float(row["difference"]) == diff["value"]
    assert [float(row["difference_ci_low"]), float(row["difference_ci_high"])] == diff["ci"]
    assert float(row["p_bootstrap"]) == diff["p"]["bootstrap"]
    assert float(row["p_permutation"]) == diff["p"]["permutation"]
    assert float(row["p_permutation_holm"]) >= diff["p"]["permutation"]  # Holm across the table's metrics


def test_per_disease_and_usage_tables(report: Path, scored_runs: list[Path]) -> None:
    rows = _csv(report / "tables" / "per_disease.csv")
    strong = _scores(scored_runs[0])["per_disease"]
    assert {r["code"] for r in rows} == set(strong)
    for row in rows:
        assert float(row["run_0"]) == strong[row["code"]]["primary_accuracy"]
        assert float(row["n"]) == strong[row["code"]]["n"]
    assert rows[0]["name"]  # ICD-9 titles from the bundled dictionary
    usage = _csv(report / "tables" / "usage.csv")
    manifest = json.loads((scored_runs[1] / "manifest.json").read_text())
    assert float(usage[1]["prompt_tokens"]) == manifest["totals"]["prompt_tokens"] > 0
    assert usage[1]["model"] == "openai-compatible:middling" and usage[1]["rounds"] == "3"


def test_overdiagnosis_table(report: Path, scored_runs: list[Path]) -> None:
    rows = _csv(report / "tables" / "overdiagnosis.csv")
    for row, folder in zip(rows[:2], scored_runs, strict=False):
        summary = json.loads((folder / "overdiagnosis_summary.json").read_text())
        assert float(row["overdiagnosed"]) == summary["overdiagnosed"]
        assert [float(row[f"type_{t}"]) for t in "SABC"] == [summary["shares"][t] for t in "SABC"]
        for t in "SABC":  # issue 19: the shares had no intervals
            low, high = float(row[f"type_{t}_ci_low"]), float(row[f"type_{t}_ci_high"])
            share = summary["shares"][t]
            assert [low, high] == summary["share_ci"][t] and low <= share <= high and (low < high or share in (0, 1))
        assert float(row["rate"]) == pytest.approx(summary["overdiagnosis_rate"])  # issue 17: both rates shown
        assert float(row["rate_without_S"]) == pytest.approx(summary["overdiagnosis_rate_without_S"])
    assert rows[2]["run"] == "weak" and rows[2]["overdiagnosed"] == ""  # not typed
    assert "| weak | — |" in (report / "tables" / "overdiagnosis.md").read_text()


def test_figures_are_images_of_the_expected_size(report: Path, scored_runs: list[Path]) -> None:
    n_diseases = len(_csv(report / "tables" / "per_disease.csv"))
    for name in FIGURES:
        png = report / "figures" / f"{name}.png"
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            inches = heatmap_inches(n_diseases) if name == "per_disease" else FIGURE_INCHES
            assert image.format == "PNG" and image.size == (round(inches[0] * DPI), round(inches[1] * DPI))
            assert len(image.convert("RGB").getcolors(1 << 20) or []) > 20  # drawn, not blank
        svg = ET.parse(report / "figures" / f"{name}.svg").getroot()
        assert svg.tag.endswith("svg") and svg.get("width") == f"{inches[0] * 72:g}pt"


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [value or "" for key, value in attrs if key in ("src", "href", "srcset", "action", "poster")]


def test_html_is_self_contained(report: Path, scored_runs: list[Path]) -> None:
    html = (report / "index.html").read_text()
    parser = _References()
    parser.feed(html)
    assert parser.urls and all(url.startswith(("data:", "#")) for url in parser.urls)
    assert "script" not in parser.tags and "link" not in parser.tags and "url(" not in html
    assert parser.tags.count("img") == len(FIGURES)
    for heading in ("Summary", "Tables", "Figures", "Provenance"):
        assert f"<h2>{heading}</h2>" in html
    manifest = json.loads((scored_runs[0] / "manifest.json").read_text())
    assert manifest["run_id"] in html and manifest["identity"]["template_sha256"] in html
    assert "allowed: local model, loopback server or zero-retention route" in html
    assert "good: strong; poor: middling, weak" in html


def test_same_inputs_same_files(report: Path, scored_runs: list[Path], tmp_path: Path) -> None:
    strong, middling, weak = map(str, scored_runs)
    groups = ["--group", f"good={strong}", "--group", f"poor={middling},{weak}"]
    again = tmp_path / "again"
    result = run_cli("report", strong, middling, weak, *groups, "--out", str(again), "--resamples", "300", "--quiet")
    assert result.returncode == 0 and result.stdout == "", result.stderr
    for path in sorted((report / "tables").iterdir()) + sorted((report / "figures").iterdir()):
        assert (again / path.parent.name / path.name).read_bytes() == path.read_bytes(), path.name


def test_two_runs_get_a_paired_comparison_with_mcnemar(scored_runs: list[Path], tmp_path: Path) -> None:
    result = run_cli("report", str(scored_runs[0]), str(scored_runs[2]), "--out", str(tmp_path), "--resamples", "50")
    assert result.returncode == 0, result.stderr
    rows = _csv(tmp_path / "tables" / "comparison.csv")
    primary = next(r for r in rows if r["metric"] == "Primary acc.")
    jaccard = next(r for r in rows if r["metric"] == "Jaccard")
    assert 0 <= float(primary["p_mcnemar"]) <= 1 and jaccard["p_mcnemar"] == ""  # McNemar: binary metrics only


def test_single_run_single_round(scored_runs: list[Path], tmp_path: Path) -> None:
    """One run, one round: no comparison (nothing to compare: not warned about) and no reliability figure (said);
    the rest is written."""
    folder = tmp_path / "one"
    shutil.copytree(scored_runs[0], folder, ignore=shutil.ignore_patterns("overdiagnosis*"))
    lines = (folder / "responses.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line).get("round", 0) == 0]
    (folder / "responses.jsonl").write_text("\n".join(kept) + "\n")
    manifest = json.loads((folder / "manifest.json").read_text())  # a run of one round (a cut one is refused)
    manifest["identity"]["rounds"] = 1
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert run_cli("score", str(folder), "--quiet").returncode == 0
    result = run_cli("report", str(folder), "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    assert "No comparison table" not in result.stderr and "No reliability figure" in result.stderr
    assert not (tmp_path / "r" / "tables" / "comparison.csv").exists()
    assert not (tmp_path / "r" / "figures" / "reliability.png").exists()
    assert (tmp_path / "r" / "figures" / "accuracy.png").exists()
    html = (tmp_path / "r" / "index.html").read_text()
    assert re.search(r"<td[^>]*>—</td>", html)
    assert "Best value per column in bold" not in html  # one run: nothing is bold, so nothing is said (issue 19)


def _one_line_error(result, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr


def test_bad_input_fails_in_one_line(scored_runs: list[Path], tmp_path: Path) -> None:
    unscored = tmp_path / "unscored"
    unscored.mkdir()
    result = cli_in_process("report", str(unscored), "--out", str(tmp_path / "r"))
    _one_line_error(result, "scores.json", "medldr score")
    _one_line_error(cli_in_process("report", str(tmp_path / "nope"), "--out", str(tmp_path / "r")), "not a run folder")
    strong = str(scored_runs[0])
    _one_line_error(cli_in_process("report", strong, strong, "--out", str(tmp_path / "r")), "given twice")
    _one_line_error(
        cli_in_process("report", strong, "--group", f"a={tmp_path}", "--out", str(tmp_path / "r")),
        "--group a",
        "not among the report's run folders",
    )
    _one_line_error(cli_in_process("report", strong, "--group", "a", "--out", str(tmp_path / "r")), "NAME=RUN,RUN")


def test_stale_or_damaged_scores_are_refused(scored_runs: list[Path], tmp_path: Path) -> None:
    folder = tmp_path / "stale"
    shutil.copytree(scored_runs[1], folder)
    assert run_cli("overdiagnosis", str(folder), "--quiet").returncode == 0
    with open(folder / "responses.jsonl", "a") as fh:
        fh.write(json.dumps({"case_id": "x", "round": 5, "text": "{}"}) + "\n")
    _one_line_error(run_cli("report", str(folder), "--out", str(tmp_path / "r")), "scored before", "medldr score")
    assert run_cli("score", str(folder), "--quiet", "--allow-missing").returncode == 2  # case x is not in the cases
    (folder / "responses.jsonl").write_text((scored_runs[1] / "responses.jsonl").read_text() + "\n")
    assert run_cli("score", str(folder), "--quiet").returncode == 0
    _one_line_error(
        run_cli("report", str(folder), "--out", str(tmp_path / "r")), "overdiagnosis_summary.json", "typed before"
    )
    damaged = tmp_path / "damaged"
    shutil.copytree(scored_runs[1], damaged)
    text = (damaged / "per_case.csv").read_text().splitlines()
    (damaged / "per_case.csv").write_text("\n".join([*text[:3], "0,x,y,z,not-a-number"]) + "\n")
    _one_line_error(run_cli("report", str(damaged), "--out", str(tmp_path / "r")), "per_case.csv", "line 4")


def test_three_runs_without_groups_say_why_there_is_no_comparison(scored_runs: list[Path], tmp_path: Path) -> None:
    result = run_cli("report", *map(str, scored_runs), "--out", str(tmp_path), "--resamples", "20")
    assert result.returncode == 0, result.stderr
    assert "No comparison table" in result.stderr and not (tmp_path / "tables" / "comparison.csv").exists()


def test_the_report_names_each_model_as_served_and_prints_no_none(report: Path, scored_runs: list[Path]) -> None:
    """Issue 19: provenance printed `base url: None` and named models only as asked. Each run's manifest records the
    id the endpoint reported; the report shows it and never a raw None."""
    manifest = json.loads((scored_runs[0] / "manifest.json").read_text())
    assert manifest["model"] == {"provider": "openai-compatible", "id": "strong", "served": ["strong"]}
    html = (report / "index.html").read_text()
    assert "model served" in html and "None" not in re.sub(r"<img[^>]*>|<svg.*?</svg>", "", html, flags=re.S)


def test_figure_and_caption_rough_edges(report: Path, scored_runs: list[Path]) -> None:
    """Issue 19: heatmap labels cut mid-word ("Clostridium di"), a caption with literal backticks, "best in bold" said
    of a table with several runs only, and an accuracy figure of zeros drawn as an empty axis under a legend."""
    from medldr.icd import icd9_names
    from medldr.report.figures import accuracy_figure, per_disease_figure
    from medldr.report.inputs import load_folders

    html = (report / "index.html").read_text()
    assert "`" not in re.sub(r"<img[^>]*>", "", html) and "Best value per column in bold" in html
    runs = load_folders(scored_runs)
    names = icd9_names()
    codes = ["00845", "25080", "5849"]  # long names (the first two were cut mid-word), a short one
    axis = per_disease_figure(runs, codes).axes[0]
    for code, label in zip(codes, [t.get_text() for t in axis.get_yticklabels()], strict=True):
        full = f"{code} {names[code]}"
        assert label == full or (label.endswith(" …") and full.startswith(label[:-2] + " ")), label
    for run in runs:  # every answer wrong
        run.scores.mean.update(primary_accuracy=0.0, exact_match=0.0)
    axis = accuracy_figure(runs).axes[0]
    assert axis.get_legend() is None and any("no case answered right" in t.get_text() for t in axis.texts)


def test_overdiagnosis_relations_table(report: Path, scored_runs: list[Path]) -> None:
    """Issue 17: the report shows which relation decided each type (history_icd apart from B, the block level, S)."""
    rows = _csv(report / "tables" / "overdiagnosis_relations.csv")
    assert [row["run"] for row in rows] == ["strong", "middling"]  # the typed runs
    for row, folder in zip(rows, scored_runs, strict=False):
        relations = json.loads((folder / "overdiagnosis_summary.json").read_text())["relations"]
        expected = {f"{k}:{r}": n for k, found in relations.items() for r, n in found.items()}
        assert {key: int(float(value)) for key, value in row.items() if key != "run" and value} == {
            key: expected.get(key, 0) for key in row if key != "run" and row[key]
        }
        assert sum(int(float(v)) for k, v in row.items() if k != "run") == sum(expected.values())


def test_cost_and_accuracy_across_runs(scored_runs: list[Path], tmp_path: Path) -> None:
    """Issue 23: the runs table gains USD per 100 cases and tokens per case, and priced runs get a cost-accuracy
    figure with the Pareto front; unpriced (local) runs get the note, not an empty figure."""
    folders = []
    for i, (folder, cost) in enumerate(zip(scored_runs, (3.0, 1.0, 2.0), strict=True)):
        copy = tmp_path / f"priced-{i}"
        shutil.copytree(folder, copy, ignore=shutil.ignore_patterns(".medldr.lock", "overdiagnosis*"))
        manifest = json.loads((copy / "manifest.json").read_text())
        manifest["totals"]["cost_usd"] = cost
        (copy / "manifest.json").write_text(json.dumps(manifest))
        folders.append(copy)
    result = run_cli("report", *map(str, folders), "--out", str(tmp_path / "r"), "--resamples", "50")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "r" / "figures" / "cost_accuracy.png").is_file() and "cost-accuracy" not in result.stderr
    rows = _csv(tmp_path / "r" / "tables" / "runs.csv")
    for row, cost in zip(rows, (3.0, 1.0, 2.0), strict=True):
        assert float(row["cost_per_100"]) == pytest.approx(100 * cost / float(row["n_cases"]))
        assert float(row["tokens_per_case"]) > 0
    unpriced = run_cli("report", *map(str, scored_runs[:2]), "--out", str(tmp_path / "u"), "--resamples", "50")
    assert "No cost-accuracy figure: no run has a cost" in unpriced.stderr
    assert not (tmp_path / "u" / "figures" / "cost_accuracy.png").exists()
