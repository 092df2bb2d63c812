"""Stacking strategies: which features of a supervised source the hybrid's fitter learns from.

A source that learns from labels (attribute heads, a CNN score) describes its own training lesions too
confidently; a fitter trained on those in-sample features would trust the source more than it should on
new images. A strategy object decides how the fitter's training rows get their features, the
scikit-learn ``cv=GroupKFold()`` idiom instead of interacting flags:

* :class:`OutOfFold` ``(folds=5)``: the lesions are split into patient-grouped folds; a fresh copy of the
  source trained on the other folds describes each fold; the source used at prediction is trained once
  more on every lesion. Cost: ``folds + 1`` trainings. The copies see less data than the final source, so
  their features are noisier than those the fitter meets at prediction time.
* :class:`HeldOut` ``(fraction=0.5, calibrate=True)``: ``fraction`` of the patients (stratified by label) are
  set aside; the source trains **once** on the others, and the fitter learns only from the set-aside
  patients' features, from the very source it will be used with. With ``calibrate``, a source that can
  (``calibrates``: the attribute heads) is first calibrated on those patients' attribute labels. Cost: one
  training; the source never sees the fitter's patients. Use it when lesions are plentiful.
* :class:`InSample` ``()``: the source trains on every lesion and describes them (leaky; for quick
  experiments and for sources that do not learn from labels).

Sources that do not learn from labels (``supervised = False``) are fitted once on every lesion whatever
the strategy. Every strategy is a plain estimator-like object (``get_params`` / ``clone``), registered so
that bundles and YAML configs can name it.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from ..components import register_component
from ..errors import ConfigError, ManifestError, SourceUnavailableError
from ..features import FeatureSource, LesionSamples

log = logging.getLogger(__name__)


class Stacking(BaseEstimator):
    """Base: ``rows`` splits the lesions between the supervised sources and the fitter; ``features`` trains a
    supervised source and returns its features for the fitter's rows."""

    mode = "stacking"

    def check(self) -> None:
        """Validate the parameters (called before any training)."""

    def rows(self, labels: np.ndarray, groups: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``(source_rows, fitter_rows)``: positions of the lesions each side learns from."""
        every = np.arange(len(labels))
        return every, every

    def features(self, source: FeatureSource, samples: LesionSamples, source_rows: np.ndarray,
                 fitter_rows: np.ndarray, groups: np.ndarray, seed: int,
                 unlabeled: LesionSamples | None = None) -> tuple[FeatureSource, pd.DataFrame, dict]:
        """``(fitted source, features of fitter_rows, facts for the report)``."""
        fitted = clone(source).fit(samples, unlabeled=unlabeled)
        part = samples.subset(fitter_rows) if len(fitter_rows) < len(samples) else samples
        return fitted, fitted.transform(part), {}


@register_component("in_sample")
class InSample(Stacking):
    """The fitter learns from the sources' in-sample features (leaky: quick experiments only)."""

    mode = "in_sample"


@register_component("out_of_fold")
class OutOfFold(Stacking):
    """Out-of-fold features from ``folds`` patient-grouped fold copies (module docstring)."""

    mode = "out_of_fold"

    def __init__(self, folds: int = 5):
        self.folds = folds

    def check(self) -> None:
        if not (isinstance(self.folds, (int, np.integer)) and not isinstance(self.folds, bool) and self.folds >= 2):
            raise ConfigError(f"OutOfFold(folds={self.folds!r}): need an integer >= 2",
                              hint="e.g. OutOfFold(5), or InSample() for in-sample features")

    def features(self, source, samples, source_rows, fitter_rows, groups, seed, unlabeled=None):
        from ..fit.group_selection import grouped_folds

        fitted = clone(source).fit(samples, unlabeled=unlabeled)
        columns = [c for cols in fitted.groups.values() for c in cols]
        out = pd.DataFrame(np.nan, index=range(len(samples)), columns=columns)
        folds = grouped_folds(groups, int(self.folds), seed, hint="give more patients, or use HeldOut / InSample")
        skipped = 0
        for train_idx, test_idx in folds:
            try:
                part = clone(source).fit(samples.subset(train_idx), unlabeled=unlabeled).transform(
                    samples.subset(test_idx))
            except SourceUnavailableError as exc:  # a fold without labels: its rows are imputed with the mean
                log.warning("%s: fold left out (%s); its rows get mean features", fitted.source_name, exc)
                skipped += 1
                continue
            # a fold may lack an attribute's labels: those columns stay NaN (imputed with the mean later)
            out.iloc[test_idx] = part.reindex(columns=columns).to_numpy(dtype=float)
        return fitted, out, {"folds": len(folds), "folds_without_labels": skipped}


@register_component("held_out")
class HeldOut(Stacking):
    """Sources train once on ``1 - fraction`` of the patients; the fitter learns from the rest (module
    docstring). ``calibrate``: calibrate sources that can on the fitter's patients first."""

    mode = "held_out"

    def __init__(self, fraction: float = 0.5, calibrate: bool = True):
        self.fraction = fraction
        self.calibrate = calibrate

    def check(self) -> None:
        if not (isinstance(self.fraction, (int, float)) and 0.0 < float(self.fraction) < 1.0):
            raise ConfigError(f"HeldOut(fraction={self.fraction!r}) is not a fraction between 0 and 1",
                              hint="e.g. HeldOut(0.5)")
        if not isinstance(self.calibrate, bool):
            raise ConfigError(f"HeldOut(calibrate={self.calibrate!r}) must be True or False")

    def rows(self, labels, groups, seed):
        """``fraction`` of the patients of each label (a patient's first label) go to the fitter; both sides
        keep at least one patient of every label that has two or more."""
        first = pd.Series(labels).groupby(groups, sort=True).first()
        rng = np.random.default_rng(seed)
        held: list = []
        for label in sorted(first.unique()):
            patients = first.index[first == label].to_numpy().copy()
            rng.shuffle(patients)
            k = int(round(float(self.fraction) * len(patients)))
            if len(patients) >= 2:
                k = min(max(k, 1), len(patients) - 1)
            held.extend(patients[:k])
        mask = np.isin(groups, np.array(held, dtype=groups.dtype))
        source_rows, fitter_rows = np.flatnonzero(~mask), np.flatnonzero(mask)
        if len(set(labels[fitter_rows])) < 2 or len(set(groups[fitter_rows])) < 2 or len(source_rows) == 0:
            raise ManifestError(f"HeldOut({self.fraction}): the fitter's {len(set(groups[fitter_rows]))} held-out "
                                f"group(s) (patients, or centres with folds_by='centre') do not cover every label",
                                hint="use more patients, a larger fraction, or OutOfFold()")
        return source_rows, fitter_rows

    def features(self, source, samples, source_rows, fitter_rows, groups, seed, unlabeled=None):
        fitted = clone(source).fit(samples.subset(source_rows), unlabeled=unlabeled)
        part = samples.subset(fitter_rows)
        if self.calibrate and fitted.calibrates:
            # calibrated on the held-out patients' own attribute labels, before the fitter reads them
            return fitted, fitted.calibrate_transform(part), {"calibrated": sorted(getattr(fitted, "calibration_", {}))}
        return fitted, fitted.transform(part), {}
