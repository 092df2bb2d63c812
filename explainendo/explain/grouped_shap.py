"""SHAP values of the fitter's output, per feature and summed per feature group.

The fitter sees named columns ``<group>.<name>``; people read groups ("tone", "surface", "lbp"), so the
per-feature Shapley values (Lundberg & Lee, NeurIPS 2017) are summed per group. Shapley values are
additive, so for every explained row

    expected_value + sum_g group_value[g] = expected_value + sum_j shap[j] = f(x)

where ``f`` is the model output in the *explained space*, which depends on the explainer:

=====================  ==========================  ===============================================
fitter                 explainer                   explained space
=====================  ==========================  ===============================================
xgboost                ``shap.TreeExplainer``      log-odds (raw margin) of the explained class
decision tree          ``shap.TreeExplainer``      probability of the explained class
logistic regression    ``shap.LinearExplainer``    log-odds, on the standardised features
SVM (and any other)    ``shap.KernelExplainer``    probability of the explained class, with a
                                                   k-means-summarised background (k = 10)
=====================  ==========================  ===============================================

``background`` is (a sample of) the fitter's training features; by default the tree explainers use the trees' own
cover statistics (path-dependent: the reference is every training row the trees saw, whatever its class), the
others use the background as the reference distribution.

``interventional=True`` makes the background the reference for every explainer: the tree explainers become
``shap.TreeExplainer(model, data=background, feature_perturbation="interventional")``. Pass the training rows of
one class as the background (``HybridPredictor(contrast_class=...)`` does) and the values answer a contrastive
question: why this output *rather than that class's*, e.g. why "unclear" rather than a clear frame. The expected
value is then the mean output over those rows, and each group's value is what moving that group from those rows'
values to the explained row's adds (Shapley values of the interventional game; Janzing et al., AISTATS 2020).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..fit.fitters import fitter_name


@dataclass
class ShapResult:
    """``values`` (rows x features), ``group_values`` (rows x groups), one ``expected_value``, the space."""

    values: pd.DataFrame
    group_values: pd.DataFrame
    expected_value: float
    output: np.ndarray
    space: str
    explainer: str
    class_index: int


class GroupedShapExplainer:
    """Explain ``fitter``'s output for a class (``class_index``; default: the last class, the positive one).

    ``feature_names`` are the fitter's input columns in order; ``groups`` maps group -> columns.
    :meth:`explain` takes the class per call, so one explainer serves every class of a multiclass fitter
    (a kernel explainer is built per class on first use; log-odds explainers of a binary fitter explain
    class 0 as the negated margin of class 1). ``interventional``: the tree explainers take ``background`` as
    their reference too (module docstring); the other explainers always do.
    """

    def __init__(self, fitter, background, feature_names: Sequence[str], groups: dict[str, list[str]],
                 class_index: int | None = None, n_background: int = 10, nsamples: int | str = "auto",
                 seed: int = 0, interventional: bool = False):
        self.fitter = fitter
        self.background = np.asarray(background, dtype=float)
        self.feature_names = list(feature_names)
        self.groups = groups
        self.n_classes = len(getattr(fitter, "classes_", [0, 1]))
        self.class_index = self.n_classes - 1 if class_index is None else int(class_index)
        self.n_background = n_background
        self.nsamples = nsamples
        self.seed = seed
        self.interventional = bool(interventional)
        if self.interventional and len(self.background) == 0:
            raise ConfigError("an interventional explainer needs background rows", hint="pass at least one row")
        unknown = [c for cols in groups.values() for c in cols if c not in self.feature_names]
        if unknown:
            raise ConfigError(f"group columns {unknown[:5]} are not fitter inputs")
        self._kernels: dict[int, object] = {}
        self._build()

    def _build(self) -> None:
        import shap
        from sklearn.pipeline import Pipeline

        self.kind = fitter_name(self.fitter)
        binary = self.n_classes == 2
        if self.kind == "xgboost" and binary:
            self._explainer = self._tree()
            self.space, self.explainer_name = "log-odds", "tree"
        elif self.kind == "decision_tree":
            self._explainer = self._tree()
            self.space, self.explainer_name = "probability", "tree"
        elif self.kind == "logistic_regression" and binary and isinstance(self.fitter, Pipeline):
            scaler, model = self.fitter.steps[0][1], self.fitter.steps[-1][1]
            masker = shap.maskers.Independent(scaler.transform(self.background), max_samples=1000)
            self._scaler, self._linear = scaler, model
            self._explainer = shap.LinearExplainer(model, masker)
            self.space, self.explainer_name = "log-odds", "linear"
        else:
            self._explainer = None
            self.space, self.explainer_name = "probability", "kernel"

    def _tree(self):
        """The tree explainer: path-dependent, or interventional on the background (raw output: the margin of a
        binary xgboost model, the class probabilities of a decision tree)."""
        import shap

        if not self.interventional:
            return shap.TreeExplainer(self.fitter)
        return shap.TreeExplainer(self.fitter, data=self.background, feature_perturbation="interventional",
                                  model_output="raw")

    def _class(self, class_index: int | None) -> int:
        c = self.class_index if class_index is None else int(class_index)
        if not 0 <= c < self.n_classes:
            raise ConfigError(f"class index {c} is out of range", hint=f"the fitter has {self.n_classes} classes")
        return c

    def _kernel(self, c: int):
        import shap

        if c not in self._kernels:
            k = int(min(self.n_background, len(self.background)))
            summary = shap.kmeans(self.background, k) if k < len(self.background) else self.background
            fitter = self.fitter
            self._kernels[c] = shap.KernelExplainer(lambda X: fitter.predict_proba(X)[:, c], summary, seed=self.seed)
        return self._kernels[c]

    def _group_sums(self, values: np.ndarray) -> np.ndarray:
        """(rows, groups): the per-feature values summed per group (NumPy: this runs on every explanation)."""
        if getattr(self, "_group_columns", None) is None:
            where = {c: j for j, c in enumerate(self.feature_names)}
            self._group_columns = [np.array([where[c] for c in cols], dtype=int) for cols in self.groups.values()]
        return np.stack([values[:, idx].sum(axis=1) for idx in self._group_columns], axis=1) if self._group_columns \
            else np.zeros((len(values), 0))

    def _margin_sign(self, c: int) -> float:
        """Log-odds explainers explain class 1 of a binary fitter; class 0 is its negation."""
        return -1.0 if self.space == "log-odds" and c == 0 else 1.0

    def model_output(self, X, class_index: int | None = None) -> np.ndarray:
        """The fitter's output in the explained space (what the SHAP values add up to)."""
        c = self._class(class_index)
        X = np.asarray(X, dtype=float)
        if self.explainer_name == "tree" and self.space == "log-odds":
            return self._margin_sign(c) * np.asarray(self.fitter.predict(X, output_margin=True), dtype=float)
        if self.explainer_name == "linear":
            return self._margin_sign(c) * self._linear.decision_function(self._scaler.transform(X)).reshape(-1)
        return self.fitter.predict_proba(X)[:, c]

    def explain(self, X, class_index: int | None = None) -> ShapResult:
        c = self._class(class_index)
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if self.explainer_name == "linear":
            values = self._explainer.shap_values(self._scaler.transform(X))
            explainer = self._explainer
        elif self.explainer_name == "kernel":
            explainer = self._kernel(c)
            values = explainer.shap_values(X, nsamples=self.nsamples, silent=True)
        else:
            explainer = self._explainer
            values = explainer.shap_values(X, check_additivity=False)
        values = np.asarray(values, dtype=float)
        expected = np.asarray(explainer.expected_value, dtype=float).reshape(-1)
        if values.ndim == 3:  # (rows, features, classes)
            values = values[:, :, c]
            expected_value = float(expected[c])
        else:  # one output: class c itself (kernel), or class 1's margin (log-odds of a binary fitter)
            sign = self._margin_sign(c)
            values = sign * values
            expected_value = float(sign * expected[-1])
        values = values.reshape(len(X), -1)
        values_df = pd.DataFrame(values, columns=self.feature_names)
        group_df = pd.DataFrame(self._group_sums(values), columns=list(self.groups))
        return ShapResult(values=values_df, group_values=group_df, expected_value=expected_value,
                          output=self.model_output(X, c), space=self.space, explainer=self.explainer_name,
                          class_index=c)
