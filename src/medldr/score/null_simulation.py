"""Clustered null datasets for checking that every p-value ``compare`` reports is calibrated (used by
``bench/compare_null.py`` and a test; pure and seeded).

Each simulated patient has 1-4 admissions. Per patient one of two sides is favoured (the same side for all of that
patient's cases: a patient-level effect); a model of the favoured side is right with probability 0.9, the others with
0.1, and a case's rounds agree except for 3% noise, so three rounds are nearly identical. The sides are
exchangeable: there is no real difference, but strong clustering by patient and by round, which is what makes a test
that pools (case, round) pairs reject far too often.
"""

from __future__ import annotations

import numpy as np

from medldr.score.metrics import METRICS
from medldr.score.scoring import CaseValues


def null_runs(
    rng: np.random.Generator, *, per_side: int = 1, n_patients: int = 120, rounds: int = 3
) -> tuple[dict[str, CaseValues], dict[str, list[str]]]:
    """(runs by name, the two sides' run names): ``per_side`` models on each side, on the same cases, with binary
    primary-accuracy values (every other metric column 0)."""
    admissions = rng.integers(1, 5, size=n_patients)
    patient_of_case = np.repeat(np.arange(n_patients), admissions)
    n = len(patient_of_case)
    favoured_a = (rng.random(n_patients) < 0.5)[patient_of_case]
    column = list(METRICS).index("primary_accuracy")
    ids = [f"{p}/{i}/0" for i, p in enumerate(patient_of_case)]
    runs: dict[str, CaseValues] = {}
    sides: dict[str, list[str]] = {"a": [], "b": []}
    for side, favoured in (("a", favoured_a), ("b", ~favoured_a)):
        for k in range(per_side):
            right = rng.random(n) < np.where(favoured, 0.9, 0.1)
            values = np.zeros((rounds, n, len(METRICS)))
            for r in range(rounds):
                values[r, :, column] = np.where(rng.random(n) < 0.03, ~right, right)
            name = f"{side}{k + 1}"
            runs[name] = CaseValues(ids, [str(p) for p in patient_of_case], values, list(range(rounds)), ["486"] * n)
            sides[side].append(name)
    return runs, sides
