"""Scored runs for the report tests: three 'models' of different skill answer the demo's inference cases through
the real runner against a local OpenAI-compatible server, and the real score stage scores them."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest

from medldr.run import GenerationParams, RunSettings, run_cases
from medldr.schema import BuildManifest, read_cases, resolve_label_space
from medldr.score.files import run_inputs, score_files, write_scores
from tests.conftest import run_cli
from tests.run.fake_openai import FakeOpenAI

SKILL = {"strong": 0.8, "middling": 0.45, "weak": 0.1}


def oracle(cases_file: Path) -> Any:
    """An answer function: with probability SKILL[model] the gold codes (primary first), else wrong codes, drawn
    from a seed of (model, sampling seed, prompt) so rounds differ and reruns repeat."""
    cases = read_cases(cases_file)
    labels = list(resolve_label_space(None, cases_file).codes)
    gold = {}
    for case in cases:
        fields = [str(v) for v in case.input_dict.model_dump().values() if v]
        primary = case.top_1_icd.code
        gold[fields[0][:400]] = [primary, *(c for c in case.output_dict.output_icd_id if c != primary)]

    def answer(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        key = next((k for k in gold if k in user), None)
        codes = gold[key] if key else labels[:1]
        digest = hashlib.sha256(f"{body['model']}|{body.get('seed')}|{user}".encode()).digest()
        rng = random.Random(digest)
        wrong = [c for c in labels if c not in codes]
        if rng.random() < SKILL[body["model"]]:  # the primary, some of the other gold codes, sometimes a wrong one
            predictions = codes[: rng.randint(1, 3)] + rng.sample(wrong, rng.random() < 0.3)
        else:
            predictions = rng.sample(wrong, 2)
        top10 = predictions + [c for c in rng.sample(labels, 12) if c not in predictions]
        return "```json\n" + json.dumps({"top10": top10[:10], "predictions": predictions}) + "\n```"

    return answer


@pytest.fixture(scope="session")
def scored_runs(demo_build: tuple[Path, BuildManifest], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Run folders runs/{strong,middling,weak}: 3 rounds each, scored (scores.json, per_case.csv)."""
    cases_file = demo_build[0] / "inference.jsonl"
    root = tmp_path_factory.mktemp("runs")
    folders = []
    with FakeOpenAI(answer_for=oracle(cases_file)) as server:
        for model in SKILL:
            settings = RunSettings(
                cases_file=cases_file, out=root / model, model=f"openai-compatible:{model}", base_url=server.url,
                task="lab_num+", rounds=3, concurrency=4, params=GenerationParams(temperature=0.7, seed=7),
            )  # fmt: skip
            run_cases(settings)
            scored = score_files(*run_inputs(settings.out, None, None), n_resamples=200)
            write_scores(scored, settings.out / "scores.json")
            folders.append(settings.out)
    return folders


@pytest.fixture(scope="session")
def report(scored_runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the three runs with two groups, written once by the real CLI."""
    out = tmp_path_factory.mktemp("report") / "report"
    strong, middling, weak = map(str, scored_runs)
    result = run_cli("report", strong, middling, weak, "--group", f"good={strong}", "--group",
                     f"poor={middling},{weak}", "--out", str(out), "--resamples", "300")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"report: {out / 'index.html'}" in result.stdout
    return out
