"""scikit-learn's own estimator checks on every registered fitter and on FitterSelector; clone / get_params
round trips and "fit does not modify its arguments" for them and for GroupEliminator.

Every check a component is expected to fail is listed below with its reason; ``xfail_strict=True`` turns a
listed check that starts passing into a failure, so the lists cannot go stale. A few checks skip
themselves inside scikit-learn, with their own reason: ``check_array_api_input`` (``SCIPY_ARRAY_API`` is
not set) and ``check_classifiers_multilabel_output_format_decision_function`` (no ``decision_function``).

``GroupEliminator`` is a ``BaseEstimator`` but not run through the checks: it neither predicts nor
transforms, and its ``groups`` parameter names the columns of one DataFrame, which the checks' generated
arrays do not have; it gets the clone and no-mutation tests.

Runtime: the fitters' defaults except xgboost's ``n_estimators`` (10 instead of 150), and FitterSelector with
two cheap candidates and 3 folds.
"""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from explainendo.fit import FitterSelector, list_fitters, make_fitter
from explainendo.fit.group_selection import GroupEliminator

CHEAP = {"xgboost": {"n_estimators": 10}}  # every other fitter at its registry defaults

_PIPELINE = ("a Pipeline fits the estimators held in its `steps` parameter in place; scikit-learn xfails "
             "this check for Pipeline itself (the library clones a fitter before fitting it)")
_XGB_LABELS = ("XGBClassifier does not encode labels: it needs 0 .. k-1, the check gives {1, 2} or strings "
               "(the hybrid and FitterSelector pass labels encoded as 0 .. k-1)")

EXPECTED_FAILURES = {
    "logistic_regression": {"check_estimators_overwrite_params": _PIPELINE,
                            "check_dont_overwrite_parameters": _PIPELINE},
    "sparse_logistic_regression": {"check_estimators_overwrite_params": _PIPELINE,
                                   "check_dont_overwrite_parameters": _PIPELINE},
    "svm": {"check_estimators_overwrite_params": _PIPELINE,
            "check_dont_overwrite_parameters": _PIPELINE,
            "check_supervised_y_2d": "scikit-learn bug: CalibratedClassifierCV(ensemble=False) fails on a "
                                     "column-vector y (IndexError in cross_val_predict's "
                                     "_enforce_prediction_order); the library passes 1-D labels"},
    "decision_tree": dict.fromkeys(
        ["check_sample_weight_equivalence_on_dense_data", "check_sample_weight_equivalence_on_sparse_data"],
        "min_samples_leaf=5 counts rows, not weight, so a weight of 2 is not a repeated row (the check passes "
        "with min_samples_leaf=1); the library fits without sample weights"),
    "xgboost": {
        **dict.fromkeys(["check_estimators_dtypes", "check_sample_weights_pandas_series",
                         "check_sample_weights_not_an_array", "check_sample_weights_shape",
                         "check_sample_weights_not_overwritten", "check_classifier_data_not_an_array",
                         "check_classifiers_classes", "check_fit2d_1sample", "check_fit2d_1feature"], _XGB_LABELS),
        **dict.fromkeys(["check_estimators_overwrite_params", "check_dont_overwrite_parameters"],
                        "XGBClassifier.fit rewrites its `objective` parameter (binary:logistic -> multi:softprob "
                        "for 3+ classes), an xgboost deviation from the scikit-learn contract"),
        "check_all_zero_sample_weights_error": "xgboost's error for all-zero weights is about base_score, "
                                               "it does not name the weights",
        **dict.fromkeys(["check_sample_weight_equivalence_on_dense_data",
                         "check_sample_weight_equivalence_on_sparse_data"],
                        "xgboost's histogram bins and row/column subsampling do not treat a weight of 2 as a "
                        "repeated row; the library fits without sample weights"),
        "check_classifiers_multilabel_output_format_predict": "XGBClassifier.predict returns float64 for a "
                                                              "multilabel target, not the target's dtype",
    },
}

FITTER_INSTANCES = {name: make_fitter(name, seed=0, **CHEAP.get(name, {})) for name in list_fitters()}


def selector() -> FitterSelector:
    return FitterSelector(candidates=("logistic_regression", "decision_tree"), cv=3)


def _expected_failures(estimator) -> dict[str, str]:
    for name, instance in FITTER_INSTANCES.items():
        if estimator is instance:
            return EXPECTED_FAILURES.get(name, {})
    return {}  # FitterSelector passes every check


def test_every_registered_fitter_is_checked_and_every_listed_one_exists():
    assert set(EXPECTED_FAILURES) <= set(FITTER_INSTANCES) == set(list_fitters())


@pytest.mark.filterwarnings("ignore:Unknown data type:UserWarning")  # xgboost converting the sparse checks' input
@parametrize_with_checks([*FITTER_INSTANCES.values(), selector()], expected_failed_checks=_expected_failures,
                         xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---- clone / get_params, and fit leaves its arguments alone -------------------------------------------------
def _comparable(value):
    """get_params values made comparable across clones: estimators by class and own params, NaN by name."""
    if hasattr(value, "get_params") and not isinstance(value, type):
        return type(value), _comparable(value.get_params(deep=False))
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_comparable(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _table(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=n) > 0).astype(int)
    return X, y, np.repeat(np.arange(n // 3), 3)


def _components():
    groups = {"a": ["f0", "f1"], "b": ["f2"], "c": ["f3"]}
    return {**{name: clone(est) for name, est in FITTER_INSTANCES.items()},
            "FitterSelector": selector(),
            "FitterSelector_defaults": FitterSelector(),
            "GroupEliminator": GroupEliminator(make_fitter("logistic_regression"), groups, cv=3,
                                               prefer_keep=("b",))}


@pytest.mark.parametrize("name", list(_components()))
def test_clone_gives_equal_params_before_and_after_fit(name):
    est = _components()[name]
    before = _comparable(est.get_params())
    assert _comparable(clone(est).get_params()) == before
    if name == "FitterSelector_defaults":
        return  # fitting all five default candidates is covered by test_selection; this one is the defaults'
    X, y, groups = _table()
    if name == "GroupEliminator":
        est.fit(pd.DataFrame(X, columns=[f"f{i}" for i in range(4)]), y, groups)
    elif name == "FitterSelector":
        est.fit(X, y, groups)
    else:
        est.fit(X, y)
    assert _comparable(est.get_params()) == before  # fit changed no parameter
    assert _comparable(clone(est).get_params()) == before


@pytest.mark.parametrize("name", [n for n in _components() if n != "FitterSelector_defaults"])
def test_fit_does_not_modify_its_arguments(name):
    est = _components()[name]
    X, y, groups = _table()
    labels = np.where(y == 1, "tumour", "normal")  # string labels too, where the component takes them
    if name == "GroupEliminator":
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
        args = (frame, labels, groups.astype(str))
    elif name == "FitterSelector":
        args = (X, labels, groups)
    else:
        args = (X, y)
    copies = [a.copy() for a in args]
    param_groups = {k: list(v) for k, v in est.groups.items()} if name == "GroupEliminator" else None
    est.fit(*args)
    for arg, copy in zip(args, copies):
        if isinstance(arg, pd.DataFrame):
            pd.testing.assert_frame_equal(arg, copy)
        else:
            assert arg.dtype == copy.dtype
            np.testing.assert_array_equal(arg, copy)
    if param_groups is not None:
        assert est.groups == param_groups and not hasattr(est.estimator, "classes_")  # scored clones only


# ---- what the checks made FitterSelector do -----------------------------------------------------------------
def test_selector_encodes_labels_so_xgboost_takes_strings_and_works_without_groups():
    X, y, _ = _table(90)
    labels = np.array(["serous", "mucinous"])[y]
    sel = FitterSelector(candidates=(make_fitter("xgboost", n_estimators=10), "decision_tree"), cv=3).fit(X, labels)
    assert list(sel.classes_) == ["mucinous", "serous"] and sel.n_features_in_ == 4
    assert set(sel.predict(X)) <= {"mucinous", "serous"} and sel.predict_proba(X).shape == (90, 2)
    assert (sel.predict(X) == labels).mean() > 0.8


def test_selector_refuses_nan_and_mismatched_groups():
    X, y, groups = _table()
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        selector().fit(bad, y, groups)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        selector().fit(X, y, groups[:-1])
    with pytest.raises(ValueError, match="features"):
        selector().fit(X, y, groups).predict(X[:, :3])


def test_selector_three_classes_scores_one_vs_rest_auc():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 3))
    y = np.array(["a", "b", "c"])[np.argmax(X + 0.3 * rng.normal(size=X.shape), axis=1)]
    sel = selector().fit(X, y)
    assert sel.cv_results_["metric"].eq("roc_auc_ovr").all()
    assert sel.predict_proba(X).shape == (120, 3) and (sel.predict(X) == y).mean() > 0.7
