"""Open data is decided on the content, not on the build manifest's word: a cases file counts as the bundled demo
only when it is byte-identical to a fresh build of the demo with its recorded settings. Each spoof here was let
through before (the guard read the manifest's source name)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medldr.assemble import BuildConfig, build_cases
from medldr.errors import MedldrError
from medldr.open_data import open_data_proof
from medldr.run.guard import data_use_decision
from medldr.run.providers import get_provider
from medldr.sources import DEMO_NAME, open_demo, open_mimic
from tests.mimic_tables import mini_mimic


@pytest.fixture()
def hosted(monkeypatch: pytest.MonkeyPatch):  # a provider that may retain data; no request is made here
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    return get_provider("openai:gpt-4.1")


def _decide(cases: Path, provider) -> dict:
    return data_use_decision(cases, provider, None, allow_sharing=False, open_data=open_data_proof)


def test_a_build_of_the_bundled_demo_is_open_data(tmp_path: Path, hosted) -> None:
    build_cases(open_demo(), tmp_path, BuildConfig(window="ed", seed=7))
    decision = _decide(tmp_path / "inference.jsonl", hosted)
    assert decision["decision"] == "allowed" and decision["reason"].startswith("open data: identical to the")
    assert decision["source"] == DEMO_NAME
    with pytest.raises(MedldrError, match="count as credentialed data"):  # no proof handed in: credentialed
        data_use_decision(tmp_path / "inference.jsonl", hosted, None, allow_sharing=False)


def test_a_manifest_claiming_the_demo_for_other_cases_is_refused(tmp_path: Path, hosted) -> None:
    build_cases(open_mimic(mini_mimic(tmp_path / "mimic")), tmp_path / "cases", BuildConfig(label_space="paper40"))
    manifest = tmp_path / "cases" / "build_manifest.json"
    data = json.loads(manifest.read_text())
    for claim in (DEMO_NAME, "mimic-iv-demo (credentialed, really)"):
        manifest.write_text(json.dumps(data | {"source": claim}))
        with pytest.raises(MedldrError, match="data-use rule: cases from mimic-iv-demo"):
            _decide(tmp_path / "cases" / "train.jsonl", hosted)


def test_an_edited_demo_file_is_no_longer_open_data(tmp_path: Path, hosted) -> None:
    """A case of the demo build with text added (e.g. a note pasted from elsewhere) is not the demo's any more."""
    build_cases(open_demo(), tmp_path, BuildConfig())
    cases = tmp_path / "train.jsonl"
    lines = cases.read_text().splitlines()
    first = json.loads(lines[0])
    first["input_dict"]["lab"] += "\nDischarge summary: ..."
    cases.write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    with pytest.raises(MedldrError, match="data-use rule"):
        _decide(cases, hosted)
    assert _decide(tmp_path / "test.jsonl", hosted)["decision"] == "allowed"  # its untouched sibling still is


def test_a_perturbed_copy_of_the_demo_is_open_data_when_re_derived(tmp_path: Path, hosted) -> None:
    """Issue 20: a `medldr perturb` copy is treated like its original: open when re-applying the recorded kind and
    seed to the (open) original gives the same bytes; a copy edited afterwards, or whose manifest names another seed,
    is credentialed as before."""
    from medldr.perturb import perturb_cases

    build_cases(open_demo(), tmp_path / "cases", BuildConfig(window="ed", seed=7))
    perturb_cases(tmp_path / "cases" / "inference.jsonl", tmp_path / "p", ["lab_order", "drop_abnormal"], seed=3)
    for kind in ("lab_order", "drop_abnormal"):
        decision = _decide(tmp_path / "p" / kind / "inference.jsonl", hosted)
        assert decision["decision"] == "allowed" and f"a medldr perturb copy ({kind}, re-derived)" in decision["reason"]
    assert _decide(tmp_path / "p" / "original" / "inference.jsonl", hosted)["decision"] == "allowed"
    edited = tmp_path / "p" / "lab_order" / "inference.jsonl"
    edited.write_text(edited.read_text().replace("Blood", "Blood (note: ...)", 1))
    with pytest.raises(MedldrError, match="data-use rule"):
        _decide(edited, hosted)
    manifest = tmp_path / "p" / "drop_abnormal" / "perturbation.json"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"seed": 4}))
    decision = _decide(tmp_path / "p" / "drop_abnormal" / "inference.jsonl", hosted)  # drop_abnormal ignores its seed
    assert decision["decision"] == "allowed"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | {"kind": "drop_normal"}))
    with pytest.raises(MedldrError, match="data-use rule"):
        _decide(tmp_path / "p" / "drop_abnormal" / "inference.jsonl", hosted)
