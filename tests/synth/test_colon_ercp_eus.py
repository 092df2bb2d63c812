"""System-specific promises of the colon, ERCP and EUS generators."""

import cv2
import numpy as np
import pytest

from explainendo.errors import ConfigError
from explainendo.synth import colon, eus, generate


def _sharpness(img):
    """Band-pass detail energy of the centre: above the pixel noise added last, below the lumen's shading."""
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64)
    band = cv2.GaussianBlur(grey, (0, 0), 1.2) - cv2.GaussianBlur(grey, (0, 0), 5)
    q = len(grey) // 4
    return np.abs(band[q:-q, q:-q]).mean()


# ---- colon -------------------------------------------------------------------------------------------
def test_colon_proportions_videos_and_boxes():
    ps = generate("colon", 240, seed=1, size=64, proportions={"normal": 0.2, "unclear": 0.3, "tumor": 0.5},
                  frames_per_video=20, videos_per_patient=2)
    t = ps.table
    shares = t["label"].value_counts(normalize=True)
    assert shares["tumor"] == pytest.approx(0.5, abs=0.08) and shares["normal"] == pytest.approx(0.2, abs=0.08)
    assert t["video"].nunique() == 12 and t["patient"].nunique() == 6
    assert (t.groupby("video")["patient"].nunique() == 1).all()
    boxed = t[["x1", "y1", "x2", "y2"]].notna().all(axis=1)
    assert (boxed == (t["label"] == "tumor")).all()
    assert set(t.loc[t["label"] == "unclear", "attr.artifact"]) <= set(colon.ARTIFACTS)
    assert ps.bayes_rate is None
    with pytest.raises(ConfigError):
        generate("colon", 4, size=64, proportions={"normal": 1, "blurry": 1})


def test_colon_unclear_frames_are_blurred_or_covered():
    video = colon._video_params(np.random.default_rng(3))
    for seed in range(4):
        normal = colon.render_colon(video, seed, "normal", np.random.default_rng(seed), 128)[0]
        for artifact in ("motion_blur", "defocus"):
            spoiled = colon.render_colon(video, seed, "unclear", np.random.default_rng(seed), 128, artifact)[0]
            assert _sharpness(spoiled) < 0.8 * _sharpness(normal)
        fluid = colon.render_colon(video, seed, "unclear", np.random.default_rng(seed), 128, "fluid")[0]
        green_over_red = lambda im: im[32:96, 32:96, 1].mean() / im[32:96, 32:96, 0].mean()  # noqa: E731
        assert green_over_red(fluid) > green_over_red(normal) + 0.1  # towards yellow-brown
        bubbles = colon.render_colon(video, seed, "unclear", np.random.default_rng(seed), 128, "bubbles")[0]
        assert (bubbles.min(axis=2) > 200).mean() > (normal.min(axis=2) > 200).mean()


# ---- ERCP --------------------------------------------------------------------------------------------
def test_ercp_labels_follow_the_ordinal_rule_and_box_grows_with_papilla_size():
    ps = generate("ercp", 360, seed=2, size=64, images_per_patient=1)
    t = ps.table
    assert set(t["attr.difficulty"]) <= set(ps.rule.classes)
    assert ((t["label"] == "easy") == (t["attr.difficulty"] == "easy")).all()
    assert ps.bayes_rate == pytest.approx(ps.rule.bayes_rate()) and 0.75 < ps.bayes_rate < 0.95
    assert (t["label"] == "difficult").mean() == pytest.approx(ps.rule.positive_rate(), abs=0.08)
    assert ps.empirical_bayes_rate == pytest.approx(ps.bayes_rate, abs=0.07)
    area = ((t.x2 - t.x1) * (t.y2 - t.y1)).groupby(t["attr.papilla_size"]).mean()
    assert area["small"] < area["medium"] < area["large"]
    # small papilla, diverticulum: harder; the exact class probabilities sum to one
    hard = {"papilla_size": "small", "protrusion": "flat", "position": "off_centre", "diverticulum": "yes",
            "hooding_fold": "long"}
    easy = {"papilla_size": "large", "protrusion": "protruding", "position": "central", "diverticulum": "no",
            "hooding_fold": "short"}
    assert ps.rule.probability(hard) > 0.95 > 0.05 > ps.rule.probability(easy)
    assert ps.rule.class_probabilities(hard).sum() == pytest.approx(1.0)


def test_ercp_diverticulum_darkens_the_view():
    from explainendo.synth import ercp

    base = {"papilla_size": "medium", "protrusion": "protruding", "position": "central", "diverticulum": "no",
            "hooding_fold": "short"}
    dark = lambda im: (im.mean(axis=2)[16:112, 16:112] < 40).mean()  # noqa: E731
    diffs = [dark(ercp.render_ercp({**base, "diverticulum": "yes"}, np.random.default_rng(s), 128)[0])
             - dark(ercp.render_ercp(base, np.random.default_rng(s), 128)[0]) for s in range(5)]
    assert min(diffs) > 0.01


# ---- EUS ---------------------------------------------------------------------------------------------
def test_eus_cyst_types_look_different():
    for seed in range(4):
        for label in ("mucinous", "serous"):
            img, mask, _ = eus.render_eus(label, False, False, np.random.default_rng(seed), 160)
            inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
            grey = img[..., 0].astype(float)
            bright_share = (grey[inner] > 100).mean()
            if label == "mucinous":  # anechoic unilocular lumen
                assert bright_share < 0.15
            else:  # septa of the honeycomb
                assert bright_share > 0.15
        calc, mask, _ = eus.render_eus("mucinous", True, False, np.random.default_rng(seed), 160)
        plain, _, _ = eus.render_eus("mucinous", False, False, np.random.default_rng(seed), 160)
        assert (calc[..., 0] > 240).sum() > (plain[..., 0] > 240).sum()


def test_eus_proportions_and_label_noise():
    ps = generate("eus", 200, seed=5, size=64, proportions={"mucinous": 0.7, "serous": 0.3}, label_noise=0.1)
    t = ps.table
    assert (t["attr.cyst_type"] == "mucinous").mean() == pytest.approx(0.7, abs=0.08)
    assert ps.bayes_rate == pytest.approx(0.9)
    assert (t["label"] != t["attr.cyst_type"]).mean() == pytest.approx(0.1, abs=0.05)
    assert (t.loc[t["attr.cyst_type"] == "mucinous", "attr.central_scar"] == "no").all()
    with pytest.raises(ConfigError):
        generate("eus", 2, size=64, label_noise=0.7)
