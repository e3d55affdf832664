"""Scored runs for the score and report tests: three 'models' of different skill answer the demo's inference cases
through the real runner against a local OpenAI-compatible server (the test double of a remote API)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from medldr.schema import read_cases, resolve_label_space

SKILL = {"strong": 0.8, "middling": 0.45, "weak": 0.1}


def oracle(cases_file: Path) -> Any:
    """An answer function: with probability SKILL[model] the gold codes (primary first), else wrong codes, drawn
    from a seed of (model, sampling seed, prompt) so rounds differ and reruns repeat."""
    cases = read_cases(cases_file)
    labels = list(resolve_label_space(None, cases_file).codes)
    gold = {}
    for case in cases:
        fields = [str(v) for v in case.input_dict.model_dump().values() if v]
        primary = case.top_1_icd.code
        gold[fields[0][:400]] = [primary, *(c for c in case.output_dict.output_icd_id if c != primary)]

    def answer(body: dict[str, Any]) -> str:
        user = body["messages"][-1]["content"]
        key = next((k for k in gold if k in user), None)
        codes = gold[key] if key else labels[:1]
        digest = hashlib.sha256(f"{body['model']}|{body.get('seed')}|{user}".encode()).digest()
        rng = random.Random(digest)
        wrong = [c for c in labels if c not in codes]
        if rng.random() < SKILL[body["model"]]:  # the primary, some of the other gold codes, sometimes a wrong one
            predictions = codes[: rng.randint(1, 3)] + rng.sample(wrong, rng.random() < 0.3)
        else:
            predictions = rng.sample(wrong, 2)
        top10 = predictions + [c for c in rng.sample(labels, 12) if c not in predictions]
        return "```json\n" + json.dumps({"top10": top10[:10], "predictions": predictions}) + "\n```"

    return answer
