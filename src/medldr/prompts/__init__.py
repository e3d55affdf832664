"""Task types (which case fields a model sees) and prompt styles (the instructions), turning a Case into messages.

The nine styles are the MedLDR study's published instructions, kept verbatim (the label count is a variable, so a
label space other than the study's 40 codes reads correctly) so that results stay comparable with the paper. One source
of truth: the run stage and the training data both build their messages here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template

from medldr._files import read_text
from medldr.errors import MedldrError
from medldr.icd import LabelCode
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
}
_STUDY_STYLES = (  # the study's nine, in its order
    "strict_expert_designed",
    "standard_expert_designed",
    "conservative_expert_designed",
    "severity_based_low",
    "severity_based_moderate",
    "severity_based_high",
    "strict_cot_based",
    "standard_cot_based",
    "conservative_cot_based",
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
"""Named prompt styles: one text file each in prompts/styles/ (the study's nine first, in its order)."""
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
    """One of the nine named styles, or the path of a custom instructions file (UTF-8 text)."""
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


def system_message(template: PromptTemplate, labels: tuple[LabelCode, ...] | list[LabelCode]) -> str:
    """Instructions, then the label list."""
    return Template(template.text).safe_substitute(n_labels=len(labels)) + "\n" + label_list(labels)


def missing_fields(case: Case, task: str) -> list[str]:
    """Fields the task needs that the case does not have (e.g. notes in a build without the note module)."""
    fields = case.input_dict.model_dump(exclude_none=True)
    return [name for name in task_fields(task) if name not in fields]


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


def answer_schema(codes: list[str] | tuple[str, ...]) -> dict[str, object]:
    """The answer as a JSON schema (codes restricted to the label space), for models that can be constrained to it.

    >>> answer_schema(["486"])["properties"]["predictions"]["maxItems"]
    3
    """
    code = {"type": "string", "enum": list(codes)}
    return {
        "type": "object",
        "properties": {
            "top10": {"type": "array", "items": code, "minItems": 1, "maxItems": 10},
            "predictions": {"type": "array", "items": code, "minItems": 1, "maxItems": 3},
        },
        "required": ["top10", "predictions"],
    }


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
