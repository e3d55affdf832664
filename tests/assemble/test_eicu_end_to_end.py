"""LDR-eICU end to end: built from official-schema tables, asked in the study's eICU prompt form (a real local HTTP
server stands in for the model), its top20 answers extracted and scored in the ICD-10 label space, the report naming
the source; and the study's 8,168-token cut of the lab block."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bpe_openai

from medldr.icd import normalize_code
from medldr.prompts import EICU_STYLES, build_messages, load_template
from medldr.schema import Case, read_cases
from tests.conftest import cli_in_process
from tests.eicu_tables import write_eicu
from tests.run.fake_openai import FakeOpenAI


def _build(tmp_path: Path) -> Path:
    raw = write_eicu(tmp_path / "raw")
    built = cli_in_process("build", "eicu", "--root", str(raw), "--out", str(tmp_path / "cases"), "--quiet")
    assert built.returncode == 0, built.stderr
    return tmp_path / "cases"


def _run(cases: Path, answer: str, model: str, out: Path) -> tuple[Any, list[dict[str, str]]]:
    """Every validation case asked twice in the study's eICU expert style of a local server answering ``answer``:
    (the CLI's result, the first request's messages)."""
    with FakeOpenAI(answer=answer) as server:
        run = cli_in_process(
            "run", str(cases / "validation.jsonl"), "--model", model, "--base-url", server.url,
            "--style", "eicu_expert_designed", "--rounds", "2", "--out", str(out), "--quiet",
        )  # fmt: skip
        return run, server.bodies[0]["messages"]


def test_build_run_score_report(tmp_path: Path) -> None:
    cases = _build(tmp_path)
    answer = '{"top20": ["J96.00", "A41.9", "E87.6"], "predictions": ["J96.00", "E87.0"]}'
    run, asked = _run(cases, answer, "vllm:m", tmp_path / "run")
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["identity"]["task"] == "eicu"  # the richest task eICU cases support
    system, user = asked[0]["content"], asked[1]["content"]
    assert system.startswith("As a disease diagnosis expert, analyze the patient data and provide:")
    assert "Available ICD-10 codes and their corresponding diseases" in system
    assert "\nJ96.00: pulmonary|respiratory failure|acute respiratory failure\n" in system  # dotted, as the study
    assert user.startswith("Patient demographics and basic information: gender: ")
    scored = cli_in_process("score", str(tmp_path / "run"), "--quiet")
    assert scored.returncode == 0, scored.stderr
    scores = json.loads((tmp_path / "run" / "scores.json").read_text())
    gold = {c.case_id: c.top_1_icd.code for c in read_cases(cases / "validation.jsonl")}
    expected = sum(code == "J9600" for code in gold.values()) / len(gold)
    assert scores["mean"]["primary_accuracy"] == expected and scores["mean"]["invalid_rate"] == 0.0
    space = scores["label_space"]  # whole: codes, names, revision, where they came from
    assert space["system"] == "icd10" and space["spec"] == "eicu74" and len(space["labels"]) == 74
    named_by = {label["code"]: label["name"] for label in space["labels"]}
    assert named_by["J9600"] == "pulmonary|respiratory failure|acute respiratory failure"  # the build's names
    # the study's eICU recalls, by hand: ranked J96.00, A41.9, E87.6; predicted J96.00, E87.0
    ranked, named = {"J9600", "A419", "E876"}, {"J9600", "E870"}
    rows = read_cases(cases / "validation.jsonl")
    majors = [[normalize_code(d["icd10code"]) for d in c.output_dict.major_diseases] for c in rows]
    study = scores["source_metrics"]["study_eicu"]
    assert study["recall_any_at_3"]["value"] == sum(bool(ranked & set(c.output_dict.output_icd_id)) for c in rows) / 2
    assert study["primary_diseases_recall"]["value"] == expected  # one primary each: the top-1 accuracy
    assert study["major_diseases_recall"]["value"] == sum(bool(named & set(m)) for m in majors) / 2
    assert (
        study["recall_any_at_20"]["ci"][0] <= study["recall_any_at_20"]["value"] <= study["recall_any_at_20"]["ci"][1]
    )
    report = cli_in_process("report", str(tmp_path / "run"), "--out", str(tmp_path / "report"), "--quiet")
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report" / "index.html").read_text()
    assert "eicu-crd 2.0" in html and "LDR-eICU: the study" in html and ">ICD-10<" in html
    per_disease = (tmp_path / "report" / "tables" / "per_disease.csv").read_text()
    assert "J9600,pulmonary|respiratory failure|acute respiratory failure" in per_disease  # named by its label
    texts = [html, *(path.read_text() for path in (tmp_path / "report").rglob("*.csv"))]
    assert not [text for text in texts if "ICD-9" in text]  # an ICD-10 run is never captioned ICD-9
    again = cli_in_process(
        "score", str(tmp_path / "run"), "--label-space", "eicu74", "--out", str(tmp_path / "run" / "eicu74.json")
    )
    assert again.returncode == 0, again.stderr  # the study's label space by name, at every stage
    rescored = json.loads((tmp_path / "run" / "eicu74.json").read_text())
    assert rescored["mean"] == scores["mean"] and rescored["label_space"] == space  # the build's own eicu74
    # a source's own metric is compared like any other: the study's recalls, paired per case over the cases they count
    second, _ = _run(cases, '{"top20": ["A41.9", "I10"], "predictions": ["A41.9"]}', "vllm:m2", tmp_path / "run2")
    assert second.returncode == 0 and cli_in_process("score", str(tmp_path / "run2"), "--quiet").returncode == 0
    out = tmp_path / "compare.json"
    compared = cli_in_process(
        "compare", str(tmp_path / "run"), str(tmp_path / "run2"), "--metric", "recall_any_at_3",
        "--metric", "primary_diseases_recall", "--resamples", "50", "--out", str(out),
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    result = json.loads(out.read_text())
    for metric in ("recall_any_at_3", "primary_diseases_recall"):
        assert result["runs"][metric][str(tmp_path / "run")]["value"] == study[metric]["value"]
    assert len(result["differences"]) == 2 and all("permutation" in d["p"] for d in result["differences"])
    refused = cli_in_process("compare", str(tmp_path / "run"), str(tmp_path / "run2"), "--metric", "micro_f1")
    assert refused.returncode == 2 and "label-space average" in refused.stderr
    typed = cli_in_process("overdiagnosis", str(tmp_path / "run"), "--quiet")  # ICD-9's tree: no ICD-10 verdicts
    assert typed.returncode == 2 and "ICD-10 label space (eicu74)" in typed.stderr
    assert not (tmp_path / "run" / "overdiagnosis_summary.json").exists()


def test_the_lab_block_is_cut_at_8168_tokens(tmp_path: Path) -> None:
    case = read_cases(_build(tmp_path) / "validation.jsonl")[0]
    rows = "".join(f"{i},lab test {i % 40},{i * 1.5},mg/dL\n" for i in range(6000))
    long_labs = "Laboratory test results with timestamps and measurements:\n" + rows
    fields = case.input_dict.model_dump(exclude_none=True) | {"lab_results": long_labs}
    long_case = Case.model_validate(case.model_dump() | {"input_dict": fields})
    user = build_messages(long_case, task="eicu", template=load_template(EICU_STYLES[0]), labels=[])[1]["content"]
    encoding = bpe_openai.get_encoding("cl100k_base")
    lab_part = user[user.index("Laboratory test results") : -1]  # the study adds a newline after each field
    assert len(encoding.encode(long_labs)) > 8168
    assert long_labs.startswith(lab_part) and len(encoding.encode(lab_part)) == 8168
    short = build_messages(case, task="eicu", template=load_template(EICU_STYLES[0]), labels=[])[1]["content"]
    assert short.endswith(case.input_dict.lab_results + "\n")  # a short block is left whole
