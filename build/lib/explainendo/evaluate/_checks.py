"""Input checks shared by the metrics and tests of :mod:`explainendo.evaluate`.

Every check raises :class:`~explainendo.errors.EvaluationError` naming the input, the problem and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import EvaluationError


@dataclass(frozen=True)
class TestResult:
    """Outcome of one hypothesis test.

    ``name`` is the test (e.g. ``"McNemar exact"``), ``statistic`` its statistic (NaN when the test has
    none, e.g. an exact binomial), ``pvalue`` the two-sided p-value unless ``details['alternative']`` says
    otherwise, and ``details`` whatever else the test reports (tables, counts, effect sizes).
    """

    __test__ = False  # not a pytest class despite the name

    name: str
    statistic: float
    pvalue: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"test": self.name, "statistic": self.statistic, "pvalue": self.pvalue, **self.details}


def as_1d(values: Any, name: str) -> np.ndarray:
    """``values`` as a 1-D array; scalars, 2-D input and empty input are errors."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        if arr.ndim == 2 and 1 in arr.shape:
            arr = arr.ravel()
        else:
            raise EvaluationError(f"{name} must be one-dimensional, got shape {arr.shape}",
                                  hint="pass one value per case")
    if arr.size == 0:
        raise EvaluationError(f"{name} is empty", hint="pass at least one case")
    return arr


def as_scores(values: Any, name: str) -> np.ndarray:
    """Finite float scores."""
    arr = as_1d(values, name)
    try:
        arr = arr.astype(float)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{name} must be numeric ({exc})", hint="pass probabilities or scores") from None
    bad = ~np.isfinite(arr)
    if bad.any():
        raise EvaluationError(f"{name} has {int(bad.sum())} non-finite value(s) (first at index "
                              f"{int(np.flatnonzero(bad)[0])})", hint="drop or impute those cases")
    return arr


def as_bool(values: Any, name: str) -> np.ndarray:
    """A boolean vector (bool, 0/1)."""
    arr = as_1d(values, name)
    if arr.dtype == bool:
        return arr
    try:
        num = arr.astype(float)
    except (TypeError, ValueError):
        raise EvaluationError(f"{name} must be boolean or 0/1", hint="pass correct/incorrect flags") from None
    if not np.isin(num, (0.0, 1.0)).all():
        raise EvaluationError(f"{name} must be boolean or 0/1, found values {np.unique(num)[:5].tolist()}",
                              hint="pass correct/incorrect flags")
    return num.astype(bool)


def same_length(**arrays: np.ndarray) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise EvaluationError(f"inputs differ in length: {lengths}", hint="pass one value per case in each")
    return next(iter(lengths.values()))


def binary_truth(y_true: Any, positive: Any = 1, name: str = "y_true") -> np.ndarray:
    """``y_true == positive`` as booleans, checking that ``positive`` is a label that occurs and that there are
    at most two labels."""
    arr = as_1d(y_true, name)
    labels = _unique(arr)
    if len(labels) > 2:
        raise EvaluationError(f"{name} has {len(labels)} labels {labels[:6]}; binary metrics need two",
                              hint="binarise the labels (positive vs rest) or use classification_report")
    return is_positive(arr, positive, name, labels)


def is_positive(arr: np.ndarray, positive: Any, name: str, labels: list | None = None) -> np.ndarray:
    """``arr == positive`` element by element; a ``positive`` of another kind than the labels is an error."""
    labels = _unique(arr) if labels is None else labels
    mask = np.array([v == positive for v in arr.tolist()], dtype=bool)
    if not mask.any() and any(_kind(v) != _kind(positive) for v in labels):
        raise EvaluationError(f"positive label {positive!r} does not occur in {name} (labels: {labels[:6]})",
                              hint="pass positive=<the label of the positive class>")
    return mask


def require_both_classes(truth: np.ndarray, what: str) -> tuple[int, int]:
    n_pos = int(truth.sum())
    n_neg = int(truth.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        only = "positive" if n_neg == 0 else "negative"
        raise EvaluationError(f"{what} needs both classes, but all {truth.size} cases are {only}",
                              hint="evaluate on a set with positive and negative cases")
    return n_pos, n_neg


def check_confidence(confidence: float) -> float:
    if not 0.0 < float(confidence) < 1.0:
        raise EvaluationError(f"confidence must lie in (0, 1), got {confidence!r}", hint="e.g. confidence=0.95")
    return float(confidence)


def check_count(successes, n) -> tuple[int, int]:
    """``(successes, n)`` as ints with ``0 <= successes <= n`` and ``n >= 1``."""
    try:
        x_f, n_f = float(successes), float(n)
    except (TypeError, ValueError):
        raise EvaluationError(f"successes and n must be counts, got {successes!r} and {n!r}") from None
    if not (np.isfinite(x_f) and np.isfinite(n_f)) or x_f != int(x_f) or n_f != int(n_f):
        raise EvaluationError(f"successes and n must be whole numbers, got {successes!r} and {n!r}",
                              hint="pass counts, not proportions")
    x, n = int(x_f), int(n_f)
    if n <= 0:
        raise EvaluationError(f"n = {n}: a proportion needs at least one case",
                              hint="the metric is undefined on an empty set; report it as not available")
    if not 0 <= x <= n:
        raise EvaluationError(f"successes = {x} is outside [0, n = {n}]", hint="check the counts")
    return x, n


def _unique(arr: np.ndarray) -> list:
    try:
        return sorted(set(arr.tolist()), key=lambda v: (str(type(v)), v))
    except TypeError:
        return list(dict.fromkeys(arr.tolist()))


def _kind(value: Any) -> str:
    if isinstance(value, (bool, np.bool_, int, float, np.integer, np.floating)):
        return "number"
    return "text"
