"""The EUS cyst texture extractors: golden values computed by hand in the comments, invariances, params, and the
behaviour on EUS phantoms (serous honeycomb vs unilocular mucinous cyst)."""

import logging
import math

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage.feature import graycomatrix, graycoprops

from explainendo.errors import ConfigError
from explainendo.handcrafted import EUS_TEXTURE_PARAMS_PATH, HandcraftedFeatures, extract, load_params

EUS_GROUPS = ("glcm", "cyst_echogenicity", "wall_profile", "posterior_enhancement", "locule_count")


def eus(crop, extractor, masks=None, **section):
    """One EUS extractor's features of one crop (at its own resolution: working size 256) as a Series."""
    params = {"extractors": [extractor], "preprocess": {"working_size": 256}, extractor: section}
    return extract([crop], params=params, masks=masks).iloc[0]


def grey_image(values):
    return np.repeat(np.asarray(values, np.uint8)[..., None], 3, axis=2)


def centre_distance(size: int, centre: float) -> np.ndarray:
    """Distance of each pixel centre ``(y + 0.5, x + 0.5)`` of a ``size x size`` crop from ``(centre, centre)``."""
    ys, xs = np.indices((size, size)) + 0.5
    return np.hypot(ys - centre, xs - centre)


# ---- glcm ---------------------------------------------------------------------------------------------------

def test_glcm_of_a_checkerboard_by_hand():
    # a one-pixel 0 / 255 checkerboard, 9 x 9, the whole crop, levels 2 (0 -> level 0, 255 -> level 1), d = 1.
    # 0 and 90 degrees: every pair differs, P(0, 1) = P(1, 0) = 1/2: contrast 1, homogeneity 1/2, energy
    # sqrt(1/2), correlation -1, entropy 1 bit. 45 and 135 degrees: every pair is equal; the 8 x 8 = 64 pairs
    # start on 32 dark and 32 bright pixels, so P(0, 0) = P(1, 1) = 1/2: contrast 0, homogeneity 1, energy
    # sqrt(1/2), correlation +1, entropy 1 bit. Means over the 4 directions:
    board = grey_image((np.indices((9, 9)).sum(axis=0) % 2) * 255)
    row = eus(board, "glcm", levels=2, region="crop")
    assert row["glcm.contrast"] == pytest.approx(0.5)
    assert row["glcm.homogeneity"] == pytest.approx(0.75)
    assert row["glcm.energy"] == pytest.approx(math.sqrt(0.5))
    assert row["glcm.correlation"] == pytest.approx(0.0, abs=1e-12)
    assert row["glcm.entropy"] == pytest.approx(1.0)
    # 16 levels: 255 -> level 15, so (i - j)^2 = 225: contrast 225 / 2, homogeneity (1 / 226 + 1) / 2
    row = eus(board, "glcm", levels=16, region="crop")
    assert row["glcm.contrast"] == pytest.approx(225 / 2)
    assert row["glcm.homogeneity"] == pytest.approx((1 / 226 + 1) / 2)
    # inside the cyst only (the default region): the share of dark and bright diagonal pairs changes, but not
    # that horizontal / vertical pairs always differ and diagonal ones never do
    row = eus(grey_image((np.indices((30, 30)).sum(axis=0) % 2) * 255), "glcm", levels=2)
    assert row["glcm.contrast"] == pytest.approx(0.5)
    assert row["glcm.homogeneity"] == pytest.approx(0.75)
    assert row["glcm.correlation"] == pytest.approx(0.0, abs=1e-12)


def test_glcm_of_a_flat_region():
    # one grey level: P = 1 at (i, i): contrast 0, homogeneity 1, energy 1, entropy 0, correlation 1 (sigma = 0,
    # the convention)
    row = eus(np.full((20, 20, 3), 90, np.uint8), "glcm")
    assert row[["glcm.contrast", "glcm.homogeneity", "glcm.energy", "glcm.correlation", "glcm.entropy"]].tolist() \
        == [0.0, 1.0, 1.0, 1.0, 0.0]


def test_glcm_matches_skimage_on_the_whole_crop():
    # fov_level 0: every pixel counts (dark pixels on the crop's edge would otherwise be outside the sector)
    image = np.random.default_rng(0).integers(0, 256, (20, 24), dtype=np.uint8)
    row = eus(image, "glcm", levels=8, distances=[1, 2], region="crop", fov_level=0.0)
    grey = image / 255.0
    levels = np.minimum(np.floor(grey * 8), 7).astype(np.uint8)
    P = graycomatrix(levels, [1, 2], [0, np.pi / 4, np.pi / 2, 3 * np.pi / 4], levels=8, symmetric=True, normed=True)
    for prop in ("contrast", "homogeneity", "energy", "correlation"):
        assert row[f"glcm.{prop}"] == pytest.approx(graycoprops(P, prop).mean(), rel=1e-9), prop
    entropy = -np.mean([(p[p > 0] * np.log2(p[p > 0])).sum() for p in P.reshape(64, -1).T])
    assert row["glcm.entropy"] == pytest.approx(entropy, rel=1e-9)


def test_glcm_counts_only_pairs_inside_the_cyst():
    # brute force: the pairs at offsets (0, 1), (1, 1), (1, 0), (1, -1) with both pixels in the cyst (the ellipse
    # inscribed in the central 1 / 1.5 of the crop, r <= 1), counted both ways
    image = np.random.default_rng(1).integers(0, 256, (24, 30), dtype=np.uint8)
    row = eus(image, "glcm", levels=4, fov_level=0.0)
    ys, xs = np.indices(image.shape) + 0.5
    inside = np.hypot((xs - 15) / 10, (ys - 12) / 8) <= 1
    q = np.minimum(np.floor(image / 255.0 * 4), 3).astype(int)
    contrasts = []
    for dy, dx in ((0, 1), (1, 1), (1, 0), (1, -1)):
        counts = np.zeros((4, 4))
        for y, x in zip(*np.nonzero(inside)):
            if 0 <= y + dy < 24 and 0 <= x + dx < 30 and inside[y + dy, x + dx]:
                counts[q[y, x], q[y + dy, x + dx]] += 1
                counts[q[y + dy, x + dx], q[y, x]] += 1
        p = counts / counts.sum()
        contrasts.append(((np.subtract.outer(np.arange(4), np.arange(4)) ** 2) * p).sum())
    assert row["glcm.contrast"] == pytest.approx(np.mean(contrasts), rel=1e-12)


# ---- cyst echogenicity --------------------------------------------------------------------------------------

def disc_in_ring(interior=20, wall=230, surround=120):
    """40 x 40, enlarge 2: the cyst box is the central 20 x 20, the cyst the disc of radius 10 about (20, 20), so
    r = rho / 10 (rho: a pixel centre's distance from the centre). Interior r < 0.7 (rho < 7), wall
    0.7 <= r <= 1 (7 <= rho <= 10), surroundings r >= 1.25 (rho >= 12.5; the gap between is painted like the
    surroundings). No pixel centre lies exactly on 7, 10 or 12.5 (rho^2 = ((2k+1)^2 + (2m+1)^2) / 4)."""
    rho = centre_distance(40, 20)
    return grey_image(np.select([rho < 7, rho <= 10], [interior, wall], surround))


def test_cyst_echogenicity_of_a_dark_disc_in_a_bright_ring():
    row = eus(disc_in_ring(), "cyst_echogenicity", enlarge=2.0)
    # I = 20 / 255, W = 230 / 255, S = 120 / 255; contrasts (W - I) / (W + I) = 210 / 250,
    # (S - I) / (S + I) = 100 / 140, (W - S) / (W + S) = 110 / 350
    assert row["cyst_echogenicity.interior_mean"] == pytest.approx(20 / 255)
    assert row["cyst_echogenicity.wall_mean"] == pytest.approx(230 / 255)
    assert row["cyst_echogenicity.surround_mean"] == pytest.approx(120 / 255)
    assert row["cyst_echogenicity.wall_interior_contrast"] == pytest.approx(210 / 250)
    assert row["cyst_echogenicity.interior_darkness"] == pytest.approx(100 / 140)
    assert row["cyst_echogenicity.wall_surround_contrast"] == pytest.approx(110 / 350)
    # a black interior (enclosed by tissue, so inside the sector) is perfectly anechoic: both contrasts 1
    row = eus(disc_in_ring(interior=0), "cyst_echogenicity", enlarge=2.0)
    assert row["cyst_echogenicity.interior_mean"] == 0.0
    assert row["cyst_echogenicity.wall_interior_contrast"] == pytest.approx(1.0)
    assert row["cyst_echogenicity.interior_darkness"] == pytest.approx(1.0)


def test_wall_profile_of_a_dark_disc_in_a_bright_ring_by_hand():
    # disc_in_ring at enlarge 2: r = rho / 10, bands of 0.05 in r (0.5 px in rho). No pixel centre lies on a band
    # edge (rho = j / 2 would need two odd squares summing to a square). Bands with centres 0.675 and below are
    # interior (20), 0.725-0.975 wall (230), 1.025 and beyond surroundings (120). The ring: the first band of the
    # largest mean in [0.6, 1.3], centre c = 0.725; S = 120 / 255 (bands >= 1.3); m = 20 / 255.
    row = eus(disc_in_ring(), "wall_profile", enlarge=2.0)
    assert row["wall_profile.peak"] == pytest.approx(230 / 255)
    assert row["wall_profile.peak_surround_contrast"] == pytest.approx(110 / 350)
    assert row["wall_profile.peak_interior_contrast"] == pytest.approx(210 / 250)
    # half level L = 175: inward between 0.675 (20) and 0.725 (230): r_in = 0.725 - 0.05 * 55 / 210; outward
    # between 0.975 (230) and 1.025 (120): r_out = 0.975 + 0.05 * 55 / 110 = 1.0; width (r_out - r_in) / 0.725
    r_in = 0.725 - 0.05 * 55 / 210
    assert row["wall_profile.ring_width"] == pytest.approx((1.0 - r_in) / 0.725)
    # no ring brighter than the tissue (the search range ends inside the wall): width 0, the contrast with the
    # surroundings negative
    row = eus(disc_in_ring(wall=100), "wall_profile", enlarge=2.0, search_high=0.99)
    assert row["wall_profile.ring_width"] == 0.0
    assert row["wall_profile.peak_surround_contrast"] == pytest.approx(-20 / 220)


def test_wall_profile_finds_the_wall_where_a_fixed_band_misses_it():
    # the same cyst, its box taken 10% too small (enlarge 2.2: the wall now lies at r 0.77-1.1) and 10% too
    # large (1.8: r 0.63-0.9): the fixed wall band of cyst_echogenicity takes in lumen or tissue and its mean
    # moves; the profile's ring keeps its contrasts exactly and its width to within the band quantisation
    exact = eus(disc_in_ring(), "wall_profile", enlarge=2.0)
    fixed = eus(disc_in_ring(), "cyst_echogenicity", enlarge=2.0)["cyst_echogenicity.wall_mean"]
    for enlarge in (2.2, 1.8):
        off = eus(disc_in_ring(), "wall_profile", enlarge=enlarge)
        for column in ("peak", "peak_surround_contrast", "peak_interior_contrast"):
            assert off[f"wall_profile.{column}"] == pytest.approx(exact[f"wall_profile.{column}"]), (enlarge, column)
        assert off["wall_profile.ring_width"] == pytest.approx(exact["wall_profile.ring_width"], rel=0.1)
        moved = eus(disc_in_ring(), "cyst_echogenicity", enlarge=enlarge)["cyst_echogenicity.wall_mean"]
        assert abs(moved - fixed) > 0.05, enlarge


def test_wall_profile_search_range_is_checked_when_the_params_load():
    with pytest.raises(ConfigError, match="bad values for wall_profile: search_low .* must be below search_high"):
        load_params({"extractors": ["wall_profile"], "wall_profile": {"search_low": 1.3, "search_high": 1.3}})


def test_cyst_echogenicity_contrasts_do_not_depend_on_the_gain():
    # halving every grey value halves the means and keeps every Michelson contrast
    image = disc_in_ring() / 255.0
    full = eus(image, "cyst_echogenicity", enlarge=2.0)
    half = eus(image * 0.5, "cyst_echogenicity", enlarge=2.0)
    for name in ("interior_mean", "wall_mean", "surround_mean"):
        assert half[f"cyst_echogenicity.{name}"] == pytest.approx(full[f"cyst_echogenicity.{name}"] / 2)
    for name in ("wall_interior_contrast", "interior_darkness", "wall_surround_contrast"):
        assert half[f"cyst_echogenicity.{name}"] == pytest.approx(full[f"cyst_echogenicity.{name}"])


def test_cyst_echogenicity_uses_the_mask_wherever_the_cyst_lies():
    # an off-centre 20 x 20 square cyst (rows 4..23, columns 12..31) with its mask. A square pixel's distance to
    # the nearest outside pixel d_in = min(i - 3, 24 - i, j - 11, 32 - j) runs up to 10, so R = 9.5 and
    # r = 1 - (d_in - 0.5) / 9.5: interior r < 0.7 <=> d_in >= 4 (the central 14 x 14), wall d_in = 1, 2, 3.
    # Everything outside is the surroundings' grey, so whichever outside pixels have r >= 1.25, their mean is S.
    # enlarge (here its default 1.5, which would put the cyst at the centre) is ignored.
    image = np.full((40, 40), 120, np.uint8)
    image[4:24, 12:32] = 230
    image[7:21, 15:29] = 20
    mask = np.zeros((40, 40), bool)
    mask[4:24, 12:32] = True
    row = eus(grey_image(image), "cyst_echogenicity", masks=[mask])
    assert row["cyst_echogenicity.interior_mean"] == pytest.approx(20 / 255)
    assert row["cyst_echogenicity.wall_mean"] == pytest.approx(230 / 255)
    assert row["cyst_echogenicity.surround_mean"] == pytest.approx(120 / 255)
    assert row["cyst_echogenicity.wall_interior_contrast"] == pytest.approx(210 / 250)


def test_a_bad_mask_gives_nan_and_one_warning(caplog):
    params = {"extractors": ["cyst_echogenicity", "locule_count"]}
    crops = [disc_in_ring()] * 3
    masks = [np.zeros((40, 40), bool), np.ones((10, 10), bool), np.ones((40, 40), bool)]
    with caplog.at_level(logging.WARNING, logger="explainendo.handcrafted"):
        frame = extract(crops, masks=masks, params=params)
    # an empty mask and a mask of another size: NaN in both groups; a mask covering the whole crop leaves no
    # surroundings (echogenicity undefined) but locules are still counted (the crop's edge is the outline)
    assert frame.iloc[:2].isna().all().all()
    assert frame.iloc[2].filter(like="cyst_echogenicity.").isna().all()
    assert frame.iloc[2].filter(like="locule_count.").notna().all()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 5
    assert "empty" in messages[0] and "does not match" in messages[2] and "surroundings" in messages[4]


# ---- posterior enhancement ----------------------------------------------------------------------------------

def test_posterior_enhancement_of_a_bright_band_below_by_hand():
    # 40 x 40, enlarge 2: cyst centre (20, 20), a = b = 10. gap 0.1, depth 0.3: the rows with
    # 1.1 <= (y + 0.5 - 20) / 10 <= 1.4 are y = 31, 32, 33. The posterior band, |x + 0.5 - 20| / 10 <= 0.6, is
    # columns 14..25 (12 columns); the side bands, |x + 0.5 - 20| / 10 >= 1.1, columns 0..8 and 31..39.
    image = np.full((40, 40), 100, np.uint8)
    image[28:, 12:28] = 150  # bright behind the cyst (covers the posterior band, not the side bands)
    section = {"enlarge": 2.0, "gap": 0.1, "depth": 0.3}
    row = eus(grey_image(image), "posterior_enhancement", **section)
    assert row["posterior_enhancement.posterior_mean"] == pytest.approx(150 / 255)
    assert row["posterior_enhancement.side_mean"] == pytest.approx(100 / 255)
    assert row["posterior_enhancement.enhancement_ratio"] == pytest.approx(1.5)
    assert row["posterior_enhancement.shadow_fraction"] == 0.0
    # a calcification's shadow over 3 of the 12 posterior columns (grey 20 < 0.5 * 100): shadow_fraction 3 / 12;
    # the band's mean (9 * 150 + 3 * 20) / 12 = 117.5, ratio 1.175
    image[28:, 14:17] = 20
    row = eus(grey_image(image), "posterior_enhancement", **section)
    assert row["posterior_enhancement.shadow_fraction"] == pytest.approx(0.25)
    assert row["posterior_enhancement.posterior_mean"] == pytest.approx(117.5 / 255)
    assert row["posterior_enhancement.enhancement_ratio"] == pytest.approx(1.175)
    # with shadow_level 0.1 (a column darker than 10 grey levels), 20 is no shadow
    assert eus(grey_image(image), "posterior_enhancement", shadow_level=0.1,
               **section)["posterior_enhancement.shadow_fraction"] == 0.0


def test_posterior_enhancement_is_about_depth_not_brightness_above():
    # the same band painted above the cyst instead (the transducer's side) is not enhancement: ratio 1
    image = np.full((40, 40), 100, np.uint8)
    image[:12, 12:28] = 150
    row = eus(grey_image(image), "posterior_enhancement", enlarge=2.0)
    assert row["posterior_enhancement.enhancement_ratio"] == pytest.approx(1.0)


# ---- locule count -------------------------------------------------------------------------------------------

def test_locule_count_of_five_dark_squares_by_hand():
    # 40 x 40 grey 200, enlarge 1: the cyst is the disc of radius 20 about (20, 20) and the search region
    # r < 0.85 the pixel centres within 17 of it: A of them (counted below; none lies exactly at 17).
    # Four black 3 x 3 squares, one black 4 x 5 block and one black pixel, no smoothing, threshold 0.25:
    # min_area 0.004 * A = 3.6 pixels drops the single pixel, so 5 locules of 9, 9, 9, 9 and 20 pixels.
    image = np.full((40, 40), 200, np.uint8)
    for y, x in ((8, 12), (8, 25), (20, 8), (27, 20)):
        image[y:y + 3, x:x + 3] = 0
    image[16:20, 18:23] = 0
    image[30, 12] = 0
    area = int((centre_distance(40, 20) < 17).sum())
    row = eus(grey_image(image), "locule_count", enlarge=1.0, smoothing=0.0)
    assert row["locule_count.count"] == 5
    assert row["locule_count.mean_size"] == pytest.approx((4 * 9 + 20) / 5 / area)
    assert row["locule_count.largest_size"] == pytest.approx(20 / area)
    # every region pixel but the 56 + 1 dark ones is echogenic
    assert row["locule_count.septal_fraction"] == pytest.approx((area - 57) / area)
    # min_area 0: the single dark pixel is a locule too
    assert eus(grey_image(image), "locule_count", enlarge=1.0, smoothing=0.0, min_area=0.0)["locule_count.count"] == 6


def test_locule_count_corner_touching_locules_stay_apart_and_a_solid_cyst_has_none():
    # two dark 4 x 4 squares meeting only at a corner: 4-connectivity keeps them 2 locules
    image = np.full((40, 40), 200, np.uint8)
    image[14:18, 14:18] = 0
    image[18:22, 18:22] = 0
    assert eus(grey_image(image), "locule_count", enlarge=1.0, smoothing=0.0)["locule_count.count"] == 2
    # no dark pixel: no locule, sizes 0, all septal
    row = eus(np.full((40, 40, 3), 200, np.uint8), "locule_count")
    assert row[["locule_count.count", "locule_count.mean_size", "locule_count.largest_size",
                "locule_count.septal_fraction"]].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_locule_count_of_five_dark_discs_with_the_defaults_and_at_twice_the_resolution():
    # five anechoic discs of radius 4 (speckle-free) in a cyst, cropped with the default enlarge 1.5 (the cyst
    # box is the central 40 x 40 of 60 x 60), smoothed with the default SD: 5 locules, also at twice the resolution
    # (the working size follows). With the smoothing's SD doubled too (the same blur relative to the cyst), the
    # relative sizes are kept as well: the geometry is relative to the crop
    image = np.full((60, 60), 180, np.uint8)
    for x, y in ((22, 22), (38, 22), (30, 30), (22, 38), (38, 38)):
        cv2.circle(image, (x, y), 4, 10, -1)
    double = grey_image(np.kron(image, np.ones((2, 2), np.uint8)))
    small = eus(grey_image(image), "locule_count")
    assert small["locule_count.count"] == eus(double, "locule_count")["locule_count.count"] == 5
    large = eus(double, "locule_count", smoothing=1.4)
    np.testing.assert_allclose(large.to_numpy(), small.to_numpy(), rtol=0.01)


# ---- all four: invariances, sector, suite and params --------------------------------------------------------

def speckled_cyst(seed=0, size=64):
    """A dark speckled cyst with a bright wall in speckled tissue (square crop, cyst box its central 1 / 1.5)."""
    rng = np.random.default_rng(seed)
    rho = centre_distance(size, size / 2) / (size / 3)
    echo = np.select([rho < 0.75, rho < 1.0], [0.05, 0.9], 0.4)
    return np.clip(echo * rng.rayleigh(0.8, (size, size)), 0, 1)


def test_mirror_image_gives_the_same_features():
    # left-right mirroring maps every region (the cyst, its rings, the bands) onto itself and swaps the 45 and 135
    # degree co-occurrence directions
    image = speckled_cyst()
    params = {"extractors": list(EUS_GROUPS), "preprocess": {"working_size": 256}}
    both = extract([image, image[:, ::-1].copy()], params=params).to_numpy()
    np.testing.assert_allclose(both[1], both[0], rtol=1e-9, atol=1e-12)
    # a 90 degree turn leaves the co-occurrence statistics alone (0 <-> 90 and 45 <-> 135 degrees)
    glcm = extract([image, np.rot90(image).copy()], params={**params, "extractors": ["glcm"]}).to_numpy()
    np.testing.assert_allclose(glcm[1], glcm[0], rtol=1e-9, atol=1e-12)


def test_the_black_background_outside_the_sector_is_left_out():
    # a black corner (outside the ultrasound sector) does not darken the surroundings
    image = (speckled_cyst() * 255).astype(np.uint8)
    cut = image.copy()
    cut[np.add.outer(np.arange(64), np.arange(64)) > 100] = 0  # the corner beyond x + y = 100, outside r = 1
    rows = extract([grey_image(image), grey_image(cut)], params={"extractors": ["cyst_echogenicity"]})
    tissue = rows["cyst_echogenicity.surround_mean"]
    assert tissue[1] == pytest.approx(tissue[0], rel=0.05)
    unmasked = extract([grey_image(cut)], params={"extractors": ["cyst_echogenicity"],
                                                  "cyst_echogenicity": {"fov_level": 0.0}})
    assert unmasked["cyst_echogenicity.surround_mean"][0] < 0.9 * tissue[0]


def test_eus_suite_loads_and_names_its_groups():
    params = load_params(EUS_TEXTURE_PARAMS_PATH)
    assert params["extractors"] == ["locule_count", "cyst_echogenicity", "wall_profile", "posterior_enhancement",
                                    "glcm", "lbp"]
    assert params["glcm"]["distances"] == [1, 2]
    groups = HandcraftedFeatures(params=EUS_TEXTURE_PARAMS_PATH).groups
    assert groups["glcm"] == ["glcm.contrast", "glcm.homogeneity", "glcm.energy", "glcm.correlation", "glcm.entropy"]
    assert groups["cyst_echogenicity"] == [f"cyst_echogenicity.{c}" for c in (
        "interior_mean", "wall_mean", "surround_mean", "wall_interior_contrast", "interior_darkness",
        "wall_surround_contrast")]
    assert groups["posterior_enhancement"] == [f"posterior_enhancement.{c}" for c in (
        "posterior_mean", "side_mean", "enhancement_ratio", "shadow_fraction")]
    assert groups["locule_count"] == [f"locule_count.{c}" for c in (
        "count", "mean_size", "largest_size", "septal_fraction")]
    assert groups["wall_profile"] == [f"wall_profile.{c}" for c in (
        "peak", "peak_surround_contrast", "peak_interior_contrast", "ring_width")]
    assert len(groups["lbp"]) == 13
    assert EUS_TEXTURE_PARAMS_PATH.name == "eus_texture_params.yaml" and EUS_TEXTURE_PARAMS_PATH.is_file()


@pytest.mark.parametrize("given, named", [
    ({"glcm": {"levels": 1}}, "bad value for glcm.levels: must be >= 2"),
    ({"glcm": {"levels": 16.0}}, "bad value for glcm.levels: must be a int"),
    ({"glcm": {"distances": 1}}, "bad value for glcm.distances: must be a non-empty list"),
    ({"glcm": {"distances": []}}, "bad value for glcm.distances: must be a non-empty list"),
    ({"glcm": {"distances": [0]}}, "bad value for glcm.distances: each distance must be in"),
    ({"glcm": {"distances": [1.5]}}, "bad value for glcm.distances: must hold whole numbers"),
    ({"glcm": {"distances": [1, True]}}, "bad value for glcm.distances: must hold whole numbers"),
    ({"glcm": {"distances": [2, 2]}}, "listed twice"),
    ({"glcm": {"region": "box"}}, "bad value for glcm.region: must be one of"),
    ({"glcm": {"angles": [0]}}, "unknown key glcm.angles"),
    ({"cyst_echogenicity": {"enlarge": 0.5}}, "bad value for cyst_echogenicity.enlarge: must be >= 1.0"),
    ({"cyst_echogenicity": {"wall_width": 1.5}}, "bad value for cyst_echogenicity.wall_width"),
    ({"cyst_echogenicity": {"gap": -0.1}}, "bad value for cyst_echogenicity.gap"),
    ({"posterior_enhancement": {"depth": 0.0}}, "bad value for posterior_enhancement.depth"),
    ({"posterior_enhancement": {"half_width": "0.5"}}, "bad value for posterior_enhancement.half_width"),
    ({"posterior_enhancement": {"shadow_level": 2}}, "bad value for posterior_enhancement.shadow_level"),
    ({"locule_count": {"threshold": -0.1}}, "bad value for locule_count.threshold"),
    ({"locule_count": {"min_area": 1.5}}, "bad value for locule_count.min_area"),
    ({"locule_count": {"smoothing": float("nan")}}, "bad value for locule_count.smoothing"),
    ({"locule_count": {"fov_level": 0.9}}, "bad value for locule_count.fov_level"),
])
def test_bad_eus_params_name_the_key(given, named):
    with pytest.raises(ConfigError, match=named):
        load_params(given)


def test_too_small_crops_are_undefined_not_errors(caplog):
    # a 1 x 1 crop has no wall, no band below and no pixel pair: NaN plus a warning per extractor; the batch survives
    with caplog.at_level(logging.WARNING, logger="explainendo.handcrafted"):
        frame = extract([np.zeros((1, 1, 3), np.uint8), speckled_cyst()], params=EUS_TEXTURE_PARAMS_PATH)
    assert frame.iloc[0].filter(regex="^(glcm|cyst_echogenicity|wall_profile|posterior_enhancement)").isna().all()
    assert np.isfinite(frame.iloc[1]).all()
    assert len(caplog.records) == 4


# ---- behaviour on the EUS phantoms --------------------------------------------------------------------------

def test_eus_phantoms_locules_separate_serous_from_mucinous_and_mucinous_walls_stand_out():
    from sklearn.metrics import roc_auc_score

    from explainendo.features import LesionSamples
    from explainendo.synth import generate
    from explainendo.types import Box

    phantoms = generate("eus", 60, seed=0)
    table = phantoms.table
    boxes = [Box(r.x1, r.y1, r.x2, r.y2) for r in table.itertuples()]
    samples = LesionSamples.from_images(phantoms.images, boxes, enlarge=1.5, table=table)
    features = HandcraftedFeatures(params=EUS_TEXTURE_PARAMS_PATH).fit(samples).transform(samples)
    assert features.notna().all().all()
    serous = (table["label"] == "serous").to_numpy()
    assert 10 < serous.sum() < 50
    # a honeycomb has many locules, a mucinous cyst one (or two, with a septum)
    assert roc_auc_score(serous, features["locule_count.count"]) > 0.9
    assert features["locule_count.count"][~serous].median() <= 2 < 5 <= features["locule_count.count"][serous].median()
    # the mucinous cyst's thick echogenic wall around an anechoic lumen
    contrast = features["cyst_echogenicity.wall_interior_contrast"]
    assert contrast[~serous].mean() > contrast[serous].mean() + 0.3
    assert roc_auc_score(~serous, contrast) > 0.9
    # with the cysts' masks (cropped like the frames) instead of the box geometry, the same holds
    masks = [box.crop(mask, enlarge=1.5) for box, mask in zip(boxes, phantoms.masks)]
    with_masks = HandcraftedFeatures(params=EUS_TEXTURE_PARAMS_PATH).transform(
        LesionSamples.from_images(phantoms.images, boxes, enlarge=1.5, table=table, masks=masks))
    assert roc_auc_score(serous, with_masks["locule_count.count"]) > 0.9
    assert isinstance(with_masks, pd.DataFrame) and list(with_masks.columns) == list(features.columns)
