"""Gastric phantoms: determinism, balance, geometry, manifests, and each attribute's visible effect."""

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from explainendo.errors import ConfigError
from explainendo.io.manifest import Manifest
from explainendo.specs import GASTRIC_ATTRIBUTES, GASTRIC_LABELS, GASTRIC_LANDMARKS, location_of
from explainendo.synth import generate, make_phantoms
from explainendo.synth import gastric


@pytest.fixture(scope="module")
def small_set():
    return generate("gastric", 24, seed=3, size=128)


def test_same_seed_same_pixels_other_seed_other_pixels(small_set):
    again = generate("gastric", 24, seed=3, size=128)
    assert all(np.array_equal(a, b) for a, b in zip(small_set.images, again.images))
    pd.testing.assert_frame_equal(small_set.table, again.table)
    other = generate("gastric", 24, seed=4, size=128)
    assert not any(np.array_equal(a, b) for a, b in zip(small_set.images, other.images))
    # a shorter set is a prefix of a longer one
    first = generate("gastric", 5, seed=3, size=128)
    assert all(np.array_equal(a, b) for a, b in zip(first.images, small_set.images[:5]))


def test_written_files_are_identical_bytes_and_the_manifest_validates(tmp_path, small_set):
    m1 = small_set.write(tmp_path / "a")
    make_phantoms("gastric", 24, tmp_path / "b", seed=3, size=128)
    for name in [*small_set.table["image"], "manifest.csv", "phantoms.yaml"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    back = Manifest.read_csv(tmp_path / "a" / "manifest.csv").validate(check_files=True, require_label=True,
                                                                      require_boxes=True)
    assert len(back) == 24 and back.has_boxes and "tone" in back.attributes
    assert m1.df["image"].tolist() == back.df["image"].tolist()
    meta = yaml.safe_load((tmp_path / "a" / "phantoms.yaml").read_text())
    assert meta["system"] == "gastric" and meta["n"] == 24 and meta["seed"] == 3 and meta["size"] == 128
    assert meta["bayes_rate"] == pytest.approx(small_set.bayes_rate, abs=1e-6)
    assert "sigmoid" in meta["rule"] and meta["explainendo_version"]
    # the PNG holds exactly the in-memory pixels
    png = cv2.cvtColor(cv2.imread(str(tmp_path / "a" / "gastric_00000.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(png, small_set.images[0])


def test_schema_values_boxes_masks_and_patients(small_set):
    t = small_set.table
    assert t["image"].iloc[0] == "gastric_00000.png"
    for spec in GASTRIC_ATTRIBUTES:
        assert set(t["attr." + spec.name]) <= set(spec.classes), spec.name
    assert set(t["label"]) <= set(GASTRIC_LABELS)
    assert (t["attr.location"] == t["attr.landmark"].map(location_of)).all()
    assert t["patient"].nunique() == 6  # 4 images per patient by default
    for img, mask, (_, r) in zip(small_set.images, small_set.masks, t.iterrows()):
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8
        assert 0 <= r.x1 < r.x2 <= 128 and 0 <= r.y1 < r.y2 <= 128
        ys, xs = np.nonzero(mask)
        assert xs.min() >= r.x1 and xs.max() < r.x2 and ys.min() >= r.y1 and ys.max() < r.y2
        assert img[:3, :3].max() == 0  # black corners outside the field of view
    cols = [c for c in t.columns if c.startswith("attr.")] + ["label"]
    for _, g in t.groupby("patient"):
        assert (g[cols].nunique() == 1).all()  # one lesion per patient, same attributes in every view
    views = [small_set.images[i] for i in t.index[t["patient"] == t["patient"].iloc[0]]]
    assert not np.array_equal(views[0], views[1])


def test_to_samples_crops_boxes_and_masks(small_set):
    samples = small_set.to_samples(enlarge=1.2)
    assert len(samples) == 24
    for crop, box, mask in zip(samples.crops, samples.boxes, samples.masks):
        assert crop.shape[:2] == mask.shape and mask.any()
        assert crop.shape[0] >= box.height and crop.shape[1] >= box.width
    assert list(samples.labels("attr.tone")) == list(small_set.table["attr.tone"])


def test_labels_and_attributes_follow_the_configured_marginals():
    ps = generate("gastric", 400, seed=11, size=64, images_per_patient=1)
    t = ps.table
    assert 0.85 <= ps.bayes_rate <= 0.92
    assert (t["label"] == "neoplastic").mean() == pytest.approx(ps.rule.positive_rate(), abs=0.07)
    assert (t["attr.tone"] == "reddened").mean() == pytest.approx(0.35, abs=0.07)
    assert (t["attr.bleeding"] == "yes").mean() == pytest.approx(0.30, abs=0.07)
    assert ps.empirical_bayes_rate == pytest.approx(ps.bayes_rate, abs=0.05)
    assert ps.rule.causal_attributes == ("tone", "surface", "boundary", "depression")
    # options change the marginals and the rule
    ps2 = generate("gastric", 200, seed=11, size=64, images_per_patient=2,
                   marginals={"bleeding": {"no": 0.1, "yes": 0.9}},
                   weights={("bleeding", "yes"): 3.0}, intercept=-1.5)
    assert (ps2.table["attr.bleeding"] == "yes").mean() == pytest.approx(0.9, abs=0.08)
    assert ps2.rule.causal_attributes == ("bleeding",)
    expected = 0.9 * (1 / (1 + np.exp(-1.5))) + 0.1 * (1 / (1 + np.exp(-1.5)))
    assert ps2.bayes_rate == pytest.approx(expected)


def test_bad_requests_raise_config_errors():
    with pytest.raises(ConfigError, match="unknown phantom generator"):
        generate("stomach", 4)
    with pytest.raises(ConfigError, match="n must be"):
        generate("gastric", 0)
    with pytest.raises(ConfigError, match="size"):
        generate("gastric", 2, size=16)
    with pytest.raises(ConfigError, match="bad option"):
        generate("gastric", 2, size=64, colour="blue")
    with pytest.raises(ConfigError, match="unknown gastric attribute 'colour'"):
        generate("gastric", 2, size=64, marginals={"colour": {"blue": 1.0}})
    with pytest.raises(ConfigError, match="sums to"):
        generate("gastric", 2, size=64, marginals={"tone": {"pale": 0.5, "reddened": 0.2}})


# ---- each attribute moves the image in its intended direction ----------------------------------------
BASE = dict(bleeding="no", elevation="no", depression="no", boundary="clear", surface="smooth",
            tone="unchanged", landmark="lower_body_posterior_wall")
SEEDS = range(8)


def _render(seed, **change):
    attrs = {**BASE, **change}
    shape = gastric.lesion_shape(np.random.default_rng(seed))
    image, mask, _ = gastric.render_gastric(attrs, shape, np.random.default_rng(1000 + seed), 192)
    return image.astype(np.float64) / 255.0, mask


def _ring(mask, width=8):
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * width + 1,) * 2, np.uint8)) > 0
    near = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    return grown & ~near


def _paired(metric, attribute, yes, no, **base):
    """metric(image, mask) with the attribute on, minus off, for each seed (same lesion and scene)."""
    return np.array([metric(*_render(s, **base, **{attribute: yes})) - metric(*_render(s, **base, **{attribute: no}))
                     for s in SEEDS])


def _redness(img, mask):
    chroma = img[..., 0] / (img.sum(axis=2) + 1e-6)
    return chroma[mask].mean() - chroma[_ring(mask)].mean()


def _saturation(img, mask):
    hsv = cv2.cvtColor(img.astype(np.float32), cv2.COLOR_RGB2HSV)
    return hsv[..., 1][mask].mean() - hsv[..., 1][_ring(mask)].mean()


def _high_freq(img, mask):
    grey = img.mean(axis=2)
    hf = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.5))
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return hf[inner].mean()


def _edge_gradient(img, mask):
    """Mean gradient of the red-minus-green contrast (what reddening changes) along the mask's edge."""
    grey = cv2.GaussianBlur(img[..., 0] - img[..., 1], (0, 0), 0.7)
    g = np.hypot(cv2.Sobel(grey, cv2.CV_64F, 1, 0), cv2.Sobel(grey, cv2.CV_64F, 0, 1))
    edge = (cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & \
        ~(cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    return g[edge].mean()


def _blood_fraction(img, mask):
    r, g = img[..., 0], img[..., 1]
    return ((r > 3.0 * g + 0.05) & (r < 0.75))[mask].mean()


def _light_side_contrast(img, mask):
    """Upper-left half of the lesion minus lower-right half (the light comes from the upper left)."""
    grey = img.mean(axis=2)
    ys, xs = np.nonzero(mask)
    upper_left = (xs - xs.mean()) + (ys - ys.mean()) < 0
    return grey[ys[upper_left], xs[upper_left]].mean() - grey[ys[~upper_left], xs[~upper_left]].mean()


def _centre_minus_rim(img, mask):
    grey = img.mean(axis=2)
    dist = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    core = dist > 0.6 * dist.max()
    rim = (dist > 0) & (dist < 0.3 * dist.max())
    return grey[core].mean() - grey[rim].mean()


def test_reddened_tone_raises_redness_against_the_background():
    assert (_paired(_redness, "tone", "reddened", "unchanged") > 0.03).all()


def test_pale_tone_lowers_saturation():
    assert (_paired(_saturation, "tone", "pale", "unchanged") < -0.05).all()


def test_rough_surface_raises_high_frequency_energy():
    ratio = np.array([_high_freq(*_render(s, surface="rough")) / _high_freq(*_render(s, surface="smooth"))
                      for s in SEEDS])
    assert (ratio > 1.5).all()


def test_surface_stays_readable_in_every_scene():
    """The mucosa's own pattern (villi, Kerckring rings, radial folds) is replaced by the lesion and the
    blurred "unclear lumen" scene keeps the lesion in focus: in every landmark a rough lesion has more fine
    texture than the same lesion smooth, and a smooth lesion less than three times that of a plain scene
    (before the fix: rough below smooth in the blurred scene and the oesophagus, six times in the rings)."""
    from explainendo.specs import GASTRIC_LANDMARKS

    seeds = range(3)
    plain = np.array([_high_freq(*_render(s, boundary="unclear")) for s in seeds])
    for landmark in GASTRIC_LANDMARKS:
        smooth = np.array([_high_freq(*_render(s, boundary="unclear", landmark=landmark)) for s in seeds])
        rough = np.array([_high_freq(*_render(s, boundary="unclear", landmark=landmark, surface="rough"))
                          for s in seeds])
        assert (rough > 1.2 * smooth).all(), landmark
        assert (smooth < 3.0 * plain).all(), landmark


def test_unclear_boundary_lowers_the_edge_gradient():
    diff = _paired(_edge_gradient, "boundary", "unclear", "clear", tone="reddened")
    assert (diff < 0).all()


def test_bleeding_adds_dark_red_spots():
    diff = _paired(_blood_fraction, "bleeding", "yes", "no")
    assert (diff > 0.01).all()


def test_elevation_lights_the_upper_left_and_shadows_the_lower_right():
    assert (_paired(_light_side_contrast, "elevation", "yes", "no") > 0.02).all()


def test_depression_darkens_the_centre():
    assert (_paired(_centre_minus_rim, "depression", "yes", "no") < -0.03).all()


def test_every_landmark_renders_its_own_background():
    shape = gastric.lesion_shape(np.random.default_rng(0))
    images = {lm: gastric.render_gastric({**BASE, "landmark": lm}, shape, np.random.default_rng(5), 64)[0]
              for lm in GASTRIC_LANDMARKS}
    means = np.array([im.reshape(-1, 3).mean(axis=0) for im in images.values()])
    assert len(images) == 26 and np.isfinite(means).all()
    distinct = {im.tobytes() for im in images.values()}
    assert len(distinct) == 26
