import numpy as np
import pytest

from explainendo.explain.grouped_shap import GroupedShapExplainer
from explainendo.fit import list_fitters, make_fitter


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


def _multiclass_samples(n_classes: int, n: int = 240, seed: int = 0):
    """Labelled lesions whose table holds three measurements and a categorical tone; the label is the argmax of
    random linear scores of them plus noise (every class present)."""
    import pandas as pd

    from explainendo.features import LesionSamples
    from explainendo.types import Box

    rng = np.random.default_rng(seed + 10 * n_classes)
    X = rng.normal(size=(n, 3))
    tones = np.array(["pale", "reddened", "unchanged"])
    tone = rng.integers(0, 3, size=n)
    scores = X @ (2.0 * rng.normal(size=(3, n_classes))) + 1.5 * rng.normal(size=(3, n_classes))[tone]
    y = (scores + 0.5 * rng.gumbel(size=(n, n_classes))).argmax(1)
    assert len(np.unique(y)) == n_classes
    table = pd.DataFrame({"image": [f"img_{i:03d}.png" for i in range(n)], "patient": [f"p{i:03d}" for i in range(n)],
                          "label": [f"class_{k}" for k in y], "size_mm": X[:, 0], "depth": X[:, 1], "age": X[:, 2],
                          "attr.tone": tones[tone]})
    crop = np.zeros((4, 4, 3), np.uint8)
    return LesionSamples(crops=[crop] * n, boxes=[Box(0, 0, 4, 4)] * n, table=table)


@pytest.mark.parametrize("n_classes", [3, 4])
@pytest.mark.parametrize("name", list_fitters())
def test_multiclass_shap_explains_the_class_asked_for_on_every_call(name, n_classes):
    """Issue 16 (bug 8a): one explainer serves every class of a multiclass fitter. For each row's predicted
    class, and for classes switched between calls on the same explainer, the group values add up to the
    fitter's output for that very class, which (in probability space) is that class's predicted probability.
    The old kernel explainer kept the class it was built with, so a later row asked about another class got
    the first class's values next to the other class's output."""
    from explainendo.predict import HybridPredictor
    from explainendo.sources import ColumnFeatures

    samples = _multiclass_samples(n_classes)
    model = HybridPredictor([ColumnFeatures(["attr.tone", "size_mm", "depth", "age"])], fitter=name,
                            seed=0).fit(samples)
    assert model.classes_ == [f"class_{k}" for k in range(n_classes)]
    features = model.features(samples)
    inputs = features[model.fitter_columns_].to_numpy(float)
    proba = model.fitter_.predict_proba(inputs)
    np.testing.assert_allclose(model.predict_proba(samples), proba)
    predicted = proba.argmax(1)
    # one row per predicted class (at most 4 rows: kernel SHAP is slow), at least two classes among them
    rows = [int(np.flatnonzero(predicted == c)[0]) for c in range(n_classes) if (predicted == c).any()]
    assert len(set(predicted[rows])) >= 2, name

    # the predicted class of each row (the hybrid explains rows of several classes with one explainer)
    evidence = model.explain(samples.subset(rows), gradcam=False)
    for row, ev in zip(rows, evidence):
        c = int(predicted[row])
        assert ev.explained_class == model.classes_[c]
        assert set(ev.group_shap) == {"tone", "size_mm", "depth", "age"}
        assert ev.expected_value + sum(ev.group_shap.values()) == pytest.approx(ev.output, abs=1e-6)
        assert sum(ev.shap.values()) == pytest.approx(sum(ev.group_shap.values()), abs=1e-9)
        if ev.space == "probability":
            assert ev.output == pytest.approx(proba[row, c], abs=1e-9)

    # the same explainer, row A as class 0 and then row B as the last class
    explainer = model.shap_explainer()
    a, b, last = rows[0], rows[-1], n_classes - 1
    first = explainer.explain(inputs[[a]], class_index=0)
    second = explainer.explain(inputs[[b]], class_index=last)
    for result, row, c in [(first, a, 0), (second, b, last)]:
        assert result.class_index == c
        np.testing.assert_allclose(result.expected_value + result.group_values.sum(axis=1), result.output, atol=1e-6)
        np.testing.assert_allclose(result.output, explainer.model_output(inputs[[row]], c), atol=1e-9)
        if result.space == "probability":
            np.testing.assert_allclose(result.output, proba[[row], c], atol=1e-9)
    # row B as class 0 again: another class, another explanation (and its own output)
    again = explainer.explain(inputs[[b]], class_index=0)
    np.testing.assert_allclose(again.expected_value + again.group_values.sum(axis=1), again.output, atol=1e-6)
    if again.space == "probability":
        np.testing.assert_allclose(again.output, proba[[b], 0], atol=1e-9)
        assert (abs(again.output[0] - second.output[0]) > 1e-6
                or abs(again.expected_value - second.expected_value) > 1e-6)

    # the hybrid's table form, and the old calling style (class_index set on a built explainer between calls)
    table_form = model.shap_values(features.iloc[[b]], class_index=last)
    np.testing.assert_allclose(table_form.group_values.to_numpy(), second.group_values.to_numpy(), atol=1e-9)
    old_style = GroupedShapExplainer(model.fitter_, model.background_, model.fitter_columns_, model.groups_, seed=0)
    old_style.class_index = 0
    old_style.explain(inputs[[a]])
    old_style.class_index = last
    res = old_style.explain(inputs[[b]])
    assert res.class_index == last
    np.testing.assert_allclose(res.expected_value + res.group_values.sum(axis=1), res.output, atol=1e-6)
    if res.space == "probability":
        np.testing.assert_allclose(res.output, proba[[b], last], atol=1e-9)
