"""SHAP against one class's rows (issue 21): ``GroupedShapExplainer(interventional=True)`` and
``HybridPredictor(contrast_class=...)``, checked against values computed by hand."""

import numpy as np
import pandas as pd
import pytest

from explainendo.errors import ConfigError
from explainendo.explain.grouped_shap import GroupedShapExplainer
from explainendo.fit import make_fitter


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] - 0.8 * X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)
    names = ["a.x0", "a.x1", "b.x2", "b.x3"]
    return X, y, names, {"a": names[:2], "b": names[2:]}


def test_linear_values_are_the_weights_times_the_distance_from_the_reference_rows_mean():
    # a binary LR on standardised inputs z: log-odds = w . z + b; against the rows R of class 0 (interventional,
    # independent features) feature j's value is w_j (z_j - mean_R z_j), and the expected value is the mean
    # log-odds over R
    X, y, names, groups = _data()
    model = make_fitter("logistic_regression").fit(X, y)
    reference = X[y == 0]
    ex = GroupedShapExplainer(model, reference, names, groups, interventional=True)
    res = ex.explain(X[:5], class_index=1)
    scaler, lr = model.steps[0][1], model.steps[-1][1]
    z, zr = scaler.transform(X[:5]), scaler.transform(reference)
    by_hand = lr.coef_[0] * (z - zr.mean(axis=0))
    np.testing.assert_allclose(res.values.to_numpy(), by_hand, atol=1e-9)
    assert res.expected_value == pytest.approx(float(lr.decision_function(zr).mean()), abs=1e-9)
    np.testing.assert_allclose(res.group_values["a"], by_hand[:, :2].sum(axis=1), atol=1e-9)


@pytest.mark.parametrize("name", ["decision_tree", "xgboost"])
def test_interventional_trees_take_the_background_as_their_reference(name):
    X, y, names, groups = _data()
    model = make_fitter(name, seed=0).fit(X, y)
    reference = X[y == 0][:40]
    path = GroupedShapExplainer(model, reference, names, groups)  # default: the trees' own cover statistics
    contrast = GroupedShapExplainer(model, reference, names, groups, interventional=True)
    res = contrast.explain(X[:6], class_index=1)
    # the expected value is the mean output over the reference rows, and the values add up to each row's output
    assert res.expected_value == pytest.approx(float(contrast.model_output(reference, 1).mean()), abs=1e-6)
    np.testing.assert_allclose(res.group_values.sum(axis=1) + res.expected_value, res.output, atol=1e-5)
    # the path-dependent explainer's expected value is the training mean instead (every class mixed)
    assert path.explain(X[:6], class_index=1).expected_value != pytest.approx(res.expected_value, abs=1e-3)
    with pytest.raises(ConfigError):
        GroupedShapExplainer(model, np.zeros((0, 4)), names, groups, interventional=True)


def _samples(n=160, seed=0):
    from explainendo.features import LesionSamples
    from explainendo.types import Box

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    score = np.stack([np.zeros(n), 2.5 * X[:, 0], 2.5 * X[:, 1]], axis=1) + 0.3 * rng.gumbel(size=(n, 3))
    labels = np.array(["clear", "shaken", "wet"])[score.argmax(1)]
    table = pd.DataFrame({"image": [f"i{k}.png" for k in range(n)], "patient": [f"p{k // 2}" for k in range(n)],
                          "label": labels, "blur": X[:, 0], "water": X[:, 1], "noise": X[:, 2]})
    crop = np.zeros((4, 4, 3), np.uint8)
    return LesionSamples(crops=[crop] * n, boxes=[Box(0, 0, 4, 4)] * n, table=table)


def _hybrid(**kw):
    from explainendo.predict import HybridPredictor
    from explainendo.sources import ColumnFeatures

    return HybridPredictor([ColumnFeatures(["blur", "water", "noise"])], fitter="logistic_regression", seed=0, **kw)


def test_contrast_class_makes_that_class_the_reference(tmp_path):
    samples = _samples()
    default = _hybrid().fit(samples)
    model = _hybrid(contrast_class="clear").fit(samples)
    inputs = model.features(samples)[model.fitter_columns_].to_numpy(float)
    clear = inputs[samples.table["label"].to_numpy() == "clear"]
    # the background is made of the clear rows only (at most 100, drawn with the seed)
    assert len(model.background_) == min(100, len(clear))
    assert all((np.abs(clear - row).sum(axis=1) < 1e-12).any() for row in model.background_)
    # the default keeps the old draw: 100 of all the fitter's rows
    keep = np.sort(np.random.default_rng(0).choice(len(inputs), size=100, replace=False))
    np.testing.assert_allclose(default.background_, inputs[keep])
    # explaining "shaken" against the clear frames: blur carries it, and the expected value is the clear rows' mean
    shaken = np.flatnonzero(samples.table["label"].to_numpy() == "shaken")[:5]
    evidence = model.explain(samples.subset(shaken), class_index=model.classes_.index("shaken"), gradcam=False)
    for ev in evidence:
        top = max(ev.shap, key=ev.shap.get)
        assert "blur" in top, ev.shap
    explainer = model.shap_explainer()
    assert explainer.interventional and not default.shap_explainer().interventional
    # (a multiclass LR has the kernel explainer, whose reference is a k-means summary (10 centroids) of those rows:
    # its expected value is near their mean output, far from the mean over every class)
    c = model.classes_.index("shaken")
    clear_mean = float(np.mean(explainer.model_output(model.background_, c)))
    all_mean = float(np.mean(explainer.model_output(inputs, c)))
    assert abs(evidence[0].expected_value - clear_mean) < 0.05 < abs(evidence[0].expected_value - all_mean)
    assert evidence[0].expected_value + sum(evidence[0].group_shap.values()) == pytest.approx(evidence[0].output,
                                                                                             abs=1e-6)
    # saved and loaded: the contrast class is a parameter, the background is stored
    from explainendo.predict import HybridPredictor

    model.save(tmp_path / "model")
    loaded = HybridPredictor.load(tmp_path / "model")
    assert loaded.contrast_class == "clear"
    np.testing.assert_allclose(loaded.background_, model.background_)
    again = loaded.explain(samples.subset(shaken), class_index=model.classes_.index("shaken"), gradcam=False)
    assert again[0].shap == pytest.approx(evidence[0].shap, abs=1e-9)


def test_a_contrast_class_that_is_no_label_is_refused_before_training():
    samples = _samples()
    with pytest.raises(ConfigError, match="contrast_class 'normal' is not a label"):
        _hybrid(contrast_class="normal").check_data(samples.table)
    with pytest.raises(ConfigError, match="contrast_class 'normal' is not a label"):
        _hybrid(contrast_class="normal").fit(samples)
    with pytest.raises(ConfigError, match="contrast_class must be None or a class label"):
        _hybrid(contrast_class=3).check_params()
