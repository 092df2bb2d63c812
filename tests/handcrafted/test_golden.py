"""Golden values: every handcrafted feature on tiny images, computed by hand in the comments."""

import math

import numpy as np
import pytest

from explainendo.handcrafted import extract
from explainendo.handcrafted.hsi_saturation_entropy import hsi_saturation
from explainendo.types import Box


def one(crop, params=None, **kwargs):
    """Features of one crop as a Series."""
    return extract([crop], params=params, **kwargs).iloc[0]


# ---- 1. aspect ratio --------------------------------------------------------------------------------

def test_aspect_ratio_from_box_mask_and_crop():
    crop = np.zeros((6, 8, 3), np.uint8)
    # box 10..40 x 20..30: width 30, height 10 -> 30 / 10 = 3
    assert one(crop, boxes=[Box(10, 20, 40, 30)])["aspect_ratio.width_over_height"] == 3.0
    # a plain (x1, y1, x2, y2) tuple works too: 5 / 20 = 0.25
    assert one(crop, boxes=[(0, 0, 5, 20)])["aspect_ratio.width_over_height"] == 0.25
    # mask rows 1..2, columns 2..5: width 5 - 2 + 1 = 4, height 2 - 1 + 1 = 2 -> 2; the mask wins over the box
    mask = np.zeros((6, 8), bool)
    mask[1:3, 2:6] = True
    mask[2, 3] = False  # a hole changes nothing: the extent is what counts
    assert one(crop, masks=[mask], boxes=[Box(0, 0, 1, 9)])["aspect_ratio.width_over_height"] == 2.0
    # neither: the crop itself, 8 wide / 6 high
    assert one(crop)["aspect_ratio.width_over_height"] == pytest.approx(8 / 6)


# ---- 2. colour principal component ------------------------------------------------------------------

def test_color_principal_component_three_pure_colours():
    # 3 distinct colours < k = 10, so each is its own cluster. Ohta (I1, I2, I3) = ((R+G+B)/3, (R-B)/2,
    # (2G-R-B)/4): red (1/3, 1/2, -1/4), green (1/3, 0, 1/2), blue (1/3, -1/2, -1/4).
    # Medians over the three clusters, per channel: I1 1/3; I2 median(1/2, 0, -1/2) = 0;
    # I3 median(-1/4, 1/2, -1/4) = -1/4. The pixel counts (4 red, 1 green, 1 blue) do not weigh in.
    crop = np.array([[[255, 0, 0]] * 4 + [[0, 255, 0], [0, 0, 255]]], np.uint8)
    values = one(crop)
    assert values["color_principal_component.pc1_median"] == pytest.approx(1 / 3)
    assert values["color_principal_component.pc2_median"] == pytest.approx(0.0, abs=1e-12)
    assert values["color_principal_component.pc3_median"] == pytest.approx(-0.25)


def test_color_principal_component_two_clumps_with_kmeans():
    # n_colors = 2 and 4 distinct colours, so k-means really runs. Clump A = (0.2, 0.2, 0.2) +- 0.02 in R,
    # clump B = (0.8, 0.4, 0.2) +- 0.02 in G; the noise cancels in each cluster mean, so the centres are
    # Ohta(A) and Ohta(B) and their median is Ohta((A + B) / 2) = Ohta(0.5, 0.3, 0.2):
    # I1 = 1.0 / 3, I2 = (0.5 - 0.2) / 2 = 0.15, I3 = (0.6 - 0.5 - 0.2) / 4 = -0.025.
    crop = np.array([[[0.22, 0.2, 0.2], [0.18, 0.2, 0.2], [0.8, 0.42, 0.2], [0.8, 0.38, 0.2]]])
    values = one(crop, params={"color_principal_component": {"n_colors": 2}})
    assert values["color_principal_component.pc1_median"] == pytest.approx(1 / 3)
    assert values["color_principal_component.pc2_median"] == pytest.approx(0.15)
    assert values["color_principal_component.pc3_median"] == pytest.approx(-0.025)


def test_color_principal_component_crop_pca_space_on_a_grey_ramp():
    # Pixels on the grey axis (v, v, v): the only variance is along (1, 1, 1) / sqrt(3), so PC1 is that
    # direction (sign made positive) and a pixel projects to sqrt(3) v. The 3 distinct greys 0.2, 0.4, 0.6
    # are 3 clusters; median PC1 = sqrt(3) * 0.4. The other two components are orthogonal to grey: 0.
    crop = np.array([[[0.2] * 3, [0.4] * 3, [0.6] * 3]])
    values = one(crop, params={"color_principal_component": {"space": "crop_pca"}})
    assert values["color_principal_component.pc1_median"] == pytest.approx(math.sqrt(3) * 0.4)
    assert values["color_principal_component.pc2_median"] == pytest.approx(0.0, abs=1e-12)
    assert values["color_principal_component.pc3_median"] == pytest.approx(0.0, abs=1e-12)


# ---- 3. HSI saturation entropy --------------------------------------------------------------------

def test_hsi_saturation_values():
    rgb = np.array([[0, 0, 0], [128, 128, 128], [255, 0, 0], [200, 100, 50]], float) / 255
    # black: 0 by convention; grey: 1 - 3 v / 3v = 0; red: 1 - 0 = 1; (200, 100, 50): 1 - 3*50/350 = 4/7
    np.testing.assert_allclose(hsi_saturation(*rgb.T), [0.0, 0.0, 1.0, 4 / 7], atol=1e-12)


def test_hsi_saturation_entropy_4x4():
    # 16 pixels: 4 black and 4 grey (S = 0, bin 0), 4 of (200, 100, 50) (S = 4/7 = 0.5714, bin
    # floor(0.5714 * 32) = 18) and 4 red (S = 1, last bin 31). p = (8, 4, 4) / 16 = (1/2, 1/4, 1/4):
    # H = -(1/2 log2 1/2 + 2 * 1/4 log2 1/4) = 1/2 + 1/2 + 1/2 = 1.5 bits.
    crop = np.zeros((4, 4, 3), np.uint8)
    crop[1] = 128
    crop[2] = (200, 100, 50)
    crop[3] = (255, 0, 0)
    assert one(crop)["hsi_saturation_entropy.entropy"] == pytest.approx(1.5)
    # with 2 bins, 4/7 > 1/2 joins S = 1 in bin 1: p = (1/2, 1/2) -> 1 bit
    assert one(crop, params={"hsi_saturation_entropy": {"bins": 2}})["hsi_saturation_entropy.entropy"] == \
        pytest.approx(1.0)


# ---- 4. LBP -------------------------------------------------------------------------------------------

def lbp_columns(values, points=8):
    return np.array([values[f"lbp.hist_{k}"] for k in range(points + 2)])


def test_lbp_bright_centre_3x3():
    # 3x3 zeros with a 1 in the middle, P = 8, R = 1. The centre: every neighbour (0, or a bilinear mix
    # of 0s and the centre below 1, e.g. the diagonal 0.2929^2 * ... < 1) is below it -> no ones, code 0.
    # The 8 others are 0 with all neighbours >= 0 (edge-replicated border) -> 8 ones, uniform, code 8.
    # hist = (1/9 at 0, 8/9 at 8); mean = 8 * 8/9 = 64/9; E[c^2] = 64 * 8/9 = 512/9,
    # std = sqrt(512/9 - 4096/81) = sqrt(512)/9; entropy = -(1/9 log2 1/9 + 8/9 log2 8/9).
    crop = np.zeros((3, 3), np.float64)
    crop[1, 1] = 1.0
    values = one(crop)
    expected = np.zeros(10)
    expected[0], expected[8] = 1 / 9, 8 / 9
    np.testing.assert_allclose(lbp_columns(values), expected)
    assert values["lbp.mean"] == pytest.approx(64 / 9)
    assert values["lbp.std"] == pytest.approx(math.sqrt(512) / 9)
    assert values["lbp.entropy"] == pytest.approx(-(1 / 9) * math.log2(1 / 9) - (8 / 9) * math.log2(8 / 9))


def test_lbp_vertical_line_is_non_uniform():
    # 3x3 with the middle column 1. A middle-column pixel: up and down neighbours are 1 (>= 1: ones),
    # left/right are 0 and the diagonals mix 1 and 0 (0.29) -> zeros. Bits around the circle
    # 0,0,1,0,0,0,1,0 have U = 4 transitions > 2: non-uniform, code P + 1 = 9. The 6 side pixels are 0,
    # the minimum, so all 8 neighbours are >= them: code 8. hist_8 = 6/9, hist_9 = 3/9.
    crop = np.zeros((3, 3), np.float64)
    crop[:, 1] = 1.0
    values = one(crop)
    expected = np.zeros(10)
    expected[8], expected[9] = 6 / 9, 3 / 9
    np.testing.assert_allclose(lbp_columns(values), expected)
    assert values["lbp.mean"] == pytest.approx(8 * 6 / 9 + 9 * 3 / 9)


# ---- 5. HOG -------------------------------------------------------------------------------------------

def test_hog_vertical_edge_4x4():
    # 4x4 grey, columns 0-1 black, 2-3 white. gx = I(x+1) - I(x-1) with edge replication: column 0:
    # 0 - 0 = 0; column 1: 1 - 0 = 1; column 2: 1 - 0 = 1; column 3: 1 - 1 = 0; gy = 0. So 8 pixels of
    # magnitude 1 at theta = atan2(0, 1) = 0 -> bin 0. One 4x4 cell (cell_size 4) = one block:
    # v = (8, 0, ...) -> v / |v| = (1, 0, ...) -> clip at 0.2 -> (0.2, 0, ...) -> renormalise -> (1, 0, ...).
    # bin_0 = 1, other bins 0, entropy 0, mean magnitude = 8 / 16 = 0.5.
    crop = np.zeros((4, 4), np.float64)
    crop[:, 2:] = 1.0
    values = one(crop, params={"hog": {"cell_size": 4}})
    bins = np.array([values[f"hog.bin_{b}"] for b in range(9)])
    np.testing.assert_allclose(bins, [1, 0, 0, 0, 0, 0, 0, 0, 0], atol=1e-8)
    assert values["hog.entropy"] == 0.0
    assert values["hog.mean_magnitude"] == pytest.approx(0.5)
    # the same edge turned horizontal: theta = atan2(1, 0) = 90 degrees -> bin floor(90 / 20) = 4
    values = one(crop.T.copy(), params={"hog": {"cell_size": 4}})
    assert values["hog.bin_4"] == pytest.approx(1.0)
    assert values["hog.bin_0"] == 0.0


# ---- 6. colour moments ------------------------------------------------------------------------------

def test_color_moments_2x2():
    # R = (0, 0, 0, 1): mean 1/4; deviations (-1/4 x3, 3/4): variance (3/16 + 9/16) / 4 = 3/16,
    #   std = sqrt(3)/4 = 0.4330; third moment (3 * -1/64 + 27/64) / 4 = 24/256 = 3/32, skewness = cbrt(3/32).
    # G = 1 everywhere: mean 1, std 0, skewness 0.
    # B = (0, 0.2, 0.4, 0.6) (0, 51, 102, 153 / 255): mean 0.3; deviations +-0.1, +-0.3: variance
    #   (0.09 + 0.01) * 2 / 4 = 0.05, std = sqrt(0.05); third moment 0 (symmetric) -> skewness 0.
    crop = np.array([[[0, 255, 0], [0, 255, 51]], [[0, 255, 102], [255, 255, 153]]], np.uint8)
    values = one(crop)
    expected = {"r_mean": 0.25, "r_std": math.sqrt(3) / 4, "r_skewness": (3 / 32) ** (1 / 3),
                "g_mean": 1.0, "g_std": 0.0, "g_skewness": 0.0,
                "b_mean": 0.3, "b_std": math.sqrt(0.05), "b_skewness": 0.0}
    for name, value in expected.items():
        assert values[f"color_moments.{name}"] == pytest.approx(value, abs=1e-12), name
