"""The robustness recipe of the README on the bundled open demo with the bundled model, offline: `medldr perturb`,
ordinary `medldr run`s of the original and perturbed cases, `medldr score`, `medldr robustness` and `medldr report`
(a plumbing model: the numbers show the pipeline works, not a finding)."""

from __future__ import annotations

import json
from pathlib import Path

from medldr.schema import BuildManifest
from tests.conftest import run_cli
from tests.gates import needs_llama


@needs_llama
def test_the_robustness_recipe_on_the_demo(demo_build: tuple[Path, BuildManifest], tmp_path: Path) -> None:
    kinds = ("lab_order", "drop_abnormal", "lab_first_40")
    perturbed = run_cli(
        "perturb", str(demo_build[0] / "inference.jsonl"), "--out", str(tmp_path / "p"), *[f"--kind={k}" for k in kinds]
    )
    assert perturbed.returncode == 0, perturbed.stderr
    runs = []
    for kind in ("original", *kinds):
        out = tmp_path / "runs" / kind
        args = ["run", str(tmp_path / "p" / kind / "inference.jsonl"), "--model", "local", "--task", "lab"]
        args += ["--limit", "2", "--rounds", "2", "--max-tokens", "48", "--seed", "1", "--out", str(out), "--quiet"]
        result = run_cli(*args)
        assert result.returncode == 0, result.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["data_use"]["decision"] == "allowed"  # a local model: every copy may be sent to it
        assert run_cli("score", str(out), "--quiet").returncode == 0
        runs.append(str(out))
    result = run_cli("robustness", *runs)
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "runs" / "original" / "robustness.json").read_text())
    assert [k["kind"] for k in summary["kinds"]] == list(kinds)
    for entry in summary["kinds"]:
        assert entry["n_cases"] == 2 and 0 <= entry["flip_rate"] <= 1 and 0 <= entry["noise_flip_rate"] <= 1
        low, high = entry["flip_excess_ci"]
        assert low <= entry["flip_excess"] <= high
    report = run_cli("report", runs[0], "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "report" / "index.html").read_text()
    assert "Robustness to perturbed cases" in html and "first 20/40/60/80% of the lab lines" in html
    assert (tmp_path / "report" / "figures" / "robustness.svg").is_file()
    assert (tmp_path / "report" / "figures" / "information_curve.svg").is_file()
