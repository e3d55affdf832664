"""Patient-level splits and the inference subset; pure functions of ids, labels and a seed."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping


def split_subjects(subjects: Iterable[int], ratios: tuple[float, float, float], seed: int) -> dict[int, str]:
    """Assign every patient to one split, as the study did: shuffle patients, first share train, next test, last
    validation. ``ratios`` are (train, validation, test).

    >>> assignment = split_subjects(range(10), (0.8, 0.1, 0.1), seed=2025)
    >>> sorted(assignment.values()).count("train"), sorted(assignment.values()).count("test")
    (8, 1)
    """
    ordered = sorted(set(subjects))
    random.Random(seed).shuffle(ordered)
    n = len(ordered)
    train_end = int(round(ratios[0] * n, 9))
    test_end = int(round((ratios[0] + ratios[2]) * n, 9))
    assignment = {}
    for index, subject in enumerate(ordered):
        assignment[subject] = "train" if index < train_end else "test" if index < test_end else "validation"
    return assignment


def inference_subset(labels: Mapping[str, tuple[str, list[str]]], per_code: int, seed: int) -> set[str]:
    """Up to ``per_code`` cases per label code: cases where it is primary first, filled with cases where it is a
    secondary label; sampled with a seeded generator (the study's sampling was unseeded).

    ``labels`` maps case_id -> (primary code, all gold codes).

    >>> labels = {"1/1/0": ("486", ["486"]), "2/2/0": ("5849", ["5849", "486"]), "3/3/0": ("486", ["486"])}
    >>> sorted(inference_subset(labels, per_code=2, seed=0))
    ['1/1/0', '2/2/0', '3/3/0']
    """
    rng = random.Random(seed)
    codes = sorted({code for _, gold in labels.values() for code in gold})
    chosen: set[str] = set()
    for code in codes:
        primary = sorted(case for case, (top1, _) in labels.items() if top1 == code)
        others = sorted(case for case, (top1, gold) in labels.items() if top1 != code and code in gold)
        if len(primary) >= per_code:
            chosen.update(rng.sample(primary, per_code))
        else:
            chosen.update(primary)
            chosen.update(rng.sample(others, min(per_code - len(primary), len(others))))
    return chosen
