"""Names an ICD-9 condition goes by in clinical text: its title, the title's core (qualifiers such as
'unspecified' or ', initial episode of care' removed), its category's core title, and common clinical synonyms and
abbreviations (a curated table keyed by code prefix). They are the target rules with which ``medldr.mentions`` finds a
condition in a past-medical-history text."""

from __future__ import annotations

import re
from functools import cache

from medldr.icd import category, icd9_names, normalize_code

# Prefix of the ICD-9 code (category or longer) -> what notes call it. Only unambiguous abbreviations: 'AF', 'MS',
# 'PE', 'ARF' (acute renal or acute respiratory failure) and 'RA' (rheumatoid arthritis or room air) are left out
# because they name more than one thing in a note.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "401": ("hypertension", "HTN", "high blood pressure"),
    "402": ("hypertensive heart disease", "HTN"),
    "403": ("hypertensive kidney disease", "hypertensive CKD"),
    "428": ("heart failure", "CHF", "HFrEF", "HFpEF", "congestive heart failure"),
    "250": ("diabetes", "diabetes mellitus", "DM", "DM2", "DMII", "T2DM", "T1DM", "IDDM", "NIDDM"),
    "585": ("chronic kidney disease", "CKD", "chronic renal insufficiency", "CRI"),
    "5856": ("end stage renal disease", "ESRD"),
    "584": ("acute kidney injury", "AKI", "acute renal failure"),
    "42731": ("atrial fibrillation", "afib", "a-fib", "a fib"),
    "414": ("coronary artery disease", "CAD"),
    "410": ("myocardial infarction", "MI", "NSTEMI", "STEMI", "heart attack"),
    "412": ("old myocardial infarction", "prior MI", "old MI"),
    "491": ("COPD", "chronic bronchitis"),
    "492": ("emphysema", "COPD"),
    "496": ("COPD", "chronic obstructive pulmonary disease"),
    "493": ("asthma",),
    "2720": ("hypercholesterolemia", "high cholesterol"),
    "2724": ("hyperlipidemia", "HLD", "dyslipidemia"),
    "53081": ("GERD", "gastroesophageal reflux", "reflux"),
    "32723": ("obstructive sleep apnea", "OSA", "sleep apnea"),
    "5990": ("urinary tract infection", "UTI"),
    "486": ("pneumonia", "PNA"),
    "311": ("depression",),
    "2962": ("major depression", "MDD", "depression"),
    "30000": ("anxiety",),
    "244": ("hypothyroidism",),
    "571": ("cirrhosis", "chronic liver disease"),
    "434": ("stroke", "CVA", "cerebral infarction"),
    "436": ("stroke", "CVA"),
    "4439": ("peripheral vascular disease", "PVD", "PAD", "peripheral arterial disease"),
    "285": ("anemia",),
    "2809": ("iron deficiency anemia",),
    "038": ("sepsis", "septicemia"),
    "99591": ("sepsis",),
    "5070": ("aspiration pneumonia",),
    "51881": ("respiratory failure",),
    "4589": ("hypotension",),
    "2761": ("hyponatremia",),
    "2767": ("hyperkalemia",),
    "7802": ("syncope",),
    "303": ("alcohol dependence", "alcoholism", "EtOH abuse"),
    "3051": ("tobacco use", "smoker", "tobacco abuse"),
    "V1582": ("former smoker", "history of tobacco use"),
    "2859": ("anemia",),
    "278": ("obesity",),
    "33394": ("restless legs",),
    "332": ("Parkinson's disease", "Parkinson disease"),
    "331": ("dementia", "Alzheimer's"),
    "290": ("dementia",),
    "345": ("epilepsy", "seizure disorder"),
    "714": ("rheumatoid arthritis",),
    "715": ("osteoarthritis", "OA"),
    "733": ("osteoporosis",),
    "274": ("gout",),
    "042": ("HIV",),
    "070": ("hepatitis",),
    "4241": ("aortic stenosis",),
    "4240": ("mitral regurgitation",),
    "453": ("deep vein thrombosis", "DVT"),
    "41519": ("pulmonary embolism",),
    "V5861": ("long-term anticoagulation", "on coumadin", "on warfarin"),
}

LOOKALIKES: tuple[str, ...] = (
    "pulmonary hypertension",
    "pulmonary arterial hypertension",
    "pulmonary HTN",
    "portal hypertension",
    "portal HTN",
    "intracranial hypertension",
    "ocular hypertension",
    "gestational hypertension",
    "white coat hypertension",
    "pre-hypertension",
    "pre-HTN",
    "diabetes insipidus",
    "gestational diabetes",
    "pre-diabetes",
    "ST depression",
    "ST depressions",
    "CVA tenderness",
    "stroke volume",
    "heat stroke",
    "vesicoureteral reflux",
)
"""Phrases that contain a condition's name but are something else ('pulmonary hypertension' is not essential
hypertension, 'CVA tenderness' is no stroke). They are target rules of their own: the longer match wins the words."""

_QUALIFIERS = re.compile(
    r",?\s*\b(unspecified|not elsewhere classified|NEC|NOS|not otherwise specified|without mention of.*|"
    r"initial episode of care|site unspecified|organism unspecified|type unspecified|unspecified type)\b.*$",
    re.IGNORECASE,
)


def core_title(title: str) -> str:
    """A title without its trailing qualifiers and parentheses, up to its first comma.

    >>> core_title("Acute kidney failure, unspecified")
    'Acute kidney failure'
    >>> core_title("Diabetes with ketoacidosis, type II or unspecified type, not stated as uncontrolled")
    'Diabetes with ketoacidosis'
    >>> core_title("Pneumonia, organism unspecified")
    'Pneumonia'
    """
    title = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", title)
    title = _QUALIFIERS.sub("", title).split(",")[0]
    return re.sub(r"\s+", " ", title).strip(" ,;-")


@cache
def condition_terms(code: str) -> tuple[str, ...]:
    """Every name of ``code`` to look for in text, longest first (so the most specific match is reported).

    >>> condition_terms("4019")
    ('Unspecified essential hypertension', 'essential hypertension', 'high blood pressure', 'hypertension', 'HTN')
    """
    code = normalize_code(code)
    names = icd9_names()
    terms: set[str] = set()
    title = names.get(code, "")
    if title:
        terms |= {title, core_title(title)}
        if title.lower().startswith("unspecified "):
            terms.add(core_title(title[len("unspecified ") :]))
    parent = names.get(category(code), "")
    if parent and parent != title:
        terms.add(core_title(parent))
    for prefix, synonyms in SYNONYMS.items():
        if code.startswith(prefix):
            terms |= set(synonyms)
    kept = {t for t in terms if len(t) >= 2 and t.lower() not in _TOO_GENERIC}
    return tuple(sorted(kept, key=lambda t: (-len(t), t)))


# Titles so general that finding them in a history says nothing about one code.
_TOO_GENERIC = {
    "other",
    "disease",
    "diseases",
    "disorder",
    "disorders",
    "unspecified",
    "other specified",
    "acute",
    "chronic",
    "essential",
    "failure",
}
