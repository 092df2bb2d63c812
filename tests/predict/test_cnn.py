"""CNNClassifier: the sole deep-learning predictor (one CNN on the lesion crop), trained, explained,
saved and loaded; a model trained or marked for a GPU loads on a CPU-only machine."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import explainendo
from explainendo.components import Component
from explainendo.errors import ConfigError, FeatureExtractionError, ManifestError, ModelFileError, NotFittedError
from explainendo.features import LesionSamples
from explainendo.heads import AttributeHeads
from explainendo.predict import CNNClassifier
from explainendo.training import Training

_spec = importlib.util.spec_from_file_location("toy_lesions", Path(__file__).parents[1] / "heads" / "toy_lesions.py")
_toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_toy)
draw_samples = _toy.draw_samples


def net(epochs: int = 2, **kw) -> AttributeHeads:
    settings = dict(backbone="resnet18", pretrained=False, image_size=32, seed=0,
                    training=Training(epochs=epochs, batch_size=16, num_threads=1, device="cpu"))
    return AttributeHeads(**{**settings, **kw})


@pytest.fixture(scope="module")
def data():
    return draw_samples(32, seed=11), draw_samples(12, seed=12)


@pytest.fixture(scope="module")
def model(data):
    train, _ = data
    return CNNClassifier(net(), enlarge=1.2).fit(train)


def test_fit_predict_and_classes(model, data):
    _, test = data
    assert model.classes_ == ["a", "b"]
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    assert set(model.predict(test)) <= {"a", "b"}
    assert np.array_equal(model.predict(test), np.asarray(model.classes_)[proba.argmax(1)])
    assert 0.0 <= model.score(test) <= 1.0
    assert len(model.history_) >= 1 and model.describe() == "cnn: resnet18"
    assert [s.name for s in model.network_.specs] == ["diagnosis"]
    assert model.network.specs != model.network_.specs  # the given network is a template, left as it was


def test_enlarge_recuts_crops_and_gradcam_has_their_shape(model, data):
    _, test = data
    maps = model.gradcam(test.subset([0, 1]))
    recut = LesionSamples.from_images(test.frames[:2], test.boxes[:2], enlarge=1.2)
    assert [m.shape for m in maps] == [c.shape[:2] for c in recut.crops]
    assert all(m.shape[0] > c.shape[0] for m, c in zip(maps, test.crops[:2]))  # 1.2x box, not the 1.0x crop
    assert len(model.gradcam(test.subset([0]), target="a")) == 1
    with pytest.raises(ConfigError, match="not a class"):
        model.gradcam(test, target="c")
    evidence = model.explain(test.subset([0, 1]))
    assert [e.explainer for e in evidence] == ["grad-cam"] * 2 and all("diagnosis" in e.gradcams for e in evidence)
    assert [e.explained_class for e in evidence] == list(model.predict(test.subset([0, 1])))


def test_save_load_identical(model, data, tmp_path):
    _, test = data
    model.save(tmp_path / "cnn")
    loaded = CNNClassifier.load(tmp_path / "cnn")
    assert loaded.enlarge == 1.2 and loaded.classes_ == ["a", "b"]
    np.testing.assert_array_equal(model.predict_proba(test), loaded.predict_proba(test))
    assert "kind: cnn_classifier" in (tmp_path / "cnn" / "component.yaml").read_text()
    assert "kind: attribute_heads" in (tmp_path / "cnn" / "network" / "component.yaml").read_text()
    for via in (explainendo.load(tmp_path / "cnn"), Component.load(tmp_path / "cnn")):
        # the package-level loader resolves the kind through the component registry
        assert isinstance(via, CNNClassifier)
        np.testing.assert_array_equal(model.predict_proba(test), via.predict_proba(test))
    with pytest.raises(ModelFileError, match="cnn_classifier"):
        AttributeHeads.load(tmp_path / "cnn")
    assert not list((tmp_path / "cnn").rglob("*.pt")) and not list((tmp_path / "cnn").rglob("*.pkl"))


def test_gpu_marked_model_loads_on_a_cpu_only_machine(model, data, tmp_path):
    """Bug 8b: a model saved with ``device: cuda`` (trained on a GPU machine) must load and predict here."""
    import torch

    _, test = data
    folder = model.save(tmp_path / "cnn")
    for component in (folder / "component.yaml", folder / "network" / "component.yaml"):
        text = component.read_text()
        assert "device: cpu" in text
        component.write_text(text.replace("device: cpu", "device: cuda"))  # a lone component has no checksums
    loaded = explainendo.load(folder)
    assert loaded.network_.training.device == "cuda"
    expected = model.predict_proba(test)
    if torch.cuda.is_available():
        assert loaded.network_.device_ == "cuda"
        np.testing.assert_allclose(loaded.predict_proba(test), expected, atol=1e-5)
    else:
        assert loaded.network_.device_ == "cpu"
        np.testing.assert_array_equal(loaded.predict_proba(test), expected)
    # the network folder on its own (lone attribute heads) too
    heads = AttributeHeads.load(folder / "network")
    assert heads.device_ == ("cuda" if torch.cuda.is_available() else "cpu")
    at_12 = LesionSamples.from_images(test.frames, test.boxes, enlarge=1.2)  # the classifier's crops
    np.testing.assert_allclose(heads.predict_proba(at_12)["diagnosis"], expected,
                               atol=1e-5 if torch.cuda.is_available() else 0)


def test_efficientnet_lite0_backbone_round_trips(data, tmp_path):
    train, test = data
    cnn = CNNClassifier(net(backbone="efficientnet_lite0", epochs=1)).fit(train)
    assert cnn.describe() == "cnn: efficientnet_lite0"
    proba = cnn.predict_proba(test)
    assert proba.shape == (len(test), 2) and np.isfinite(proba).all()
    cnn.save(tmp_path / "eff")
    np.testing.assert_array_equal(explainendo.load(tmp_path / "eff").predict_proba(test), proba)


def test_bad_inputs(data):
    train, test = data
    with pytest.raises(NotFittedError):
        CNNClassifier().predict(test)
    one_class = train.table.assign(label="a")
    with pytest.raises(ManifestError, match="single class"):
        CNNClassifier(net()).fit(LesionSamples(train.crops, train.boxes, train.frames, table=one_class))
    with pytest.raises(ManifestError, match="no 'grade' labels"):
        CNNClassifier(net(), label_column="grade").fit(train)
    no_frames = LesionSamples(train.crops, train.boxes, None, table=train.table)
    with pytest.raises(FeatureExtractionError, match="re-cut"):
        CNNClassifier(net(), enlarge=1.2).fit(no_frames)
    foreign = test.table.assign(label="z")
    with pytest.raises(ManifestError, match="not seen in training"):
        CNNClassifier(net(epochs=1)).fit(train, validation=LesionSamples(test.crops, test.boxes, test.frames,
                                                                         table=foreign))
    with pytest.raises(ConfigError, match="AttributeHeads"):
        CNNClassifier(network="resnet18").check_params()
    with pytest.raises(ConfigError, match="enlarge"):
        CNNClassifier(net(), enlarge=0.5).check_params()
