import numpy as np
import pytest

from explainendo.explain.grouped_shap import GroupedShapExplainer
from explainendo.fit import make_fitter


def _data(n=160, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = (1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + 0.3 * rng.normal(size=n) > 0).astype(int)
    names = ["tone.p_reddened", "tone.p_pale", "surface.p_rough", "lbp.hist_0", "lbp.hist_1"]
    groups = {"tone": names[:2], "surface": names[2:3], "lbp": names[3:]}
    return X, y, names, groups


@pytest.mark.parametrize("name,explainer,space", [("xgboost", "tree", "log-odds"),
                                                  ("decision_tree", "tree", "probability"),
                                                  ("logistic_regression", "linear", "log-odds"),
                                                  ("sparse_logistic_regression", "linear", "log-odds"),
                                                  ("svm", "kernel", "probability")])
def test_group_sums_plus_expected_value_equal_the_model_output(name, explainer, space):
    X, y, names, groups = _data()
    model = make_fitter(name, seed=0).fit(X, y)
    ex = GroupedShapExplainer(model, X[:60], names, groups, seed=0)
    res = ex.explain(X[:6])
    assert (res.explainer, res.space) == (explainer, space)
    assert list(res.group_values.columns) == ["tone", "surface", "lbp"]
    np.testing.assert_allclose(res.group_values.sum(axis=1) + res.expected_value, res.output, atol=1e-4)
    np.testing.assert_allclose(res.values.sum(axis=1), res.group_values.sum(axis=1), atol=1e-9)
    if space == "probability":
        np.testing.assert_allclose(res.output, model.predict_proba(X[:6])[:, 1], atol=1e-9)
    # the feature that drives the label carries the largest mean |SHAP| (the tone group)
    assert res.group_values.abs().mean().idxmax() == "tone"
