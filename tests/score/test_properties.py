"""Properties every metric must have, on random cases and answers (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from medldr.score import METRICS, bootstrap_replicates, encode, per_case, percentile_interval
from medldr.score.metrics import aggregate

LABELS = ["486", "5849", "0389", "4019", "42833", "42731", "5845", "V4581"]
codes = st.sampled_from([*LABELS, "9999", "E8889", "4280"])
one_case = st.tuples(
    st.lists(st.sampled_from(LABELS), min_size=1, max_size=3, unique=True),  # gold (primary first)
    st.lists(codes, max_size=5),  # predictions
    st.lists(codes, max_size=12),  # top10
    st.booleans(),  # valid
)


def _batch(rows: list[tuple[list[str], list[str], list[str], bool]]):
    return encode(
        [g for g, *_ in rows],
        [p if v else [] for _, p, _, v in rows],
        primary=[g[0] for g, *_ in rows],
        labels=LABELS,
        top10=[list(dict.fromkeys(t)) if v else [] for _, _, t, v in rows],
        valid=[v for *_, v in rows],
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(one_case, min_size=1, max_size=30))
def test_rates_in_unit_interval_and_exact_implies_primary(rows) -> None:
    values = per_case(_batch(rows))
    names = list(METRICS)
    rates = [i for i, m in enumerate(METRICS.values()) if m.aggregate == "mean" and names[i] != "mean_predictions"]
    assert np.all((values[:, rates] >= 0) & (values[:, rates] <= 1))
    exact, primary = values[:, names.index("exact_match")], values[:, names.index("primary_accuracy")]
    assert np.all(exact <= primary)  # an exact match contains the primary
    relevance = values[:, [names.index(f"relevance_{i}") for i in (1, 2, 3, 4)]]
    assert np.allclose(relevance.sum(axis=1), 1)
    assert np.array_equal(values[:, names.index("relevance_1")], primary)


@settings(max_examples=100, deadline=None)
@given(st.lists(one_case, min_size=2, max_size=30), st.randoms(use_true_random=False))
def test_permuting_cases_changes_nothing(rows, rng) -> None:
    shuffled = list(rows)
    rng.shuffle(shuffled)
    first, second = aggregate(per_case(_batch(rows))), aggregate(per_case(_batch(shuffled)))
    assert first.keys() == second.keys()
    for key in first:
        assert np.isclose(first[key], second[key]), key


def test_bootstrap_is_seeded_and_holds_the_point_estimate() -> None:
    rng = np.random.default_rng(0)
    values = rng.random((500, 3))
    patients = rng.integers(0, 120, size=500)
    how = ["mean", "mean", "sum"]
    first = bootstrap_replicates(values, patients, how=how, n_resamples=300, seed=7)
    again = bootstrap_replicates(values, patients, how=how, n_resamples=300, seed=7)
    other = bootstrap_replicates(values, patients, how=how, n_resamples=300, seed=8)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    interval = percentile_interval(first)
    point = [values[:, 0].mean(), values[:, 1].mean(), values[:, 2].sum()]
    assert np.all((interval[:, 0] <= point) & (point <= interval[:, 1]))


def test_patient_resampling_is_wider_when_cases_cluster() -> None:
    """Cases of one patient that agree make patient resampling wider than case resampling, as it should be."""
    rng = np.random.default_rng(1)
    patient_effect = rng.random(40) < 0.5
    patients = np.repeat(np.arange(40), 10)
    values = patient_effect[patients].astype(float)[:, None]
    by_patient = percentile_interval(bootstrap_replicates(values, patients, how=["mean"], n_resamples=500, seed=0))
    by_case = percentile_interval(bootstrap_replicates(values, np.arange(400), how=["mean"], n_resamples=500, seed=0))
    assert by_patient[0, 1] - by_patient[0, 0] > 2 * (by_case[0, 1] - by_case[0, 0])


def test_every_metric_handles_empty_input() -> None:
    empty = encode([], [], primary=[], labels=LABELS)
    for name, metric in METRICS.items():
        assert metric.function(empty).shape == (0,), name
    assert per_case(empty).shape == (0, len(METRICS))
