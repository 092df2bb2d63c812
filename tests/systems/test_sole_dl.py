import numpy as np
import pytest

from explainendo.errors import ConfigError, FeatureExtractionError, ManifestError, ModelFileError, NotFittedError
from explainendo.features import LesionSamples
from explainendo.heads import AttributeHeads
from explainendo.systems.sole_dl import SoleDLClassifier

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("toy_lesions", Path(__file__).parents[1] / "heads" / "toy_lesions.py")
_toy = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_toy)
draw_samples = _toy.draw_samples


@pytest.fixture(scope="module")
def data():
    return draw_samples(32, seed=11), draw_samples(12, seed=12)


@pytest.fixture(scope="module")
def model(data):
    train, _ = data
    return SoleDLClassifier(backbone="resnet18", pretrained=False, enlarge=1.2, image_size=64, epochs=2,
                            batch_size=16, num_threads=1, seed=0).fit(train)


def test_fit_predict_and_classes(model, data):
    _, test = data
    assert model.classes_.tolist() == ["a", "b"]
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    assert set(model.predict(test)) <= {"a", "b"}
    assert np.array_equal(model.predict(test), model.classes_[proba.argmax(1)])
    assert 0.0 <= model.score(test) <= 1.0


def test_enlarge_recuts_crops_and_gradcam_has_their_shape(model, data):
    _, test = data
    maps = model.gradcam(test.subset([0, 1]))
    recut = LesionSamples.from_images(test.frames[:2], test.boxes[:2], enlarge=1.2)
    assert [m.shape for m in maps] == [c.shape[:2] for c in recut.crops]
    assert all(m.shape[0] > c.shape[0] for m, c in zip(maps, test.crops[:2]))  # 1.2x box, not the 1.0x crop
    assert len(model.gradcam(test.subset([0]), target="a")) == 1
    with pytest.raises(ConfigError, match="not a class"):
        model.gradcam(test, target="c")


def test_save_load_identical(model, data, tmp_path):
    _, test = data
    model.save(tmp_path / "sole")
    loaded = SoleDLClassifier.load(tmp_path / "sole")
    assert loaded.enlarge == 1.2 and loaded.classes_.tolist() == ["a", "b"]
    np.testing.assert_array_equal(model.predict_proba(test), loaded.predict_proba(test))
    assert "kind: sole_dl" in (tmp_path / "sole" / "component.yaml").read_text()
    import explainendo  # the package-level loader resolves the kind through its allowlist
    via_package = explainendo.load(tmp_path / "sole")
    assert isinstance(via_package, SoleDLClassifier)
    np.testing.assert_array_equal(model.predict_proba(test), via_package.predict_proba(test))
    with pytest.raises(ModelFileError, match="kind"):
        AttributeHeads.load(tmp_path / "sole")


def test_bad_inputs(data):
    train, test = data
    with pytest.raises(NotFittedError):
        SoleDLClassifier().predict(test)
    one_class = train.table.assign(label="a")
    with pytest.raises(ManifestError, match="single class"):
        SoleDLClassifier(backbone="resnet18", pretrained=False).fit(
            LesionSamples(train.crops, train.boxes, train.frames, table=one_class))
    with pytest.raises(ManifestError, match="no 'grade' labels"):
        SoleDLClassifier(backbone="resnet18", pretrained=False).fit(train, label_column="grade")
    no_frames = LesionSamples(train.crops, train.boxes, None, table=train.table)
    with pytest.raises(FeatureExtractionError, match="re-cut"):
        SoleDLClassifier(enlarge=1.2).fit(no_frames)
    foreign = test.table.assign(label="z")
    small = SoleDLClassifier(backbone="resnet18", pretrained=False, image_size=32, epochs=1, batch_size=16,
                             num_threads=1)
    with pytest.raises(ManifestError, match="not seen in training"):
        small.fit(train, validation=LesionSamples(test.crops, test.boxes, test.frames, table=foreign))
