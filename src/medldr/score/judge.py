"""The evidence judge's pure side: which Type-A codes to ask about (a seeded sample), reading a judge's answer,
and checking each quote against the record (a quote that is not in the record is rejected and counted). The
asking itself is the run stage's (``medldr.run.run_prompts``); nothing here calls a model."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from medldr.answer import first_json_object
from medldr.prompts.judge import VERDICTS

Key = tuple[str, int, str]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def read_judgement(text: str | None) -> dict[str, Any] | None:
    """The verdict, quotes and explanation of a judge's answer, or None when it does not follow the schema."""
    answer = first_json_object(text)
    verdict = answer.get("verdict") if answer else None
    quotes = answer.get("quotes") if answer else None
    if verdict not in VERDICTS or not isinstance(quotes, list) or not all(isinstance(q, str) for q in quotes):
        return None
    return {"verdict": verdict, "quotes": quotes, "explanation": answer.get("explanation") if answer else None}


MIN_QUOTE_WORDS, MIN_QUOTE_CHARS = 3, 15
UNBACKED = "unsupported-by-quote"
"""The counted verdict of a "supported" or "partly" answer without one verified quote of at least three words or 15
characters: a verdict counts only with the record's own words behind it ("Blood", "3.1" back nothing)."""


def _long_enough(quote: str) -> bool:
    return len(quote.split()) >= MIN_QUOTE_WORDS or len(quote) >= MIN_QUOTE_CHARS


def check_judgement(text: str | None, record: str) -> dict[str, Any]:
    """Read a judge's answer and check each quote against the record (verbatim up to runs of whitespace, and at
    least three words or 15 characters); ``verdict`` is what counts, ``verdict_given`` what the judge said.

    >>> check = check_judgement('{"verdict": "partly", "quotes": ["Cr 3.1", "fever 40C"], "explanation": "x"}',
    ...                         "lab: Cr 3.1  mg/dL")
    >>> check["quotes_too_short"], check["quotes_rejected"], check["verdict"]
    (['Cr 3.1'], ['fever 40C'], 'unsupported-by-quote')
    >>> check_judgement("I think so", "lab")["valid"]
    False
    """
    answer = read_judgement(text)
    if answer is None:
        return {
            "valid": False,
            "verdict": None,
            "verdict_given": None,
            "quotes_verified": [],
            "quotes_too_short": [],
            "quotes_rejected": [],
            "explanation": None,
        }
    haystack = _squash(record)
    found = [q for q in answer["quotes"] if _squash(q) and _squash(q) in haystack]
    verified = [q for q in found if _long_enough(_squash(q))]
    given = answer["verdict"]
    return {
        "valid": True,
        "verdict": given if given == "unsupported" or verified else UNBACKED,
        "verdict_given": given,
        "quotes_verified": verified,
        "quotes_too_short": [q for q in found if q not in verified],
        "quotes_rejected": [q for q in answer["quotes"] if q not in found],
        "explanation": answer["explanation"],
    }


def key_of(record: Mapping[str, Any]) -> Key:
    return record["case_id"], record["round"], record["code"]


def judge_sample(records: Sequence[dict[str, Any]], sample: int | None, seed: int) -> list[dict[str, Any]]:
    """The typed records whose code the judge is asked about: every Type-A one, or a seeded sample of them."""
    type_a = [r for r in records if r["type"] == "A"]
    if sample is not None and sample < len(type_a):
        return random.Random(seed).sample(type_a, sample)
    return type_a


def attach_judgements(
    records: Sequence[dict[str, Any]],
    asked: Sequence[dict[str, Any]],
    answers: Sequence[dict[str, Any]],
    shown: Mapping[str, str],
) -> dict[str, Any]:
    """Check the latest stored answer (``answers``: the judge's response records) of each asked record against
    the record text its case showed (``shown``: case_id -> text), put the checks on the typed records, and
    summarize them."""
    wanted = {key_of(r) for r in asked}
    latest = {key_of(a): a for a in answers if a.get("kind") != "header" and not a.get("error")}
    checks = {key: check_judgement(latest[key].get("text"), shown[key[0]]) for key in wanted if key in latest}
    for record in records:
        check = checks.get(key_of(record))
        if check is not None:
            fields = ("verdict", "verdict_given", "quotes_verified", "quotes_too_short", "quotes_rejected", "valid")
            record["judge"] = {k: check[k] for k in fields}
    return {
        "asked": len(asked),
        "type_a": sum(1 for r in records if r["type"] == "A"),
        **summarize_judgements(list(checks.values())),
    }


def summarize_judgements(judgements: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Counted verdicts (a "supported" or "partly" without a verified quote is "unsupported-by-quote"), and how many
    answers were unreadable or held a quote not found in the record or too short to back anything."""
    valid = [j for j in judgements if j.get("valid")]
    return {
        "judged": len(judgements),
        "unreadable": len(judgements) - len(valid),
        "verdicts": {v: sum(1 for j in valid if j["verdict"] == v) for v in (*VERDICTS, UNBACKED)},
        "quotes_verified": sum(len(j["quotes_verified"]) for j in valid),
        "quotes_too_short": sum(len(j["quotes_too_short"]) for j in valid),
        "quotes_rejected": sum(len(j["quotes_rejected"]) for j in valid),
        "judgements_with_rejected_quote": sum(1 for j in valid if j["quotes_rejected"]),
    }
