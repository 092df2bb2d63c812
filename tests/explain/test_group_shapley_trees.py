"""Exact group Shapley values of binary xgboost fitters from their trees (``xgboost_trees``, ``TreeCoalitions``): the
trees' arrays give the fitter's own float32 margins bit for bit, the coalition values equal the ones built from the
fitter's predictions on every hybrid row (with missing values, single-leaf trees, class 0 and 1), ``ExactGroupShapley``
takes this path for binary xgboost and the model calls for everything else, and falls back to them when the arrays
do not give the fitter's margins."""

import dataclasses

import numpy as np
import pytest

from explainendo.explain import group_shapley
from explainendo.explain.group_shapley import (ExactGroupShapley, TreeCoalitions, XGBoostTrees, coalition_members,
                                               coalition_values, xgboost_trees)
from explainendo.explain.grouped_shap import GroupedShapExplainer
from explainendo.fit import make_fitter


def _data(n=160, n_groups=4, per_group=2, seed=0, missing=0.0):
    """Independent normal features in ``n_groups`` groups (a share ``missing`` of them NaN); the label depends on
    group 0 linearly and on an interaction of groups 1 and 2, never on the last group."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_groups * per_group))
    y = (1.5 * X[:, 0] - X[:, per_group] * X[:, 2 * per_group] + 0.4 * rng.normal(size=n) > 0).astype(int)
    X[rng.random(X.shape) < missing] = np.nan
    names = [f"g{i}.f{j}" for i in range(n_groups) for j in range(per_group)]
    return X, y, names, {f"g{i}": names[i * per_group:(i + 1) * per_group] for i in range(n_groups)}


def _generic(exact: ExactGroupShapley) -> ExactGroupShapley:
    """The same explainer with the tree path switched off: every coalition from the fitter's predictions."""
    exact.tree_coalitions = lambda: None
    return exact


@pytest.mark.parametrize("missing", [0.0, 0.15])
def test_the_trees_arrays_give_the_fitters_own_float32_margins_bit_for_bit(missing):
    X, y, _, _ = _data(n=300, missing=missing, seed=1)
    model = make_fitter("xgboost", seed=0).set_params(n_estimators=40).fit(X[:200], y[:200])
    trees = xgboost_trees(model, check_rows=X[:20])
    assert isinstance(trees, XGBoostTrees) and len(trees.roots) == 40 and trees.depth == 3
    Z = np.random.default_rng(2).normal(scale=2.0, size=(500, X.shape[1]))
    Z[np.random.default_rng(3).random(Z.shape) < 0.2] = np.nan  # NaN takes each split's default direction
    own = model.predict(Z, output_margin=True)
    assert own.dtype == np.float32
    np.testing.assert_array_equal(trees.margin(Z), own)
    np.testing.assert_array_equal(trees.margin(X[200:]), model.predict(X[200:], output_margin=True))


@pytest.mark.parametrize("missing", [0.0, 0.2])
@pytest.mark.parametrize("class_index", [0, 1])
def test_tree_coalition_values_equal_the_ones_from_the_fitters_predictions_on_every_hybrid_row(missing, class_index):
    X, y, _, _ = _data(n=200, n_groups=5, per_group=2, missing=missing, seed=4)
    # gamma: later trees find no split worth it and stay single leaves (a tree on no group)
    model = make_fitter("xgboost", seed=0).set_params(n_estimators=30, gamma=5.0).fit(X[:150], y[:150])
    trees = xgboost_trees(model, check_rows=X[:150])
    assert (trees.left[trees.roots] == trees.roots).any() and (trees.left[trees.roots] != trees.roots).any()
    background, weights = X[150:157], np.array([3, 1, 1, 2, 1, 1, 1], dtype=float) / 10
    group_of_column = np.repeat(np.arange(5), 2)
    game = TreeCoalitions(trees, background, group_of_column, 5)
    sign = -1.0 if class_index == 0 else 1.0
    fast, full = game.values(X[-6:], weights, sign)
    by_predict = coalition_values(lambda Z: sign * model.predict(Z, output_margin=True).astype(float), X[-6:],
                                  background, weights, coalition_members(group_of_column, 5))
    assert fast.shape == (6, 32)
    np.testing.assert_allclose(fast, by_predict, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(full, model.predict(X[-6:], output_margin=True))


def test_exact_group_shapley_takes_the_trees_for_binary_xgboost_with_the_values_of_the_model_calls(monkeypatch):
    X, y, names, groups = _data(n=220, missing=0.1, seed=5)
    model = make_fitter("xgboost", seed=0).set_params(n_estimators=50).fit(X[:180], y[:180])
    explainer = GroupedShapExplainer(model, X[:40], names, groups)
    expected = {c: _generic(ExactGroupShapley(explainer, n_background=6)).explain(X[-5:], class_index=c)
                for c in (0, 1)}

    def no_model_calls(*args, **kwargs):
        raise AssertionError("the tree path must not predict the hybrid rows")

    monkeypatch.setattr(group_shapley, "coalition_values", no_model_calls)
    exact = ExactGroupShapley(explainer, n_background=6)
    assert exact.tree_coalitions() is not None
    for c in (0, 1):
        res = exact.explain(X[-5:], class_index=c)
        np.testing.assert_allclose(res.group_values.to_numpy(), expected[c].group_values.to_numpy(), rtol=1e-9,
                                   atol=1e-12)
        assert res.expected_value == expected[c].expected_value
        np.testing.assert_array_equal(res.output, explainer.model_output(X[-5:], c))
        np.testing.assert_allclose(res.group_values.sum(axis=1) + res.expected_value, res.output, atol=1e-9)


def test_a_group_no_tree_splits_on_gets_exactly_zero():
    X, y, names, groups = _data(n=200, seed=6)
    X[:, 6:] = 0.0  # group g3's columns are constant in training: no tree splits on them
    model = make_fitter("xgboost", seed=0).set_params(n_estimators=20).fit(X, y)
    explainer = GroupedShapExplainer(model, X[:30], names, groups)
    exact = ExactGroupShapley(explainer)
    trees = exact.tree_coalitions().trees
    assert not np.isin(trees.feature[trees.left != np.arange(len(trees.left))], [6, 7]).any()
    rows = np.hstack([X[-4:, :6], np.ones((4, 2))])
    res = exact.explain(rows)
    assert (res.group_values["g3"] == 0.0).all()
    assert (res.group_values[["g0", "g1", "g2"]].abs().to_numpy() > 1e-3).any(axis=1).all()
    generic = _generic(ExactGroupShapley(explainer)).explain(rows)
    np.testing.assert_allclose(res.group_values.to_numpy(), generic.group_values.to_numpy(), rtol=1e-9, atol=1e-12)


def test_other_fitters_and_multiclass_xgboost_take_the_model_calls():
    X, y, names, groups = _data(n=200, seed=7)
    three = np.digitize(X[:, 0], [-0.5, 0.5])
    multiclass = make_fitter("xgboost", seed=0).set_params(n_estimators=10).fit(X, three)
    assert xgboost_trees(multiclass) is None  # its probability is a softmax: not a sum of trees
    assert ExactGroupShapley(GroupedShapExplainer(multiclass, X[:20], names, groups)).tree_coalitions() is None
    for name in ("decision_tree", "logistic_regression"):
        model = make_fitter(name, seed=0).fit(X, y)
        assert xgboost_trees(model) is None
        assert ExactGroupShapley(GroupedShapExplainer(model, X[:20], names, groups)).tree_coalitions() is None
    zero_missing = make_fitter("xgboost", seed=0).set_params(n_estimators=5, missing=0.0).fit(X, y)
    assert xgboost_trees(zero_missing) is None  # 0.0 as the missing value: the arrays' walk would be wrong


def test_arrays_that_do_not_give_the_fitters_margins_are_refused_or_fall_back_to_the_model_calls(monkeypatch):
    X, y, names, groups = _data(n=200, seed=8)
    model = make_fitter("xgboost", seed=0).set_params(n_estimators=20).fit(X, y)
    explainer = GroupedShapExplainer(model, X[:30], names, groups)
    expected = _generic(ExactGroupShapley(explainer)).explain(X[-3:])
    real = group_shapley._logit32
    monkeypatch.setattr(group_shapley, "_logit32", lambda p: np.float32(real(p) + np.float32(0.25)))
    assert xgboost_trees(model, check_rows=X[:30]) is None  # a wrong base margin fails the check on the rows
    assert ExactGroupShapley(explainer).tree_coalitions() is None
    monkeypatch.setattr(group_shapley, "_logit32", real)
    # arrays not checked (leaves scaled): the explained row's own margin differs from the fitter's, so the model
    # calls are used
    wrong = dataclasses.replace(xgboost_trees(model), value=xgboost_trees(model).value * np.float32(1.5))
    exact = ExactGroupShapley(explainer)
    rows, weights, _ = exact.reference()
    exact.tree_coalitions = lambda: TreeCoalitions(wrong, rows, exact._group_of_column, len(groups))
    scaled, _ = exact.tree_coalitions().values(X[-3:], weights)
    assert not np.allclose(group_shapley.shapley_from_coalition_values(scaled, len(groups)),
                           expected.group_values.to_numpy(), atol=1e-3)  # what the scaled arrays would give
    res = exact.explain(X[-3:])
    np.testing.assert_allclose(res.group_values.to_numpy(), expected.group_values.to_numpy(), rtol=1e-12)


def test_a_refitted_fitter_gets_new_arrays_and_trees_too_large_to_walk_take_the_model_calls(monkeypatch):
    X, y, names, groups = _data(n=240, seed=9)
    model = make_fitter("xgboost", seed=0).set_params(n_estimators=15).fit(X[:120], y[:120])
    explainer = GroupedShapExplainer(model, X[:30], names, groups)
    exact = ExactGroupShapley(explainer)
    first = exact.tree_coalitions()
    assert exact.tree_coalitions() is first  # made once
    model.fit(X[120:], 1 - y[120:])  # the same fitter object, a new booster
    second = exact.tree_coalitions()
    assert second is not first
    res = exact.explain(X[-3:])
    generic = _generic(ExactGroupShapley(explainer)).explain(X[-3:])
    np.testing.assert_allclose(res.group_values.to_numpy(), generic.group_values.to_numpy(), rtol=1e-9, atol=1e-12)
    monkeypatch.setattr(group_shapley, "MAX_WALKED_ROWS", second.walked_rows - 1)
    assert ExactGroupShapley(explainer).tree_coalitions() is None
