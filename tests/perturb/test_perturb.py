"""`medldr perturb` on the demo's built cases: each kind does what its rule says and nothing else, seeded and
deterministic, the manifests say what changed, the build manifest (label space) is carried over, and a folder holding
another perturbation is never overwritten."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from medldr.errors import MedldrError
from medldr.perturb import perturb_cases
from medldr.perturb.labs import LabBlock, LabRow
from medldr.perturb.registry import KINDS
from medldr.schema import BuildManifest, Case, read_build_manifest, read_cases, read_perturbation
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def perturbed(demo_build: tuple[Path, BuildManifest], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("perturbed")
    result = run_cli("perturb", str(demo_build[0] / "inference.jsonl"), "--out", str(out), "--seed", "5")
    assert result.returncode == 0, result.stderr
    assert "lab_order (invariant): 18 of 18 cases" in result.stdout
    return out


def _cases(folder: Path, kind: str) -> dict:
    return {case.case_id: case for case in read_cases(folder / kind / "inference.jsonl")}


def _rows(case: Case) -> list[LabRow]:
    return list(LabBlock.parse(case.input_dict.lab).rows)


def test_every_kind_gets_a_cases_folder_with_its_manifests(perturbed: Path, demo_build: tuple) -> None:
    built = read_build_manifest(demo_build[0] / "build_manifest.json")
    original = _cases(perturbed, "original")
    assert (perturbed / "original" / "inference.jsonl").read_bytes() == (demo_build[0] / "inference.jsonl").read_bytes()
    written = {p.name for p in perturbed.iterdir() if p.is_dir()}
    no_notes = {"drop_hpi", "negate_finding"}  # the demo has no notes: nothing to drop or negate, no folder
    assert written == {"original", *(k for k in KINDS if k not in no_notes)}
    for kind in written - {"original"}:
        manifest = json.loads((perturbed / kind / "perturbation.json").read_text())
        assert manifest["kind"] == kind and manifest["expect"] == KINDS[kind].expect and manifest["seed"] == 5
        assert manifest["n_cases"] == len(original) and manifest["n_changed"] == len(manifest["changed"]) > 0
        assert read_build_manifest(perturbed / kind / "build_manifest.json").label_space == built.label_space
        cases = _cases(perturbed, kind)
        assert list(cases) == list(original)
        for case_id, case in cases.items():  # only the input changes, and only for the cases listed
            assert case.output_dict == original[case_id].output_dict
            assert (case.input_dict != original[case_id].input_dict) == (case_id in manifest["changed"])


def test_the_invariant_kinds_keep_the_clinical_content(perturbed: Path) -> None:
    original = _cases(perturbed, "original")
    for case_id, case in _cases(perturbed, "lab_order").items():
        assert sorted(r.line() for r in _rows(case)) == sorted(r.line() for r in _rows(original[case_id]))
        assert _rows(case) != _rows(original[case_id])
    for case_id, case in _cases(perturbed, "jitter_normal").items():
        for new, old in zip(_rows(case), _rows(original[case_id]), strict=True):
            assert (new.name, new.normal()) == (old.name, old.normal())  # normal stays normal, abnormal untouched
            assert new.value == old.value or old.normal()
    for case_id, case in _cases(perturbed, "drop_normal").items():
        assert [r for r in _rows(original[case_id]) if r.normal() is not True] == _rows(case)
    markdown = _cases(perturbed, "lab_markdown")
    first = next(iter(original))
    assert "| Alanine Aminotransferase (ALT) | Blood | Chemistry |" in markdown[first].input_dict.lab
    sentences = _cases(perturbed, "lab_sentences")[first].input_dict.lab
    assert "(Blood, Chemistry) was" in sentences and "reference range" in sentences
    for case_id, case in _cases(perturbed, "swap_gender").items():
        old, new = original[case_id].input_dict.ed_info, case.input_dict.ed_info
        assert old.split("\n")[2][0] in "FM" and new.split("\n")[2][0] == {"F": "M", "M": "F"}[old.split("\n")[2][0]]
        assert old.split("\n")[2][1:] == new.split("\n")[2][1:]


def test_the_sensitive_kinds_remove_the_evidence(perturbed: Path) -> None:
    original = _cases(perturbed, "original")
    for case_id, case in _cases(perturbed, "drop_abnormal").items():
        assert all(r.normal() is not False for r in _rows(case))
        assert len(_rows(case)) < len(_rows(original[case_id]))
    for case_id, case in _cases(perturbed, "normalize_abnormal").items():
        assert all(r.normal() is not False for r in _rows(case))
        assert len(_rows(case)) == len(_rows(original[case_id]))
    for case_id, case in _cases(perturbed, "lab_first_40").items():
        rows, old = _rows(case), _rows(original[case_id])
        assert rows == old[: len(rows)] and len(rows) == -(-len(old) * 40 // 100)
    for case_id, case in _cases(perturbed, "drop_micro").items():  # a stay without microbiology reads "... None"
        assert case.input_dict.micro_info is None or original[case_id].input_dict.micro_info.endswith(": None")


def test_seeded_and_deterministic(demo_build: tuple, perturbed: Path, tmp_path: Path) -> None:
    """The same seed writes the same bytes; a case is perturbed the same way whatever else is in the file."""
    cases = demo_build[0] / "inference.jsonl"
    perturb_cases(cases, tmp_path / "again", ["lab_order", "jitter_normal"], seed=5)
    for kind in ("lab_order", "jitter_normal"):
        assert (tmp_path / "again" / kind / "inference.jsonl").read_bytes() == (
            perturbed / kind / "inference.jsonl"
        ).read_bytes()
    perturb_cases(cases, tmp_path / "other", ["lab_order"], seed=6)
    assert (tmp_path / "other" / "lab_order" / "inference.jsonl").read_bytes() != (
        perturbed / "lab_order" / "inference.jsonl"
    ).read_bytes()
    case = read_cases(cases)[3]
    kind = KINDS["jitter_normal"]
    assert kind.apply(case, random.Random("5:jitter_normal:" + case.case_id)) == kind.apply(
        case, random.Random("5:jitter_normal:" + case.case_id)
    )


def test_refusals_are_one_line_and_write_nothing(demo_build: tuple, perturbed: Path, tmp_path: Path) -> None:
    cases = str(demo_build[0] / "inference.jsonl")
    before = {p: p.read_bytes() for p in perturbed.rglob("*.json*")}
    for args, message in [
        ((cases, "--out", str(perturbed), "--seed", "6"), "holds another perturbation"),
        ((cases, "--out", str(tmp_path / "x"), "--kind", "reorder"), "--kind 'reorder': expected one of lab_order"),
        ((str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "y")), "none.jsonl: no such cases file"),
    ]:
        result = run_cli("perturb", *args)
        assert result.returncode == 2 and result.stderr.startswith("error: ") and message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in perturbed.rglob("*.json*")} == before
    damaged = tmp_path / "damaged"  # a hand-edited perturbation manifest: one line where it is read
    shutil.copytree(perturbed / "lab_order", damaged)
    (damaged / "perturbation.json").write_text('{"kind": "lab_order"}')
    with pytest.raises(MedldrError, match=r"perturbation.json: not a perturbation manifest of this medldr version"):
        read_perturbation(damaged / "inference.jsonl")
    edited = tmp_path / "edited"  # a lab field not in the build's format: named, with its file and case
    edited.mkdir()
    lines = (demo_build[0] / "inference.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["input_dict"]["lab"] = "labs: Cr 1.4"
    (edited / "inference.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    (edited / "build_manifest.json").write_text((demo_build[0] / "build_manifest.json").read_text())
    result = run_cli("perturb", str(edited / "inference.jsonl"), "--out", str(tmp_path / "z"), "--kind", "lab_order")
    assert result.returncode == 2 and result.stderr.strip() == (
        f"error: {edited / 'inference.jsonl'}: case {first['case_id']}: lab_order: the lab field does not start with "
        "the build's prefix and header"
    )
    assert not (tmp_path / "z" / "lab_order").exists()
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def _note_case(hpi: str) -> Case:
    gold = ["486", "5849"]
    return Case.model_validate(
        {
            "case_id": "1/2/0",
            "input_dict": {"hpi_text": hpi},
            "output_dict": {"output_icd_id": gold, "output_icd_name": gold, "output_icd_id_and_name": gold},
            "top_1_icd": {"code": "486", "name": ""},
        }
    )


@pytest.mark.parametrize(
    ("hpi", "negated"),
    [
        (
            "Mother with CHF. 70M with HTN presents with acute kidney injury and pneumonia.",
            "Mother with CHF. 70M with HTN presents with no evidence of acute kidney injury and pneumonia.",
        ),
        ("Found to have PNA on CXR. Cr 3.1.", "Found to have no evidence of PNA on CXR. Cr 3.1."),
        ("CXR concerning for PNA. Cr 3.1.", None),  # uncertain: not a stated finding
        ("No pneumonia. Denies AKI. Mother had pneumonia.", None),  # no stated gold finding: no clear target
        ("Possible pneumonia, rule out AKI.", None),
    ],
)
def test_negating_a_stated_finding_needs_a_clear_target(hpi: str, negated: str | None) -> None:
    change = KINDS["negate_finding"].apply(_note_case(hpi), random.Random(0))
    assert (change[0]["hpi_text"] if change else None) == negated
