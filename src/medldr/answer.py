"""The one answer parser of the project, shared by every stage: raw model text -> ``Answer``.

Two modes. ``robust`` (default): a fenced JSON block, else the first JSON object in the text that holds an answer,
else the markdown list form; JSON5 leniency (``//`` comments, trailing commas, single quotes); items normalised.
``reference``: the MedLDR study's own parser, reproduced exactly, so its published numbers can be re-derived.
A response with no parsable answer, or cut off (``finish_reason == "length"``, an unclosed ``<think>``), is invalid:
counted, never guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import orjson
import pyjson5

Mode = Literal["robust", "reference"]

_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE_RE = re.compile(r"```[ \t]*(?:json5?|JSON)?[ \t]*\n(.*?)```", re.DOTALL)
_MARKDOWN_RE = {
    key: re.compile(rf"\*{{0,2}}{key}\*{{0,2}}\s*:?\s*\*{{0,2}}\s*\[(.*?)\]", re.DOTALL | re.IGNORECASE)
    for key in ("top10", "predictions")
}
_CODE_RE = re.compile(r"^[VE]?\d[\d.]*", re.IGNORECASE)
_KEYS = {
    "top10": ("top10", "top_10", "top-10", "top 10"),
    "predictions": ("predictions", "prediction", "final_predictions", "diagnoses"),
}


@dataclass(frozen=True, slots=True)
class Answer:
    """What a response said: ranked ``top10`` and final ``predictions`` (codes, normalised, deduplicated)."""

    top10: tuple[str, ...] = ()
    predictions: tuple[str, ...] = ()
    valid: bool = False
    reason: str = ""
    extras: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    repeated: bool = field(default=False, repr=False)  # a code named twice in the predictions (the GRPO reward: 0)

    @property
    def predictions_are_top_prefix(self) -> bool:
        """Whether ``predictions == top10[:len(predictions)]`` (the study's consistency check)."""
        return self.predictions == self.top10[: len(self.predictions)]


@lru_cache(maxsize=65536)
def _normalize_text(text: str) -> str:
    text = text.split(":", 1)[0].strip().strip("`'\"*").strip().upper()
    match = _CODE_RE.match(text)
    code = match.group(0) if match and (match.end() == len(text) or not text[match.end()].isalnum()) else text
    return code.replace(".", "")


def normalize_item(item: object) -> str:
    """One answer item -> an ICD-9 code: the part before ':', trimmed, upper-case, no dots; a leading code is kept
    when a name follows it without a colon.

    >>> [normalize_item(x) for x in ["5849:Acute kidney failure", " 428.33 ", "v45.81", 486, "0389 - Septicemia"]]
    ['5849', '42833', 'V4581', '486', '0389']
    """
    return _normalize_text(item if isinstance(item, str) else str(item))


def _dedup(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for item in items if item))


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return pyjson5.decode(text)


def _get(obj: dict[str, Any], key: str) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    for name in _KEYS[key]:
        if name in lowered:
            return lowered[name]
    return None


def _from_object(obj: Any) -> Answer | None:
    """An Answer from a parsed JSON value, or None when it holds no answer."""
    if not isinstance(obj, dict):
        return None
    top10, predictions = _get(obj, "top10"), _get(obj, "predictions")
    if predictions is None and top10 is None:
        nested = [value for value in obj.values() if isinstance(value, dict)]  # {"answer": {"top10": ...}}
        return next((found for value in nested if (found := _from_object(value)) is not None), None)
    if not isinstance(top10 or [], list) or not isinstance(predictions or [], list):
        return None
    top = _dedup([normalize_item(x) for x in top10 or [] if x is not None])
    raw = [code for x in predictions or [] if x is not None and (code := normalize_item(x))]
    preds = _dedup(raw)
    if not preds:
        return Answer(top, preds, valid=False, reason="no predictions")
    extras = {k: v for k, v in obj.items() if k not in (*_KEYS["top10"], *_KEYS["predictions"])}
    return Answer(top, preds, valid=True, extras=extras, repeated=len(raw) > len(preds))


def _json_objects(text: str) -> list[str]:
    """Candidate JSON object texts: every balanced {...} span (outermost), in order, ignoring braces in strings."""
    spans, depth, start, in_string, escape = [], 0, -1, False, False
    for index, char in enumerate(text):
        if in_string:
            if escape:
                escape = False
            elif char == "\\":
                escape = True
            elif char == '"':
                in_string = False
        elif char == '"' and depth > 0:
            in_string = True
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(text[start : index + 1])
    return spans


def first_json_object(text: str | None) -> dict[str, Any] | None:
    """The first JSON object in a model's text (a fenced block first, then any balanced ``{...}``), read with the
    same JSON5 leniency as answers; None when there is none. For structured answers other than diagnoses (the
    overdiagnosis judge's).

    >>> first_json_object('Sure: {"supported": "yes", // ok\\n "quotes": ["Cr 3.1"]}')
    {'supported': 'yes', 'quotes': ['Cr 3.1']}
    """
    if not text:
        return None
    text = _THINK_RE.sub("", text)
    for candidate in [*_FENCE_RE.findall(text), *_json_objects(text)]:
        try:
            value = _loads(candidate.strip())
        except (ValueError, TypeError, pyjson5.Json5Exception):
            continue
        if isinstance(value, dict):
            return value
    return None


def _parse_candidate(text: str) -> Answer | None:
    try:
        return _from_object(_loads(text))
    except (ValueError, TypeError, pyjson5.Json5Exception):
        return None


def _markdown(text: str) -> Answer | None:
    found = {key: pattern.search(text) for key, pattern in _MARKDOWN_RE.items()}
    if found["predictions"] is None:
        return None

    def items(match: re.Match[str] | None) -> list[str]:
        if match is None:
            return []
        inner = match.group(1)
        quoted = [a or b for a, b in re.findall(r'"([^"]+)"|\'([^\']+)\'', inner)]
        return [normalize_item(x) for x in (quoted or inner.split(",")) if x.strip()]

    top, preds = _dedup(items(found["top10"])), _dedup(items(found["predictions"]))
    return Answer(top, preds, valid=bool(preds), reason="" if preds else "no predictions")


def _robust(text: str, finish_reason: str | None) -> Answer:
    if finish_reason == "length":
        return Answer(reason="truncated (finish_reason=length)")
    body = _THINK_RE.sub("", text)
    if re.search(r"<think>", body, re.IGNORECASE):
        return Answer(reason="truncated inside <think>")
    for candidate in _FENCE_RE.findall(body):
        answer = _parse_candidate(candidate.strip())
        if answer is not None:
            return answer
    for candidate in _json_objects(body):
        answer = _parse_candidate(candidate)
        if answer is not None:
            return answer
    return _markdown(body) or Answer(reason="no parsable answer")


# --- the study's parser, reproduced exactly ---------------------------------------------------------------------

_REF_FENCE = re.compile(r"```json\n(.*?)\n```", re.DOTALL)
_REF_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
_REF_MD = {key: re.compile(rf"\*\*{key}\*\*:\s*\[(.*?)\]", re.DOTALL) for key in ("top10", "predictions")}


def _reference(text: str) -> Answer:
    matches = _REF_FENCE.findall(text) or _REF_OBJECT.findall(text)
    data: Any = None
    if not matches:
        found = {key: pattern.search(text) for key, pattern in _REF_MD.items()}
        if found["top10"] and found["predictions"]:
            lists = {key: re.findall(r'"([^"]+)"', m.group(1)) for key, m in found.items() if m}
            if lists["top10"] and lists["predictions"]:
                data = lists
    elif len(matches) == 1:
        try:
            data = json.loads(matches[0])
        except ValueError:
            return Answer(reason="reference: invalid JSON")
    else:
        return Answer(reason="reference: more than one JSON candidate")
    if not data or not isinstance(data, dict):
        return Answer(reason="reference: no answer")
    top10, predictions = data.get("top10", []), data.get("predictions", [])
    try:
        if not (len(top10) > 0 and len(predictions) > 0):
            return Answer(reason="reference: empty top10 or predictions")
        top = [icd.split(":")[0] for icd in top10]
        preds = [icd.split(":")[0] for icd in predictions]
    except (TypeError, AttributeError):
        return Answer(reason="reference: items are not strings")
    return Answer(_dedup(top), _dedup(preds), valid=True, repeated=len(set(preds)) < len(preds))


def extract(text: str | None, *, finish_reason: str | None = None, mode: Mode = "robust") -> Answer:
    """Parse a model's raw answer text.

    Args:
        text: the answer (reasoning captured separately by the run stage may be left out).
        finish_reason: the provider's; ``"length"`` marks a cut-off answer (invalid in robust mode).
        mode: ``"robust"`` or ``"reference"`` (the study's parser).

    Returns:
        An Answer; ``valid`` is False (with ``reason``) when nothing parsable was found.

    >>> extract('<think>sepsis?</think>```json\\n{"top10": ["0389:Septicemia", "486"], "predictions": ["0389"]}\\n```')
    Answer(top10=('0389', '486'), predictions=('0389',), valid=True, reason='')
    >>> extract('{"top10": ["486"], // best\\n "predictions": ["486"],}').valid
    True
    >>> extract('{"top10": ["486"], // best\\n "predictions": ["486"]}', mode="reference").valid
    False
    """
    if not text:
        return Answer(reason="empty response")
    return _reference(text) if mode == "reference" else _robust(text, finish_reason)
