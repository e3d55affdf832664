"""The report's tables, built from scored runs: the study's three dimensions per model, the group comparison,
per-disease accuracy, and usage (invalid answers, tokens, cost). Pure: runs in, tables out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from medldr.report.inputs import ScoredFolder
from medldr.report.tables import Column, Estimate, Table, Value
from medldr.score.compare import compare_runs
from medldr.score.metrics import METRICS, REGISTRY, estimate
from medldr.score.reliability import TOP_N
from medldr.score.scoring import exclusion_lines

RUN = Column("run", "Run", "text")


def metric_columns(table: str) -> list[Column]:
    """The registry's metrics of one report table, in registry order, as the registry describes them."""
    return [Column(name, m.label, m.unit, better=m.better) for name, m in REGISTRY.items() if m.table == table]


USAGE = metric_columns("usage")
RELIABILITY = [
    *(Column(f"topn_jaccard_{n}", f"Top-{n} Jaccard", better=1) for n in TOP_N),
    Column("consistency_top1", "Top-1 consistency", better=1),
    Column("consistency_all", "Set consistency", better=1),
]
COMPARED = [name for name, metric in METRICS.items() if metric.compared]


def _estimate(mean: Mapping[str, float], ci: Mapping[str, tuple[float, float]] | None, key: str) -> Estimate:
    low, high = (ci or {}).get(key, (None, None))
    return Estimate(mean[key], low, high)


def _ci_note(runs: Sequence[ScoredFolder]) -> str:
    boot = runs[0].scores.bootstrap
    if not boot.get("resamples"):
        return "Values in %, mean over rounds; scored without bootstrap, so no intervals."
    return (
        f"Values in %, mean over rounds, with {100 * boot.get('level', 0.95):.0f}% bootstrap percentile intervals "
        f"({boot['resamples']} resamples of {boot.get('unit', 'patient')}s, seed {boot.get('seed')})."
        + (" Best value per column in bold." if len(runs) > 1 else "")  # one run: nothing to pick
    )


def _excluded(runs: Sequence[ScoredFolder]) -> str:
    excluded = [f"{run.name}: {'; '.join(lines)}." for run in runs if (lines := exclusion_lines(run.scores.excluded))]
    return (" Set aside against the scoring label space: " + " ".join(excluded)) if excluded else ""


REPORT_TABLES: dict[str, tuple[str, Callable[[Sequence[ScoredFolder]], str]]] = {
    "accuracy": ("Accuracy", _excluded),
    "label_averages": (
        "Micro and macro averages over the label space",
        lambda runs: (
            " Micro: over all (case, code) decisions pooled; macro: the mean over label codes (recall over "
            "the codes some case has, precision over the codes some answer names, F1 over the codes either touches)."
        ),
    ),
    "assistance": ("Assistance: differential quality and clinical relevance", lambda runs: ""),
    "study_eicu": (
        "LDR-eICU: the study's recalls",
        lambda runs: (
            " As the study's eICU evaluation counted them: Recall@k is a case with any gold code among the "
            "first k ranked codes; primary (major) recall, among cases with a primary (major) diagnosis, one named by "
            "the valid predictions."
        ),
    ),
}
"""The report's metric tables, in order: each shows the registry's metrics whose ``table`` is its key (a source's
table only when some run has its metrics). A metric of a new table is its registry entry and a line here."""


def metric_table(runs: Sequence[ScoredFolder], key: str) -> Table | None:
    """One of ``REPORT_TABLES``: per run every registry metric of that table with its interval ('—' where a run has
    no value); None when no run has any (a source's metrics on runs of another source)."""
    columns = metric_columns(key)
    rows: list[dict[str, Value]] = []
    found = False
    for run in runs:
        row: dict[str, Value] = {"run": run.name}
        for column in columns:
            value = estimate(run.scores, column.key)
            if value is not None:
                row[column.key], found = Estimate(*value), True
        rows.append(row)
    if not found:
        return None
    title, note = REPORT_TABLES[key]
    return Table(key, title, [RUN, *columns], rows, note=_ci_note(runs) + note(runs))


def metric_tables(runs: Sequence[ScoredFolder]) -> list[Table]:
    """Every metric table the runs have values for, in ``REPORT_TABLES`` order."""
    return [table for key in REPORT_TABLES if (table := metric_table(runs, key)) is not None]


def reliability_table(runs: Sequence[ScoredFolder]) -> Table:
    """Self-consistency across rounds; a single-round run, or one with no case valid in every round, has none ('—')."""
    rows: list[dict[str, Value]] = []
    for run in runs:
        rel = run.scores.reliability
        row: dict[str, Value] = {"run": run.name, "n_cases": rel["n_cases"] if rel else None}
        if rel:
            row |= {c.key: _estimate(rel, run.scores.reliability_ci, c.key) for c in RELIABILITY}
        rows.append(row)
    columns = [RUN, Column("n_cases", "Cases", "count"), *RELIABILITY]
    note = _ci_note(runs) + " Over the cases valid in every round; '—': fewer than two rounds, or no such case."
    return Table("reliability", "Reliability across rounds", columns, rows, note=note)


def usage_table(runs: Sequence[ScoredFolder]) -> Table:
    """Invalid answers from the scores; answers, errors, tokens and cost from the run manifests."""
    rows: list[dict[str, Value]] = []
    for run in runs:
        totals = run.manifest.totals if run.manifest else {}
        rows.append(
            {
                "run": run.name,
                "model": run.model,
                "n_cases": run.scores.n_cases,
                "rounds": len(run.scores.rounds),
                **{c.key: _estimate(run.scores.mean, run.scores.ci, c.key) for c in USAGE},
                "errors": totals.get("errors"),
                "prompt_tokens": totals.get("prompt_tokens"),
                "completion_tokens": totals.get("completion_tokens"),
                "reasoning_tokens": totals.get("reasoning_tokens"),
                "cost_usd": totals.get("cost_usd"),
            }
        )
    columns = [
        RUN,
        Column("model", "Model", "text"),
        Column("n_cases", "Cases", "count"),
        Column("rounds", "Rounds", "count"),
        *USAGE,
        Column("errors", "Errors", "count"),
        Column("prompt_tokens", "Prompt tokens", "count"),
        Column("completion_tokens", "Completion tokens", "count"),
        Column("reasoning_tokens", "Reasoning tokens", "count"),
        Column("cost_usd", "Cost (USD)", "usd"),
    ]
    note = "Tokens and cost are the run manifests' totals over every attempt (re-asked answers included)."
    return Table("usage", "Invalid answers, tokens and cost", columns, rows, note=note)


def comparison_table(
    runs: Sequence[ScoredFolder],
    groups: Mapping[str, Sequence[str]] | None,
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    unit: str = "patient",
) -> Table | None:
    """Paired comparison of two groups (mean over their models) or of exactly two runs; None otherwise."""
    pair = list(groups)[:2] if groups else [run.name for run in runs]
    if len(pair) != 2:
        return None
    if not groups and set(runs[0].values.case_ids) != set(runs[1].values.case_ids):
        return None  # two runs on different cases: nothing paired to compare
    by_name = {run.name: run.values for run in runs}
    chosen = {g: groups[g] for g in pair} if groups else None
    result = compare_runs(by_name, COMPARED, groups=chosen, n_resamples=n_resamples, seed=seed, unit=unit)
    sides = result.get("groups") or result["runs"]
    rows: list[dict[str, Value]] = []
    for diff in result["differences"]:  # type: ignore[union-attr]
        metric, side = diff["metric"], sides[diff["metric"]]  # type: ignore[index]
        rows.append(
            {
                "metric": METRICS[metric].label,
                "a": Estimate(side[pair[0]]["value"], *side[pair[0]]["ci"]),
                "b": Estimate(side[pair[1]]["value"], *side[pair[1]]["ci"]),
                "difference": Estimate(diff["value"], *diff["ci"]),
                "p_permutation": diff["p"]["permutation"],
                "p_permutation_holm": diff["p_holm"]["permutation"],
                "p_bootstrap": diff["p"]["bootstrap"],
                "p_mcnemar": diff["p"].get("mcnemar_clustered"),
            }
        )
    a, b = pair
    columns = [
        Column("metric", "Metric", "text"),
        Column("a", a),
        Column("b", b),
        Column("difference", f"{a} − {b}"),
        Column("p_permutation", "p (permutation)", "p"),
        Column("p_permutation_holm", "p (permutation, Holm)", "p"),
        Column("p_bootstrap", "p (bootstrap)", "p"),
        Column("p_mcnemar", "p (clustered McNemar)", "p"),
    ]
    members = "".join(f" {g}: {', '.join(groups[g])}." for g in pair) if groups else ""
    tests = " ".join(f"p ({name.replace('_', ' ')}): {what}." for name, what in result["tests"].items())  # type: ignore[union-attr]
    note = (
        f"Values in %. Paired bootstrap over {unit}s ({n_resamples} resamples, seed {seed}), one draw applied to every "
        + (f"run; a group's value is the mean over its runs (CI: {result['group_ci']}). " if groups else "run. ")
        + "Each case's value is averaged over its rounds and every test works on per-patient totals, so neither "
        f"rounds nor a patient's several admissions count as independent. {tests} Holm: across the {len(rows)} "
        "metrics of this table." + members
    )
    title = f"Comparison: {a} vs {b}"
    return Table("comparison", title, columns, rows, note=note)


def revisions(runs: Sequence[ScoredFolder]) -> str:
    """The ICD revision(s) the runs were scored in, as captions name them: 'ICD-9', 'ICD-10' or both."""
    return ", ".join(dict.fromkeys(run.scores.label_space.revision for run in runs))


def per_disease_table(runs: Sequence[ScoredFolder]) -> Table:
    """Primary accuracy per primary diagnosis (rows, most cases first) and run (columns); codes named, and the code
    column headed, as the runs' scored label spaces name them (an LDR-eICU run: its ICD-10 labels)."""
    names: dict[str, str] = {}
    for run in runs:
        names |= run.scores.label_space.names
    first: dict[str, float] = {}
    for run in runs:
        for code, row in run.scores.per_disease.items():
            first.setdefault(code, row["n"])
    codes = sorted(first, key=lambda c: (-first[c], c))
    keys = [f"run_{i}" for i in range(len(runs))]
    rows: list[dict[str, Value]] = []
    for code in codes:
        row: dict[str, Value] = {"code": code, "name": names.get(code, ""), "n": first[code]}
        for key, run in zip(keys, runs, strict=True):
            cell = run.scores.per_disease.get(code)
            row[key] = cell["primary_accuracy"] if cell else None
        rows.append(row)
    columns = [Column("code", revisions(runs), "text"), Column("name", "Primary diagnosis", "text")]
    columns.append(Column("n", "Cases", "count"))
    columns += [Column(key, run.name) for key, run in zip(keys, runs, strict=True)]
    note = "Primary accuracy (%) per primary diagnosis, mean over rounds; Cases: cases with that primary diagnosis."
    return Table("per_disease", "Primary accuracy per disease", columns, rows, note=note)


def cost_per_case(run: ScoredFolder) -> tuple[float | None, float | None]:
    """(USD per 100 cases, tokens per case) from the run manifest's totals, every round of a case included: what the
    run's protocol costs per case."""
    totals = run.manifest.totals if run.manifest else {}
    if not totals or not run.scores.n_cases:
        return None, None
    tokens = (totals.get("prompt_tokens") or 0.0) + (totals.get("completion_tokens") or 0.0)
    cost = totals.get("cost_usd")  # None: no price for this model, so unknown (never free)
    return (None if cost is None else 100 * cost / run.scores.n_cases), tokens / run.scores.n_cases


def runs_table(runs: Sequence[ScoredFolder]) -> Table:
    """What was run: model, task, style, rounds, cases (the report's summary), and its cost and tokens per case."""
    rows: list[dict[str, Value]] = []
    for run in runs:
        identity = run.manifest.identity if run.manifest else None
        cost, tokens = cost_per_case(run)
        rows.append(
            {
                "run": run.name,
                "model": run.model,
                "task": identity.task if identity else None,
                "style": getattr(identity, "style", None),
                "rounds": len(run.scores.rounds),
                "n_cases": run.scores.n_cases,
                "n_patients": run.scores.n_patients,
                "labels": len(run.scores.label_space),
                "extraction": run.scores.extraction,
                "cost_per_100": cost,
                "tokens_per_case": tokens,
            }
        )
    columns = [
        RUN,
        Column("model", "Model", "text"),
        Column("task", "Task", "text"),
        Column("style", "Prompt style", "text"),
        Column("rounds", "Rounds", "count"),
        Column("n_cases", "Cases", "count"),
        Column("n_patients", "Patients", "count"),
        Column("labels", "Labels", "count"),
        Column("extraction", "Extraction", "text"),
        Column("cost_per_100", "USD per 100 cases", "usd"),
        Column("tokens_per_case", "Tokens per case", "count"),
    ]
    note = "Per case: every round of it. Cost from the run's price table (0 for local models; '—': no manifest)."
    return Table("runs", "Runs", columns, rows, note=note)


def _share(summary: Mapping[str, Any], kind: str) -> Value:
    """A type's share with its patient-bootstrap interval (a summary of an older medldr: the share alone, or none)."""
    share = (summary or {}).get("shares", {}).get(kind)
    interval = (summary.get("share_ci") or {}).get(kind) if share is not None else None
    return Estimate(share, *interval) if interval else share


def overdiagnosis_relations_table(runs: Sequence[ScoredFolder]) -> Table | None:
    """Which relation made each type, per typed run: counts of overdiagnosed codes (None when no run was typed)."""
    typed = [run for run in runs if run.overdiagnosis]
    if not typed:
        return None
    relations = [run.overdiagnosis["relations"] for run in typed if run.overdiagnosis]
    pairs = sorted({(kind, relation) for found in relations for kind, names in found.items() for relation in names})
    columns = [RUN, *(Column(f"{kind}:{relation}", f"{kind}: {relation}", "count") for kind, relation in pairs)]
    rows: list[dict[str, Value]] = [
        {"run": run.name, **{f"{k}:{r}": found.get(k, {}).get(r, 0) for k, r in pairs}}
        for run, found in zip(typed, relations, strict=True)
    ]
    note = (
        "Overdiagnosed codes by type and the relation that decided it: S coded_below_top3; C ancestor, "
        "same_category, same_ccs, same_block; B past_medical_history; A history_icd (coded in an earlier stay, "
        "not shown to the model) or none."
    )
    return Table("overdiagnosis_relations", "Overdiagnosis relations", columns, rows, note=note)


def overdiagnosis_table(runs: Sequence[ScoredFolder]) -> Table | None:
    """Why each run overdiagnosed: the type shares of its overdiagnosed codes (None when no run was typed)."""
    if not any(run.overdiagnosis for run in runs):
        return None
    rows: list[dict[str, Value]] = []
    for run in runs:
        summary = run.overdiagnosis or {}
        judge = summary.get("judge") or {}
        rows.append(
            {
                "run": run.name,
                "overdiagnosed": summary.get("overdiagnosed"),
                "per_answer": summary.get("per_answer"),
                **{f"type_{t}": _share(summary, t) for t in "SABC"},
                "rate": summary.get("overdiagnosis_rate"),
                "rate_without_S": summary.get("overdiagnosis_rate_without_S"),
                "judged": judge.get("asked"),
                "quotes_rejected": judge.get("quotes_rejected"),
            }
        )
    columns = [
        RUN,
        Column("overdiagnosed", "Overdiagnosed codes", "count"),
        Column("per_answer", "Per answer", "number"),
        Column("rate", "Overdiagnosis rate (%)", better=-1),
        Column("rate_without_S", "Rate without S (%)", better=-1),
        Column("type_S", "S: coded below top 3 (%)"),
        Column("type_A", "A: evidence (%)"),
        Column("type_B", "B: temporal (%)"),
        Column("type_C", "C: hierarchy (%)"),
        Column("judged", "Judged (A)", "count"),
        Column("quotes_rejected", "Quotes not in record", "count"),
    ]
    note = (
        "Every predicted code outside the gold set, typed by medldr overdiagnosis: S when the hospital coded it for "
        "this stay below the top 3 (a coding-depth artefact, not clinical overdiagnosis), else C when related to a "
        "gold code in the ICD-9 tree (ancestor, category, CCS group, block), else B when the past medical history the "
        "model saw names it, else A (a code of an earlier stay the model was not shown stays A, relation "
        "history_icd). The rate is the study's (|P \\ G| / |P|, mean over answers); without S it leaves those codes "
        "out. Shares in % with 95% patient-bootstrap intervals (1000 resamples, seed 0). '—': run not typed, or no "
        "judge."
    )
    return Table("overdiagnosis", "Overdiagnosis types", columns, rows, note=note)


def _robustness_estimate(entry: Mapping[str, Any], key: str) -> Value:
    low, high = entry.get(f"{key}_ci") or (None, None)
    return Estimate(entry[key], low, high) if key in entry else None


def robustness_table(runs: Sequence[ScoredFolder]) -> Table | None:
    """Per run compared with perturbed runs (medldr robustness) and per kind: flips against its own noise."""
    rows: list[dict[str, Value]] = []
    for run in runs:
        for entry in (run.robustness or {}).get("kinds", []):
            rows.append(
                {
                    "run": run.name,
                    "kind": f"{entry['kind']} ({entry['expect']})",
                    "n_cases": entry["n_cases"],
                    "flip_rate": _robustness_estimate(entry, "flip_rate"),
                    "noise_flip_rate": _robustness_estimate(entry, "noise_flip_rate"),
                    "flip_excess": _robustness_estimate(entry, "flip_excess"),
                    "set_change_excess": _robustness_estimate(entry, "set_change_excess"),
                    "primary_accuracy_change": _robustness_estimate(entry, "primary_accuracy_change"),
                    "verdict": entry["verdict"],
                }
            )
    if not rows:
        return None
    columns = [
        RUN,
        Column("kind", "Perturbation", "text"),
        Column("n_cases", "Cases", "count"),
        Column("flip_rate", "Flip rate (%)"),
        Column("noise_flip_rate", "Own noise (%)"),
        Column("flip_excess", "Excess (pp)"),
        Column("set_change_excess", "Set change excess (pp)"),
        Column("primary_accuracy_change", "Δ primary accuracy (pp)"),
        Column("verdict", "Verdict", "text"),
    ]
    note = (
        "medldr robustness: for the cases each perturbation changed, a flip is an answer whose primary diagnosis "
        "(first predicted code) differs from the original case's answer of the same round; the model's own noise is "
        "the same between the original's rounds; set change is 1 - Jaccard. Excess = perturbed minus noise, with 95% "
        "patient-bootstrap intervals (paired). An invariant kind flipping beyond the noise is fragility; a sensitive "
        "kind not flipping beyond it is insensitivity to the evidence removed."
    )
    return Table("robustness", "Robustness to perturbed cases, net of the model's own noise", columns, rows, note)
