"""The overdiagnosis judge's prompt: the record a run's model was shown and one overdiagnosed code; the judge must
quote the record's own words it relies on (score/judge.py checks the quotes)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from medldr.icd import icd9_names

VERDICTS = ("supported", "partly", "unsupported")

JUDGE_SYSTEM = """You check one diagnosis against a patient's hospital record.
A model proposed the diagnosis below, but it is not among the diagnoses the hospital coded for this stay.
Decide whether the record's own findings support it, and quote the exact words of the record you rely on.

Answer with one JSON object and nothing else:
{"verdict": "supported" | "partly" | "unsupported",
 "quotes": ["words copied character for character from the record", ...],
 "explanation": "one or two sentences"}
Copy quotes verbatim (no paraphrase, no ellipsis); give an empty list when nothing in the record bears on it."""

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": list(VERDICTS)},
        "quotes": {"type": "array", "items": {"type": "string"}},
        "explanation": {"type": "string"},
    },
    "required": ["verdict", "quotes", "explanation"],
}

JUDGE_USER = "The record:\n{record}\n\nThe proposed diagnosis: ICD-9 {code} ({name})."


def judge_messages(record: str, code: str) -> list[dict[str, str]]:
    user = JUDGE_USER.format(record=record, code=code, name=icd9_names().get(code, ""))
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def judge_prompt() -> dict[str, Any]:
    """The prompt's texts and schema, as a judge manifest records them."""
    return {"system": JUDGE_SYSTEM, "user": JUDGE_USER, "schema": JUDGE_SCHEMA}


def prompt_sha256() -> str:
    return hashlib.sha256((JUDGE_SYSTEM + JUDGE_USER + json.dumps(JUDGE_SCHEMA, sort_keys=True)).encode()).hexdigest()
