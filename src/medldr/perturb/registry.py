"""The perturbation kinds: each a small pure function (a case and a seeded random generator in, the changed input
fields and a one-line account out, or None when the case offers nothing to change) declared **invariant** (a sound
diagnostician's answer should not change) or **sensitive** (it should). Adding a kind is one function in
``perturb/kinds/`` and one entry here."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from medldr.perturb.kinds import demographics, fields, lab_format, lab_rows, lab_values, notes
from medldr.schema import Case

Change = tuple[dict[str, Any], str]
"""The input fields that change (name -> new value, None to remove the field) and what changed, in words."""
Function = Callable[[Case, random.Random], Change | None]


@dataclass(frozen=True)
class Kind:
    name: str
    expect: Literal["invariant", "sensitive"]
    function: Function
    rule: str  # why a sound diagnostician's answer should (not) change: the README's wording
    params: dict[str, Any] = field(default_factory=dict)

    def apply(self, case: Case, rng: random.Random) -> Change | None:
        return self.function(case, rng, **self.params)


def _kinds(*kinds: Kind) -> dict[str, Kind]:
    return {kind.name: kind for kind in kinds}


KINDS = _kinds(
    Kind("lab_order", "invariant", lab_rows.shuffle, "the order of lab lines carries no clinical information"),
    Kind(
        "lab_markdown",
        "invariant",
        partial(lab_format.render, style="markdown"),
        "the same results as a Markdown table",
    ),
    Kind("lab_sentences", "invariant", partial(lab_format.render, style="sentences"), "the same results in sentences"),
    Kind(
        "jitter_normal",
        "invariant",
        lab_values.jitter_normal,
        "a normal value moved within its reference range stays normal",
        {"fraction": 0.1},
    ),
    Kind("drop_normal", "invariant", lab_rows.drop_normal, "normal results carry little diagnostic weight"),
    Kind("swap_gender", "invariant", demographics.swap_gender, "codes that are not sex-specific should not change"),
    Kind("shift_age", "invariant", demographics.shift_age, "a few years should not change codes", {"years": 3}),
    Kind("drop_abnormal", "sensitive", lab_rows.drop_abnormal, "the abnormal results are the evidence"),
    Kind(
        "normalize_abnormal",
        "sensitive",
        lab_values.normalize_abnormal,
        "an abnormal value set to the middle of its range removes the evidence",
    ),
    Kind("drop_micro", "sensitive", fields.drop, "microbiology is evidence", {"field": "micro_info"}),
    Kind("drop_ed_info", "sensitive", fields.drop, "ED triage is evidence", {"field": "ed_info"}),
    Kind("drop_hpi", "sensitive", fields.drop, "the history of present illness is evidence", {"field": "hpi_text"}),
    Kind(
        "negate_finding",
        "sensitive",
        notes.negate_finding,
        "a gold diagnosis the notes stated is now denied",
    ),
    *(
        Kind(
            f"lab_first_{p}",
            "sensitive",
            lab_rows.keep_first,
            f"only the first {p}% of the lab lines: less evidence (the information curve)",
            {"percent": p},
        )
        for p in (20, 40, 60, 80)
    ),
)
"""Kind name -> kind, in the order the README lists them."""
