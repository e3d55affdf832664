"""Agreement of the automatic overdiagnosis typing with a hand-typed reference set.

``overdiagnosis_reference.jsonl`` holds 72 (case text, predicted code, gold) triples typed by hand from the README's
definitions, each with the reason: every class (S, C, B, A) and relation, and the text cases the typing must get
right (negated, family, hypothetical, uncertain and historical mentions, look-alike phrases, ambiguous abbreviations,
a history the task did not show, an earlier stay the model never saw, precedence), and three of the README's known
limits (a misspelling, a condition told by findings, one implied by its procedure), which the typing's rules get
wrong. The test reports per-type agreement and Cohen's kappa, and fails below KAPPA_FLOOR.
"""

from __future__ import annotations

import json
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

from medldr.schema import Case
from medldr.score.overdiagnosis import TYPES, type_overdiagnoses

REFERENCE = Path(__file__).with_name("overdiagnosis_reference.jsonl")
KAPPA_FLOOR = 0.9
"""The README states the measured kappa; the floor leaves room for one or two disagreements, not for a regression."""


def _case(entry: dict) -> Case:
    gold = entry["gold"]
    coded = [{"code": code, "seq_num": i + 1} for i, code in enumerate(gold)]
    coded += [{"code": code, "seq_num": seq} for code, seq in entry["coded_below_top3"]]
    return Case.model_validate(
        {
            "case_id": "1/2/0",
            "input_dict": {"past_medical_history": entry["pmh"]},
            "output_dict": {"output_icd_id": gold, "output_icd_name": gold, "output_icd_id_and_name": gold},
            "top_1_icd": {"code": gold[0], "name": ""},
            "history_icd": entry["history_icd"],
            "coded_icd": coded,
        }
    )


def _typed(entry: dict) -> tuple[str, str]:
    [typed] = type_overdiagnoses(_case(entry), [entry["predicted"]], history_shown=entry["history_shown"])
    return typed.type, typed.relation


def test_the_typing_agrees_with_the_hand_typed_reference() -> None:
    reference = [json.loads(line) for line in REFERENCE.read_text().splitlines()]
    assert len(reference) >= 60
    assert {e["type"] for e in reference} == set(TYPES)
    typed = [_typed(entry) for entry in reference]
    expected = [e["type"] for e in reference]
    got = [t for t, _ in typed]
    kappa = cohen_kappa_score(expected, got)
    lines = [f"Cohen's kappa {kappa:.3f} over {len(reference)} triples"]
    for kind in TYPES:
        rows = [g == kind for e, g in zip(expected, got, strict=True) if e == kind]
        lines.append(f"  {kind}: {sum(rows)}/{len(rows)} agree")
    relations = sum(t == (e["type"], e["relation"]) for t, e in zip(typed, reference, strict=True))
    lines.append(f"  type and relation: {relations}/{len(reference)} agree")
    misses = [(e["why"], e["pmh"], t) for t, e in zip(typed, reference, strict=True) if t != (e["type"], e["relation"])]
    print("\n".join(lines + [f"  differs: {m}" for m in misses]))
    assert kappa >= KAPPA_FLOOR, (kappa, misses)
