import copy

import numpy as np
import pandas as pd
import pytest

from explainendo.errors import ModelFileError
from explainendo.heads import AttributeHeads
from explainendo.heads.calibration import apply_temperature_bias, fit_temperature_bias


def _overconfident(n: int, seed: int):
    """True P(class 1) = sigmoid(z); the head reports sigmoid(3 z + 1.5): too sure, and shifted to class 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    q = 1 / (1 + np.exp(-(3 * z + 1.5)))
    return np.column_stack([1 - q, q]), y, z


def test_temperature_and_bias_undo_a_known_distortion():
    probs, y, _ = _overconfident(4000, 0)
    params = fit_temperature_bias(probs, y)
    # the head's logit is 3 z + 1.5, so T = 3 and a bias of -0.5 (= -1.5 / 3) on class 1 undo it
    assert params["temperature"] == pytest.approx(3.0, rel=0.1)
    assert params["bias"][0] == 0.0 and params["bias"][1] == pytest.approx(-0.5, abs=0.15)
    assert params["log_loss_after"] < params["log_loss_before"] and params["n"] == 4000
    test, y_test, z = _overconfident(4000, 1)
    calibrated = apply_temperature_bias(test, params)
    np.testing.assert_allclose(calibrated.sum(1), 1.0)
    np.testing.assert_allclose(calibrated[:, 1], 1 / (1 + np.exp(-z)), atol=0.05)
    # the 0.5 line moves back: accuracy against the truth rises on fresh lesions
    assert ((calibrated[:, 1] > 0.5) == (z > 0)).mean() > ((test[:, 1] > 0.5) == (z > 0)).mean() + 0.05


def test_calibrated_probabilities_stay_put_and_nan_rows_stay_nan():
    rng = np.random.default_rng(2)
    p = rng.dirichlet(np.ones(3), 3000)
    y = np.array([rng.choice(3, p=row) for row in p])
    params = fit_temperature_bias(p, y)
    assert params["temperature"] == pytest.approx(1.0, abs=0.1) and np.abs(params["bias"]).max() < 0.15
    p[5] = np.nan
    out = apply_temperature_bias(p, params)
    assert np.isnan(out[5]).all() and np.isfinite(np.delete(out, 5, axis=0)).all()


def test_heads_calibrate_on_held_out_lesions_and_keep_it_in_the_saved_model(tiny_heads, tiny_test, tmp_path):
    from toy_lesions import draw_samples

    heads = copy.deepcopy(tiny_heads)  # the shared fixture stays uncalibrated
    held_out = draw_samples(40, seed=3)
    raw = heads.predict_proba(tiny_test)
    heads.calibrate(held_out)
    assert set(heads.calibration_) == set(heads.trained_attributes_)
    for params in heads.calibration_.values():
        assert params["n"] == 40 and params["log_loss_after"] <= params["log_loss_before"]
    calibrated = heads.predict_proba(tiny_test)
    for name, p in calibrated.items():
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-9)
        np.testing.assert_allclose(p, apply_temperature_bias(raw[name], heads.calibration_[name]))
    heads.save(tmp_path / "heads")
    loaded = AttributeHeads.load(tmp_path / "heads")
    pd.testing.assert_frame_equal(heads.transform(tiny_test), loaded.transform(tiny_test))
    # a calibration that does not fit the heads is refused, not used
    path = tmp_path / "heads" / "component.yaml"
    path.write_text(path.read_text().replace("temperature: ", "temperature: -", 1))
    with pytest.raises(ModelFileError, match="calibration"):
        AttributeHeads.load(tmp_path / "heads")
    # too few labelled lesions: the head stays as it was
    few = copy.deepcopy(tiny_heads).calibrate(held_out.subset(range(10)))
    assert few.calibration_ == {}
    pd.testing.assert_frame_equal(few.transform(tiny_test), tiny_heads.transform(tiny_test))
