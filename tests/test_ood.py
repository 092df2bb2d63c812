"""The out-of-distribution flag (explainendo.explain.ood) on a tiny gastric model: noise and a text image flagged,
held-out phantoms flagged near the calibrated rate, save / load exact, bad settings refused before training."""

import cv2
import numpy as np
import pytest

from explainendo import Diagnoser, InSample
from explainendo.errors import ConfigError
from explainendo.types import Box
from explainendo.explain import OODDetector
from explainendo.localize import WholeFrame
from explainendo.synth import generate
from explainendo.systems.gastric import gastric_heads, gastric_predictor
from explainendo.training import Training


def tiny_model(ood):
    heads = gastric_heads(0, image_size=32, pretrained=False, backbone="resnet18",
                          training=Training(epochs=1, batch_size=32, num_threads=1, device="cpu"))
    predictor = gastric_predictor(heads=heads, fitter="logistic_regression", stacking=InSample(),
                                  group_selection=None, seed=0)
    return Diagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, ood=ood)


@pytest.fixture(scope="module")
def train_manifest(tmp_path_factory):
    return generate("gastric", 60, seed=0, size=64).write(tmp_path_factory.mktemp("ood_train"))


@pytest.fixture(scope="module")
def model(train_manifest):
    return tiny_model(OODDetector()).fit(train_manifest)


def text_image(size=64):
    img = np.full((size, size, 3), 255, np.uint8)
    cv2.putText(img, "Hello", (2, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
    cv2.putText(img, "world", (2, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1)
    return img


def test_noise_and_text_are_flagged(model):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(5)] + [text_image()]
    for result in model.predict(images):
        assert result.lesions, "the whole-frame localizer always finds a box"
        assert result.ood is True and result.lesion.ood is True
        assert result.ood_score > model.ood_.thresholds_["frame"]
        assert result.to_dict()["ood"] is True and result.lesion.to_dict()["ood"] is True


def test_held_out_phantoms_flagged_near_the_calibrated_rate(model):
    held_out = generate("gastric", 80, seed=11, size=64)
    boxes = [Box(*row) for row in held_out.table[["x1", "y1", "x2", "y2"]].to_numpy(float)]
    results = model.predict(list(held_out.images), boxes=[[b] for b in boxes])  # lesions as in training: the boxes
    lesion_rate = np.mean([r.lesion.ood for r in results])
    frame_rate = np.mean([r.ood for r in results])
    print(f"held-out phantoms flagged: lesion {lesion_rate:.3f}, frame {frame_rate:.3f}")
    assert lesion_rate <= 0.15 and frame_rate <= 0.15  # calibrated at 5%; 80 phantoms, a 60-row calibration


def test_thresholds_are_the_conformal_quantile(model):
    for space in model.ood_.spaces_.values():
        scores = np.sort(space.calibration_scores)
        k = int(np.ceil((len(scores) + 1) * 0.95))
        assert space.threshold == scores[k - 1]
        assert np.mean(space.calibration_scores > space.threshold) <= 0.05


def test_save_load_keeps_scores(model, tmp_path):
    import explainendo

    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)] + list(generate("gastric", 3, seed=5, size=64).images)
    before = model.predict(images)
    loaded = explainendo.load(model.save(tmp_path / "m"))
    after = loaded.predict(images)
    assert (tmp_path / "m" / "ood" / "ood.npz").is_file()
    for a, b in zip(before, after):
        assert a.ood_score == b.ood_score and a.ood == b.ood
        assert a.lesion.ood_score == b.lesion.ood_score and a.lesion.ood == b.lesion.ood


def test_without_ood_nothing_changes(train_manifest):
    from explainendo.commands import _row
    from explainendo.types import Result

    result = Result(image="x")
    assert "ood" not in result.to_dict() and "ood" not in _row(result, ["a"])
    assert {"ood", "ood_frame_score", "ood_lesion_score"} <= set(_row(result, ["a"], ood=True))


@pytest.mark.parametrize("coverage", [0.0, 1.0, 1.5, -0.1, True])
def test_coverage_outside_unit_interval_refused_before_training(train_manifest, coverage):
    with pytest.raises(ConfigError, match="coverage"):
        tiny_model(OODDetector(coverage=coverage)).fit(train_manifest)


def test_too_few_rows_to_calibrate_refused_before_training(train_manifest, monkeypatch):
    import explainendo.predict.hybrid as hybrid

    def never(*a, **k):
        raise AssertionError("trained before the OOD settings were checked")

    monkeypatch.setattr(hybrid.HybridPredictor, "fit", never)
    with pytest.raises(ConfigError, match="at least 99 training lesions"):
        tiny_model(OODDetector(coverage=0.99)).fit(train_manifest)


def test_not_an_ood_detector_refused():
    with pytest.raises(ConfigError, match="OODDetector"):
        tiny_model("yes").checked_parts()


def test_card_says_unlike_the_training_data(model):
    from explainendo.explain.card import card_html, render_card

    noise = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    explanation = model.explain(model.predict(noise, keep_frames=True)[0], gradcam=False)
    figure = render_card(explanation)
    titles = [ax.get_title() for ax in figure.axes]
    assert any("unlike the training data" in t for t in titles)
    assert "unlike the training data" in card_html(explanation)


def test_diagnose_csv_carries_the_flag(model, tmp_path):
    import pandas as pd

    from explainendo.commands import diagnose_images

    folder = tmp_path / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "a_noise.png"), np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    cv2.imwrite(str(folder / "b_text.png"), text_image())
    diagnose_images(model.save(tmp_path / "m"), folder, tmp_path / "out", cards=False, progress=False)
    rows = pd.read_csv(tmp_path / "out" / "results.csv")
    assert {"ood", "ood_frame_score", "ood_lesion_score"} <= set(rows.columns)
    assert rows["ood"].astype(str).str.lower().eq("true").all()


def test_loads_in_a_fresh_process(model, tmp_path):
    import subprocess
    import sys

    folder = model.save(tmp_path / "m")
    code = ("import explainendo, numpy as np; m = explainendo.load(%r); "
            "r = m.predict(np.zeros((64, 64, 3), np.uint8))[0]; print(type(m.ood_).__name__, r.ood)" % str(folder))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["OODDetector", "True"]
