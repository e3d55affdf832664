"""Why a model overdiagnosed: every predicted code outside the gold set gets a type, deterministically.

S (coded below the top 3): the hospital coded the code for this very stay, at a position after the third (the gold
set is the top three): a coding-depth artefact, not an overdiagnosis in the clinical sense, kept out of A/B/C.
Type-C (clinical hierarchy confusion): the code is related to a gold code in the ICD-9 tree: an ancestor or
descendant, the same 3-character category, the same CCS group or the same ICD-9 block. Type-B (temporal confusion):
the past medical history the model was shown names the condition. Type-A (evidence over-interpretation): the rest; a
code of an earlier stay that the model was not shown (``history_icd``) stays A, under its own relation. When several
apply, the first in the order S, C, B, A is the type and the others are kept in ``also``. Pure: (case, predictions,
the fields shown) in, typed codes out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from medldr.icd import block, category, ccs_group, ccs_name, hierarchy_relation, icd9_names, normalize_code
from medldr.mentions import find_condition
from medldr.schema import Case
from medldr.score.bootstrap import resampled_totals

Type = Literal["A", "B", "C", "S"]
TYPES: tuple[Type, ...] = ("A", "B", "C", "S")
TYPE_NAMES = {
    "A": "evidence over-interpretation",
    "B": "temporal confusion",
    "C": "clinical hierarchy confusion",
    "S": "coded for this stay below the top 3",
}
_RELATION_ORDER = ("ancestor", "same_category", "same_ccs", "same_block")


@dataclass(frozen=True)
class Finding:
    """One reason a code could be of a type: which relation matched and the evidence for it."""

    type: Type
    relation: str
    evidence: str


@dataclass(frozen=True)
class TypedCode:
    code: str
    type: Type
    relation: str
    evidence: str
    also: tuple[Finding, ...] = field(default=())

    def record(self, case_id: str, round_: int) -> dict[str, Any]:
        """The overdiagnosis.jsonl line."""
        return {
            "case_id": case_id,
            "round": round_,
            "code": self.code,
            "name": icd9_names().get(self.code, ""),
            "type": self.type,
            "relation": self.relation,
            "evidence": self.evidence,
            "also": [asdict(f) for f in self.also],
        }


def _hierarchy(code: str, gold: Sequence[str]) -> Finding | None:
    """The most specific tree relation of ``code`` to any gold code (ancestor > same category > same CCS)."""
    names = icd9_names()
    found = [(relation, g) for g in gold if (relation := hierarchy_relation(code, g))]
    if not found:
        return None
    relation, g = min(found, key=lambda pair: _RELATION_ORDER.index(pair[0]))
    what = {
        "ancestor": f"is {'an ancestor' if g.startswith(code) else 'a descendant'} of gold {g}",
        "same_category": f"shares category {category(code)} with gold {g}",
        "same_ccs": f"shares CCS group {ccs_group(code)} ({ccs_name(ccs_group(code) or '')}) with gold {g}",
        "same_block": f"shares ICD-9 block {' '.join(block(code) or ())} with gold {g}",
    }[relation]
    return Finding("C", relation, f"{code} {what} ({names.get(g, '')})")


def _coded_below_top3(code: str, case: Case) -> Finding | None:
    positions = [c.seq_num for c in case.coded_icd or [] if normalize_code(c.code) == code and c.seq_num > 3]
    if not positions:
        return None
    return Finding("S", "coded_below_top3", f"{code} was coded for this stay at position {min(positions)}")


def _temporal(code: str, case: Case, history_shown: bool) -> Finding | None:
    text = case.input_dict.past_medical_history
    if history_shown and text:
        term = find_condition(code, text)
        if term is not None:
            return Finding("B", "past_medical_history", f"past medical history names it: {term!r}")
    return None


def _earlier_stay(code: str, case: Case) -> Finding | None:
    if code in {normalize_code(c) for c in case.history_icd or []}:
        return Finding("A", "history_icd", f"{code} was coded in an earlier stay, not shown to the model")
    return None


def type_overdiagnoses(
    case: Case,
    predictions: Iterable[str],
    labels: Iterable[str] | None = None,
    *,
    history_shown: bool = True,
) -> list[TypedCode]:
    """Type every code of ``predictions`` (within ``labels`` when given, as the metrics count them) not in the gold
    set of ``case``, in prediction order, each once. ``history_shown``: the model's task included the past medical
    history (else it cannot make a Type-B).

    >>> from medldr.schema import Case
    >>> case = Case.model_validate({"case_id": "1/2/0", "input_dict": {}, "top_1_icd": {"code": "42833", "name": ""},
    ...     "output_dict": {"output_icd_id": ["42833"], "output_icd_name": [""], "output_icd_id_and_name": [""]},
    ...     "history_icd": ["5849"], "coded_icd": [{"code": "42833", "seq_num": 1}, {"code": "2761", "seq_num": 4}]})
    >>> [(t.code, t.type, t.relation) for t in type_overdiagnoses(case, ["42833", "4280", "5849", "2761"])]
    [('4280', 'C', 'same_category'), ('5849', 'A', 'history_icd'), ('2761', 'S', 'coded_below_top3')]
    """
    gold = [normalize_code(c) for c in case.output_dict.output_icd_id]
    allowed = None if labels is None else set(labels)
    out = []
    for code in dict.fromkeys(normalize_code(p) for p in predictions):
        if code in gold or (allowed is not None and code not in allowed):
            continue
        candidates = (
            _coded_below_top3(code, case),
            _hierarchy(code, gold),
            _temporal(code, case, history_shown),
            _earlier_stay(code, case),
        )
        findings = [f for f in candidates if f is not None]
        if findings:
            first, *rest = findings
            out.append(TypedCode(code, first.type, first.relation, first.evidence, tuple(rest)))
        else:
            out.append(TypedCode(code, "A", "none", "no tree relation to a gold code and not a past condition"))
    return out


def share_intervals(
    records: Sequence[dict[str, Any]],
    patients: Mapping[str, object],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, list[float]]:
    """Each type's share with a patient-bootstrap percentile interval: a share is a ratio of sums over the run's
    overdiagnosed codes, and one patient's codes (all rounds, all admissions) are resampled together.

    ``patients``: case id -> patient of every typed case (cases without overdiagnoses included).
    """
    case_ids = sorted(patients)
    row = {case_id: i for i, case_id in enumerate(case_ids)}
    counts = np.zeros((len(case_ids), len(TYPES) + 1))
    for record in records:
        counts[row[record["case_id"]], TYPES.index(record["type"])] += 1
    counts[:, -1] = counts[:, :-1].sum(axis=1)
    if not case_ids or n_resamples <= 0 or counts[:, -1].sum() == 0:
        return {}
    groups = [patients[case_id] for case_id in case_ids]
    replicates = []
    for totals, _ in resampled_totals([counts], groups, n_resamples=n_resamples, seed=seed):
        summed = totals[0]
        with np.errstate(invalid="ignore", divide="ignore"):  # a draw of patients without overdiagnoses: no share
            replicates.append(summed[:, :-1] / summed[:, -1:])
    tail = (1 - level) / 2 * 100
    bounds = np.nanpercentile(np.concatenate(replicates), [tail, 100 - tail], axis=0).T
    return {t: [float(low), float(high)] for t, (low, high) in zip(TYPES, bounds, strict=True)}


def summarize(records: Sequence[dict[str, Any]], n_answers: int, primaries: dict[str, str]) -> dict[str, Any]:
    """Per run: overdiagnosed codes by type (count, share), per answer, by relation, and per primary diagnosis.

    ``n_answers``: (case, round) answers typed; ``primaries``: case id -> primary gold code.
    """
    counts = Counter(r["type"] for r in records)
    total = len(records)
    relations: dict[str, Counter[str]] = defaultdict(Counter)
    per_disease: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        relations[r["type"]][r["relation"]] += 1
        per_disease[primaries[r["case_id"]]][r["type"]] += 1
    return {
        "n_answers": n_answers,
        "overdiagnosed": total,
        "per_answer": total / n_answers if n_answers else 0.0,
        "counts": {t: counts.get(t, 0) for t in TYPES},
        "shares": {t: (counts.get(t, 0) / total if total else 0.0) for t in TYPES},
        "relations": {t: dict(relations[t]) for t in TYPES},
        "per_disease": {code: {t: c.get(t, 0) for t in TYPES} for code, c in sorted(per_disease.items())},
        "type_names": TYPE_NAMES,
    }
