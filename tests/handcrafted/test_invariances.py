"""Invariances and agreement with the reference implementations (skimage LBP and HOG)."""

import numpy as np
import pytest
from skimage.feature import hog as skimage_hog
from skimage.feature import local_binary_pattern

from explainendo.handcrafted import extract
from explainendo.handcrafted.hog import gradient_orientation, hog_blocks
from explainendo.handcrafted.lbp import uniform_lbp


def smooth_random(shape, seed):
    """A random image with some spatial structure (a box-blurred noise field), floats in [0, 1]."""
    rng = np.random.default_rng(seed)
    noise = rng.random((shape[0] + 4, shape[1] + 4))
    blurred = sum(noise[i:i + shape[0], j:j + shape[1]] for i in range(5) for j in range(5)) / 25
    return (blurred - blurred.min()) / (blurred.max() - blurred.min())


def test_constant_crop_has_zero_spread_one_lbp_bin_and_no_gradient():
    values = extract([np.full((40, 30, 3), (180, 90, 60), np.uint8)]).iloc[0]
    for channel in "rgb":
        assert values[f"color_moments.{channel}_std"] == 0.0
        assert values[f"color_moments.{channel}_skewness"] == 0.0
    assert values["color_moments.r_mean"] == pytest.approx(180 / 255)
    # flat crop: every neighbour equals the centre -> all 8 bits set -> everything in bin P = 8
    hist = values[[f"lbp.hist_{k}" for k in range(10)]].to_numpy()
    assert hist[8] == 1.0 and hist.sum() == 1.0
    assert values["lbp.std"] == 0.0 and values["lbp.entropy"] == 0.0
    assert (values[[f"hog.bin_{b}" for b in range(9)]] == 0).all()
    assert values["hog.mean_magnitude"] == 0.0
    assert values["hsi_saturation_entropy.entropy"] == 0.0


def test_rotation_by_90_degrees_moves_hog_mass_by_half_the_bins():
    # B = 4 bins of 45 degrees: theta -> theta + 90 (mod 180) maps bin b to b + 2. A 64 x 64 image with
    # 8-pixel cells: the cell grid maps onto itself, so the pooled bins are exactly rolled by 2.
    image = smooth_random((64, 64), seed=1)
    params = {"hog": {"orientations": 4}}
    before, after = extract([image, np.rot90(image).copy()], params=params).filter(like="hog.").to_numpy()
    np.testing.assert_allclose(after[:4], np.roll(before[:4], 2), atol=1e-12)
    np.testing.assert_allclose(after[4:], before[4:], atol=1e-12)  # entropy, mean magnitude unchanged
    assert not np.allclose(after[:4], before[:4], atol=1e-3)  # the mass really moved
    # rotation leaves LBP (rotation-invariant codes) and the colour features unchanged
    both = extract([image, np.rot90(image).copy()])
    lbp = both.filter(like="lbp.").to_numpy()
    np.testing.assert_allclose(lbp[0], lbp[1], atol=0.02)
    np.testing.assert_allclose(both.filter(like="color_moments.").to_numpy()[0],
                               both.filter(like="color_moments.").to_numpy()[1], atol=1e-12)


@pytest.mark.filterwarnings("ignore:Applying `local_binary_pattern` to floating-point:UserWarning")
def test_lbp_matches_skimage_uniform_away_from_the_border():
    image = np.random.default_rng(3).random((24, 30))
    ours = uniform_lbp(image, 8, 1.0)
    reference = local_binary_pattern(image, 8, 1, method="uniform")
    # skimage pads with zeros, this module replicates the edge: compare the interior
    np.testing.assert_array_equal(ours[2:-2, 2:-2], reference[2:-2, 2:-2])
    ours = uniform_lbp(image, 16, 2.0)
    reference = local_binary_pattern(image, 16, 2, method="uniform")
    np.testing.assert_array_equal(ours[3:-3, 3:-3], reference[3:-3, 3:-3])


def test_hog_blocks_match_skimage_hog():
    # skimage zeroes the gradient on the outermost pixels, this module uses edge replication: with a
    # constant two-pixel frame both give the same gradients everywhere.
    image = np.full((48, 40), 0.5)
    image[2:-2, 2:-2] = smooth_random((44, 36), seed=2)
    magnitude, theta = gradient_orientation(image)
    ours = hog_blocks(magnitude, theta, orientations=9, cell_size=8, block_size=2)
    reference = skimage_hog(image, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2),
                            block_norm="L2-Hys", feature_vector=False)
    # skimage averages each cell (divides by 64) before normalising: identical up to the tiny eps
    np.testing.assert_allclose(ours, reference.reshape(-1, 4, 9), atol=1e-5)


def test_working_resolution_bounds_the_texture_image_and_keeps_large_crops_close():
    # a 3x larger crop of the same smooth content gives close texture features: both are worked at 96 px
    small = (smooth_random((96, 96), seed=4) * 255).astype(np.uint8)
    large = np.kron(small, np.ones((3, 3), np.uint8))
    rows = extract([small, large])
    np.testing.assert_allclose(rows.filter(like="hog.bin").to_numpy()[0], rows.filter(like="hog.bin").to_numpy()[1],
                               atol=0.05)
    np.testing.assert_allclose(rows.filter(like="color_moments").to_numpy()[0],
                               rows.filter(like="color_moments").to_numpy()[1], atol=0.01)


def test_flat_crops_of_any_size_and_colour_put_all_lbp_in_one_bin():
    # guards the bit-exact grey conversion and resize: a 1-ulp difference between equal pixels would flip
    # LBP bits on flat areas
    rng = np.random.default_rng(5)
    crops = [np.broadcast_to(rng.integers(0, 256, 3).astype(np.uint8), (h, w, 3)).copy()
             for h, w in rng.integers(1, 400, (30, 2))]
    frame = extract(crops)
    assert (frame["lbp.hist_8"] == 1.0).all()
    assert (frame.filter(like="_std") == 0).all().all()
