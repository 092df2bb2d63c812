"""The colonoscopy frame path's speed changes (issue 21) give the outputs of the code they replaced: the field of
view (OpenCV components against scipy's labelling and hole filling, ties included), its bounding box, the frame-quality
features on 640 x 480 frames against their reference computations; and a ColonFrameDetector exported to ONNX and
loaded with runtime="onnx" predicts what torch predicts (probabilities within 1e-4), also through VideoSession with
box reuse. No timing is asserted here (benchmarks/colon.py --parts speed measures it)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy import ndimage

from explainendo.features import LesionSamples
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.handcrafted.base import PreparedCrop
from explainendo.handcrafted.frame_masks import DETAIL_HIGHPASS, DETAIL_STEP, DETAIL_TAPER, _sector_geometry, \
    directional_detail
from explainendo.handcrafted.specular_highlights import bright_rings
from explainendo.io.image import brightest_channel, largest_bright_box, largest_bright_region
from explainendo.localize import field_of_view_box
from explainendo.synth import generate
from explainendo.systems.colon import colon_handcrafted_params


# ---- the references: the computations the fast path replaced -------------------------------------------------------
def reference_region(brightness, level, min_fraction=0.1):
    """scipy: the largest 4-connected region (the first in raster order on a tie), holes filled."""
    labels, n = ndimage.label(np.asarray(brightness) > level)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel())[1:]
    if sizes.max() < min_fraction * labels.size:
        return None
    return ndimage.binary_fill_holes(labels == (int(np.argmax(sizes)) + 1))


def reference_box(image, level=20, min_fraction=0.1):
    region = reference_region(image.max(axis=2), level, min_fraction)
    if region is None:
        return (0.0, 0.0, float(image.shape[1]), float(image.shape[0]))
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def reference_field(crop, level, erode):
    region = reference_region(crop.working_rgb.max(axis=2), level)
    mask = np.ones(crop.grey.shape, bool) if region is None else region
    if erode > 0:
        mask = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=int(erode),
                         borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)
    return mask


def reference_directional_detail(grey, inside):
    """frame_masks.directional_detail as it was: the power over the whole spectrum, then the band picked."""
    h, w = grey.shape
    side = max(h, w)
    field = inside.astype(np.float64)
    total = float(field.sum())
    g = grey.astype(np.float64)
    variance = float((((g - (g * field).sum() / total) ** 2) * field).sum() / total)
    if variance <= 1e-18:  # a flat frame
        return 0.0, 0.0, 0.0
    sigma = DETAIL_HIGHPASS * side
    local = (cv2.GaussianBlur(g * field, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
             / np.maximum(cv2.GaussianBlur(field, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT), 1e-9))
    taper = cv2.GaussianBlur(field, (0, 0), DETAIL_TAPER * side, borderType=cv2.BORDER_CONSTANT) * field
    power = np.abs(np.fft.fft2((g - local) * taper)) ** 2 / max(float(taper.sum()), 1e-9)
    index, sector, counts = _sector_geometry(h, w)
    sums = np.bincount(sector, weights=power.reshape(-1)[index], minlength=len(counts))
    filled = counts > 0
    thetas = (np.arange(len(counts)) * DETAIL_STEP)[filled]
    energies = np.maximum(sums[filled] / counts[filled], 1e-9 * variance)
    harmonic = np.sum(np.log(energies) * np.exp(2j * np.radians(thetas)))
    direction = round(float(np.degrees(np.angle(-harmonic)) / 2.0), 9) % 180.0 if abs(harmonic) > 0 else 0.0
    return (float(np.log(energies.max() / variance)), float(np.log(energies.min() / variance)), float(direction))


@pytest.fixture(scope="module")
def frames():
    """Colon phantoms (every degradation) resized to 640 x 480, a few at their own 256 px, and a frame whose view is
    one dark disc (no field of view: the whole frame)."""
    phantoms = generate("colon", 24, seed=3, size=256)
    out = [cv2.resize(f, (640, 480)) for f in phantoms.images] + list(phantoms.images[:4])
    return out + [np.full((480, 640, 3), 5, np.uint8)]


# ---- field of view -------------------------------------------------------------------------------------------------
def test_the_field_of_view_is_scipys_on_random_masks_with_holes_and_ties():
    rng = np.random.default_rng(0)
    for trial in range(60):
        h, w = rng.integers(5, 40, size=2)
        brightness = rng.random((h, w)) * (rng.random((h, w)) > rng.uniform(0.1, 0.6))
        for level in (0.0, 0.2, 0.5):
            for fraction in (0.0, 0.1):
                ref = reference_region(brightness, level, fraction)
                got = largest_bright_region(brightness, level, fraction)
                assert (ref is None) == (got is None)
                if ref is not None:
                    assert np.array_equal(ref, got), (trial, level)
                    rows, cols = np.flatnonzero(ref.any(axis=1)), np.flatnonzero(ref.any(axis=0))
                    assert largest_bright_box(brightness, level, fraction) == (cols[0], rows[0], cols[-1] + 1,
                                                                                rows[-1] + 1)
    tie = np.zeros((6, 9))
    tie[1:4, 5:8] = 1  # two 3 x 3 squares: the first in raster order (the upper one) wins, as with scipy
    tie[3:6, 0:3] = 1
    assert np.array_equal(largest_bright_region(tie, 0.5, 0.0), reference_region(tie, 0.5, 0.0))
    ring = np.ones((9, 9))
    ring[3:6, 3:6] = 0  # a hole: filled
    assert largest_bright_region(ring, 0.5).all()


def test_the_frame_box_and_the_crops_field_are_the_reference(frames):
    for image in frames:
        assert np.array_equal(brightest_channel(image), image.max(axis=2))
        assert field_of_view_box(image).to_xyxy() == reference_box(image)
        crop = PreparedCrop(field_of_view_box(image).crop(image), working_size=256)
        for level, erode in ((0.08, 0), (0.08, 3), (0.08, 8), (0.2, 1)):
            assert np.array_equal(crop.field_of_view(level, erode), reference_field(crop, level, erode))


# ---- the frame-quality features --------------------------------------------------------------------------------------
def test_frame_quality_features_equal_their_reference_computations(frames):
    samples = LesionSamples.from_images(frames, [field_of_view_box(f) for f in frames])
    table = HandcraftedFeatures(params=colon_handcrafted_params()).transform(samples)
    params = colon_handcrafted_params()
    for i, image in enumerate(samples.crops):
        crop = PreparedCrop(image, working_size=params["preprocess"]["working_size"])
        rgb = crop.working_rgb
        # the directional detail (sharpness, motion blur): the whole spectrum's power, as it was
        reference = reference_directional_detail(crop.grey, reference_field(crop, 0.08, 3))
        assert directional_detail(crop.grey, crop.field_of_view(0.08, 3)) == reference
        sharpest, blurriest, direction = reference
        assert table["sharpness.detail_sharpest"][i] == sharpest
        assert table["motion_blur.anisotropy"][i] == sharpest - blurriest
        assert table["motion_blur.direction_deg"][i] == direction
        # exposure and fluid colour: the field's pixels with numpy's reductions over the channel axis
        inside = reference_field(crop, 0.08, 0)
        pixels = rgb[inside]
        if pixels.size:
            assert table["exposure.overexposed_ratio"][i] == float((pixels >= 0.98).any(axis=1).mean())
            assert table["exposure.brightness_mean"][i] == float((pixels @ np.array([0.299, 0.587, 0.114])).mean())
            value, low = pixels.max(axis=1), pixels.min(axis=1)
            saturation = np.where(value > 0, (value - low) / np.where(value > 0, value, 1.0), 0.0)
            assert table["fluid_colour.saturation_mean"][i] == float(saturation.mean())
        # the bubbles' rings: the brightest / darkest channel by numpy's reductions
        value = rgb.max(axis=2)
        saturation = np.where(value > 0, (value - rgb.min(axis=2)) / np.where(value > 0, value, 1.0), 0.0)
        c = params["specular_highlights"]
        candidates = inside & (value >= c["rim_value_min"]) & (saturation <= c["rim_saturation_max"])
        count, area = bright_rings(value, candidates, c["ring_width"], c["ring_contrast"], c["min_ring"])
        assert table["specular_highlights.ring_count"][i] == float(count)
        assert table["specular_highlights.ring_area"][i] == area / max(int(inside.sum()), 1)
    assert np.isfinite(table.to_numpy()).all()


# ---- onnxruntime and VideoSession on a colon model -------------------------------------------------------------------
@pytest.fixture(scope="module")
def colon_folders(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from explainendo import ColonFrameDetector
    from explainendo.localize import DetectorTraining
    from explainendo.predict import InSample
    from explainendo.runtime import export_onnx
    from explainendo.systems import colon_cnn, colon_localizer, colon_predictor
    from explainendo.training import Training

    root = tmp_path_factory.mktemp("colon_onnx")
    train = generate("colon", 48, seed=0, size=96).write(root / "train")
    localizer = colon_localizer(image_size=64, training=DetectorTraining(epochs=2, batch_size=16, patience=None))
    cnn = colon_cnn(image_size=64, training=Training(epochs=1, batch_size=16))
    model = ColonFrameDetector(localizer=localizer, min_box_score=0.0, seed=0, ood=None,  # the flag is not exported
                               predictor=colon_predictor(cnn=cnn, fitter="logistic_regression", stacking=InSample()))
    folder = model.fit(train).save(root / "model")
    exported = export_onnx(folder, root / "model_onnx")
    assert {e.kind for e in exported} == {"attribute_heads", "centernet_localizer"}  # the CNN and the tumor detector
    return folder, root / "model_onnx"


def test_the_onnx_runtime_predicts_what_torch_predicts(colon_folders):
    import explainendo

    torch_model = explainendo.load(colon_folders[0])
    onnx_model = explainendo.load(colon_folders[1], runtime="onnx")
    assert getattr(onnx_model.detector_, "onnx_", None) is not None
    stream = [cv2.resize(f, (640, 480)) for f in generate("colon", 16, seed=5, size=96).images]
    for batch in (1, 16):
        torch_model.batch_size = onnx_model.batch_size = batch
        a = list(torch_model.predict(iter(stream), stream=True))
        b = list(onnx_model.predict(iter(stream), stream=True))
        for x, y in zip(a, b):
            px = np.array(list(x.lesions[0].probabilities.values()))
            py = np.array(list(y.lesions[0].probabilities.values()))
            assert np.abs(px - py).max() < 1e-4
            assert x.label == y.label
            assert abs(x.lesions[0].features["deep.p_tumor"] - y.lesions[0].features["deep.p_tumor"]) < 1e-4
            assert x.box.to_xyxy() == y.box.to_xyxy()  # the field of view
    tumor = [cv2.resize(f, (640, 480)) for f in generate("colon", 16, seed=5, size=96).images]
    found_t = torch_model.detector_.locate_batch(tumor)
    found_o = onnx_model.detector_.locate_batch(tumor)
    for bt, bo in zip(found_t, found_o):
        assert len(bt) == len(bo)
        for u, v in zip(bt, bo):
            assert abs(u.score - v.score) < 1e-4
            assert max(abs(p - q) for p, q in zip(u.to_xyxy(), v.to_xyxy())) < 0.5


def test_video_session_with_box_reuse_runs_the_onnx_colon_model(colon_folders):
    import explainendo
    from explainendo.video import VideoSession

    model = explainendo.load(colon_folders[1], runtime="onnx")
    still = cv2.resize(generate("colon", 1, seed=9, size=96).images[0], (640, 480))
    frames = [still] * 6 + [cv2.resize(f, (640, 480)) for f in generate("colon", 4, seed=8, size=96).images]
    plain = [f.result for f in VideoSession(model, explain_on_freeze=False, fps=25.0).run(frames)]
    reusing = list(VideoSession(model, explain_on_freeze=False, fps=25.0, reuse_box=True).run(frames))
    assert sum(f.box_reused for f in reusing) >= 4  # the resting frames reuse the field of view
    for p, r in zip(plain, reusing):
        assert p.label == r.result.label
        assert math.isclose(p.probability, r.result.probability, abs_tol=1e-9)


def test_handcrafted_threads_give_the_one_thread_table(frames):
    from explainendo.handcrafted.params import load_params
    from explainendo.handcrafted.runner import build_extractors, run_extractors

    params = load_params(colon_handcrafted_params())
    crops = [field_of_view_box(f).crop(f) for f in frames[:7]]
    one = run_extractors(build_extractors(params), params["preprocess"], crops, threads=1)
    for threads in (2, 3):
        assert run_extractors(build_extractors(params), params["preprocess"], crops, threads=threads).equals(one)
