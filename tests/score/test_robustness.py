"""`medldr robustness`: flip rates and set changes against the original run, net of the model's own noise, with
patient-clustered paired intervals. On hand-worked answers, then end to end: `medldr perturb`, ordinary runs through
the real runner against a local OpenAI-compatible server (a 'model' that recognises a case by its lab results, in
any order), and the command."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from medldr.perturb import perturb_cases
from medldr.perturb.labs import LabBlock
from medldr.run import GenerationParams, RunSettings, run_cases
from medldr.schema import BuildManifest, read_cases, resolve_label_space
from medldr.score.robustness import COLUMNS, noise, per_case, summarize, verdict
from tests.conftest import run_cli
from tests.run.fake_openai import FakeOpenAI


def test_flips_and_noise_on_hand_worked_answers() -> None:
    original = [[("486", "5849"), ("486",), ("5849",)]]  # rounds 0-2; two of three pairs disagree on the primary
    perturbed = [[("5849",), ("486",), ("5849", "486")]]
    [row] = per_case(original, perturbed, ["486"]).tolist()
    values = dict(zip(COLUMNS, row, strict=True))
    assert values["flip_rate"] == pytest.approx(1 / 3)  # round 0 flips; rounds 1 and 2 keep their primary
    assert values["noise_flip_rate"] == pytest.approx(2 / 3)
    assert values["flip_excess"] == pytest.approx(1 / 3 - 2 / 3)
    assert values["set_change"] == pytest.approx((0.5 + 0 + 0.5) / 3)  # {486,5849} vs {5849}; equal; {5849} vs both
    assert values["primary_accuracy_original"] == pytest.approx(2 / 3)
    assert values["primary_accuracy_perturbed"] == pytest.approx(2 / 3)
    assert noise([(), ()]) == (0.0, 0.0)  # two invalid answers: the same (no answer)
    assert noise([(), ("486",)]) == (1.0, 1.0)


def test_the_interval_resamples_patients_and_the_verdict_reads_it() -> None:
    """Two admissions of one patient move together: the interval is that of 2 patients, not 4 cases."""
    values = np.zeros((20, len(COLUMNS)))
    values[:, COLUMNS.index("flip_excess")] = [0.5] * 10 + [-0.5] * 10
    clustered = summarize(values, ["1"] * 10 + ["2"] * 10, expect="invariant", n_resamples=2000)
    by_case = summarize(values, [str(i) for i in range(20)], expect="invariant", n_resamples=2000)
    assert clustered["flip_excess_ci"] == [-0.5, 0.5]  # either patient twice, or one of each
    assert -0.3 < by_case["flip_excess_ci"][0] < 0 < by_case["flip_excess_ci"][1] < 0.3
    assert verdict("invariant", [0.01, 0.2]).startswith("fragile")
    assert verdict("invariant", [-0.1, 0.2]).startswith("no flips")
    assert verdict("sensitive", [-0.1, 0.2]).startswith("insensitive")
    assert verdict("sensitive", [0.05, 0.2]) == "responds to the evidence"


def _lab_model(cases_file: Path) -> Any:
    """A 'model' that knows each case by its set of lab lines (so their order does not matter): 70% of its answers
    name the gold primary, the rest a wrong code, drawn from a seed of the whole prompt (independent samples, as a
    sampled model's are). A case it does not recognise (its abnormal results gone) gets wrong codes."""
    cases = read_cases(cases_file)
    labels = list(resolve_label_space(None, cases_file).codes)
    known = [({r.line() for r in LabBlock.parse(c.input_dict.lab).rows}, c.top_1_icd.code) for c in cases]

    def answer(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        lines = set(user.splitlines())
        primary = next((code for rows, code in known if rows <= lines and len(rows) > 0), None)
        prompt = "|".join(m["content"] for m in body["messages"])  # the system message too: label order matters
        rng = random.Random(hashlib.sha256(f"{body.get('seed')}|{prompt}".encode()).digest())
        wrong = [c for c in labels if c != primary]
        first = primary if primary is not None and rng.random() < 0.7 else rng.choice(wrong)
        return json.dumps({"top10": [first], "predictions": [first]})

    return answer


@pytest.fixture(scope="module")
def robustness_runs(demo_build: tuple[Path, BuildManifest], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("robustness")
    perturb_cases(demo_build[0] / "inference.jsonl", root / "cases", ["lab_order", "drop_abnormal"], seed=1)
    with FakeOpenAI(answer_for=_lab_model(demo_build[0] / "inference.jsonl")) as server:
        systems = {}
        for kind, order in (("original", None), ("lab_order", None), ("drop_abnormal", None), ("original", 7)):
            seen = len(server.bodies)
            run_cases(
                RunSettings(
                    cases_file=root / "cases" / kind / "inference.jsonl",
                    out=root / "runs" / (kind if order is None else "label_order"),
                    label_order=order,
                    model="openai-compatible:lab-model",
                    base_url=server.url,
                    task="lab",
                    rounds=5,
                    concurrency=4,
                    params=GenerationParams(temperature=0.7, seed=3),
                )
            )
            name = kind if order is None else "label_order"
            systems[name] = sorted({b["messages"][0]["content"] for b in server.bodies[seen:]})
    (root / "systems.json").write_text(json.dumps(systems))
    return root


def test_robustness_end_to_end(robustness_runs: Path) -> None:
    runs = robustness_runs / "runs"
    probes = [str(runs / kind) for kind in ("lab_order", "drop_abnormal", "label_order")]
    result = run_cli("robustness", str(runs / "original"), *probes)
    assert result.returncode == 0, result.stderr
    assert "robustness against" in result.stdout and "robustness.json" in result.stdout
    report = json.loads((runs / "original" / "robustness.json").read_text())
    order, dropped, labels = report["kinds"]
    assert (order["kind"], dropped["kind"]) == ("lab_order", "drop_abnormal") and order["n_cases"] == 18
    # reordering: the same answers' distribution, so flips are the model's own noise
    low, high = order["flip_excess_ci"]
    assert low <= 0 <= high and order["verdict"] == "no flips beyond its own noise"
    assert abs(order["flip_rate"] - order["noise_flip_rate"]) < 0.15
    # without the abnormal results the model cannot tell the case: flips beyond noise, accuracy falls
    assert dropped["flip_excess_ci"][0] > 0 and dropped["verdict"] == "responds to the evidence"
    assert dropped["primary_accuracy_change"] < -0.4 and dropped["primary_accuracy_change_ci"][1] < 0
    # a run of the original cases with the label list in another order (medldr run --label-order 7)
    assert (labels["kind"], labels["expect"], labels["params"], labels["n_cases"]) == (
        "label_order",
        "invariant",
        {"seed": 7},
        18,
    )
    assert labels["flip_excess_ci"][0] <= 0 <= labels["flip_excess_ci"][1]
    manifest = json.loads((runs / "label_order" / "manifest.json").read_text())
    systems = json.loads((robustness_runs / "systems.json").read_text())
    assert (
        len(systems["original"]) == len(systems["label_order"]) == 1 and systems["original"] != systems["label_order"]
    )
    listed = [sorted(texts[0].split("[ ")[1].removesuffix(" ]").split("; ")) for texts in systems.values()]
    assert listed[0] == listed[-1]  # the same labels, in another order
    assert (
        manifest["identity"]["label_order"] == 7
        and "label_order" not in json.loads((runs / "original" / "manifest.json").read_text())["identity"]
    )


def test_robustness_refusals(robustness_runs: Path, demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    runs = robustness_runs / "runs"
    perturb_cases(demo_build[0] / "train.jsonl", tmp_path / "cases", ["lab_order"], seed=1)
    with FakeOpenAI(answer_for=_lab_model(demo_build[0] / "inference.jsonl")) as server:
        for kind, cases_file in [
            ("other", tmp_path / "cases" / "lab_order" / "train.jsonl"),
            ("one_round", robustness_runs / "cases" / "original" / "inference.jsonl"),
            ("hotter", robustness_runs / "cases" / "lab_order" / "inference.jsonl"),  # another temperature
        ]:
            run_cases(
                RunSettings(
                    cases_file=cases_file,
                    out=tmp_path / kind,
                    model="openai-compatible:lab-model",
                    base_url=server.url,
                    task="lab",
                    rounds=1 if kind != "hotter" else 5,
                    limit=3,
                    params=GenerationParams(temperature=1.0 if kind == "hotter" else 0.7, seed=3),
                )
            )
    for args, message in [
        ((runs / "original", runs / "original"), "are not perturbed copies (medldr perturb), nor is it"),
        ((runs / "original", tmp_path / "other"), "were perturbed from other cases than the original"),
        ((tmp_path / "one_round", runs / "lab_order"), "one round per case; the noise baseline compares rounds"),
        ((tmp_path / "nope", runs / "lab_order"), "no such run folder"),
        ((runs / "original", tmp_path / "hotter"), "differs from " + str(runs / "original") + " in params; run the"),
    ]:
        result = run_cli("robustness", *map(str, args), "--out", str(tmp_path / "out"))
        assert result.returncode == 2 and result.stderr.startswith("error: ") and message in result.stderr
        assert not (tmp_path / "out" / "robustness.json").exists()
