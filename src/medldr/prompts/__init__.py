"""Task types (which case fields a model sees) and prompt styles (the instructions), turning a Case into messages.

The twelve styles are the MedLDR study's published instructions (nine for MIMIC-IV, three for LDR-eICU), kept
verbatim (the label count is a variable, so a label space other than the study's 40 codes reads correctly) so that
results stay comparable with the paper. One source of truth: the run stage and the training data both build their
messages here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Any

from medldr._files import read_text
from medldr.errors import MedldrError
from medldr.icd import LabelCode, display_code
from medldr.schema import Case

# The study's task types, field order as in its inference code.
TASKS: dict[str, tuple[str, ...]] = {
    "lab": ("lab",),
    "lab_num": ("lab", "ed_info"),
    "lab_text": ("lab", "family_history", "ed_chiefcomplaint"),
    "lab_num+": ("lab", "ed_info", "micro_info"),
    "lab_text+": ("lab", "family_history", "ed_chiefcomplaint", "past_medical_history"),
    "lab+": ("lab", "ed_info", "family_history", "ed_chiefcomplaint", "past_medical_history"),
    "all": ("lab", "ed_info", "family_history", "ed_chiefcomplaint", "past_medical_history", "physical_text", "report"),
    # LDR-eICU: every field the study's eICU cases have, in its order; a case lacking one of the last three is asked
    # without it, as the study did
    "eicu": ("patient_info", "past_history", "physical_exam", "lab_results"),
}
OPTIONAL_FIELDS: dict[str, frozenset[str]] = {"eicu": frozenset({"past_history", "physical_exam", "lab_results"})}
EICU_STYLES = ("eicu_expert_designed", "eicu_severity_based", "eicu_cot_based")
"""The study's three LDR-eICU styles: answer ``{"top20": [...], "predictions": [...]}`` with ICD-10 codes."""
EICU_LAB_TOKENS = 8168
"""The study truncated an eICU case's lab block to its first 8,168 tokens (cl100k_base, the gpt-3.5-turbo encoding)."""
EICU_LABELS_HEADER = (
    "Available ICD-10 codes and their corresponding diseases (Note: only use these exact codes in the output):\n\n"
)
EICU_LABELS_FOOTER = (
    "\n\nPlease select appropriate ICD-10 codes from the above list based on the patient's clinical data.\n"
)
_STUDY_STYLES = (  # the study's nine, in its order, then its three for LDR-eICU
    "strict_expert_designed",
    "standard_expert_designed",
    "conservative_expert_designed",
    "severity_based_low",
    "severity_based_moderate",
    "severity_based_high",
    "strict_cot_based",
    "standard_cot_based",
    "conservative_cot_based",
    *EICU_STYLES,
)
_STYLE_FILES = sorted(
    entry.name.removesuffix(".txt")
    for entry in files("medldr.prompts").joinpath("styles").iterdir()
    if entry.name.endswith(".txt")
)
STYLES: tuple[str, ...] = (
    *(name for name in _STUDY_STYLES if name in _STYLE_FILES),
    *(name for name in _STYLE_FILES if name not in _STUDY_STYLES),
)
"""Named prompt styles: one text file each in prompts/styles/ (the study's twelve first, in its order)."""
DEFAULT_STYLE = "standard_expert_designed"
LABEL_LIST_HEADER = "Each disease corresponds to the format icd_code:icd_name (Note: only use codes in the output):"
REPORT_HEADER = "The report info:\n"
REPORT_SEPARATOR = "\n---\n"


@dataclass(frozen=True)
class PromptTemplate:
    """Named instructions; ``$n_labels`` in the text becomes the size of the label space."""

    name: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def load_template(style: str) -> PromptTemplate:
    """One of the named styles, or the path of a custom instructions file (UTF-8 text)."""
    if style in STYLES:
        text = files("medldr.prompts").joinpath("styles", f"{style}.txt").read_text(encoding="utf-8")
        return PromptTemplate(style, text.rstrip("\n"))
    path = Path(style)
    if path.is_file():
        text = read_text(path).rstrip("\n")
        if not text.strip():
            raise MedldrError(f"{path}: the prompt template is empty")
        return PromptTemplate(str(path), text)
    raise MedldrError(f"prompt style {style!r}: not one of {', '.join(STYLES)}, nor a template file")


def label_list(labels: tuple[LabelCode, ...] | list[LabelCode]) -> str:
    """The label space as the study lists it: header, then ``[ code:name; code:name ]``.

    >>> print(label_list([LabelCode(code="486", name="Pneumonia"), LabelCode(code="5849", name="AKI")]))
    Each disease corresponds to the format icd_code:icd_name (Note: only use codes in the output):
    [ 486:Pneumonia; 5849:AKI ]
    """
    return LABEL_LIST_HEADER + "\n[ " + "; ".join(f"{label.code}:{label.name}" for label in labels) + " ]"


def eicu_label_list(labels: tuple[LabelCode, ...] | list[LabelCode]) -> str:
    """The label space as the study's LDR-eICU prompts list it: ICD-10 codes with their dots, one per line.

    >>> print(eicu_label_list([LabelCode(code="J9600", name="acute respiratory failure")]).strip())
    Available ICD-10 codes and their corresponding diseases (Note: only use these exact codes in the output):
    <BLANKLINE>
    J96.00: acute respiratory failure
    <BLANKLINE>
    Please select appropriate ICD-10 codes from the above list based on the patient's clinical data.
    """
    lines = "\n".join(f"{display_code(label.code, 'icd10')}: {label.name}" for label in labels)
    return EICU_LABELS_HEADER + lines + EICU_LABELS_FOOTER


def system_message(template: PromptTemplate, labels: tuple[LabelCode, ...] | list[LabelCode]) -> str:
    """Instructions, then the label list (in the study's LDR-eICU form for its eICU styles)."""
    listed = eicu_label_list(labels) if template.name in EICU_STYLES else label_list(labels)
    return Template(template.text).safe_substitute(n_labels=len(labels)) + "\n" + listed


def missing_fields(case: Case, task: str) -> list[str]:
    """Fields the task needs that the case does not have (e.g. notes in a build without the note module)."""
    fields = case.input_dict.model_dump(exclude_none=True)
    optional = OPTIONAL_FIELDS.get(task, frozenset())
    return [name for name in task_fields(task) if name not in fields and name not in optional]


def task_fields(task: str) -> tuple[str, ...]:
    try:
        return TASKS[task]
    except KeyError:
        raise MedldrError(f"task {task!r}: not one of {', '.join(TASKS)}") from None


def user_message(case: Case, task: str) -> str:
    """The case's fields for the task, each on its own line block; radiology reports joined under one header."""
    missing = missing_fields(case, task)
    if missing:
        raise MedldrError(f"case {case.case_id} has no {', '.join(missing)}, which task {task!r} needs")
    fields = case.input_dict.model_dump(exclude_none=True)
    if task == "eicu":  # the study's eICU form: each field and a newline, the lab block cut at 8,168 tokens
        return "".join(
            f"{_first_tokens(fields[name], EICU_LAB_TOKENS) if name == 'lab_results' else fields[name]}\n"
            for name in task_fields(task)
            if name in fields
        )
    parts = []
    for name in task_fields(task):
        value = fields[name]
        if isinstance(value, list):
            value = REPORT_HEADER + REPORT_SEPARATOR.join(value)
        parts.append(f"\n{value}")
    return "".join(parts)


def build_messages(
    case: Case, *, task: str, template: PromptTemplate, labels: tuple[LabelCode, ...] | list[LabelCode]
) -> list[dict[str, str]]:
    """Chat messages for one case: system = instructions + label list, user = the case's fields."""
    return [
        {"role": "system", "content": system_message(template, labels)},
        {"role": "user", "content": user_message(case, task)},
    ]


def answer_schema(codes: list[str] | tuple[str, ...], style: str = DEFAULT_STYLE) -> dict[str, object]:
    """The answer as a JSON schema (codes restricted to the label space, as the prompt shows them), for models that
    can be constrained to it: ``top10`` and 1-3 predictions, or for the eICU styles ``top20`` and 1-5.

    >>> answer_schema(["486"])["properties"]["predictions"]["maxItems"]
    3
    >>> answer_schema(["J9600"], "eicu_cot_based")["properties"]["top20"]["items"]["enum"]
    ['J96.00']
    """
    eicu = style in EICU_STYLES
    ranked, most = ("top20", 5) if eicu else ("top10", 3)
    code = {"type": "string", "enum": [display_code(c, "icd10") for c in codes] if eicu else list(codes)}
    return {
        "type": "object",
        "properties": {
            ranked: {"type": "array", "items": code, "minItems": 1, "maxItems": 20 if eicu else 10},
            "predictions": {"type": "array", "items": code, "minItems": 1, "maxItems": most},
        },
        "required": [ranked, "predictions"],
    }


@cache
def _cl100k() -> Any:
    import bpe_openai

    return bpe_openai.get_encoding("cl100k_base")  # shipped inside the package: nothing is downloaded


def _first_tokens(text: str, limit: int) -> str:
    """``text`` cut to its first ``limit`` cl100k_base tokens, as the study cut the eICU lab block (tiktoken's
    encoding; bpe-openai carries it offline)."""
    encoding = _cl100k()
    tokens = encoding.encode(text)
    return text if len(tokens) <= limit else encoding.decode(tokens[:limit])


def require_task_fields(cases: list[Case], task: str, *, option: str = "--task", where: str = "") -> None:
    """Refuse cases that lack a field ``task`` needs, naming the first and the tasks it does support."""
    unusable = [case for case in cases if missing_fields(case, task)]
    if unusable:
        first = unusable[0]
        raise MedldrError(
            f"{where}{len(unusable)} case(s) lack fields task {task!r} needs (first: {first.case_id}, missing "
            f"{', '.join(missing_fields(first, task))}); these cases support {option} "
            f"{' / '.join(usable_tasks(first))}"
        )


def usable_tasks(case: Case) -> list[str]:
    """The task types whose every field this case has."""
    return [task for task in TASKS if not missing_fields(case, task)]


def richest_task(cases: Sequence[Case]) -> str:
    """The default task: the one with the most fields that every case has (the bundled demo, with no ED module and
    no notes, gets lab_num+; a MIMIC-IV build with ED and notes gets all). A fixed default such as 'all' failed on
    any build without notes."""
    shared = [task for task in TASKS if not any(missing_fields(case, task) for case in cases)]
    if not shared:
        raise MedldrError("no task type fits every case (each needs at least the lab field)")
    return max(reversed(shared), key=lambda task: len(TASKS[task]))


__all__ = [
    "DEFAULT_STYLE",
    "EICU_STYLES",
    "STYLES",
    "TASKS",
    "PromptTemplate",
    "answer_schema",
    "build_messages",
    "label_list",
    "load_template",
    "missing_fields",
    "richest_task",
    "system_message",
    "usable_tasks",
    "user_message",
]
