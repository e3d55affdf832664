"""The robustness edge: read an original run and runs on perturbed copies of its cases (``medldr perturb`` folders,
run with ``medldr run``), pair their answers case by case and round by round, and write ``robustness.json``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medldr._files import atomic_write_text, folder_lock, sha256_file
from medldr.errors import MedldrError
from medldr.schema import (
    ORIGINAL,
    ROBUSTNESS,
    RUN_MANIFEST,
    RobustnessSummary,
    read_cases,
    read_perturbation,
    read_responses,
    read_run_manifest,
)
from medldr.score.files import RunInputs, run_inputs, scoring_labels
from medldr.score.robustness import Prediction, per_case, summarize
from medldr.score.scoring import against_labels, answers_by_round, latest_records


def _answers(inputs: RunInputs, labels: Sequence[str], where: str) -> tuple[dict[str, list[Prediction]], Any]:
    """case id -> its answers' predictions in the label space, by round; and the scored cases (gold in the space)."""
    cases = read_cases(inputs.cases)[: inputs.n_cases]
    kept, _, _ = against_labels(cases, labels)
    set_aside = frozenset(c.case_id for c in cases) - {c.case_id for c in kept}
    latest = latest_records(kept, read_responses(inputs.responses), where=where, set_aside=set_aside)
    _, rows = answers_by_round(
        kept, latest, mode="robust", allow_missing=False, where=where, expected_rounds=inputs.rounds
    )
    label_set = set(labels)
    by_case: dict[str, list[Prediction]] = {case.case_id: [] for case in kept}
    for row in rows:
        for case, answer in zip(kept, row, strict=True):
            codes = answer.predictions if answer.valid else []
            by_case[case.case_id].append(tuple(dict.fromkeys(c for c in codes if c in label_set)))
    return by_case, kept


def _probe(
    run: Path, inputs: RunInputs, source: str, original: dict[str, Any], identity: dict[str, Any]
) -> dict[str, Any]:
    """What a perturbed run probes: the perturbation manifest beside its cases, or, for a run on the original cases
    with ``--label-order``, the label list's order (invariant: the prompt changed, not the case)."""
    found = read_perturbation(inputs.cases)
    manifest = found.model_dump(mode="json") if found is not None else None
    if manifest is None or manifest.get("kind") == ORIGINAL:
        order = identity.get("label_order")
        if order is not None and order != original.get("label_order") and _original_sha(inputs) == source:
            return {"kind": "label_order", "expect": "invariant", "changed": None, "params": {"seed": order}}
        raise MedldrError(
            f"{run}: its cases ({inputs.cases}) are not perturbed copies (medldr perturb), nor is it a run with "
            "another --label-order"
        )
    if manifest["original"]["sha256"] != source:
        raise MedldrError(f"{run}: its cases were perturbed from other cases than the original run answered")
    return manifest


def _identity(run: Path) -> dict[str, Any]:
    path = Path(run) / RUN_MANIFEST
    return read_run_manifest(path).identity.key() if path.is_file() else {}


PROBED = {"cases_sha256", "n_cases", "label_order", "rounds", "base_url"}
"""Identity keys a perturbed run may differ in from the original (the base URL: the same model served at another
address); any other difference (model, parameters, task, prompt style, label space) would be counted as flips the
perturbation did not cause."""


def _same_model(original_run: Path, original: dict[str, Any], run: Path, other: dict[str, Any]) -> None:
    changed = sorted(k for k in (set(original) | set(other)) - PROBED if original.get(k) != other.get(k))
    if changed:
        raise MedldrError(
            f"{run}: differs from {original_run} in {', '.join(changed)}; run the perturbed cases with the original "
            "run's settings"
        )


def _original_sha(inputs: RunInputs) -> str:
    """The sha256 of the built cases a run answered: its own file's, or, for a run on ``perturb``'s copy of the
    original, the file that copy was made from."""
    manifest = read_perturbation(inputs.cases)
    if manifest is not None and manifest.kind == ORIGINAL:
        return manifest.original.sha256
    return sha256_file(inputs.cases)


def robustness_of(
    original_run: Path,
    perturbed_runs: Sequence[Path],
    *,
    label_space: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Per perturbed run: its kind's flip rate and set change against the original run, the original's own noise,
    the excess with a patient-clustered interval, the change in primary accuracy, and the verdict."""
    base = run_inputs(original_run, None, None)
    labels = list(scoring_labels(base, label_space).codes)
    original, cases = _answers(base, labels, str(base.responses))
    if max((len(a) for a in original.values()), default=0) < 2:
        raise MedldrError(
            f"{original_run}: one round per case; the noise baseline compares rounds (run it with --rounds 3)"
        )
    source = _original_sha(base)
    original_identity = _identity(original_run)
    gold = {case.case_id: case.top_1_icd.code for case in cases}
    patients = {case.case_id: str(case.subject_id) for case in cases}
    results = []
    for run in perturbed_runs:
        inputs = run_inputs(run, None, None)
        identity = _identity(run)
        manifest = _probe(run, inputs, source, original_identity, identity)
        _same_model(original_run, original_identity, run, identity)
        answers, _ = _answers(inputs, labels, str(inputs.responses))
        changed = manifest["changed"] if manifest["changed"] is not None else list(answers)  # label order: every case
        ids = [i for i in changed if i in original and i in answers]
        if not ids:
            raise MedldrError(f"{run}: none of the cases {manifest['kind']} changed were answered in both runs")
        values = per_case([original[i] for i in ids], [answers[i] for i in ids], [gold[i] for i in ids])
        summary = summarize(
            values, [patients[i] for i in ids], expect=manifest["expect"], n_resamples=n_resamples, seed=seed
        )
        results.append(
            {
                "run": str(run),
                "kind": manifest["kind"],
                "expect": manifest["expect"],
                "params": manifest.get("params", {}),
                **summary,
            }
        )
    return {
        "original_run": str(original_run),
        "responses_sha256": sha256_file(base.responses),  # the report refuses a summary older than the answers
        "label_space_size": len(labels),
        "n_resamples": n_resamples,
        "seed": seed,
        "kinds": results,
    }


def write_robustness(result: dict[str, Any], out: Path) -> Path:
    """OUT/robustness.json, atomically, holding OUT's writer lock."""
    path = Path(out) / ROBUSTNESS
    with folder_lock(out):
        RobustnessSummary.model_validate(result)  # what is written is what the file contract reads
        atomic_write_text(path, json.dumps(result, indent=2) + "\n")
    return path
