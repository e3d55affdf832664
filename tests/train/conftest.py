"""Small training data the tests write in the official case schema: real demo cases with their lab text cut to a
few lines, and a label-space file of a few codes, so that prompts are short enough for CPU training steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from medldr.schema import BuildManifest, read_cases, write_cases


@pytest.fixture(scope="session")
def small_cases(demo_build: tuple[Path, BuildManifest], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cases/train.jsonl (4 demo training cases, 6 lab lines each) and cases/labels.txt beside it."""
    folder = tmp_path_factory.mktemp("small") / "cases"
    cases = read_cases(demo_build[0] / "train.jsonl")[:4]
    cut = []
    for case in cases:
        lab = "\n".join((case.input_dict.lab or "").splitlines()[:6])
        cut.append(case.model_copy(update={"input_dict": case.input_dict.model_copy(update={"lab": lab})}))
    write_cases(folder / "train.jsonl", cut)
    codes = dict.fromkeys(code for case in cut for code in case.output_dict.output_icd_id)
    codes.update(dict.fromkeys(["5849", "486", "4019", "42731"]))
    (folder / "labels.txt").write_text("\n".join(codes) + "\n")
    return folder / "train.jsonl"
