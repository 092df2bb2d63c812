"""Exact group Shapley values (issue 24, item 4): ``ExactGroupShapley`` against values computed by hand and by an
independent implementation over every order of the groups, its efficiency, its agreement with linear SHAP, its
refusals, and the ``group_values="exact"`` option of ``HybridPredictor.explain`` / ``Diagnoser.explain``."""

import itertools

import numpy as np
import pandas as pd
import pytest

from explainendo.errors import ConfigError
from explainendo.explain.group_shapley import (EXACT_EXPLAINER_PREFIX, ExactGroupShapley, coalition_members,
                                               coalition_values, compare_group_values,
                                               shapley_from_coalition_values)
from explainendo.explain.grouped_shap import GroupedShapExplainer
from explainendo.fit import list_fitters, make_fitter


# ---- the game and the Shapley formula ---------------------------------------------------------------------------
def test_a_two_group_game_computed_by_hand():
    # f(z) = z0 * z1 + z2, groups a = {z0}, b = {z1, z2}, x = (2, 3, 1), background (0, 0, 0) and (1, 1, 1) at
    # weight 1/2 each. v({}) = (0 + 2) / 2 = 1; v(a) = (f(2,0,0) + f(2,1,1)) / 2 = (0 + 3) / 2 = 1.5;
    # v(b) = (f(0,3,1) + f(1,3,1)) / 2 = (1 + 4) / 2 = 2.5; v(ab) = f(x) = 7.
    # phi_a = ((v(a) - v({})) + (v(ab) - v(b))) / 2 = (0.5 + 4.5) / 2 = 2.5; phi_b = (1.5 + 5.5) / 2 = 3.5.
    def f(Z):
        return Z[:, 0] * Z[:, 1] + Z[:, 2]

    x = np.array([[2.0, 3.0, 1.0]])
    background, weights = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]), np.array([0.5, 0.5])
    members = coalition_members(np.array([0, 1, 1]), 2)
    values = coalition_values(f, x, background, weights, members)
    np.testing.assert_allclose(values[0], [1.0, 1.5, 2.5, 7.0])  # coalitions {}, {a}, {b}, {a, b}
    np.testing.assert_allclose(shapley_from_coalition_values(values, 2)[0], [2.5, 3.5])


class HandWrittenModel:
    """A binary classifier written out by hand, with interactions inside and across the groups of the tests:
    p(class 1) = sigmoid(z0 z3 + sin(z1) + z2 z4 z0 - z5^2 + 0.5)."""

    classes_ = np.array([0, 1])

    def predict_proba(self, Z):
        Z = np.asarray(Z, dtype=float)
        p = 1.0 / (1.0 + np.exp(-(Z[:, 0] * Z[:, 3] + np.sin(Z[:, 1]) + Z[:, 2] * Z[:, 4] * Z[:, 0]
                                  - Z[:, 5] ** 2 + 0.5)))
        return np.stack([1.0 - p, p], axis=1)


NAMES = ["a.z0", "b.z1", "c.z2", "a.z3", "d.z4", "b.z5"]
GROUPS = {"a": ["a.z0", "a.z3"], "b": ["b.z1", "b.z5"], "c": ["c.z2"], "d": ["d.z4"]}  # columns interleaved


def by_permutations(f, x, background, weights, groups, names):
    """The Shapley value as the mean marginal contribution of each group over all g! orders in which the groups
    join, each coalition's value built row by row (independent of the vectorised implementation)."""
    columns = [[names.index(c) for c in cols] for cols in groups.values()]
    cache = {}

    def v(coalition):
        key = frozenset(coalition)
        if key not in cache:
            total = 0.0
            for b, w in zip(background, weights):
                z = np.array(b, dtype=float)
                for i in key:
                    z[columns[i]] = x[columns[i]]
                total += w * float(f(z[None, :])[0])
            cache[key] = total
        return cache[key]

    phi = np.zeros(len(columns))
    orders = list(itertools.permutations(range(len(columns))))
    for order in orders:
        joined = []
        for i in order:
            before = v(joined)
            joined = joined + [i]
            phi[i] += v(joined) - before
    return phi / len(orders), v([]), v(range(len(columns)))


def test_exact_values_of_a_hand_written_model_match_every_order_of_the_groups():
    rng = np.random.default_rng(3)
    X, background = rng.normal(size=(4, 6)), rng.normal(size=(7, 6))
    model = HandWrittenModel()
    explainer = GroupedShapExplainer(model, background, NAMES, GROUPS)
    exact = ExactGroupShapley(explainer, max_rows=50)  # small batches: the chunking must not change anything
    res = exact.explain(X, class_index=1)
    assert list(res.group_values.columns) == list(GROUPS)
    assert res.space == "probability" and res.n_background == 7
    for k in range(len(X)):
        phi, empty, full = by_permutations(lambda Z: model.predict_proba(Z)[:, 1], X[k], background,
                                           np.full(7, 1 / 7), GROUPS, NAMES)
        np.testing.assert_allclose(res.group_values.iloc[k].to_numpy(), phi, atol=1e-12)
        assert res.expected_value == pytest.approx(empty, abs=1e-12)
        assert res.output[k] == pytest.approx(full, abs=1e-12)
    # class 0 is the complement: every value changes sign
    res0 = exact.explain(X, class_index=0)
    np.testing.assert_allclose(res0.group_values.to_numpy(), -res.group_values.to_numpy(), atol=1e-12)


@pytest.mark.parametrize("name", ["decision_tree", "xgboost"])
def test_exact_values_of_a_fitted_tree_model_match_every_order_of_the_groups(name):
    X, y, names, groups = _data(n=120, n_groups=4, per_group=2)
    model = make_fitter(name, seed=0).fit(X, y)
    explainer = GroupedShapExplainer(model, X[:9], names, groups)
    res = ExactGroupShapley(explainer).explain(X[-3:])
    for k in range(3):
        phi, empty, full = by_permutations(lambda Z: explainer.model_output(Z, 1), X[-3 + k], X[:9],
                                           np.full(9, 1 / 9), groups, names)
        np.testing.assert_allclose(res.group_values.iloc[k].to_numpy(), phi, atol=1e-9)
        assert res.expected_value == pytest.approx(empty, abs=1e-9)
        assert res.output[k] == pytest.approx(full, abs=1e-9)


# ---- fitters: efficiency, linear SHAP, summaries ----------------------------------------------------------------
def _data(n=200, n_groups=4, per_group=2, seed=0):
    """Independent normal features in ``n_groups`` groups; the label depends on group 0 and 1 linearly and on an
    interaction of groups 2 and 3."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_groups * per_group))
    score = 1.5 * X[:, 0] - X[:, per_group] + (X[:, 2 * per_group] * X[:, 3 * per_group] if n_groups > 3 else 0)
    y = (score + 0.4 * rng.normal(size=n) > 0).astype(int)
    names = [f"g{i}.f{j}" for i in range(n_groups) for j in range(per_group)]
    return X, y, names, {f"g{i}": names[i * per_group:(i + 1) * per_group] for i in range(n_groups)}


@pytest.mark.parametrize("name", list_fitters())
def test_group_values_plus_expected_value_equal_the_output_that_shap_explains(name):
    X, y, names, groups = _data()
    model = make_fitter(name, seed=0).fit(X, y)
    explainer = GroupedShapExplainer(model, X[:40], names, groups, seed=0)
    for exact in (ExactGroupShapley(explainer), ExactGroupShapley(explainer, n_background=8),
                  ExactGroupShapley(explainer, n_background=8, summary="sample", seed=1)):
        res = exact.explain(X[-5:])
        assert res.space == explainer.space
        np.testing.assert_allclose(res.output, explainer.model_output(X[-5:], 1), atol=1e-12)
        np.testing.assert_allclose(res.group_values.sum(axis=1) + res.expected_value, res.output, atol=1e-9)
        rows, weights, _ = exact.reference()
        assert res.expected_value == pytest.approx(float(explainer.model_output(rows, 1) @ weights), abs=1e-12)


@pytest.mark.parametrize("class_index", [0, 1])
def test_the_rbf_svm_kernel_factorisation_gives_the_values_of_the_svms_own_predict_proba(class_index):
    from explainendo.explain.group_shapley import rbf_svm_coalition_values, rbf_svm_parts

    X, y, names, groups = _data(n=160, n_groups=5, per_group=3)
    model = make_fitter("svm", seed=0).fit(X, y)
    parts = rbf_svm_parts(model)
    assert parts is not None
    background, weights = X[:7], np.array([3, 1, 1, 2, 1, 1, 1], dtype=float) / 10
    group_of_column = np.repeat(np.arange(5), 3)
    members = coalition_members(group_of_column, 5)
    by_predict = coalition_values(lambda Z: model.predict_proba(Z)[:, class_index], X[-4:], background, weights,
                                  members)
    for low_bits in (2, 10):  # coalitions of the first two groups at once, or all of them
        fast = rbf_svm_coalition_values(parts, X[-4:], background, weights, group_of_column, 5, class_index,
                                        low_bits=low_bits)
        np.testing.assert_allclose(fast, by_predict, atol=1e-12)
    # and ExactGroupShapley uses it: the values match every order of the groups
    explainer = GroupedShapExplainer(model, X[:7], names, groups)
    res = ExactGroupShapley(explainer).explain(X[-2:], class_index=class_index)
    phi, empty, full = by_permutations(lambda Z: explainer.model_output(Z, class_index), X[-2], X[:7],
                                       np.full(7, 1 / 7), groups, names)
    np.testing.assert_allclose(res.group_values.iloc[0].to_numpy(), phi, atol=1e-9)


def test_svms_the_factorisation_does_not_cover_take_the_model_calls():
    from sklearn.svm import SVC

    from explainendo.explain.group_shapley import rbf_svm_parts

    X, y, names, groups = _data(n=120, n_groups=3, per_group=2)
    three = np.digitize(X[:, 0], [-0.5, 0.5])
    assert rbf_svm_parts(make_fitter("svm", seed=0).fit(X, three)) is None  # multiclass
    assert rbf_svm_parts(make_fitter("logistic_regression", seed=0).fit(X, y)) is None
    assert rbf_svm_parts(SVC(kernel="linear").fit(X, y)) is None  # not the library's calibrated pipeline
    linear = make_fitter("svm", seed=0).set_params(model__estimator__kernel="poly").fit(X, y)
    assert rbf_svm_parts(linear) is None
    res = ExactGroupShapley(GroupedShapExplainer(linear, X[:5], names, groups)).explain(X[-1:])
    np.testing.assert_allclose(res.group_values.sum(axis=1) + res.expected_value, res.output, atol=1e-9)


def test_xgboost_margins_of_a_large_batch_are_the_fitters_own_and_it_keeps_one_thread():
    import json

    X, y, names, groups = _data(n=200, n_groups=4, per_group=2)
    model = make_fitter("xgboost", seed=0).fit(X, y)
    explainer = GroupedShapExplainer(model, X[:9], names, groups)
    Z = np.random.default_rng(3).normal(size=(4096 + 7, X.shape[1]))
    np.testing.assert_array_equal(explainer.model_output(Z, 1), model.predict(Z, output_margin=True))
    np.testing.assert_array_equal(explainer.model_output(Z, 0), -model.predict(Z, output_margin=True))
    config = json.loads(model.get_booster().save_config())
    assert config["learner"]["generic_param"]["nthread"] == "1"


def test_a_multiclass_fitter_is_explained_for_the_class_asked_for():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(240, 6))
    y = (X[:, :3] * [2.0, -1.5, 1.0] + 0.3 * rng.normal(size=(240, 3))).argmax(1)
    names = [f"g{i // 2}.f{i % 2}" for i in range(6)]
    groups = {f"g{i}": names[2 * i:2 * i + 2] for i in range(3)}
    model = make_fitter("xgboost", seed=0).fit(X, y)
    exact = ExactGroupShapley(GroupedShapExplainer(model, X[:30], names, groups))
    for c in range(3):
        res = exact.explain(X[-4:], class_index=c)
        assert res.class_index == c and res.space == "probability"
        np.testing.assert_allclose(res.output, model.predict_proba(X[-4:])[:, c], atol=1e-6)
        np.testing.assert_allclose(res.group_values.sum(axis=1) + res.expected_value, res.output, atol=1e-9)
    with pytest.raises(ConfigError, match="class index 3"):
        exact.explain(X[-4:], class_index=3)


def _linear_by_hand(model, X, rows, weights, groups, names, sign=1.0):
    """Group values of a standardised logistic regression against weighted reference rows, by hand:
    sum over the group's features of w_j (z_j - sum_b w_b z_bj), in log-odds (negated for class 0)."""
    scaler, lr = model.steps[0][1], model.steps[-1][1]
    per_feature = lr.coef_[0] * (scaler.transform(X) - weights @ scaler.transform(rows))
    return sign * np.stack([per_feature[:, [names.index(c) for c in cols]].sum(axis=1) for cols in groups.values()],
                           axis=1)


def test_on_a_logistic_regression_of_independent_features_exact_values_are_the_summed_linear_shap_values():
    X, y, names, groups = _data(n_groups=5, per_group=3)
    model = make_fitter("logistic_regression", seed=0).fit(X, y)
    explainer = GroupedShapExplainer(model, X[:60], names, groups)
    exact = ExactGroupShapley(explainer)
    for c, sign in ((1, 1.0), (0, -1.0)):
        res = exact.explain(X[-8:], class_index=c, compare=True)
        assert res.space == "log-odds" and explainer.explainer_name == "linear"
        np.testing.assert_allclose(res.group_values.to_numpy(),
                                   _linear_by_hand(model, X[-8:], X[:60], np.full(60, 1 / 60), groups, names, sign),
                                   atol=1e-9)
        np.testing.assert_allclose(res.group_values.to_numpy(), res.shap_group_values.to_numpy(), atol=1e-9)
        assert res.expected_value == pytest.approx(res.shap_expected_value, abs=1e-9)
        assert (res.comparison["max_abs_difference"] < 1e-9).all()
        assert not res.comparison["top_group_differs"].any()
        np.testing.assert_allclose(res.comparison["spearman"], 1.0)
        assert res.agreement()["top_group_differs"] == 0.0


def test_a_summarised_background_is_the_game_against_the_summary_rows():
    X, y, names, groups = _data(n_groups=3, per_group=2)
    model = make_fitter("logistic_regression", seed=0).fit(X, y)
    explainer = GroupedShapExplainer(model, X[:50], names, groups)
    for summary in ("kmeans", "sample"):
        exact = ExactGroupShapley(explainer, n_background=6, summary=summary, seed=4)
        rows, weights, text = exact.reference()
        assert len(rows) == 6 and weights.sum() == pytest.approx(1.0) and (weights > 0).all()
        assert "50" in text and "6" in text
        if summary == "sample":  # seeded rows of the background, the same on every build
            assert all((np.abs(X[:50] - r).sum(axis=1) == 0).any() for r in rows)
            again = ExactGroupShapley(explainer, n_background=6, summary="sample", seed=4).reference()[0]
            np.testing.assert_array_equal(rows, again)
        res = exact.explain(X[-4:])
        assert res.n_background == 6
        np.testing.assert_allclose(res.group_values.to_numpy(),
                                   _linear_by_hand(model, X[-4:], rows, weights, groups, names), atol=1e-9)
    # a summary no smaller than the background keeps every row
    assert len(ExactGroupShapley(explainer, n_background=80).reference()[0]) == 50


def test_comparison_reports_differences_top_groups_and_rank_correlation():
    # row 0: exact (1, -3, 2) vs summed (1, 2, -3): |differences| (0, 5, 5); top groups b vs c; ranks (2, 1, 3) vs
    # (2, 3, 1): d = (0, -2, 2), rho = 1 - 6 * 8 / (3 * 8) = -1. Row 1: the same values, rho = 1, top group equal.
    exact = pd.DataFrame({"a": [1.0, 0.5], "b": [-3.0, 0.1], "c": [2.0, -2.0]})
    summed = pd.DataFrame({"a": [1.0, 0.5], "b": [2.0, 0.1], "c": [-3.0, -2.0]})
    table = compare_group_values(exact, summed)
    np.testing.assert_allclose(table["max_abs_difference"], [5.0, 0.0])
    np.testing.assert_allclose(table["mean_abs_difference"], [10 / 3, 0.0])
    assert list(table["top_group_exact"]) == ["b", "c"] and list(table["top_group_shap"]) == ["c", "c"]
    assert list(table["top_group_differs"]) == [True, False]
    np.testing.assert_allclose(table["spearman"], [-1.0, 1.0])
    with pytest.raises(ConfigError, match="lack some"):
        compare_group_values(exact, summed.drop(columns="c"))


def test_path_dependent_tree_shap_and_exact_values_are_compared_row_by_row():
    X, y, names, groups = _data(n=300)
    model = make_fitter("decision_tree", seed=0).fit(X, y)
    explainer = GroupedShapExplainer(model, X[:40], names, groups)  # path-dependent: another reference
    res = ExactGroupShapley(explainer).explain(X[-10:], compare=True)
    diff = np.abs(res.group_values.to_numpy() - res.shap_group_values.to_numpy())
    np.testing.assert_allclose(res.comparison["max_abs_difference"], diff.max(axis=1))
    assert res.comparison["max_abs_difference"].max() > 1e-6  # the two games differ here
    summary = res.agreement()
    assert summary["mean_abs_difference"] == pytest.approx(diff.mean())
    assert summary["top_group_differs"] == pytest.approx(res.comparison["top_group_differs"].mean())


# ---- refusals ---------------------------------------------------------------------------------------------------
def test_too_many_groups_are_refused_and_the_limit_is_a_setting():
    X, y, names, groups = _data(n=120, n_groups=14, per_group=1)
    model = make_fitter("decision_tree", seed=0).fit(X, y)
    explainer = GroupedShapExplainer(model, X[:3], names, groups)
    with pytest.raises(ConfigError, match="14 feature groups is more than max_groups=13") as err:
        ExactGroupShapley(explainer)
    assert "merge groups" in err.value.hint
    res = ExactGroupShapley(explainer, max_groups=14).explain(X[-1:])
    assert res.group_values.shape == (1, 14)
    np.testing.assert_allclose(res.group_values.sum(axis=1) + res.expected_value, res.output, atol=1e-9)
    with pytest.raises(ConfigError, match="max_groups"):
        ExactGroupShapley(explainer, max_groups=0)


def test_an_empty_background_and_bad_settings_are_refused():
    X, y, names, groups = _data()
    model = make_fitter("decision_tree", seed=0).fit(X, y)
    empty = GroupedShapExplainer(model, np.zeros((0, X.shape[1])), names, groups)  # path-dependent: allowed there
    with pytest.raises(ConfigError, match="need background rows") as err:
        ExactGroupShapley(empty)
    assert "at least one background row" in err.value.hint
    explainer = GroupedShapExplainer(model, X[:20], names, groups)
    with pytest.raises(ConfigError, match="summary='median'"):
        ExactGroupShapley(explainer, summary="median")
    with pytest.raises(ConfigError, match="n_background=0"):
        ExactGroupShapley(explainer, n_background=0)
    partial = GroupedShapExplainer(model, X[:20], names, {g: cols for g, cols in groups.items() if g != "g3"})
    with pytest.raises(ConfigError, match="in no group"):
        ExactGroupShapley(partial)
    twice = GroupedShapExplainer(model, X[:20], names, {**groups, "g4": groups["g0"][:1]})
    with pytest.raises(ConfigError, match="in several groups"):
        ExactGroupShapley(twice)


# ---- the hybrid's option and the card ---------------------------------------------------------------------------
def _samples(n=160, seed=0):
    from explainendo.features import LesionSamples
    from explainendo.types import Box

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    label = np.where(1.5 * X[:, 0] - X[:, 1] + X[:, 2] * X[:, 3] + 0.4 * rng.normal(size=n) > 0, "yes", "no")
    table = pd.DataFrame({"image": [f"i{k}.png" for k in range(n)], "patient": [f"p{k // 2}" for k in range(n)],
                          "label": label, "size": X[:, 0], "depth": X[:, 1], "width": X[:, 2], "height": X[:, 3]})
    crop = np.zeros((4, 4, 3), np.uint8)
    return LesionSamples(crops=[crop] * n, boxes=[Box(0, 0, 4, 4)] * n, table=table)


@pytest.mark.parametrize("fitter", ["decision_tree", "logistic_regression"])
def test_hybrid_explain_puts_exact_group_values_in_the_evidence_when_asked(fitter):
    from explainendo.explain.group_shapley import EXACT_BACKGROUND_ROWS
    from explainendo.predict import HybridPredictor
    from explainendo.sources import ColumnFeatures

    samples = _samples()
    model = HybridPredictor([ColumnFeatures(["size", "depth", "width", "height"])], fitter=fitter, seed=0)
    model.fit(samples)
    rows = samples.subset(np.arange(6))
    default = model.explain(rows, gradcam=False)
    exact = model.explain(rows, gradcam=False, group_values="exact")
    inputs = model.features(rows)[model.fitter_columns_].to_numpy(float)
    explainer = model.exact_group_explainer()
    assert explainer is model.exact_group_explainer()  # built once
    assert explainer.explainer is model.shap_explainer()  # the same output, groups and background as SHAP
    ref_rows, weights, text = explainer.reference()
    assert len(ref_rows) == EXACT_BACKGROUND_ROWS < len(model.background_) and "k-means" in text
    shap_result = model.shap_explainer()
    for k, (d, e) in enumerate(zip(default, exact)):
        c = model.classes_.index(e.explained_class)
        assert d.explained_class == e.explained_class and d.output == pytest.approx(e.output)
        # the default is unchanged: summed SHAP, the explainer's own name
        assert d.explainer == shap_result.explainer_name
        summed = shap_result.explain(inputs[k:k + 1], class_index=c).group_values.iloc[0]
        assert d.group_shap == pytest.approx(summed.to_dict(), abs=1e-9)
        # exact: the exact group values, their expected value, and both methods named
        values = explainer.explain(inputs[k:k + 1], class_index=c)
        assert e.group_shap == pytest.approx(values.group_values.iloc[0].to_dict(), abs=1e-12)
        assert e.expected_value == pytest.approx(values.expected_value, abs=1e-12)
        assert e.expected_value + sum(e.group_shap.values()) == pytest.approx(e.output, abs=1e-9)
        assert e.explainer.startswith(EXACT_EXPLAINER_PREFIX) and f"{shap_result.explainer_name} SHAP" in e.explainer
        assert e.shap == pytest.approx(d.shap, abs=1e-9)  # per-feature values stay SHAP's
    if fitter == "logistic_regression":  # linear and independent: exact = linear SHAP against the same rows
        c = model.classes_.index(exact[0].explained_class)
        by_hand = _linear_by_hand(model.fitter_, inputs[:1], ref_rows, weights, shap_result.groups,
                                  model.fitter_columns_, 1.0 if c == 1 else -1.0)[0]
        np.testing.assert_allclose(list(exact[0].group_shap.values()), by_hand, atol=1e-9)
    with pytest.raises(ConfigError, match="group_values='exactly'"):
        model.explain(rows, gradcam=False, group_values="exactly")


def test_diagnoser_explain_and_the_card_say_which_group_values_they_show(tmp_path):
    from explainendo.engine import Diagnoser
    from explainendo.io import Manifest
    from explainendo.predict import HybridPredictor
    from explainendo.sources import ColumnFeatures
    from explainendo.types import Box

    samples = _samples(n=80)
    folder = tmp_path / "images"
    folder.mkdir()
    from PIL import Image

    for name in samples.table["image"]:
        Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(folder / name)
    table = samples.table.assign(x1=0.0, y1=0.0, x2=16.0, y2=16.0)
    columns = ["size", "depth", "width", "height"]
    model = Diagnoser(predictor=HybridPredictor([ColumnFeatures(columns)], fitter="xgboost", seed=0))
    model.fit(Manifest(table, folder, name="columns"))
    row = table.iloc[[3]]
    kw = dict(box=Box(0, 0, 16, 16), table=row)
    shap_ex = model.explain(folder / row["image"].iloc[0], **kw)
    exact_ex = model.explain(folder / row["image"].iloc[0], group_values="exact", **kw)
    assert exact_ex.explainer.startswith(EXACT_EXPLAINER_PREFIX) and not shap_ex.explainer.startswith("exact")
    assert exact_ex.output == pytest.approx(shap_ex.output)
    assert exact_ex.expected_value + sum(exact_ex.group_shap.values()) == pytest.approx(exact_ex.output, abs=1e-9)
    assert exact_ex.to_dict()["explainer"] == exact_ex.explainer
    html_exact, html_shap = exact_ex.to_html(), shap_ex.to_html()
    assert "exact group Shapley values by feature group" in html_exact and "k-means summary" in html_exact
    assert "SHAP (tree explainer) summed by feature group" in html_shap and "exact group" not in html_shap
    with pytest.raises(ConfigError, match="group_values='both'"):
        model.explain(folder / row["image"].iloc[0], group_values="both", **kw)


def test_a_predictor_without_feature_groups_refuses_exact_group_values():
    from explainendo.engine import Diagnoser
    from explainendo.predict import Evidence, Predictor

    class FrameMean(Predictor):
        """A predictor with no named features: the frame's mean grey level as the probability of 'bright'."""

        def fit(self, samples, *, unlabeled=None):
            self.classes_ = ["dark", "bright"]
            return self

        def predict_proba(self, samples):
            p = np.array([c.mean() / 255.0 for c in samples.crops])
            return np.stack([1 - p, p], axis=1)

        def explain(self, samples, class_index=None, gradcam=True, features=None):
            proba = self.predict_proba(samples)
            return [Evidence(explained_class=self.classes_[int(c)], output=float(proba[i, c]))
                    for i, c in enumerate(self._class_indices(proba, class_index))]

    samples = _samples(n=20)
    model = Diagnoser(predictor=FrameMean()).fit(samples)
    image = np.full((16, 16, 3), 200, np.uint8)
    assert model.explain(image, box=_box()).output == pytest.approx(200 / 255)
    with pytest.raises(ConfigError, match="has no feature groups") as err:
        model.explain(image, box=_box(), group_values="exact")
    assert "group_values='shap'" in err.value.hint


def _box():
    from explainendo.types import Box

    return Box(0, 0, 16, 16)
