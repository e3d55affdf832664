"""The evidence judge for Type-A overdiagnoses: a model of the run stage is shown the record and one overdiagnosed
code and must quote the record's own words it relies on. A quote that is not in the record is rejected and counted.

The prompt and the check are pure; ``judge_items`` is the I/O edge (provider calls, an append-only, resumable
judge.jsonl beside a manifest).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from medldr._files import atomic_write_text
from medldr.answer import first_json_object
from medldr.errors import MedldrError
from medldr.icd import icd9_names
from medldr.run import ask
from medldr.run.params import GenerationParams
from medldr.run.providers.base import Provider, closing, concurrency_for, error_text
from medldr.run.runner import identity_changes
from medldr.run.store import ResponseStore
from medldr.schema import JUDGE_MANIFEST, JUDGE_RESPONSES

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


def prompt_sha256() -> str:
    return hashlib.sha256((JUDGE_SYSTEM + JUDGE_USER + json.dumps(JUDGE_SCHEMA, sort_keys=True)).encode()).hexdigest()


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def check_judgement(text: str | None, record: str) -> dict[str, Any]:
    """Read a judge's answer and check each quote against the record (verbatim up to runs of whitespace).

    >>> check_judgement('{"verdict": "partly", "quotes": ["Cr 3.1", "fever 40C"], "explanation": "x"}',
    ...                 "lab: Cr 3.1  mg/dL")["quotes_rejected"]
    ['fever 40C']
    >>> check_judgement("I think so", "lab")["valid"]
    False
    """
    answer = first_json_object(text)
    verdict = answer.get("verdict") if answer else None
    quotes = answer.get("quotes") if answer else None
    if verdict not in VERDICTS or not isinstance(quotes, list) or not all(isinstance(q, str) for q in quotes):
        return {"valid": False, "verdict": None, "quotes_verified": [], "quotes_rejected": [], "explanation": None}
    haystack = _squash(record)
    verified = [q for q in quotes if _squash(q) and _squash(q) in haystack]
    rejected = [q for q in quotes if q not in verified]
    return {
        "valid": True,
        "verdict": verdict,
        "quotes_verified": verified,
        "quotes_rejected": rejected,
        "explanation": answer.get("explanation"),
    }


@dataclass
class JudgeItem:
    case_id: str
    round: int
    code: str
    record: str  # the text the run's model was shown for this case

    @property
    def key(self) -> tuple[str, int, str]:
        return self.case_id, self.round, self.code


def _check_same_judge(folder: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    path = folder / JUDGE_MANIFEST
    if not path.exists():
        return None
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
        earlier = previous["identity"]
    except (ValueError, KeyError, TypeError):
        raise MedldrError(f"{path}: not a judge manifest; restore it or use another --out") from None
    if earlier != identity:
        changed = identity_changes(earlier, identity)
        raise MedldrError(
            f"{path}: an earlier judge run with other settings ({', '.join(changed)}) is in this folder; use another "
            "--out or remove it"
        )
    return previous


def judge_items(
    items: Sequence[JudgeItem],
    provider: Provider,
    out: Path,
    *,
    identity: dict[str, Any],
    data_use: dict[str, Any],
    params: GenerationParams,
    concurrency: int = 4,
    timeout: float = 600.0,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Ask the judge about every item not yet in OUT/judge.jsonl (through the run stage's one retry policy, each
    request bounded by ``timeout``); returns every stored judgement (old and new)."""
    out.mkdir(parents=True, exist_ok=True)
    previous = _check_same_judge(out, identity)
    manifest = {
        "kind": "overdiagnosis_judge",
        "identity": identity,
        "data_use": data_use,
        "prompt": {"system": JUDGE_SYSTEM, "user": JUDGE_USER, "schema": JUDGE_SCHEMA},
        "started_at": (previous or {}).get("started_at") or datetime.now(UTC).isoformat(timespec="seconds"),
        "finished_at": None,
    }
    atomic_write_text(out / JUDGE_MANIFEST, json.dumps(manifest, indent=2))
    store = ResponseStore(out / JUDGE_RESPONSES)
    done = {(r["case_id"], r["round"], r["code"]) for r in store.load() if not r.get("error")}
    todo = [item for item in items if item.key not in done]
    report = progress or (lambda *_: None)
    finished = len(items) - len(todo)

    async def judge_one(item: JudgeItem, gate: asyncio.Semaphore) -> None:
        nonlocal finished
        async with gate:
            try:
                completion, _ = await ask(provider, judge_messages(item.record, item.code), params, timeout=timeout)
            except Exception as err:  # an endpoint failure is recorded, and asked again on the next run
                store.append(
                    {
                        "case_id": item.case_id,
                        "round": item.round,
                        "code": item.code,
                        "error": error_text(err),
                    }
                )
                return
            checked = check_judgement(completion.text, item.record)
            store.append(
                {
                    "case_id": item.case_id,
                    "round": item.round,
                    "code": item.code,
                    "text": completion.text,
                    **checked,
                    "usage": completion.usage,
                }
            )
            finished += 1
            report(finished, len(items))

    async def main() -> None:
        gate = asyncio.Semaphore(concurrency_for(provider, concurrency))
        await asyncio.gather(*(judge_one(item, gate) for item in todo))

    try:
        asyncio.run(closing(provider, main()))
    finally:
        store.close()
    stored = [r for r in ResponseStore(out / JUDGE_RESPONSES).load() if not r.get("error")]
    if all(item.key in {(r["case_id"], r["round"], r["code"]) for r in stored} for item in items):
        manifest["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        atomic_write_text(out / JUDGE_MANIFEST, json.dumps(manifest, indent=2))
    return stored


def summarize_judgements(judgements: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Verdict counts, and how many answers were unreadable or held a quote not found in the record."""
    valid = [j for j in judgements if j.get("valid")]
    return {
        "judged": len(judgements),
        "unreadable": len(judgements) - len(valid),
        "verdicts": {v: sum(1 for j in valid if j["verdict"] == v) for v in VERDICTS},
        "quotes_verified": sum(len(j["quotes_verified"]) for j in valid),
        "quotes_rejected": sum(len(j["quotes_rejected"]) for j in valid),
        "judgements_with_rejected_quote": sum(1 for j in valid if j["quotes_rejected"]),
    }
