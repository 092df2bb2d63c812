"""EUSCystClassifier end to end on tiny EUS phantoms: the whole-frame CNN with partial fine-tuning (frozen stages
stay as they were), the cyst-localized hybrid with its named attributes and texture groups, Grad-CAM heat inside
the cyst, save / load identical, and the settings that cannot be honoured raising before training."""

import numpy as np
import pytest
import torch

import explainendo
from explainendo import EUSCystClassifier
from explainendo.errors import ConfigError, ManifestError
from explainendo.explain.gradcam import region_heat
from explainendo.heads import UltrasoundAugment, create_backbone
from explainendo.localize import UNetTraining
from explainendo.predict import CNNClassifier, HybridPredictor, InSample
from explainendo.specs import EUS_ATTRIBUTES
from explainendo.synth import generate
from explainendo.systems import eus_cnn, eus_heads, eus_localizer, eus_predictor
from explainendo.training import Training
from explainendo.types import Box
from ood_checks import check_default_ood


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("eus")
    return (generate("eus", 48, seed=0, size=96).write(root / "train"),
            generate("eus", 16, seed=1, size=96).write(root / "test"))


@pytest.fixture(scope="module")
def cnn_model(data):
    cnn = eus_cnn(freeze_stages=3, image_size=96, training=Training(epochs=2, batch_size=16))
    return EUSCystClassifier(approach="cnn", input="frame", predictor=cnn).fit(data[0])


def _images(test):
    return [str(test.path(i)) for i in test.images()]


def test_the_specs_are_the_phantoms_attribute_columns(data):
    columns = set(data[0].df.columns)
    assert {f"attr.{s.name}" for s in EUS_ATTRIBUTES} <= columns
    df = data[0].df
    assert (df.loc[df["attr.cyst_type"] == "serous", "attr.locularity"] == "microcystic").all()
    assert (df.loc[df["attr.cyst_type"] == "mucinous", "attr.wall"] == "thick").all()


def test_whole_frame_cnn_diagnoses_every_frame_and_keeps_its_frozen_stages(cnn_model, data):
    results = cnn_model.predict(_images(data[1]) + ["missing.png"])
    assert all(r.ok for r in results[:-1]) and results[-1].error
    assert {r.label for r in results[:-1]} <= {"mucinous", "serous"}
    assert all(r.box.width == 96 and r.box.height == 96 for r in results[:-1])  # the whole frame
    trained = cnn_model.predictor_.network_.net_.backbone
    fresh = create_backbone("efficientnet_lite0", pretrained=True, freeze_stages=3)
    for k in range(9):
        same = all(torch.equal(a, b) for a, b in zip(trained.stages[k].state_dict().values(),
                                                      fresh.stages[k].state_dict().values()))
        assert same == (k < 3), k  # weights and batch-norm statistics of the frozen stages are ImageNet's


def test_grad_cam_heat_inside_the_cyst_is_reported(cnn_model, data):
    test = data[1]
    image = _images(test)[0]
    cyst = test.boxes_for(test.images()[0])[0]
    exp = cnn_model.explain(image, cyst_box=cyst)
    heat = exp.region_heat["diagnosis"]
    assert 0 <= heat["heat"] <= 1 and heat["area"] == pytest.approx(cyst.area / 96 ** 2, rel=0.1)
    assert heat["ratio"] == pytest.approx(heat["heat"] / heat["area"])
    assert "region_heat" in exp.to_dict()
    assert cnn_model.explain(image).region_heat is None  # whole frame and no cyst box given: nothing to report


def test_region_heat_hand_values():
    cam = np.zeros((10, 10), np.float32)
    cam[:5, :5] = 1.0  # all heat in the top-left quarter of a 10 x 10 frame
    inside = region_heat(cam, Box(0, 0, 10, 10), Box(0, 0, 5, 5), (10, 10))
    assert inside == {"heat": 1.0, "area": 0.25, "ratio": 4.0}
    beside = region_heat(cam, Box(0, 0, 10, 10), Box(5, 5, 10, 10), (10, 10))
    assert beside["heat"] == 0.0 and beside["ratio"] == 0.0
    # a crop of the frame's right half: the area share is of the crop the model saw
    half = region_heat(np.ones((10, 5), np.float32), Box(5, 0, 10, 10), Box(5, 0, 10, 5), (10, 10))
    assert half["heat"] == pytest.approx(0.5) and half["area"] == pytest.approx(0.5)
    assert np.isnan(region_heat(np.zeros((4, 4)), Box(0, 0, 4, 4), Box(0, 0, 2, 2), (4, 4))["ratio"])


def test_saved_and_loaded_identical(cnn_model, data, tmp_path):
    images = _images(data[1])
    before = cnn_model.predict(images)
    cnn_model.save(tmp_path / "eus")
    loaded = explainendo.load(tmp_path / "eus")
    assert isinstance(loaded, EUSCystClassifier) and loaded.approach == "cnn" and loaded.input == "frame"
    after = loaded.predict(images)
    for a, b in zip(before, after):
        assert a.label == b.label and a.probability == pytest.approx(b.probability, abs=1e-6)


def test_settings_that_cannot_be_honoured_raise_before_training(data):
    with pytest.raises(ConfigError, match="approach"):
        EUSCystClassifier(approach="svm").fit(data[0])
    with pytest.raises(ConfigError, match="input"):
        EUSCystClassifier(input="sector").fit(data[0])
    with pytest.raises(ConfigError, match="needs input='cyst'"):
        EUSCystClassifier(approach="hybrid", input="frame").fit(data[0])
    with pytest.raises(ConfigError, match="freeze_stages"):
        EUSCystClassifier(approach="cnn", input="frame", freeze_stages=12).fit(data[0])
    no_boxes = data[0].subset(data[0].df["label"].notna())
    no_boxes.df[["x1", "y1", "x2", "y2"]] = np.nan
    with pytest.raises(ManifestError, match="cyst boxes"):
        EUSCystClassifier(approach="cnn", input="cyst").fit(no_boxes)
    assert isinstance(EUSCystClassifier(approach="cnn").checked_parts()[1], CNNClassifier)
    assert isinstance(EUSCystClassifier().checked_parts()[1], HybridPredictor)
    assert isinstance(eus_heads().augment, UltrasoundAugment)


@pytest.fixture(scope="module")
def hybrid_model(data):
    heads = eus_heads(image_size=64, training=Training(epochs=2, batch_size=16))
    localizer = eus_localizer(image_size=96, training=UNetTraining(epochs=12, batch_size=16))
    predictor = eus_predictor(heads=heads, fitter="logistic_regression", stacking=InSample())
    return EUSCystClassifier(localizer=localizer, predictor=predictor, ood=None).fit(data[0])  # OOD: cnn_model


def test_hybrid_locates_the_cyst_and_names_attributes_and_texture(hybrid_model, data):
    test = data[1]
    results = hybrid_model.predict(_images(test), keep_frames=True)
    truth = [test.boxes_for(i)[0] for i in test.images()]
    assert all(r.ok and len(r.lesions) == 1 for r in results)
    iou = np.mean([r.box.iou(t) for r, t in zip(results, truth)])
    assert iou > 0.5, iou  # measured 0.74 at this seed; the whole 96 px frame has IoU 0.07 with the cyst
    labels = test.df.groupby("image", sort=False)["label"].first().to_numpy()
    accuracy = np.mean([r.label == t for r, t in zip(results, labels)])
    assert accuracy >= 0.75, accuracy  # measured 0.94 at this seed; the texture of the cyst tells the types apart
    exp = hybrid_model.explain(results[0])
    groups = set(exp.group_shap)
    assert {"locularity", "calcification", "central_scar", "locule_count", "cyst_echogenicity"} <= groups
    assert exp.expected_value + sum(exp.group_shap.values()) == pytest.approx(exp.output, abs=1e-6)
    assert exp.region_heat and all(0 <= v["area"] <= 1 for v in exp.region_heat.values())


def test_data_validate_checks_the_cyst_attributes(data, tmp_path):
    import pandas as pd
    from typer.testing import CliRunner

    from explainendo.cli import app

    train = data[0]
    df = train.df.copy()
    df.loc[df.index[3], "attr.locularity"] = "honeycomb"
    csv = tmp_path / "eus.csv"
    pd.DataFrame(df).to_csv(csv, index=False)
    res = CliRunner().invoke(app, ["data", "validate", str(csv), "--root", str(train.root), "--model", "eus",
                                   "--no-images"])
    assert res.exit_code == 1, res.output
    assert "honeycomb" in res.output and "locularity" in res.output
    clean = CliRunner().invoke(app, ["data", "validate", str(train.root / "manifest.csv"), "--model", "eus"])
    assert clean.exit_code == 0, clean.output


def test_the_default_flags_noise_and_few_held_out_frames(cnn_model, data):
    check_default_ood(cnn_model, cnn_model.predict(_images(data[1])))
