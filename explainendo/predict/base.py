"""The predictor contract: what turns localized lesions into class probabilities, and says why.

A predictor is a :class:`~explainendo.components.Component` with

* ``fit(samples, *, unlabeled=None) -> self`` on labelled :class:`~explainendo.features.LesionSamples`
  (``table["label"]``; ``unlabeled`` lesions for semi-supervised parts);
* ``predict_proba(samples) -> ndarray (n, k)``, always two-dimensional, columns in the order of ``classes_``
  (a list of class names);
* ``explain(samples, class_index=None) -> list[Evidence]``: per lesion, why (SHAP per feature and group for
  a hybrid, Grad-CAM for a CNN); ``class_index`` None explains each lesion's predicted class;
* ``features(samples) -> DataFrame``: the named features each lesion was diagnosed from (empty columns for
  a CNN);
* ``describe() -> str``: a few words for results and reports ("hybrid: sparse_logistic_regression").

:class:`~explainendo.engine.Diagnoser` only ever calls these, and the benchmark harness compares any
predictors on the same lesions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..components import Component
from ..errors import ManifestError, NotFittedError
from ..features import LesionSamples


@dataclass
class Evidence:
    """Why a predictor gave one lesion its output for ``explained_class`` (see
    :class:`~explainendo.types.Explanation`, which a diagnoser builds from it)."""

    explained_class: str
    output: float
    space: str = "probability"
    explainer: str = "none"
    expected_value: float = float("nan")
    shap: dict[str, float] = field(default_factory=dict)
    group_shap: dict[str, float] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    gradcams: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


class Predictor(Component):
    """Base class of predictors (module docstring)."""

    #: True for predictors whose explanation values named feature groups and whose ``explain`` takes
    #: ``group_values="shap" | "exact"`` (the hybrid); a diagnoser refuses ``group_values="exact"`` otherwise
    values_feature_groups = False

    def fit(self, samples: LesionSamples, *, unlabeled: LesionSamples | None = None) -> "Predictor":
        raise NotImplementedError  # pragma: no cover

    def predict_proba(self, samples: LesionSamples) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def explain(self, samples: LesionSamples, class_index: int | None = None) -> list[Evidence]:
        raise NotImplementedError  # pragma: no cover

    def features(self, samples: LesionSamples) -> pd.DataFrame:
        """Named features per lesion; none by default."""
        return pd.DataFrame(index=range(len(samples)))

    def predict_with_features(self, samples: LesionSamples) -> tuple[np.ndarray, pd.DataFrame]:
        """``(predict_proba, features)`` of ``samples`` (a hybrid computes both from one pass)."""
        return self.predict_proba(samples), self.features(samples)

    def check_params(self) -> None:
        """Validate the parameters before any training (a diagnoser calls it first)."""

    def check_data(self, table: pd.DataFrame) -> None:
        """Check the training lesions' table (labels, ``attr.*`` values, the columns the sources read) before
        any network trains: a diagnoser calls it before its localizer trains. Raises a typed error naming
        the CSV line or column; nothing by default."""

    def table_columns(self) -> list[str]:
        """The per-lesion table columns this predictor reads at prediction (``ColumnFeatures``): a diagnoser
        refuses to predict without a table holding them; none by default."""
        return []

    def attribute_specs(self) -> list:
        """The :class:`~explainendo.specs.AttributeSpec` whose ``attr.<name>`` columns this predictor trains
        on (``explainendo data validate --config`` checks every cell against them); none by default."""
        return []

    def describe(self) -> str:
        return type(self).__name__

    def predict(self, samples: LesionSamples) -> np.ndarray:
        """The most probable class name per lesion."""
        proba = self.predict_proba(samples)
        return np.asarray(self.classes_, dtype=object)[np.nan_to_num(proba, nan=-1.0).argmax(1)]

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted",
                                 hint="call fit(samples) or explainendo.load(folder) first")

    def _class_indices(self, proba: np.ndarray, class_index: int | None) -> np.ndarray:
        if class_index is not None:
            return np.full(len(proba), int(class_index))
        return np.nan_to_num(proba, nan=-1.0).argmax(1)


def training_labels(samples: LesionSamples, positive_label: str | None = None,
                    column: str = "label") -> tuple[list[str], np.ndarray]:
    """``(classes, y)`` for labelled samples: classes sorted, ``positive_label`` (if given) moved last so a
    binary task explains it; ``y`` the class index of each lesion. Typed errors for missing or single labels."""
    if not isinstance(samples, LesionSamples):
        raise ManifestError(f"a predictor trains on LesionSamples, got {type(samples).__name__}",
                            hint="LesionSamples.from_manifest(manifest), or Diagnoser.fit(manifest)")
    values = samples.labels(column)
    if values.isna().any():
        raise ManifestError(f"{int(values.isna().sum())} of {len(values)} lesions have no '{column}'",
                            source=column, hint="drop unlabelled lesions, or pass them as unlabeled=")
    labels = values.astype(str).to_numpy()
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ManifestError(f"only one label ({classes}) in the training data", source=column,
                            hint="a predictor needs at least two classes")
    if positive_label is not None:
        from ..errors import ConfigError

        if positive_label not in classes:
            raise ConfigError(f"positive_label {positive_label!r} is not a label in the data",
                              hint=f"labels: {classes}")
        classes = [c for c in classes if c != positive_label] + [positive_label]
    return classes, np.array([classes.index(v) for v in labels])
