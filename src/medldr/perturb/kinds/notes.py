"""Negating a stated finding in note text: where the text states one of the case's gold diagnoses (an asserted mention,
found with medspaCy's TargetMatcher and ConText as the overdiagnosis typing finds them: not negated, not a
relative's, not hypothetical or uncertain), the first such mention becomes "no evidence of <mention>". A case whose
notes state none of its gold diagnoses has no clear target and is left alone."""

from __future__ import annotations

import random
from typing import Any

from medldr.mentions import mentions
from medldr.schema import Case

NOTE_FIELDS = ("hpi_text", "physical_text", "ed_chiefcomplaint")


def negate_finding(case: Case, rng: random.Random) -> tuple[dict[str, Any], str] | None:
    """The first asserted mention of a gold diagnosis in the note fields (in this order), negated."""
    for field in NOTE_FIELDS:
        text = getattr(case.input_dict, field, None)
        if not text:
            continue
        found = [m for code in case.output_dict.output_icd_id for m in mentions(code, text) if m.asserted]
        if found:
            first = min(found, key=lambda m: m.start)
            negated = f"{text[: first.start]}no evidence of {first.term}{text[first.end :]}"
            return {field: negated}, f"{field}: {first.term!r} -> 'no evidence of {first.term}'"
    return None
