"""Where a localizer looked (explainendo.explain.localizer_saliency): EigenCAM's projection by hand, D-RISE on a toy
localizer that finds a bright square, both on trained tiny localizers (frame-sized, seeded), and the card's panel."""

import numpy as np
import pytest

from explainendo.errors import ConfigError
from explainendo.explain.localizer_saliency import (DRise, EigenCAM, detection_similarity, principal_projection,
                                                    rise_masks, saliency_method)
from explainendo.explain.metrics import box_heat, pointing_game
from explainendo.localize import CenterNetLocalizer, DetectorTraining, Localizer, SoftMaskLocalizer, UNetTraining
from explainendo.localize.base import register_kind
from explainendo.types import Box


# ------------------------------------------------------------------------------------------------ EigenCAM
def _blob(h=6, w=8, at=(2, 5)):
    r, c = np.mgrid[:h, :w]
    return np.exp(-((r - at[0]) ** 2 + (c - at[1]) ** 2) / 4.0)


def test_projection_of_a_rank_one_map_is_the_pattern_times_the_channel_norm():
    # every position is pattern * v plus a per-channel offset: centred, the matrix is (p - mean p) v^T, whose first
    # right singular vector is v / |v|, so the projection is (p - mean p) * |v| exactly
    pattern, v, offset = _blob(), np.array([1.0, 2.0, 0.5, 3.0]), np.array([4.0, -1.0, 0.0, 2.0])
    feats = v[:, None, None] * pattern[None] + offset[:, None, None]
    expected = (pattern - pattern.mean()) * np.linalg.norm(v)
    assert np.allclose(principal_projection(feats), expected, atol=1e-9)
    # the sign follows the activation: the negated map's projection is the negated pattern
    assert np.allclose(principal_projection(-feats), -expected, atol=1e-9)


def test_projection_finds_the_dominant_of_two_patterns():
    rng = np.random.default_rng(0)
    strong, weak = _blob(at=(1, 1)), _blob(at=(4, 6))
    feats = (np.array([3.0, 3.0, 0.0])[:, None, None] * strong + np.array([0.0, 0.0, 0.5])[:, None, None] * weak
             + rng.normal(0, 1e-3, (3, 6, 8)))
    cam = principal_projection(feats)
    assert np.unravel_index(cam.argmax(), cam.shape) == (1, 1)
    assert np.corrcoef(cam.ravel(), strong.ravel())[0, 1] > 0.99


def test_projection_refuses_a_map_that_is_not_three_dimensional():
    with pytest.raises(ConfigError, match=r"\(C, h, w\)"):
        principal_projection(np.zeros((4, 4)))


# ---------------------------------------------------------------------------------------------- D-RISE toy
@register_kind
class BrightSquareFinder(Localizer):
    """A real localizer without training: the bounding box of the pixels brighter than ``level``, scored by the
    share of the expected square area it found."""

    kind = "test_bright_square_finder"
    needs_fit = False

    def __init__(self, level: int = 180, expected_area: float = 256.0):
        self.level = level
        self.expected_area = expected_area

    def fit(self, manifest=None, **kw):
        return self

    def _locate_arrays(self, images):
        out = []
        for img in images:
            rows, cols = np.nonzero(img.min(axis=2) > self.level)
            if len(rows) < 4:
                out.append([])
                continue
            score = min(1.0, len(rows) / self.expected_area)
            out.append([Box(float(cols.min()), float(rows.min()), float(cols.max() + 1), float(rows.max() + 1),
                            score=score, label="square")])
        return out


def _square_frame(size=64, at=(36, 12), side=16):
    rng = np.random.default_rng(3)
    img = np.clip(rng.normal(70, 8, (size, size, 3)), 0, 255).astype(np.uint8)
    y, x = at
    img[y:y + side, x:x + side] = 240
    return img, Box(float(x), float(y), float(x + side), float(y + side), label="square")


def test_drise_puts_the_heat_on_the_square_the_toy_localizer_finds():
    image, square = _square_frame()
    finder = BrightSquareFinder()
    assert finder.locate(image)[0].iou(square) == pytest.approx(1.0)
    cam = DRise(n_masks=300, grid=8, seed=0)(finder, image, square)
    assert cam.shape == image.shape[:2] and cam.dtype == np.float32
    assert cam.min() == pytest.approx(0.0) and cam.max() == pytest.approx(1.0)
    assert pointing_game(cam, square) == 1.0
    heat = box_heat(cam, square)
    assert heat["area"] == pytest.approx(0.0625)
    assert heat["ratio"] > 4  # the square is 6% of the frame
    # the paper's plain weighted sum points at it too, with a uniform share on the rest of the frame
    plain = DRise(n_masks=300, grid=8, seed=0, centre=False)(finder, image, square)
    assert pointing_game(plain, square) == 1.0 and 1.5 < box_heat(plain, square)["ratio"] < heat["ratio"]
    assert not hasattr(finder, "errors_")  # the localizer's own locate_batch error list is left alone


def test_drise_same_seed_same_map_other_seed_other_map():
    image, square = _square_frame()
    finder = BrightSquareFinder()
    a = DRise(n_masks=64, grid=8, seed=1)(finder, image, square)
    c = DRise(n_masks=64, grid=8, seed=2)(finder, image, square)
    assert np.array_equal(a, DRise(n_masks=64, grid=8, seed=1)(finder, image, square))
    assert not np.allclose(a, c, atol=1e-3)
    # the batch size changes only the order of the float sums
    assert np.allclose(a, DRise(n_masks=64, grid=8, seed=1, batch_size=7)(finder, image, square), atol=1e-5)


def test_drise_weight_needs_the_same_label_and_overlap():
    target = Box(0, 0, 10, 10, label="polyp")
    assert detection_similarity(target, []) == 0.0
    assert detection_similarity(target, [Box(0, 0, 10, 10, score=0.8, label="polyp")]) == pytest.approx(0.8)
    assert detection_similarity(target, [Box(0, 0, 10, 10, score=0.8, label="ulcer")]) == 0.0
    assert detection_similarity(target, [Box(0, 0, 10, 10, score=0.8, label="ulcer")],
                                match_label=False) == pytest.approx(0.8)
    assert detection_similarity(target, [Box(0, 0, 10, 5, score=1.0, label="polyp"),
                                         Box(20, 20, 30, 30, score=1.0, label="polyp")]) == pytest.approx(0.5)


def test_rise_masks_keep_about_p_of_the_frame_and_are_seeded():
    a = rise_masks(200, (40, 50), grid=8, p=0.3, rng=np.random.default_rng(0))
    b = rise_masks(200, (40, 50), grid=8, p=0.3, rng=np.random.default_rng(0))
    assert a.shape == (200, 40, 50) and np.array_equal(a, b)
    assert 0 <= a.min() and a.max() <= 1 and a.mean() == pytest.approx(0.3, abs=0.03)


def test_bad_settings_and_names():
    image, square = _square_frame()
    with pytest.raises(ConfigError, match="n_masks"):
        DRise(n_masks=0)(BrightSquareFinder(), image, square)
    with pytest.raises(ConfigError, match="fill"):
        DRise(fill="white")(BrightSquareFinder(), image, square)
    with pytest.raises(ConfigError, match="box"):
        DRise()(BrightSquareFinder(), image)
    with pytest.raises(ConfigError, match="saliency method"):
        saliency_method("gradcam")
    assert isinstance(saliency_method("EigenCAM"), EigenCAM) and saliency_method(None) is None
    with pytest.raises(ConfigError, match="no feature map"):
        EigenCAM()(BrightSquareFinder(), image)


# ---------------------------------------------------------------------------------- trained tiny localizers
def _write_phantoms(folder, n, seed, size=64):
    """Bright ellipses on a dark red ground, one per image, with their boxes (as tests/localize/conftest.py)."""
    import cv2
    import pandas as pd

    from explainendo.io import Manifest

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    rows = []
    for i in range(n):
        img = np.clip(np.full((size, size, 3), (90, 40, 35), float) + rng.normal(0, 6, (size, size, 3)), 0, 255)
        img = img.astype(np.uint8)
        w, h = rng.uniform(0.2, 0.4, 2) * size
        cx, cy = rng.uniform(w / 2 + 2, size - w / 2 - 2), rng.uniform(h / 2 + 2, size - h / 2 - 2)
        cv2.ellipse(img, (int(round(cx)), int(round(cy))), (int(w / 2), int(h / 2)), 0, 0, 360, (230, 200, 80), -1)
        cv2.imwrite(str(folder / f"images/p{i:03d}.png"), img[..., ::-1])
        rows.append({"image": f"images/p{i:03d}.png", "patient": f"case{i // 2}", "x1": cx - w / 2,
                     "y1": cy - h / 2, "x2": cx + w / 2, "y2": cy + h / 2, "box_label": "polyp"})
    return Manifest(pd.DataFrame(rows), folder, name="phantoms")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory):
    root = tmp_path_factory.mktemp("saliency_phantoms")
    return _write_phantoms(root / "train", 16, seed=0), _write_phantoms(root / "test", 4, seed=1)


@pytest.fixture(scope="module")
def softmask(phantoms):
    return SoftMaskLocalizer("vgg", image_size=64, training=UNetTraining(epochs=2, batch_size=4, num_threads=2),
                             base_channels=4, seed=0).fit(phantoms[0])


@pytest.fixture(scope="module")
def centernet(phantoms):
    return CenterNetLocalizer(image_size=64, training=DetectorTraining(epochs=2, batch_size=8, num_threads=2),
                              min_score=0.0, seed=0).fit(phantoms[0])


def _frames(manifest):
    from explainendo.io import read_image

    return [read_image(manifest.path(n)) for n in manifest.images()]


@pytest.mark.parametrize("name", ["softmask", "centernet"])
def test_eigencam_on_a_trained_localizer_is_frame_sized_and_repeatable(name, request, phantoms):
    localizer = request.getfixturevalue(name)
    frames = _frames(phantoms[1])
    feats = localizer.feature_maps(frames)
    assert len(feats) == len(frames) and all(f.ndim == 3 for f in feats)
    odd = np.ascontiguousarray(frames[0][:, :48])  # a frame that is not square: the map still spans it
    cams = EigenCAM().maps(localizer, frames + [odd])
    assert [c.shape for c in cams] == [f.shape[:2] for f in frames] + [(64, 48)]
    assert all(c.min() >= 0 and c.max() <= 1 for c in cams)
    # no randomness: the same frame gives the same map (alone or in a batch: up to the float order of a batch)
    assert np.array_equal(cams[0], EigenCAM().maps(localizer, frames)[0])
    assert np.allclose(cams[0], EigenCAM()(localizer, frames[0]), atol=1e-4)


def test_drise_on_the_soft_mask_localizer_is_frame_sized(softmask, phantoms):
    frame = _frames(phantoms[1])[0]
    box = softmask.locate(frame)[0]
    cam = DRise(n_masks=16, grid=8, seed=0)(softmask, frame, box)
    assert cam.shape == frame.shape[:2]
    assert np.array_equal(cam, DRise(n_masks=16, grid=8, seed=0)(softmask, frame, box))


# --------------------------------------------------------------------------------------- engine and card
@pytest.fixture(scope="module")
def diagnoser(tmp_path_factory):
    from explainendo import Diagnoser, HybridPredictor, InSample
    from explainendo.handcrafted import HandcraftedFeatures
    from explainendo.synth import generate

    train = generate("gastric", 24, seed=0, size=64).write(tmp_path_factory.mktemp("saliency_gastric"))
    localizer = SoftMaskLocalizer("vgg", image_size=64, training=UNetTraining(epochs=2, batch_size=8, num_threads=2),
                                  base_channels=4, seed=0)
    predictor = HybridPredictor([HandcraftedFeatures()], fitter="logistic_regression", stacking=InSample(), seed=0)
    return Diagnoser(localizer=localizer, predictor=predictor).fit(train), train


def test_explain_adds_where_the_localizer_looked_and_the_card_draws_it(diagnoser, tmp_path):
    from explainendo.explain.card import LOCALIZER_PANEL, card_html, render_card

    model, train = diagnoser
    result = model.predict(train.path(train.images()[0]), keep_frames=True)[0]
    ex = model.explain(result, gradcam=False)
    assert ex.localizer_saliency_method == "EigenCAM"
    assert ex.localizer_saliency.shape == result.frame.shape[:2]
    facts = ex.to_dict()["localizer_saliency"]
    assert facts["method"] == "EigenCAM" and set(facts) >= {"heat", "area", "ratio"}
    titles = [ax.get_title() for ax in render_card(ex).axes]
    assert any(t.startswith(f"{LOCALIZER_PANEL} (EigenCAM)") for t in titles)
    assert LOCALIZER_PANEL.capitalize() in card_html(ex)
    drise = model.explain(result, gradcam=False, localizer_saliency=DRise(n_masks=8, grid=4))
    assert drise.localizer_saliency_method == "D-RISE" and drise.localizer_saliency.shape == result.frame.shape[:2]
    none = model.explain(result, gradcam=False, localizer_saliency=None)
    assert none.localizer_saliency is None and "localizer_saliency" not in none.to_dict()
    assert not any(t.startswith(LOCALIZER_PANEL) for t in (ax.get_title() for ax in render_card(none).axes))
