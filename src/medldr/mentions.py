"""Where clinical text names an ICD-9 condition, found with medspaCy (spaCy's blank English pipeline, PyRuSH
sentences, its TargetMatcher and ConText; nothing downloads): medldr's names of each condition (``icd_terms``) are the
target rules, and ConText marks a mention negated, of a family member, hypothetical or uncertain, which then does not
count as the patient having the condition. Regular expressions got clinical negation wrong ("Denies CP, SOB, or
history of CHF": the scope ended at a comma), and substrings matched other conditions ("pulmonary hypertension"
named essential hypertension): here the longest target wins, so the look-alike phrases of ``icd_terms.LOOKALIKES``
take the words from the condition they contain. Shared by the score stage (overdiagnosis Type-B) and the perturb
stage (negating a stated finding)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from medldr.errors import MedldrError
from medldr.icd import normalize_code
from medldr.icd_terms import LOOKALIKES, SYNONYMS, condition_terms

INSTALL = "pip install --no-deps medspacy==1.3.1"
"""medspaCy 1.3.1 pins spacy<3.8 on Python < 3.12 only (and accepts 3.8 on 3.12): installed without its pins, beside
the spacy 3.8 and medspaCy dependencies medldr requires, it runs unchanged and numpy stays at 2."""

_RELATIVES = [
    "father", "mother", "brother", "sister", "son", "daughter", "sibling", "siblings", "parent", "parents", "aunt",
    "uncle", "cousin", "grandfather", "grandmother", "dad", "mom", "mother's", "father's",
]  # fmt: skip


@dataclass(frozen=True)
class Mention:
    """One place the text names the condition, with what ConText says about it."""

    term: str
    sentence: str
    start: int  # character offsets of the term in the text
    end: int
    negated: bool = False
    family: bool = False
    hypothetical: bool = False
    uncertain: bool = False
    historical: bool = False

    @property
    def asserted(self) -> bool:
        """The text says the patient has or had it (not denied, not a relative's, not conditional or possible)."""
        return not (self.negated or self.family or self.hypothetical or self.uncertain)


def _abbreviation(term: str) -> bool:
    """All-capital short forms (HTN, CHF, MI) are matched case-sensitively: 'mi' or 'ra' in a note are other words."""
    return term.isupper() and " " not in term


@cache
def _pipeline() -> Any:
    """The medspaCy pipeline, with medldr's rules added to ConText's defaults: family (a relative after the condition,
    "CAD in father"; the FHx heading), "risk of/for" as hypothetical, and a semicolon ending a modifier's scope (it
    separates history items)."""
    try:
        import medspacy
        from medspacy.context import ConTextRule
    except ImportError:
        raise MedldrError(
            f"reading clinical text (overdiagnosis typing, negate_finding) needs medspaCy: {INSTALL}"
        ) from None
    nlp = medspacy.load(medspacy_enable=["medspacy_pyrush", "medspacy_target_matcher", "medspacy_context"])
    nlp.get_pipe("medspacy_context").add(
        [
            ConTextRule(";", "CONJ", direction="TERMINATE"),  # "No h/o AF; DM2": PMH items end at a semicolon
            ConTextRule(
                "risk of",
                "HYPOTHETICAL",
                direction="FORWARD",
                pattern=[{"LOWER": {"IN": ["risk", "risks"]}}, {"LOWER": {"IN": ["of", "for"]}}],
            ),
            ConTextRule("FHx", "FAMILY", direction="FORWARD", pattern=[{"LOWER": {"IN": ["fhx", "fh"]}}]),
            ConTextRule("family hx", "FAMILY", direction="FORWARD", pattern=[{"LOWER": "family"}, {"LOWER": "hx"}]),
            ConTextRule(
                "in a relative",
                "FAMILY",
                direction="BACKWARD",
                pattern=[
                    {"LOWER": {"IN": ["in", "of"]}},
                    {"LOWER": {"IN": ["his", "her", "the", "their", "pt's", "patient's", "a"]}, "OP": "?"},
                    {"LOWER": {"IN": _RELATIVES}},
                ],
            ),
        ]
    )
    return nlp


class _Finder:
    """The pipeline's target rules grow with the codes asked about (every synonym and look-alike is there from the
    start, so the longest match is decided among them); documents are kept per text until a rule is added."""

    def __init__(self) -> None:
        self._nlp = _pipeline()  # first: where medspaCy is missing, it says so
        from medspacy.target_matcher import TargetRule

        self._rule = TargetRule
        self._codes_of: dict[str, set[str]] = {}  # term (as matched, lower-cased unless an abbreviation) -> codes
        self._asked: set[str] = set()
        self._add({term: None for term in LOOKALIKES})
        for prefix in SYNONYMS:
            self.ask(prefix)

    def _key(self, term: str) -> str:
        return term if _abbreviation(term) else term.lower()

    def _add(self, terms: dict[str, str | None]) -> None:
        rules = []
        for term, code in terms.items():
            key = self._key(term)
            if key not in self._codes_of:
                self._codes_of[key] = set()
                pattern = [{"TEXT": term}] if _abbreviation(term) else None
                rules.append(self._rule(term, "CONDITION", pattern=pattern))
            if code is not None:
                self._codes_of[key].add(code)
        if rules:
            self._nlp.get_pipe("medspacy_target_matcher").add(rules)
            self.doc.cache_clear()

    def ask(self, code: str) -> None:
        """Make sure ``code``'s names are target rules."""
        if code not in self._asked:
            self._asked.add(code)
            self._add({term: code for term in condition_terms(code)})

    @lru_cache(maxsize=4096)  # noqa: B019 (one finder per process)
    def doc(self, text: str) -> Any:
        return self._nlp(text)

    def mentions(self, code: str, text: str) -> list[Mention]:
        self.ask(code)
        found = []
        for ent in self.doc(text).ents:
            key = self._key(ent._.target_rule.literal)
            if code in self._codes_of.get(key, ()):
                found.append(
                    Mention(
                        term=ent.text,
                        sentence=ent.sent.text.strip(),
                        start=ent.start_char,
                        end=ent.end_char,
                        negated=ent._.is_negated,
                        family=ent._.is_family,
                        hypothetical=ent._.is_hypothetical,
                        uncertain=ent._.is_uncertain,
                        historical=ent._.is_historical,
                    )
                )
        return found


@cache
def _finder() -> _Finder:
    return _Finder()


def mentions(code: str, text: str) -> list[Mention]:
    """Every mention of ICD-9 ``code`` in ``text``, in order, with ConText's modifiers.

    >>> [(m.term, m.negated) for m in mentions("42833", "Denies CP, SOB, or history of CHF.")]
    [('CHF', True)]
    """
    return _finder().mentions(normalize_code(code), text)


def find_condition(code: str, text: str) -> str | None:
    """The first mention of ``code`` in ``text`` that says the patient has or had it; None when there is none.

    >>> find_condition("4019", "PMH: HTN, HLD, s/p CABG")
    'HTN'
    >>> find_condition("4019", "Pulmonary hypertension. Mother with HTN.") is None
    True
    """
    return next((m.term for m in mentions(code, text) if m.asserted), None)
