"""Golden values of the colonoscopy frame-quality extractors, computed by hand in the comments."""

import cv2
import numpy as np
import pytest

from explainendo.handcrafted import FRAME_QUALITY_PARAMS_PATH, HandcraftedFeatures, extract, load_params
from explainendo.handcrafted.base import PreparedCrop
from explainendo.handcrafted.fluid_colour import hsv
from explainendo.handcrafted.motion_blur import MotionBlur


def quality(crop, **section):
    """Frame-quality features of one crop (working size 256 as in the colon suite) as a Series."""
    params = {"extractors": ["sharpness", "motion_blur", "specular_highlights", "fluid_colour", "exposure"],
              "preprocess": {"working_size": 256}, **section}
    return extract([crop], params=params).iloc[0]


def grey_image(values):
    return np.repeat(np.asarray(values, np.uint8)[..., None], 3, axis=2)


def test_sharpness_flat_is_zero_and_checkerboard_is_sixteen_grey_levels_squared():
    flat = quality(np.full((32, 32, 3), 128, np.uint8))
    assert flat["sharpness.laplacian_variance"] == 0.0
    assert flat["sharpness.high_frequency_ratio"] == 0.0
    # without smoothing (the plain Laplacian), a one-pixel 0/200 checkerboard: every neighbour differs, L = 4 * (+-200) at every pixel (mirrored borders
    # keep the pattern), mean 0, variance 16 * 200^2; all spectral energy sits at (0.5, 0.5) cycles/pixel,
    # |f| = 0.707 > 0.25: ratio 1. (Its bright pixels are not 4-connected, so the field of view is the frame;
    # 200 / 255 = 0.78 < 0.9: no pixel is a highlight.)
    board = grey_image((np.indices((16, 16)).sum(axis=0) % 2) * 200)
    row = quality(board, sharpness={"smoothing": 0.0})
    assert row["sharpness.laplacian_variance"] == pytest.approx(16 * 200 ** 2)
    assert row["sharpness.high_frequency_ratio"] == pytest.approx(1.0)


def test_sharpness_leaves_specular_highlights_out():
    # a flat pink frame with white reflections: the reflections (grown by 2 + 1 pixels) are left out, so what is
    # measured is the flat tissue: 0 (the Gaussian's reach, 4 SD, is left out too); dark dots in the same places are tissue detail, and count
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[:] = (200, 120, 120)
    for y, x in ((16, 16), (40, 20), (30, 48)):
        frame[y:y + 3, x:x + 3] = 255
    assert quality(frame)["sharpness.laplacian_variance"] == 0.0
    for y, x in ((16, 16), (40, 20), (30, 48)):
        frame[y:y + 3, x:x + 3] = 50
    assert quality(frame)["sharpness.laplacian_variance"] > 10


def test_sharpness_smoothing_sees_through_pixel_noise():
    # a textured frame plus pixel noise, and its defocused copy plus the same noise: the Laplacian of Gaussian
    # (smoothing 1) separates them far more than the plain Laplacian, which the noise dominates
    rng = np.random.default_rng(2)
    texture = cv2.GaussianBlur(rng.normal(128, 40, (128, 128)), (0, 0), 1.0)
    noise = rng.normal(0, 8, (128, 128))
    sharp = grey_image(np.clip(texture + noise, 0, 255))
    soft = grey_image(np.clip(cv2.GaussianBlur(texture, (0, 0), 3.0) + noise, 0, 255))

    def ratio(**section):
        return (quality(sharp, sharpness=section)["sharpness.laplacian_variance"]
                / quality(soft, sharpness=section)["sharpness.laplacian_variance"])

    assert ratio(smoothing=1.0) > 2 * ratio(smoothing=0.0)


def test_sharpness_drops_with_defocus():
    rng = np.random.default_rng(0)
    sharp = grey_image(rng.integers(40, 216, (96, 96)))
    soft = cv2.GaussianBlur(sharp, (0, 0), 2.0)
    assert quality(soft)["sharpness.laplacian_variance"] < 0.1 * quality(sharp)["sharpness.laplacian_variance"]
    assert quality(soft)["sharpness.high_frequency_ratio"] < quality(sharp)["sharpness.high_frequency_ratio"]


def test_motion_blur_structure_tensor_of_stripes():
    # intensity varies along x only: gy = 0, so J = [[a, 0], [0, 0]]: l2 = 0, anisotropy (a - 0) / (a + 0) = 1;
    # the most gradient energy lies along x (0 degrees), so the blur direction (least energy) is 90 degrees
    stripes = grey_image(np.tile((np.arange(64) % 8) * 25 + 40, (64, 1)))
    row = quality(stripes)
    assert row["motion_blur.anisotropy"] == pytest.approx(1.0)
    assert row["motion_blur.direction_deg"] == pytest.approx(90.0)
    # transposed: variation along y only, blur direction 0
    assert quality(stripes.transpose(1, 0, 2))["motion_blur.direction_deg"] == pytest.approx(0.0)


def _line_kernel(length: int, angle: float) -> np.ndarray:
    k = np.zeros((length + 2, length + 2), np.float32)
    c = (length + 1) / 2
    for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, 4 * length):
        k[int(round(c + t * np.sin(np.radians(angle)))), int(round(c + t * np.cos(np.radians(angle))))] = 1
    return k / k.sum()


@pytest.mark.parametrize("length, angle", [(9, 0), (9, 90), (9, 45), (13, 135)])
def test_motion_blur_direction_and_extent_of_a_known_kernel(length, angle):
    rng = np.random.default_rng(1)
    noise = grey_image(rng.integers(30, 220, (128, 128)))  # no pixel bright enough to count as a highlight
    blurred = cv2.filter2D(noise, -1, _line_kernel(length, angle), borderType=cv2.BORDER_REFLECT_101)
    row = quality(blurred)
    off = abs((row["motion_blur.direction_deg"] - angle + 90) % 180 - 90)
    assert off < 3.0
    assert row["motion_blur.anisotropy"] > 0.5
    # extent in working pixels (the frame is its own working image, side 128): the kernel's length, +- 1 pixel
    # (the oblique kernels are pixel staircases: their length along the diagonal is about the nominal one)
    assert abs(row["motion_blur.extent"] * 128 - length) <= 1.5
    sharp = quality(noise)
    assert sharp["motion_blur.extent"] == 0.0 and sharp["motion_blur.anisotropy"] < 0.1


def test_specular_highlights_count_blobs_and_small_ones():
    # a dark-red 20 x 20 frame (its field of view is the whole frame) with a 2 x 2 white block and one white
    # pixel apart: 5 highlight pixels of 400, two blobs
    frame = np.zeros((20, 20, 3), np.uint8)
    frame[:] = (200, 30, 30)
    frame[3:5, 3:5] = 255
    frame[12, 15] = 255
    row = quality(frame)
    assert row["specular_highlights.highlight_ratio"] == pytest.approx(5 / 400)
    assert row["specular_highlights.blob_count"] == 2.0
    # small_blob 0.002 * 400 = 0.8 pixels: no blob is smaller
    assert row["specular_highlights.small_blob_fraction"] == 0.0
    # small_blob 0.003 * 400 = 1.2 pixels: the one-pixel blob is small, 1 of the 5 highlight pixels
    row = quality(frame, specular_highlights={"small_blob": 0.003})
    assert row["specular_highlights.small_blob_fraction"] == pytest.approx(1 / 5)
    # a coloured bright pixel (saturation (1 - 0.2) / 1 = 0.8 > 0.3) is no highlight
    frame[3:5, 3:5] = (255, 50, 50)
    assert quality(frame)["specular_highlights.blob_count"] == 1.0


def test_fluid_colour_of_a_uniform_brown_frame():
    # RGB (0.6, 0.45, 0.15): V = 0.6 (red), chroma 0.45, hue 60 * ((0.45 - 0.15) / 0.45) = 40 degrees (inside
    # 25..75), saturation 0.45 / 0.6 = 0.75, value 0.6: every pixel is fluid. G/R = 0.75, B/R = 0.25.
    frame = np.empty((16, 16, 3))
    frame[:] = (0.6, 0.45, 0.15)
    row = quality(frame)
    assert row["fluid_colour.yellow_ratio"] == pytest.approx(1.0)
    assert row["fluid_colour.green_red_ratio"] == pytest.approx(0.75)
    assert row["fluid_colour.blue_red_ratio"] == pytest.approx(0.25)
    assert row["fluid_colour.saturation_mean"] == pytest.approx(0.75)
    # pink mucosa (0.8, 0.5, 0.5): hue 60 * ((0.5 - 0.5) / 0.3 mod 6) = 0 degrees: no fluid
    frame[:] = (0.8, 0.5, 0.5)
    assert quality(frame)["fluid_colour.yellow_ratio"] == 0.0


def test_hsv_against_the_hexcone_by_hand():
    hue, sat, val = hsv(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [1.0, 0.0, 0.5]]))
    assert hue.tolist() == pytest.approx([120.0, 240.0, 0.0, 0.0, 330.0])
    assert sat.tolist() == pytest.approx([1.0, 1.0, 0.0, 0.0, 1.0])
    assert val.tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0, 1.0])


def test_exposure_by_hand():
    # 3/4 of the frame grey 0.5 (luma 0.5), 1/4 red (1.0, 0.2, 0.2): luma 0.299 + 0.2 * 0.701 = 0.4392, clipped
    frame = np.empty((8, 8, 3))
    frame[:] = 0.5
    frame[:2] = (1.0, 0.2, 0.2)
    lumas = np.array([0.4392] * 16 + [0.5] * 48)
    row = quality(frame)
    assert row["exposure.brightness_mean"] == pytest.approx(lumas.mean())
    assert row["exposure.contrast"] == pytest.approx(lumas.std())
    assert row["exposure.dark_ratio"] == 0.0
    assert row["exposure.overexposed_ratio"] == pytest.approx(0.25)


def test_the_black_border_is_not_measured():
    # the same textured disc inside a black border, and the border alone changes nothing inside the eroded field:
    # sharpness of a flat disc on black is 0 (the rim is eroded away), not the rim's huge Laplacian
    frame = np.zeros((128, 128, 3), np.uint8)
    cv2.circle(frame, (64, 64), 56, (180, 90, 80), -1)
    row = quality(frame)
    assert row["sharpness.laplacian_variance"] == pytest.approx(0.0, abs=1e-9)
    assert row["exposure.dark_ratio"] == 0.0  # the border is outside the field of view
    crop = PreparedCrop(frame, working_size=256)
    assert crop.field_of_view(0.08, 0).sum() == int((frame.max(axis=2) > 0.08 * 255).sum())


def test_frame_quality_suite_loads_and_names_its_groups():
    params = load_params(FRAME_QUALITY_PARAMS_PATH)
    assert params["extractors"] == ["sharpness", "motion_blur", "specular_highlights", "fluid_colour", "exposure"]
    assert params["preprocess"]["working_size"] == 256
    groups = HandcraftedFeatures(params=FRAME_QUALITY_PARAMS_PATH).groups
    assert set(groups) == {"sharpness", "motion_blur", "specular_highlights", "fluid_colour", "exposure"}
    assert groups["motion_blur"] == ["motion_blur.anisotropy", "motion_blur.direction_deg", "motion_blur.extent"]
    with pytest.raises(TypeError):
        MotionBlur(unknown=1)


def test_degraded_real_frames_move_the_matching_quality_group():
    # a textured frame inside a black border, degraded four ways (synth.colon.degrade): each degradation moves
    # the frame-quality group that names it, and the border stays black
    from explainendo.synth.colon import degrade

    rng = np.random.default_rng(3)
    frame = np.zeros((120, 160, 3), np.uint8)
    texture = cv2.GaussianBlur(rng.integers(60, 230, (120, 160, 3)).astype(np.uint8), (0, 0), 1.0)
    cv2.circle(frame, (80, 60), 58, (1, 1, 1), -1)
    frame = np.where(frame > 0, texture, 0).astype(np.uint8)
    base = quality(frame)
    out = {a: degrade(frame, a, np.random.default_rng(4)) for a in ("motion_blur", "defocus", "fluid", "bubbles")}
    assert all(o.shape == frame.shape and o.dtype == np.uint8 for o in out.values())
    far = cv2.erode((frame.max(axis=2) == 0).astype(np.uint8), np.ones((3, 3), np.uint8), iterations=3).astype(bool)
    assert (out["fluid"][far] == 0).all()  # the border (away from the resized rim) stays black
    assert quality(out["defocus"])["sharpness.laplacian_variance"] < 0.2 * base["sharpness.laplacian_variance"]
    assert quality(out["motion_blur"])["motion_blur.anisotropy"] > base["motion_blur.anisotropy"] + 0.2
    assert quality(out["fluid"])["fluid_colour.yellow_ratio"] > base["fluid_colour.yellow_ratio"] + 0.3
    assert quality(out["bubbles"])["specular_highlights.blob_count"] > base["specular_highlights.blob_count"] + 5
