"""Text renderings of the input fields, in the published LDR format (fixed prefixes, comma-separated tables).

Missing values print as the study's files print them ("nan" in lab and ED rows, "NaN" in microbiology rows) and a
missing text section as "None", so our cases read like MedLDR's.
"""

from __future__ import annotations

LAB_PREFIX = "The following lab tests are available for the patient:\n"
LAB_HEADER = "labevents name,measurement fluid,measurement category,value,valueuom,lower_bound,upper_bound"
ED_PREFIX = "The ED info:\n"
ED_HEADER = (
    "gender,age approximation,temperature,heartrate,resprate,oxygen saturation,systolic blood pressure,"
    "diastolic blood pressure,pain level"
)
ED_HEADER_NO_TRIAGE = "gender,age approximation"
MICRO_PREFIX = "The microbiology tests for the patient:"
MICRO_HEADER = "test name,used specimen,grew organism,test antibiotic,antibiotic sensitivity,Comments"
MICRO_MAX_ROWS = 15
SENSITIVITY = {"S": "sensitive", "I": "intermediate", "R": "resistant", "P": "pending"}


def render_lab(lines: list[str]) -> str:
    """The lab block: prefix, header, one line per result.

    "Beta-2" becomes "Beta-two", as in the study, so the 2 is not read as a negative number.

    >>> print(render_lab(["Creatinine,Blood,Chemistry,1.4,mg/dL,0.5,1.2"]), end="")
    The following lab tests are available for the patient:
    labevents name,measurement fluid,measurement category,value,valueuom,lower_bound,upper_bound
    Creatinine,Blood,Chemistry,1.4,mg/dL,0.5,1.2
    """
    body = "".join(f"{line}\n" for line in lines)
    return (LAB_PREFIX + LAB_HEADER + "\n" + body).replace("Beta-2", "Beta-two")


def render_ed_info(gender: str | None, age: int | None, triage: list[str] | None) -> str:
    """The ED block; without the ED module (``triage is None``) only gender and age, from ``patients``.

    >>> print(render_ed_info("F", 67, None), end="")
    The ED info:
    gender,age approximation
    F,67
    """
    values = [_or_nan(gender), _or_nan(age)]
    if triage is None:
        return f"{ED_PREFIX}{ED_HEADER_NO_TRIAGE}\n{','.join(values)}\n"
    return f"{ED_PREFIX}{ED_HEADER}\n{','.join(values + [_or_nan(v) for v in triage])}\n"


def render_micro(lines: list[str]) -> str:
    """The microbiology block (at most 15 rows), or '... None' when the stay has none.

    >>> render_micro([])
    'The microbiology tests for the patient: None'
    """
    if not lines:
        return f"{MICRO_PREFIX} None"
    return f"{MICRO_PREFIX}\n{MICRO_HEADER}\n" + "".join(f"{line}\n" for line in lines[:MICRO_MAX_ROWS])


def render_text(prefix: str, text: str | None) -> str:
    """A free-text field behind its fixed prefix; 'None' when the section is missing.

    >>> render_text("The chief complaint: ", None)
    'The chief complaint: None'
    """
    return prefix + (text.strip() if text and text.strip() else "None")


CHIEF_COMPLAINT = "The chief complaint: "
FAMILY_HISTORY = "The family history: "
PAST_MEDICAL_HISTORY = "The past medical history: "
HPI = "The history of present illness : "
PHYSICAL_EXAM = "The physical exam on admission : "


def _or_nan(value: object) -> str:
    return "nan" if value is None else str(value)
