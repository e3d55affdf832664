"""Answer extraction on a corpus of realistic raw outputs (written here), in both modes."""

from __future__ import annotations

import pytest

from medldr.answer import extract, normalize_item, split_reasoning

FENCED = '```json\n{"top10": ["5849:Acute kidney failure", "42833", "486"], "predictions": ["5849", "42833"]}\n```'

# (raw text, finish_reason, expected robust (top10, predictions) or None for invalid, expected reference validity)
CORPUS: list[tuple[str, str | None, tuple[list[str], list[str]] | None, bool]] = [
    (FENCED, "stop", (["5849", "42833", "486"], ["5849", "42833"]), True),
    (
        "Based on the labs, here is my answer:\n" + FENCED + "\nLet me know if you need more.",
        None,
        (["5849", "42833", "486"], ["5849", "42833"]),
        True,
    ),
    (
        "<think>Creatinine is 2.1, up from baseline 1.3. Could be AKI {pre-renal?}. BNP high...</think>\n" + FENCED,
        None,
        (["5849", "42833", "486"], ["5849", "42833"]),
        True,
    ),  # the fence wins over the braces inside <think>
    ("<think>Let me think about the troponin and the creatinine", "length", None, False),
    ("<think>Long reasoning that never finishes and has no answer", None, None, False),
    (
        '{"top10": ["0389", "99591", "486", "5990"], "predictions": ["0389", "99591"]}',
        None,
        (["0389", "99591", "486", "5990"], ["0389", "99591"]),
        True,
    ),
    (
        '{"reasoning": "Lactate 4.1, WBC 18", "top10": ["0389", "99591"], "predictions": ["0389"]}',
        None,
        (["0389", "99591"], ["0389"]),
        True,
    ),
    (
        '```json\n{\n  "top10": ["486", "51881"], // most likely first\n  "predictions": ["486"]\n}\n```',
        None,
        (["486", "51881"], ["486"]),
        False,
    ),  # // comments: robust parses, the study's json.loads fails
    ('```json\n{"top10": ["486", "51881",], "predictions": ["486",],}\n```', None, (["486", "51881"], ["486"]), False),
    ("```\n{'top10': ['486', '51881'], 'predictions': ['486']}\n```", None, (["486", "51881"], ["486"]), False),
    (
        '**top10**: ["4019:Hypertension", "42731:Atrial fibrillation"]\n**predictions**: ["42731:Atrial fibrillation"]',
        None,
        (["4019", "42731"], ["42731"]),
        True,
    ),
    ("**Top10:** [4019, 42731, 41401]\n**Predictions:** [42731]", None, (["4019", "42731", "41401"], ["42731"]), False),
    (
        'Top 10 candidates are listed below.\n{"top10": ["584.9", "428.33"], "predictions": ["584.9"]}',
        None,
        (["5849", "42833"], ["5849"]),
        True,
    ),
    ('{"top10": ["5849", "5849", "486"], "predictions": ["5849", "5849"]}', None, (["5849", "486"], ["5849"]), True),
    ('{"top10": [" v45.81 ", "E888.9"], "predictions": ["v45.81"]}', None, (["V4581", "E8889"], ["V4581"]), True),
    ('{"top10": [486, 5849], "predictions": [486]}', None, (["486", "5849"], ["486"]), False),
    ('{"top10": ["486"], "predictions": []}', None, None, False),
    ('{"top10": [], "predictions": ["486"]}', None, ([], ["486"]), False),
    ('{"predictions": ["486", "5849"]}', None, ([], ["486", "5849"]), False),
    ('{"top10": ["486", "5849"], "predictions": ["486"', "length", None, False),
    ('{"top10": ["486", "5849"], "predictions": ["486"', None, None, False),
    ("I cannot provide a diagnosis without examining the patient.", None, None, False),
    ("", None, None, False),
    (
        'The answer is {"top10": ["486"], "predictions": ["486"]} and also {"note": "x"}',
        None,
        (["486"], ["486"]),
        False,
    ),  # robust takes the last object holding an answer; the study's parser refuses two candidates
    ('{"note": "preamble"} then {"top10": ["2762"], "predictions": ["2762"]}', None, (["2762"], ["2762"]), False),
    (
        '```json\n{"top10": ["486"], "predictions": ["486"]}\n```\n'
        '```json\n{"top10": ["5849"], "predictions": ["5849"]}'
        "\n```",
        None,
        (["5849"], ["5849"]),
        False,
    ),  # a draft, then the final answer: the last counts
    (
        '```json\n{"diagnosis_summary": "sepsis", "top10": ["0389 - Unspecified septicemia", "99592"], '
        '"predictions": ["0389 - Unspecified septicemia"]}\n```',
        None,
        (["0389", "99592"], ["0389"]),
        True,
    ),
    ('{"Top10": ["41071", "41401"], "Predictions": ["41071"]}', None, (["41071", "41401"], ["41071"]), False),
    ('{"top_10": ["41071"], "final_predictions": ["41071"]}', None, (["41071"], ["41071"]), False),
    (
        'Here: {"top10": ["431:Intracerebral hemorrhage", "43491"], "predictions": ["431:Intracerebral hemorrhage"]}.',
        None,
        (["431", "43491"], ["431"]),
        True,
    ),
    (
        '```json\n{"top10": ["5070", "486"], "predictions": ["5070"], "reasoning": "aspiration {after seizure}"}\n```',
        None,
        (["5070", "486"], ["5070"]),
        True,
    ),
    (
        '{"top10": ["5070", "486"], "predictions": ["5070"], "reasoning": "aspiration {after seizure}"}',
        None,
        (["5070", "486"], ["5070"]),
        False,
    ),  # non-greedy {.*?} stops at the first }, as the study's regex did
    ('["486", "5849"]', None, None, False),
    ('{"answer": {"top10": ["5849", "486"], "predictions": ["5849"]}}', None, (["5849", "486"], ["5849"]), False),
    ('{"top10": "486, 5849", "predictions": "486"}', None, None, True),  # reference: strings are iterated as chars
]


@pytest.mark.parametrize(("text", "finish", "expected", "reference_valid"), CORPUS)
def test_corpus(
    text: str, finish: str | None, expected: tuple[list[str], list[str]] | None, reference_valid: bool
) -> None:
    answer = extract(text, finish_reason=finish)
    if expected is None:
        assert not answer.valid and answer.reason
        assert answer.predictions == () or answer.reason == "no predictions"
    else:
        assert answer.valid, answer.reason
        assert (list(answer.top10), list(answer.predictions)) == expected
    assert extract(text, finish_reason=finish, mode="reference").valid is reference_valid


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 30


def test_reference_mode_keeps_items_unnormalised() -> None:
    answer = extract('{"top10": ["584.9:AKI", " 486"], "predictions": ["584.9"]}', mode="reference")
    assert answer.top10 == ("584.9", " 486") and answer.predictions == ("584.9",)


def test_truncated_is_invalid_even_if_parsable() -> None:
    answer = extract(FENCED, finish_reason="length")
    assert not answer.valid and "truncated" in answer.reason


def test_prefix_consistency() -> None:
    assert extract('{"top10": ["1", "2"], "predictions": ["1"]}').predictions_are_top_prefix
    assert not extract('{"top10": ["1", "2"], "predictions": ["2"]}').predictions_are_top_prefix


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ("5849:Acute kidney failure", "5849"),
        ("584.9", "5849"),
        ("`486`", "486"),
        ("**0389**", "0389"),
        ("V45.81 Aortocoronary bypass", "V4581"),
        ("e8889", "E8889"),
        (42731, "42731"),
        ("unknown", "UNKNOWN"),
    ],
)
def test_normalize_item(item: object, code: str) -> None:
    assert normalize_item(item) == code


DRAFT = '{"top10": ["486", "5070"], "predictions": ["486"]}'
FINAL = '{"top10": ["5849", "486"], "predictions": ["5849"]}'
ECHO = '{"top10": ["code1", "code2", "code3"], "predictions": ["most_likely_code"]}'


@pytest.mark.parametrize(
    "text",
    [
        f"First thought: {DRAFT}. On reflection the creatinine matters more.\n```json\n{FINAL}\n```",
        f"Answer in this format: {ECHO}\nHere it is: {FINAL}",
        f"{FINAL}\nI followed the format {ECHO}",  # an echo after the answer is not an answer
        f'Draft {DRAFT}, checking the labs again.</think>\n**predictions**: ["5849"]',  # the template opened <think>
    ],
)
def test_the_final_answer_counts(text: str) -> None:
    answer = extract(text)
    assert answer.valid and answer.predictions == ("5849",), answer


def test_placeholders_are_never_codes() -> None:
    assert not extract(ECHO).valid
    mixed = extract('{"top10": ["486", "icd2", "icd3"], "predictions": ["486", "secondary_icd"]}')
    assert mixed.top10 == ("486",) and mixed.predictions == ("486",)


def test_reasoning_ends_at_a_lone_closing_tag() -> None:
    assert split_reasoning("Cr 3.1, K 6.2</think>\n" + FINAL) == (FINAL, "Cr 3.1, K 6.2")
    assert split_reasoning("<think>a</think>b<think>c</think>" + FINAL) == (FINAL, "a</think>b<think>c")
    assert extract("<think>long reasoning " + DRAFT).reason == "truncated inside <think>"


def test_reference_keeps_repeats_as_the_study_did() -> None:
    text = '{"top10": ["486", "486", "486", "5849"], "predictions": ["486", "486", "5849"]}'
    study = extract(text, mode="reference")
    assert study.top10 == ("486", "486", "486", "5849") and study.predictions == ("486", "486", "5849")
    assert not study.predictions_are_top_prefix and study.repeated  # the study's check_consistency: False
    ours = extract(text)
    assert ours.predictions == ("486", "5849") and ours.predictions_are_top_prefix


@pytest.mark.parametrize(
    "unit", ['"predictions: [', "**predictions**: [", "<think>", "</think>", "{", "}{", "```json\n", '{"a":', "*"]
)
def test_adversarial_answers_parse_in_linear_time(unit: str) -> None:
    """A 1 MB answer built to make a backtracking parser rescan the text from every position (the markdown and the
    study's regexes took a minute on 150 KB) reads in well under the bound here, in both modes."""
    import time

    text = "]" + unit * (1_000_000 // len(unit))
    for mode in ("robust", "reference"):
        start = time.perf_counter()
        answer = extract(text, mode=mode)  # type: ignore[arg-type]
        assert time.perf_counter() - start < 5, (unit, mode)  # quadratic would be hours; linear is ~0.1 s
        assert not answer.valid


def test_the_eicu_format_example_is_no_answer() -> None:
    """LDR-eICU's styles show ``"predictions": ["primary_diagnosis", "secondary_diagnosis", ...]``: an answer that
    echoes it names no code (before: PRIMARY_DIAGNOSIS counted as a predicted code), and the real answer after it,
    under ``top20``, counts."""
    echo = '{"top20": ["icd1", "icd2"], "predictions": ["primary_diagnosis", "secondary_diagnosis"]}'
    assert not extract(echo).valid
    answer = extract(echo + '\nMy answer: {"top20": ["J96.00", "A41.9"], "predictions": ["J96.00"]}')
    assert answer.valid and answer.top10 == ("J9600", "A419") and answer.predictions == ("J9600",)
