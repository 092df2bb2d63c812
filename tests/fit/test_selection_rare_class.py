"""A candidate that cannot be trained on a fold (a class too rare for it) gives that fold NaN, not a crash."""

import numpy as np
import pytest

from explainendo.fit import FitterSelector
from explainendo.fit.group_selection import cv_scores, grouped_folds
from explainendo.fit.fitters import make_fitter


def _rare():
    rng = np.random.default_rng(0)
    y = np.array([1] * 40 + [0] * 4)          # 4 negatives: a fold's training part holds 2 or 3
    X = rng.normal(size=(44, 3)) + y[:, None]
    groups = np.arange(44)
    return X, y, groups


def test_svm_cannot_calibrate_on_two_negatives_and_the_selection_goes_on(caplog):
    X, y, groups = _rare()
    folds = grouped_folds(groups, 3, seed=0)
    scores = cv_scores(make_fitter("svm"), X, y, folds, "roc_auc")
    assert np.isnan(scores).any()                     # the SVM's own 3-fold calibration cannot run there
    assert "cannot be trained" in caplog.text
    selector = FitterSelector(candidates=("logistic_regression", "svm"), cv=3, rule="best").fit(X, y, groups)
    assert selector.best_name_ == "logistic_regression"
    assert np.isfinite(selector.cv_results_.set_index("candidate").loc["logistic_regression", "mean"])


def test_a_real_error_is_not_hidden():
    X, y, groups = _rare()
    X = np.vstack([X] * 4)                            # plenty of rows of each class
    y, groups = np.concatenate([y] * 4), np.arange(len(X))
    with pytest.raises(ValueError):
        cv_scores(make_fitter("logistic_regression").set_params(model__C=-1.0), X, y, grouped_folds(groups, 3, 0),
                  "roc_auc")
