"""The baselines: what a model must beat on the same cases. ``prior`` knows only how often each code is a gold code
in training; ``labs`` is a scikit-learn one-vs-rest logistic regression on the features the task shows a model.
Both train on the build's train split and choose settings on its validation split only."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from medldr.baselines.features import case_features
from medldr.schema import Case


def gold(case: Case, labels: Sequence[str]) -> list[str]:
    """The case's gold codes in the label space, primary first."""
    primary = case.top_1_icd.code
    codes = [primary, *(c for c in case.output_dict.output_icd_id if c != primary)]
    return [c for c in dict.fromkeys(codes) if c in set(labels)]


class Baseline(Protocol):
    settings: dict[str, Any]

    def fit(self, train: Sequence[Case], validation: Sequence[Case]) -> None: ...

    def answer(self, case: Case) -> tuple[list[str], list[str]]:
        """(top10, predictions) for one case."""
        ...


class Prior:
    """The label codes by how often they are gold codes in training: that order as top10, the first as the
    prediction. Every case gets the same answer."""

    def __init__(self, labels: Sequence[str], task: str, *, seed: int = 0) -> None:  # deterministic: no seed used
        self.labels = list(labels)
        self.settings: dict[str, Any] = {}
        self._ranked: list[str] = []

    def fit(self, train: Sequence[Case], validation: Sequence[Case]) -> None:
        counts = Counter(code for case in train for code in gold(case, self.labels))
        self._ranked = sorted(self.labels, key=lambda code: (-counts[code], self.labels.index(code)))
        self.settings = {"frequencies": {code: counts[code] for code in self._ranked[:10]}}

    def answer(self, case: Case) -> tuple[list[str], list[str]]:
        return self._ranked[:10], self._ranked[:1]


class Labs:
    """One-vs-rest logistic regression over the label codes on the case's own features (lab values and range flags,
    age, gender, organisms grown); top10 by probability; predictions: the codes at or above one threshold, at least
    the most probable, the threshold chosen on validation so that the mean number of predictions matches the mean
    number of gold codes there."""

    def __init__(self, labels: Sequence[str], task: str, *, seed: int = 0) -> None:
        self.labels, self.task, self.seed = list(labels), task, seed
        self.settings: dict[str, Any] = {}

    def _matrix(self, cases: Sequence[Case]) -> Any:
        return self._vectorizer.transform([case_features(case, self.task) for case in cases])

    def fit(self, train: Sequence[Case], validation: Sequence[Case]) -> None:
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import MaxAbsScaler, MultiLabelBinarizer

        self._vectorizer = DictVectorizer(sparse=True)
        x = self._vectorizer.fit_transform([case_features(case, self.task) for case in train])
        self._binarizer = MultiLabelBinarizer(classes=self.labels)
        y = self._binarizer.fit_transform([gold(case, self.labels) for case in train])
        classifier = LogisticRegression(C=1.0, max_iter=2000, random_state=self.seed)
        self._model = make_pipeline(MaxAbsScaler(), OneVsRestClassifier(classifier))
        with warnings.catch_warnings():  # a code never gold in training gets a constant 0 (counted below)
            warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
            self._model.fit(x, y)
        self.threshold = self._choose_threshold(validation or train)
        self.settings = {
            "classifier": "one-vs-rest logistic regression (C 1.0, max-abs scaled features)",
            "features": len(self._vectorizer.feature_names_),
            "threshold": self.threshold,
            "codes_never_gold_in_training": int((y.sum(axis=0) == 0).sum()),
        }

    def _probabilities(self, cases: Sequence[Case]) -> np.ndarray:
        return np.asarray(self._model.predict_proba(self._matrix(cases)))

    def _choose_threshold(self, cases: Sequence[Case]) -> float:
        """The threshold whose mean prediction count on ``cases`` is nearest their mean gold count."""
        probabilities = self._probabilities(cases)
        target = float(np.mean([len(gold(case, self.labels)) for case in cases]))
        candidates = np.unique(probabilities)
        counts = [np.maximum((probabilities >= t).sum(axis=1), 1).mean() for t in candidates]
        return float(candidates[int(np.argmin([abs(c - target) for c in counts]))])

    def answer(self, case: Case) -> tuple[list[str], list[str]]:
        row = self._probabilities([case])[0]
        order = np.argsort(-row, kind="stable")
        ranked = [self.labels[i] for i in order]
        chosen = [self.labels[i] for i in order if row[i] >= self.threshold] or ranked[:1]
        return ranked[:10], chosen


BASELINES = {"prior": Prior, "labs": Labs}
"""``medldr baseline --kind NAME`` -> its class: a new baseline is one entry."""
