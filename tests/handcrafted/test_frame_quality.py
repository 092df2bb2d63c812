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


def _grating(cycles: int, side: int = 128, amplitude: float = 80.0, vertical: bool = False):
    """A grey cosine grating with ``cycles`` periods across the frame, varying along x (or y)."""
    wave = 128 + amplitude * np.cos(2 * np.pi * cycles * np.arange(side) / side)
    values = np.tile(wave, (side, 1))
    return grey_image(values.T if vertical else values)


def test_directional_detail_of_a_flat_frame_and_of_a_grating():
    # a flat frame has no variance: every directional column reads 0
    flat = quality(np.full((32, 32, 3), 128, np.uint8))
    assert flat["sharpness.detail_sharpest"] == 0.0
    assert (flat["motion_blur.anisotropy"], flat["motion_blur.direction_deg"]) == (0.0, 0.0)
    # a grating of 24 cycles across 128 pixels (inside the band of 15-38 cycles per side) varying along x: all its
    # detail lies in the frequencies along x (0 degrees); across it (along y) there is none, so the "blur" lies
    # along y (90 degrees), the sharpest orientation holds the grating's power and the blurriest only the floor
    row = quality(_grating(24))
    assert row["motion_blur.direction_deg"] == pytest.approx(90.0, abs=1.0)
    assert row["motion_blur.anisotropy"] > 10  # ln(max / min): the floor is 1e-9 of the variance
    assert row["sharpness.detail_sharpest"] > 2
    assert quality(_grating(24, vertical=True))["motion_blur.direction_deg"] == pytest.approx(0.0, abs=1.0)
    # relative to the frame's own variance: half the amplitude (a quarter of the power and of the variance) reads
    # the same (up to the 8-bit rounding); a grating outside the band (8 cycles: folds' scale) has no fine detail
    assert quality(_grating(24, amplitude=40.0))["sharpness.detail_sharpest"] == pytest.approx(
        row["sharpness.detail_sharpest"], abs=1e-3)
    assert quality(_grating(8))["sharpness.detail_sharpest"] < row["sharpness.detail_sharpest"] - 5


def test_defocus_lowers_the_sharpest_orientation_motion_blur_the_anisotropy():
    rng = np.random.default_rng(0)
    texture = grey_image(np.clip(cv2.GaussianBlur(rng.normal(128, 50, (128, 128)), (0, 0), 0.7), 0, 255))
    sharp = quality(texture)
    soft = quality(cv2.GaussianBlur(texture, (0, 0), 3.0))
    shaken = quality(cv2.filter2D(texture, -1, _line_kernel(13, 30), borderType=cv2.BORDER_REFLECT_101))
    # defocus: every orientation loses its detail, the sharpest one included; the frame stays isotropic
    assert soft["sharpness.detail_sharpest"] < sharp["sharpness.detail_sharpest"] - 2
    assert soft["motion_blur.anisotropy"] < 1.5
    # a linear blur keeps the detail across its direction and removes it along it
    assert shaken["sharpness.detail_sharpest"] > sharp["sharpness.detail_sharpest"] - 1
    assert shaken["motion_blur.anisotropy"] > sharp["motion_blur.anisotropy"] + 2
    assert shaken["motion_blur.anisotropy"] > soft["motion_blur.anisotropy"] + 2


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
    assert row["motion_blur.anisotropy"] > 3.0
    # extent in working pixels (the frame is its own working image, side 128): the kernel's length, +- 1 pixel
    # (the oblique kernels are pixel staircases: their length along the diagonal is about the nominal one)
    assert abs(row["motion_blur.extent"] * 128 - length) <= 1.5
    sharp = quality(noise)
    # white noise is isotropic: only the periodogram's scatter over 30 orientations separates max and min
    assert sharp["motion_blur.extent"] == 0.0 and sharp["motion_blur.anisotropy"] < 0.6


def test_clear_colon_phantoms_read_no_blur_extent():
    # issue 21: the extent search's first lag sits on the high-pass's own negative lobe; a minimum there is no dip
    # (before, clear phantom views read 0.047 from it, and every blur's 0 looked like the evidence)
    from explainendo.synth import generate

    data = generate("colon", 24, seed=5, size=256, proportions={"normal": 1.0})
    extents = [quality(image)["motion_blur.extent"] for image in data.images]
    assert np.mean(np.asarray(extents) == 0.0) >= 0.9, extents


def _ring_frame():
    """A dark-red 20 x 20 frame (V = 200 / 255 = 0.78 everywhere) with a one-pixel white square outline from
    (5, 5) to (11, 11), a solid white 3 x 3 spot and a white 2 x 2 spot."""
    frame = np.zeros((20, 20, 3), np.uint8)
    frame[:] = (200, 60, 60)
    frame[5, 5:12] = frame[11, 5:12] = frame[5:12, 5] = frame[5:12, 11] = 255
    frame[15:18, 2:5] = 255
    frame[2:4, 15:17] = 255
    return frame


def test_specular_highlights_count_rings_not_spots():
    # side 20: the top-hat's element is max(3, round(0.027 * 20)) = 3 pixels (a 3 x 3 ellipse, i.e. a cross). The
    # outline (1 pixel wide) does not survive the opening: top-hat 1 - 0.78 = 0.22 > 0.1 on all its pixels, which are
    # white (V 1 >= 0.7, saturation 0): a rim. It encloses the 5 x 5 = 25 pixels inside: one ring, 25 / 400 of the
    # field (the whole frame: no border). The 3 x 3 spot keeps its centre cross through the opening, so only its
    # four corners are rim (no enclosed pixel); the 2 x 2 spot is all rim but solid. Neither is a ring.
    row = quality(_ring_frame())
    assert row["specular_highlights.ring_count"] == 1.0
    assert row["specular_highlights.ring_area"] == pytest.approx(25 / 400)
    # a ring needs min_ring pixels inside
    assert quality(_ring_frame(), specular_highlights={"min_ring": 26})["specular_highlights.ring_count"] == 0.0
    # a coloured outline (saturation (1 - 0.2) / 1 = 0.8 > 0.45) is no reflection, so no rim
    frame = _ring_frame()
    frame[5, 5:12] = frame[11, 5:12] = frame[5:12, 5] = frame[5:12, 11] = (255, 50, 50)
    assert quality(frame)["specular_highlights.ring_count"] == 0.0
    # a solid white disc: a reflection, not a ring
    disc = np.zeros((64, 64, 3), np.uint8)
    disc[:] = (200, 60, 60)
    cv2.circle(disc, (32, 32), 6, (255, 255, 255), -1)
    assert quality(disc)["specular_highlights.ring_count"] == 0.0


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
    assert row["exposure.overexposed_ratio"] == pytest.approx(0.25)
    # issue 21: no contrast or dark ratio (in a colonoscopy frame those measure the lumen)
    assert [c for c in row.index if c.startswith("exposure.")] == ["exposure.brightness_mean",
                                                                    "exposure.overexposed_ratio"]


def test_the_black_border_is_not_measured():
    # a flat disc inside a black border: the border and the disc's rim are not detail (the field of view is
    # eroded and its rim tapered out of the spectrum), so the flat disc reads no detail at all
    frame = np.zeros((128, 128, 3), np.uint8)
    cv2.circle(frame, (64, 64), 56, (180, 90, 80), -1)
    row = quality(frame)
    assert row["sharpness.detail_sharpest"] == 0.0  # no variance inside the field of view
    assert row["exposure.brightness_mean"] == pytest.approx((0.299 * 180 + 0.587 * 90 + 0.114 * 80) / 255, abs=1e-6)
    # the same texture with and without a border around it: the border changes the detail little
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.integers(60, 200, (128, 128, 3)).astype(np.uint8), (0, 0), 1.0)
    framed = np.where(frame > 0, texture, 0).astype(np.uint8)
    assert quality(framed)["sharpness.detail_sharpest"] == pytest.approx(
        quality(texture)["sharpness.detail_sharpest"], abs=0.5)
    crop = PreparedCrop(frame, working_size=256)
    assert crop.field_of_view(0.08, 0).sum() == int((frame.max(axis=2) > 0.08 * 255).sum())


def test_frame_quality_suite_loads_and_names_its_groups():
    params = load_params(FRAME_QUALITY_PARAMS_PATH)
    assert params["extractors"] == ["sharpness", "motion_blur", "specular_highlights", "fluid_colour", "exposure"]
    assert params["preprocess"]["working_size"] == 256
    groups = HandcraftedFeatures(params=FRAME_QUALITY_PARAMS_PATH).groups
    assert set(groups) == {"sharpness", "motion_blur", "specular_highlights", "fluid_colour", "exposure"}
    assert groups["sharpness"] == ["sharpness.detail_sharpest"]
    assert groups["motion_blur"] == ["motion_blur.anisotropy", "motion_blur.direction_deg", "motion_blur.extent"]
    assert groups["specular_highlights"] == ["specular_highlights.ring_count", "specular_highlights.ring_area"]
    assert groups["exposure"] == ["exposure.brightness_mean", "exposure.overexposed_ratio"]
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
    assert quality(out["defocus"])["sharpness.detail_sharpest"] < base["sharpness.detail_sharpest"] - 2
    assert quality(out["motion_blur"])["motion_blur.anisotropy"] > base["motion_blur.anisotropy"] + 1
    assert quality(out["fluid"])["fluid_colour.yellow_ratio"] > base["fluid_colour.yellow_ratio"] + 0.3
    assert quality(out["bubbles"])["specular_highlights.ring_count"] > base["specular_highlights.ring_count"] + 5
    # and each leaves the other degradations' specific columns where the clear frame has them
    assert quality(out["motion_blur"])["specular_highlights.ring_count"] == base["specular_highlights.ring_count"]
    assert quality(out["defocus"])["motion_blur.anisotropy"] < base["motion_blur.anisotropy"] + 1
