"""The one answer parser of the project, shared by every stage: raw model text -> ``Answer``.

Two modes. ``robust`` (default): the last JSON object in the answer that holds an answer (a draft inside the reasoning
or an echoed format example comes earlier; the final answer comes last), else the last markdown list form; JSON5
leniency (``//`` comments, trailing commas, single quotes); items normalised and de-duplicated; placeholder items
copied from a prompt's format example (``"code1"``, ``"primary_icd"``) are never codes.
``reference``: the MedLDR study's own parser, reproduced exactly, so its published numbers can be re-derived.
A response with no parsable answer, or cut off (``finish_reason == "length"``, an unclosed ``<think>``), is invalid:
counted, never guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

import orjson
import pyjson5

Mode = Literal["robust", "reference"]

_THINK_OPEN = re.compile(r"<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
_LEADING_OPEN = re.compile(r"^\s*<think>", re.IGNORECASE)
_FENCE_RE = re.compile(r"```[ \t]*(?:json5?|JSON)?[ \t]*\n(.*?)```", re.DOTALL)
_MARKDOWN_OPEN = {
    key: re.compile(rf"\*{{0,2}}{key}\*{{0,2}}\s*:?\s*\*{{0,2}}\s*\[", re.IGNORECASE)
    for key in ("top10", "predictions")
}
_CODE_RE = re.compile(r"^[VE]?\d[\d.]*", re.IGNORECASE)
_PLACEHOLDER_RE = re.compile(r"^[A-Z_\- ]*(CODE|ICD|DIAGNOSIS)[A-Z0-9_\- ]*$|^(\.{2,}|…)$")
_KEYS = {
    "top10": ("top10", "top_10", "top-10", "top 10", "top20", "top_20", "top-20", "top 20"),  # top20: LDR-eICU
    "predictions": ("predictions", "prediction", "final_predictions", "diagnoses"),
}
_ANSWER_KEYS = frozenset((*_KEYS["top10"], *_KEYS["predictions"]))


@dataclass(frozen=True, slots=True)
class Answer:
    """What a response said: ranked ``top10`` and final ``predictions`` (codes; normalised and de-duplicated in robust
    mode, as the study's scripts had them in reference mode)."""

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
    return tuple(dict.fromkeys(items)) if all(items) else tuple(dict.fromkeys(item for item in items if item))


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return pyjson5.decode(text)


def _get(lowered: dict[str, Any], key: str) -> Any:
    for name in _KEYS[key]:
        if name in lowered:
            return lowered[name]
    return None


def is_placeholder(code: str) -> bool:
    """Whether a normalised item is a format example's placeholder (``CODE1``, ``PRIMARY_ICD``, ``...``), not a code.

    >>> [is_placeholder(normalize_item(x)) for x in ["code1", "most_likely_code", "icd_code10", "5849", "E8889"]]
    [True, True, True, False, False]
    """
    return _PLACEHOLDER_RE.match(code) is not None


def _from_object(obj: Any) -> Answer | None:
    """An Answer from a parsed JSON value, or None when it holds no answer (no answer keys, or nothing but a format
    example's placeholders)."""
    if not isinstance(obj, dict):
        return None
    if "top10" in obj and "predictions" in obj:  # the schema's own keys: most answers
        top10, predictions = obj["top10"], obj["predictions"]
    else:
        lowered = {str(k).strip().lower(): v for k, v in obj.items()}
        top10, predictions = _get(lowered, "top10"), _get(lowered, "predictions")
    if predictions is None and top10 is None:
        nested = [value for value in obj.values() if isinstance(value, dict)]  # {"answer": {"top10": ...}}
        return next((found for value in nested if (found := _from_object(value)) is not None), None)
    if not isinstance(top10 or [], list) or not isinstance(predictions or [], list):
        return None
    top_items, raw_items = _codes(top10 or []), [code for code in _codes(predictions or []) if code]
    joined = "\x00".join(top_items) + "\x00" + "\x00".join(raw_items)
    if ("CODE" in joined or "ICD" in joined or "DIAGNOSIS" in joined or ".." in joined or "…" in joined) and any(
        is_placeholder(code) for code in (*top_items, *raw_items)
    ):
        placeholders = [code for code in (*top_items, *raw_items) if is_placeholder(code)]
        if len(placeholders) == len(top_items) + len(raw_items):
            return None  # an echoed format example
        top_items = [code for code in top_items if not is_placeholder(code)]
        raw_items = [code for code in raw_items if not is_placeholder(code)]
    top = _dedup(top_items)
    preds = _dedup(raw_items)
    if not preds:
        return Answer(top, preds, valid=False, reason="no predictions")
    extras = {k: v for k, v in obj.items() if k not in _ANSWER_KEYS} if len(obj) > 2 else {}
    return Answer(top, preds, valid=True, extras=extras, repeated=len(raw_items) > len(preds))


def _codes(items: list[Any]) -> list[str]:
    """Every non-null item normalised (a list of strings in one C-level pass through the cache)."""
    try:
        return list(map(_normalize_text, items))
    except (AttributeError, TypeError):  # numbers or nulls among the items
        return [normalize_item(x) for x in items if x is not None]


def split_reasoning(text: str) -> tuple[str, str | None]:
    """(answer, reasoning): the reasoning ends at the last ``</think>``, whether the text opened it or a chat
    template did (DeepSeek-R1-Distill templates inject ``<think>``, so the completion holds only the closing tag).
    With no ``</think>`` the whole text is the answer (an unclosed ``<think>`` in it marks a cut-off answer). The
    run stage's reasoning capture, scoring and the training rewards all split here.

    >>> split_reasoning("<think>AKI?</think>\\n{}")
    ('{}', 'AKI?')
    >>> split_reasoning("Cr 3.1, so AKI.</think>{}")
    ('{}', 'Cr 3.1, so AKI.')
    >>> split_reasoning("plain answer")
    ('plain answer', None)
    """
    closes = list(_THINK_CLOSE.finditer(text))
    if not closes:
        return text, None
    last = closes[-1]
    reasoning = _LEADING_OPEN.sub("", text[: last.start()], count=1)
    return text[last.end() :].strip(), reasoning.strip()


def _json_objects(text: str) -> list[tuple[int, str]]:
    """(start, text) of every balanced {...} span (outermost), in order, ignoring braces in strings."""
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
                spans.append((start, text[start : index + 1]))
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
    text, _ = split_reasoning(text)
    for _, candidate in _candidates(text):
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


def _spans(text: str, opener: re.Pattern[str], closer: str) -> Iterator[tuple[int, str, int]]:
    """Non-overlapping (start, content, end) of ``opener`` then anything up to the first ``closer``, leftmost first:
    what ``re.finditer(opener + "(.*?)" + closer, re.DOTALL)`` finds, in linear time (that regex rescans to the end
    of the text from every opener when no closer follows: an adversarial answer took minutes)."""
    position = 0
    while (match := opener.search(text, position)) is not None:
        end = text.find(closer, match.end())
        if end < 0:
            return
        yield match.start(), text[match.end() : end], end + len(closer)
        position = end + len(closer)


def _markdown(text: str) -> Answer | None:
    found = {key: _last(inner for _, inner, _ in _spans(text, opener, "]")) for key, opener in _MARKDOWN_OPEN.items()}
    if found["predictions"] is None:
        return None

    def items(inner: str | None) -> list[str]:
        if inner is None:
            return []
        quoted = [a or b for a, b in re.findall(r'"([^"]+)"|\'([^\']+)\'', inner)]
        codes = [normalize_item(x) for x in (quoted or inner.split(",")) if x.strip()]
        return [code for code in codes if not is_placeholder(code)]

    top, preds = _dedup(items(found["top10"])), _dedup(items(found["predictions"]))
    return Answer(top, preds, valid=bool(preds), reason="" if preds else "no predictions")


def _last(matches: Iterable[Any]) -> Any:
    found = None
    for found in matches:  # noqa: B007 - the last one is wanted
        pass
    return found


def _candidates(body: str) -> list[tuple[int, str]]:
    """Every fenced block's content and every balanced ``{...}`` span, by where it starts in ``body``."""
    fenced = [(match.start(1), match.group(1).strip()) for match in _FENCE_RE.finditer(body)]
    return sorted([*fenced, *_json_objects(body)], key=lambda item: item[0])


def _robust(text: str, finish_reason: str | None, opened: bool = False) -> Answer:
    if finish_reason == "length":
        return Answer(reason="truncated (finish_reason=length)")
    if opened and not _THINK_CLOSE.search(text):  # the template opened <think>: no close, no final answer yet
        return Answer(reason="truncated inside <think>")
    body, _ = split_reasoning(text)
    if _THINK_OPEN.search(body):
        return Answer(reason="truncated inside <think>")
    answer = _final_object(body)
    if answer is not None:
        return answer
    for _, candidate in reversed(_candidates(body)):  # the last answer-bearing object is the final answer
        if len(candidate) < len("{top10:[]}"):  # too short to hold an answer key (and cheap to skip in bulk)
            continue
        answer = _parse_candidate(candidate)
        if answer is not None:
            return answer
    return _markdown(body) or Answer(reason="no parsable answer")


def _final_object(body: str) -> Answer | None:
    """The common shapes, without scanning every character: an answer that ends with a fenced JSON block (and no
    ``{`` after it), or that is one JSON object. It gives what the full scan would (no candidate starts after it);
    None sends the text to the full scan."""
    stripped = body.rstrip()
    if stripped.endswith("```"):
        last = _last(_FENCE_RE.finditer(body))
        if last is not None and "{" not in body[last.end() :]:
            return _parse_candidate(last.group(1).strip())
        return None
    stripped = stripped.lstrip()
    if stripped.startswith("{") and stripped.endswith("}"):
        return _parse_candidate(stripped)
    return None


# --- the study's parser, reproduced exactly ---------------------------------------------------------------------

# its regexes were r"```json\n(.*?)\n```", r"\{.*?\}" and rf"\*\*{key}\*\*:\s*\[(.*?)\]" (DOTALL): the same matches come
# from _spans, in linear time
_REF_FENCE = re.compile(r"```json\n")
_REF_OBJECT = re.compile(r"\{")
_REF_MD = {key: re.compile(rf"\*\*{key}\*\*:\s*\[") for key in ("top10", "predictions")}


def _reference(text: str) -> Answer:
    matches = [inner for _, inner, _ in _spans(text, _REF_FENCE, "\n```")] or [
        text[start:end] for start, _, end in _spans(text, _REF_OBJECT, "}")
    ]
    data: Any = None
    if not matches:
        found = {
            key: next((inner for _, inner, _ in _spans(text, opener, "]")), None) for key, opener in _REF_MD.items()
        }
        if found["top10"] is not None and found["predictions"] is not None:
            lists = {key: re.findall(r'"([^"]+)"', inner) for key, inner in found.items() if inner is not None}
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
    # the study's lists as they were: a repeated code stays repeated (its over-diagnosis count and prefix check see it)
    return Answer(tuple(top), tuple(preds), valid=True, repeated=len(set(preds)) < len(preds))


def extract(
    text: str | None, *, finish_reason: str | None = None, mode: Mode = "robust", opened: bool = False
) -> Answer:
    """Parse a model's raw answer text.

    Args:
        text: the answer (reasoning captured separately by the run stage may be left out).
        finish_reason: the provider's; ``"length"`` marks a cut-off answer (invalid in robust mode).
        mode: ``"robust"`` or ``"reference"`` (the study's parser).
        opened: the chat template opened ``<think>`` before the text (DeepSeek-R1-Distill templates do): a text
            without ``</think>`` is then still reasoning, cut off before its answer (a JSON draft in it is not one).

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
    return _reference(text) if mode == "reference" else _robust(text, finish_reason, opened)
