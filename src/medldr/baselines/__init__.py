"""Non-LLM baselines on the same cases: ``medldr baseline CASES_DIR --kind prior|labs`` trains on the build's train
split (settings chosen on validation, never on the cases it answers) and writes a run folder in the run stage's file
contract (``responses.jsonl`` + ``manifest.json``, one round), so ``medldr score``, ``compare`` and ``report`` read it
exactly like a model's run. It sits where the run stage sits: built cases in, responses out."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from medldr import __version__
from medldr._files import atomic_write_lines, atomic_write_text, folder_lock, sha256_file
from medldr.baselines.models import BASELINES
from medldr.errors import MedldrError
from medldr.prompts import task_fields
from medldr.schema import (
    RESPONSES,
    RUN_MANIFEST,
    SCHEMA_VERSION,
    ModelRef,
    RunIdentity,
    RunManifest,
    cases_path,
    identity_id,
    read_cases,
    read_run_manifest,
    resolve_label_space,
)

DEFAULT_TASK = "lab_num+"
_ANSWER_FIELDS = {"finish_reason": "stop", "usage": {}, "latency_s": 0.0, "valid": True}


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def run_baseline(
    cases_dir: Path, kind: str, out: Path, *, cases_file: Path | None = None, task: str = DEFAULT_TASK, seed: int = 0
) -> RunManifest:
    """Train baseline ``kind`` on CASES_DIR's train split (validation for its settings), answer ``cases_file``
    (default: the inference subset) into OUT. The same command gives the same files; a folder holding another run is
    refused."""
    if kind not in BASELINES:
        raise MedldrError(f"--kind {kind!r}: expected {' or '.join(BASELINES)}")
    task_fields(task)  # an unknown task is one line here
    cases_dir, out = Path(cases_dir), Path(out)
    train_file, validation_file = cases_path(cases_dir, "train"), cases_path(cases_dir, "validation")
    target = Path(cases_file) if cases_file is not None else cases_path(cases_dir, "inference")
    for path in (train_file, validation_file, target):
        if not path.is_file():
            raise MedldrError(f"{path}: no such cases file (give a build folder: medldr build)")
    space = resolve_label_space(None, train_file)
    labels = list(space.codes)
    train, validation, answered = read_cases(train_file), read_cases(validation_file), read_cases(target)
    model = BASELINES[kind](labels, task, seed=seed)
    model.fit(train, validation)
    identity = RunIdentity(
        cases_sha256=sha256_file(target),
        n_cases=len(answered),
        task=task,
        label_space=space,
        model=ModelRef(provider="baseline", id=kind),
        rounds=1,
        trained_on={"train_sha256": sha256_file(train_file), "validation_sha256": sha256_file(validation_file)},
        seed=seed,
    )
    model_id = str(identity.model)
    run_id = identity_id(identity)
    records: list[dict[str, object]] = [{"kind": "header", "schema_version": SCHEMA_VERSION, "run_id": run_id}]
    for case in answered:
        top10, predictions = model.answer(case)
        text = json.dumps({"top10": top10, "predictions": predictions})
        records.append({"case_id": case.case_id, "round": 0, "attempt": 0, "text": text, "model": model_id})
        records[-1].update(_ANSWER_FIELDS)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = RunManifest(
        run_id=run_id,
        cases_file=str(target.resolve()),
        identity=identity,
        data_use={"decision": "allowed", "reason": "a baseline: trained and answered on this machine, nothing sent"},
        versions={"medldr": __version__, "scikit-learn": _version("scikit-learn")},
        settings={"trained_cases": len(train), "validation_cases": len(validation), **model.settings},
        started_at=now,
        finished_at=now,
        # no tokens and no price: its cost is not a figure, not zero
        totals={"answers": float(len(answered)), "cost_usd": None}
        | dict.fromkeys(
            ("errors", "invalid", "prompt_tokens", "completion_tokens", "reasoning_tokens", "unanswered"), 0.0
        ),
        model={"provider": "baseline", "id": kind, "served": [f"baseline:{kind}"]},
    )
    with folder_lock(out):
        if (out / RUN_MANIFEST).exists() and read_run_manifest(out / RUN_MANIFEST).identity.changes(identity):
            raise MedldrError(f"{out}: holds a different run; choose another --out")
        if (out / RESPONSES).exists() and not (out / RUN_MANIFEST).exists():
            raise MedldrError(f"{out / RESPONSES}: not written by medldr (no {RUN_MANIFEST} beside it)")
        atomic_write_lines(out / RESPONSES, (json.dumps(record) for record in records))
        atomic_write_text(out / RUN_MANIFEST, manifest.model_dump_json(indent=2))
    return manifest


__all__ = ["BASELINES", "DEFAULT_TASK", "run_baseline"]
