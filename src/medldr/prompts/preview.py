"""Preview one case's messages (the file edge of the prompts package, used by `medldr prompts show`)."""

from __future__ import annotations

from pathlib import Path

from medldr.errors import MedldrError
from medldr.prompts import build_messages, load_template, richest_task
from medldr.schema import read_cases, resolve_label_space


def preview_messages(
    cases_file: Path, case_id: str | None, *, style: str, task: str | None, label_space: str | None
) -> list[dict[str, str]]:
    """The chat messages for ``case_id`` (default: the first case) of ``cases_file``."""
    cases = read_cases(cases_file)
    if not cases:
        raise MedldrError(f"{cases_file}: no cases")
    chosen = cases[0] if case_id is None else next((c for c in cases if c.case_id == case_id), None)
    if chosen is None:
        raise MedldrError(f"{cases_file}: no case {case_id}")
    space = resolve_label_space(label_space, cases_file)
    return build_messages(
        chosen, task=task or richest_task(cases), template=load_template(style), labels=space.prompt_labels
    )
