"""The run tests' shared fixture: the demo build's inference cases (open data, so any endpoint may receive them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medldr.schema import BuildManifest


@pytest.fixture
def demo_cases(demo_build: tuple[Path, BuildManifest]) -> Path:
    return demo_build[0] / "inference.jsonl"


def stored_records(run: Path) -> list[dict]:
    """Every record of a run folder's responses.jsonl but its header."""
    lines = [json.loads(line) for line in (run / "responses.jsonl").read_text().splitlines()]
    return [r for r in lines if r.get("kind") != "header"]
