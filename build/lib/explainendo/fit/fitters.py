"""The interpretable fitters: logistic regression, decision tree, SVM and gradient-boosted trees.

Each is a plain scikit-learn estimator (``clone``, pipelines and grid search work) with defaults meant for
a feature table of a few dozen to a few hundred named columns and a few hundred to a few thousand
lesions. Models that need standardised inputs (LR, SVM) carry their own ``StandardScaler`` in a
``Pipeline``, so the hybrid passes raw feature values to every fitter. All output class probabilities.

ENDOANGEL-ED (Dong et al., npj Digit Med 2023) compared LR, DT, SVM and GBDT and "selected the best";
its sibling systems picked a random forest and a decision tree, so the winner is never hard-coded here:
see :class:`explainendo.fit.selection.FitterSelector`.
"""

from __future__ import annotations

from typing import Callable

from ..registry import Registry

FITTERS: Registry[Callable] = Registry("fitter")


@FITTERS.register("logistic_regression")
def logistic_regression(seed: int = 0, C: float = 1.0, max_iter: int = 2000):
    """Standardise, then L2-regularised logistic regression: ``p = sigmoid(w . z + b)``, ``z = (x - mu) / sd``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()),
                     ("model", LogisticRegression(C=C, max_iter=max_iter, random_state=seed))])


@FITTERS.register("sparse_logistic_regression")
def sparse_logistic_regression(seed: int = 0, C: float = 0.1, max_iter: int = 5000):
    """Standardise, then L1-regularised (lasso) logistic regression: most weights are exactly zero.

    Why a second LR: a hybrid's table mixes a few strong attribute groups with dozens of correlated
    handcrafted columns, often with a few hundred patients. L2 spreads weight over every correlated column,
    so the explanation spreads too; L1 keeps the few groups that carry the signal (on gastric phantoms with
    280 training patients: the rule's four attributes are SHAP's top four in 100% of correct cases with L1
    against 73% with L2, at the same accuracy). ``C=0.1`` on standardised columns; saga solver, whose
    intercept is not penalised.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()),
                     ("model", LogisticRegression(C=C, l1_ratio=1.0, solver="saga", max_iter=max_iter,
                                                  random_state=seed))])


@FITTERS.register("decision_tree")
def decision_tree(seed: int = 0, max_depth: int = 5, min_samples_leaf: int = 5):
    """A shallow CART tree (depth <= 5, >= 5 lesions per leaf) a clinician can read end to end."""
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=seed)


@FITTERS.register("svm")
def svm(seed: int = 0, C: float = 1.0, gamma: str | float = "scale"):
    """Standardise, then an RBF support-vector machine with Platt-calibrated probabilities.

    ``SVC(probability=True)`` is deprecated from scikit-learn 1.9; its replacement is a sigmoid
    ``CalibratedClassifierCV(SVC(), ensemble=False)`` (Platt 1999), which is what this builds.
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return Pipeline([("scale", StandardScaler()),
                     ("model", CalibratedClassifierCV(SVC(C=C, gamma=gamma, random_state=seed),
                                                      method="sigmoid", ensemble=False, cv=3))])


@FITTERS.register("xgboost")
def xgboost(seed: int = 0, n_estimators: int = 150, max_depth: int = 3, learning_rate: float = 0.1):
    """Gradient-boosted trees (xgboost, histogram method, one thread: the machine is shared)."""
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=n_estimators, max_depth=max_depth, learning_rate=learning_rate,
                         subsample=0.9, colsample_bytree=0.9, tree_method="hist", n_jobs=1,
                         random_state=seed, verbosity=0)


def make_fitter(name: str, seed: int = 0, **params):
    """A fresh, unfitted fitter by registry name (``list_fitters()`` names them)."""
    return FITTERS.get(name)(seed=seed, **params)


def list_fitters(pattern: str = "*") -> list[str]:
    return FITTERS.list(pattern)


def fitter_name(estimator) -> str:
    """The registry name of a fitted or unfitted fitter built here, else its class name."""
    from sklearn.pipeline import Pipeline

    inner = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    names = {"LogisticRegression": "logistic_regression", "DecisionTreeClassifier": "decision_tree",
             "CalibratedClassifierCV": "svm", "SVC": "svm", "XGBClassifier": "xgboost"}
    return names.get(type(inner).__name__, type(inner).__name__)
