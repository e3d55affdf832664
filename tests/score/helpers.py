"""Hand-made cases and responses for scoring tests."""

from __future__ import annotations

import json

from medldr.icd import CodeSystem, LabelCode, LabelSpace
from medldr.schema import Case, ResponseRecord


def space(codes: list[str] | tuple[str, ...], system: CodeSystem = "icd9") -> LabelSpace:
    """A label space of ``codes`` in ``system``, named by the codes (as the tests' cases name them)."""
    labels = tuple(LabelCode(code=c, name=f"name {c}") for c in codes)
    return LabelSpace(spec="test", labels=labels, system=system, origin="a test's codes")


def case(case_id: str, gold: list[str], primary: str | None = None) -> Case:
    primary = primary or gold[0]
    return Case.model_validate(
        {
            "case_id": case_id,
            "input_dict": {"lab": "The following lab tests are available for the patient:\n"},
            "output_dict": {
                "output_icd_id": gold,
                "output_icd_name": [f"name {c}" for c in gold],
                "output_icd_id_and_name": [f"{c}:name {c}" for c in gold],
            },
            "top_1_icd": {"code": primary, "name": f"name {primary}"},
        }
    )


def answer(top10: list[str] | None, predictions: list[str]) -> str:
    body = {"predictions": predictions} if top10 is None else {"top10": top10, "predictions": predictions}
    return "```json\n" + json.dumps(body) + "\n```"


def responses(*rows: tuple[str, int, str | None]) -> list[tuple[int, ResponseRecord]]:
    return [(i + 1, ResponseRecord(case_id=c, round=r, text=t)) for i, (c, r, t) in enumerate(rows)]
