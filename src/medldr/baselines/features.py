"""Features a non-LLM baseline may use: only what the task shows a model, read back from the case text itself (the
rendered lab table, the ED line, the microbiology table), so a baseline sees exactly the evidence a model sees."""

from __future__ import annotations

import re

from medldr.prompts import task_fields
from medldr.schema import Case

_LAB_COLUMNS = 6  # after the test name: fluid, category, value, unit, lower bound, upper bound
_FIELD = re.compile(r",(?! )")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value == value else None  # NaN is no value


def lab_features(text: str) -> dict[str, float]:
    """Per lab test (name and fluid): its value and whether it is below or above its reference range. The table is
    rendered unquoted and names may hold commas ("Calcium, Total"), so each row is split from the right."""
    out: dict[str, float] = {}
    for line in text.splitlines()[2:]:  # the heading line, then the column header
        parts = line.rsplit(",", _LAB_COLUMNS)
        if len(parts) != _LAB_COLUMNS + 1:
            continue
        name, fluid, _, raw, _, low, high = parts
        value = _number(raw)
        if value is None:
            continue
        key = f"lab:{name.strip()}|{fluid.strip()}"
        out[key] = value
        lower, upper = _number(low), _number(high)
        out[key + ":low"] = float(lower is not None and value < lower)
        out[key + ":high"] = float(upper is not None and value > upper)
    return out


def ed_features(text: str) -> dict[str, float]:
    """Gender and age from the ED line ('gender,age approximation' then 'F,80'; with triage, more columns)."""
    lines = [line for line in text.splitlines()[1:] if line.strip()]
    if len(lines) < 2:
        return {}
    row = dict(zip(lines[0].split(","), lines[1].split(","), strict=False))
    out: dict[str, float] = {}
    if row.get("gender"):
        out["gender=" + row["gender"].strip()] = 1.0
    for key, raw in row.items():
        if key != "gender" and (value := _number(raw)) is not None:
            out["ed:" + key.strip()] = value
    return out


def micro_features(text: str) -> dict[str, float]:
    """The organisms grown (the third column). Fields are joined by a bare comma; a comma inside a value is followed
    by a space ("Blood Culture, Routine"), so the row is split only at commas without one."""
    out: dict[str, float] = {}
    for line in text.splitlines()[2:]:
        fields = _FIELD.split(line)
        organism = fields[2].strip().lower() if len(fields) > 2 else ""
        if organism and organism != "nan":
            out["organism=" + organism] = 1.0
    return out


def case_features(case: Case, task: str) -> dict[str, float]:
    """Every feature of the fields ``task`` shows a model (labs, ED line, microbiology; text fields add none)."""
    shown = task_fields(task)
    fields = case.input_dict
    out: dict[str, float] = {}
    if "lab" in shown and fields.lab:
        out |= lab_features(fields.lab)
    if "ed_info" in shown and fields.ed_info:
        out |= ed_features(fields.ed_info)
    if "micro_info" in shown and fields.micro_info:
        out |= micro_features(fields.micro_info)
    return out
