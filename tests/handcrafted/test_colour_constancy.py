"""Colour constancy before the colour features: hand values of the shades-of-grey formula, and its use."""

import logging

import numpy as np
import pytest

from explainendo.errors import ConfigError
from explainendo.features import LesionSamples
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.handcrafted.colour_constancy import apply_gains, correct, gains, illuminant
from explainendo.handcrafted.params import load_params
from explainendo.types import Box


def _cc(**given):
    return load_params({"colour_constancy": given})["colour_constancy"]


def test_a_uniformly_colour_cast_image_becomes_grey():
    cast = np.full((8, 8, 3), (200, 150, 100), np.uint8)
    e = illuminant(cast, p=1.0)
    assert np.allclose(e, np.array([200, 150, 100]) / 255)
    assert np.allclose(gains(e), [0.75, 1.0, 1.5])  # mean(e) / e_c, by hand: 150/200, 150/150, 150/100
    assert (apply_gains(cast, gains(e)) == 150).all()


def test_minkowski_exponent_by_hand():
    # two pixels (0.2, 0.4, 0.4) and (0.6, 0.4, 0.8) of full scale (51, 102, 102), (153, 102, 204)
    image = np.array([[[51, 102, 102], [153, 102, 204]]], np.uint8)
    r = np.sqrt((0.2 ** 2 + 0.6 ** 2) / 2)            # p = 2: sqrt(mean(I^2))
    b = np.sqrt((0.4 ** 2 + 0.8 ** 2) / 2)
    assert np.allclose(illuminant(image, p=2.0, dark=0.0), [r, 0.4, b])
    assert np.allclose(illuminant(image, p=np.inf, dark=0.0), [0.6, 0.4, 0.8])  # max-RGB
    assert np.allclose(illuminant(image, p=1.0, dark=0.0), [0.4, 0.4, 0.6])     # grey world


def test_dark_border_and_clipped_pixels_are_left_out_of_the_estimate():
    frame = np.zeros((10, 10, 3), np.uint8)           # black border
    frame[2:8, 2:8] = (180, 120, 120)                 # tinted mucosa
    frame[4, 4] = (255, 255, 255)                     # specular highlight
    assert np.allclose(illuminant(frame, p=1.0), np.array([180, 120, 120]) / 255)


def test_frame_reference_keeps_the_lesion_redder_than_its_mucosa():
    frame = np.full((40, 40, 3), (170, 140, 110), np.uint8)   # a warm cast over grey-ish mucosa
    frame[10:20, 10:20] = (220, 120, 90)                      # a reddened lesion
    box = Box(10, 10, 20, 20)
    samples = LesionSamples.from_images([frame], [box])
    by_frame = correct(samples.crops, samples.frames, _cc(method="grey_world"))[0].astype(float)
    by_crop = correct(samples.crops, samples.frames, _cc(method="grey_world", reference="crop"))[0].astype(float)
    # frame-wise: the cast goes, the lesion stays red (R well above G); crop-wise: the lesion itself is greyed
    assert by_frame[..., 0].mean() - by_frame[..., 1].mean() > 50
    assert abs(by_crop[..., 0].mean() - by_crop[..., 1].mean()) < 2
    # and the mucosa goes from a 60-level cast to nearly grey (the lesion, 1/16 of the frame, is in the estimate)
    mucosa = correct([frame[30:40, 30:40]], [frame], _cc(method="grey_world"))[0]
    assert np.ptp(mucosa.reshape(-1, 3).mean(axis=0)) <= 5


def test_two_centres_casts_give_the_same_colour_features_after_correction():
    rng = np.random.default_rng(0)
    scene = rng.integers(60, 200, size=(48, 48, 3)).astype(float)
    warm = np.clip(scene * (1.2, 1.0, 0.8), 0, 255).astype(np.uint8)
    cold = np.clip(scene * (0.85, 1.0, 1.15), 0, 255).astype(np.uint8)
    box = Box(8, 8, 40, 40)
    features = {}
    for method in ("none", "shades_of_grey"):
        source = HandcraftedFeatures(params={"extractors": ["color_moments"], "colour_constancy": {"method": method}})
        table = source.transform(LesionSamples.from_images([warm, cold], [box, box]))
        features[method] = np.abs(table.iloc[0] - table.iloc[1]).max()
    assert features["shades_of_grey"] < 0.2 * features["none"]


def test_settings_that_cannot_be_honoured_raise():
    with pytest.raises(ConfigError, match="colour_constancy.method"):
        load_params({"colour_constancy": {"method": "retinex"}})
    source = HandcraftedFeatures(params={"colour_constancy": {"method": "grey_world"}})
    with pytest.raises(ConfigError, match="no frames"):  # crops alone: no silent switch to the crop's own estimate
        source.transform([np.full((8, 8, 3), 100, np.uint8)])
    crop_wise = HandcraftedFeatures(params={"colour_constancy": {"method": "grey_world", "reference": "crop"}})
    assert crop_wise.transform([np.full((8, 8, 3), 100, np.uint8)]).notna().all(axis=None)


def test_a_frame_without_usable_pixels_loses_only_its_own_lesion(caplog):
    good = np.full((16, 16, 3), (150, 120, 100), np.uint8)
    black = np.zeros((16, 16, 3), np.uint8)
    box = Box(2, 2, 12, 12)
    samples = LesionSamples.from_images([good, black, good], [box, box, box])
    samples.table["image"] = ["a.jpg", "dark.jpg", "c.jpg"]
    source = HandcraftedFeatures(params={"extractors": ["color_moments"], "colour_constancy": {"method": "grey_world"}})
    with caplog.at_level(logging.WARNING):
        table = source.transform(samples)
    assert table.iloc[[0, 2]].notna().all(axis=None) and table.iloc[1].isna().all()
    assert "dark.jpg" in caplog.text
    strict = HandcraftedFeatures(params={"colour_constancy": {"method": "grey_world"}}, strict=True)
    with pytest.raises(Exception, match="no pixel is usable"):
        strict.transform(samples)


def test_default_is_no_correction_and_saved_params_round_trip(tmp_path):
    assert load_params()["colour_constancy"]["method"] == "none"
    crop = np.full((8, 8, 3), (200, 150, 100), np.uint8)
    assert correct([crop], None, load_params()["colour_constancy"])[0] is crop
    import explainendo

    source = HandcraftedFeatures(params={"colour_constancy": {"method": "shades_of_grey", "p": 4}})
    source.save(tmp_path / "h")
    loaded = explainendo.load(tmp_path / "h")
    assert loaded.resolved_params()["colour_constancy"] == {"method": "shades_of_grey", "p": 4, "reference": "frame",
                                                             "dark": 0.08, "bright": 0.98}
