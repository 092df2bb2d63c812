"""The robustness corpus: tiny, flat, black, greyscale, huge and broken crops never crash a batch."""

import logging
import warnings

import numpy as np
import pytest

from explainendo.errors import FeatureExtractionError
from explainendo.handcrafted import extract

RNG = np.random.default_rng(0)

# crops whose every feature is defined: finite values, no warning
DEFINED = {
    "1x1": np.array([[[200, 30, 40]]], np.uint8),
    "2x3": RNG.integers(0, 256, (2, 3, 3), dtype=np.uint8),
    "uniform": np.full((50, 70, 3), 123, np.uint8),
    "black": np.zeros((32, 32, 3), np.uint8),  # R + G + B = 0: HSI saturation 0 by convention
    "white": np.full((32, 32, 3), 255, np.uint8),
    "grey 2-D": RNG.integers(0, 256, (40, 30), dtype=np.uint8),
    "grey (H, W, 1)": RNG.integers(0, 256, (30, 40, 1), dtype=np.uint8),
    "RGBA": RNG.integers(0, 256, (20, 20, 4), dtype=np.uint8),
    "float in [0, 1]": RNG.random((33, 17, 3)),
    "float in [0, 255]": RNG.random((21, 19, 3)) * 255,
    "float32": RNG.random((16, 16, 3)).astype(np.float32),
    "float16, large": RNG.random((200, 150, 3)).astype(np.float16),
    "uint16": RNG.integers(0, 65536, (24, 24, 3), dtype=np.uint16),
    "bool": RNG.random((12, 12)) > 0.5,
    "int64 0..255": RNG.integers(0, 256, (10, 12, 3)),
    "1 row": RNG.integers(0, 256, (1, 300, 3), dtype=np.uint8),
    "1 column": RNG.integers(0, 256, (300, 1, 3), dtype=np.uint8),
    "very large": RNG.integers(0, 256, (2400, 3000, 3), dtype=np.uint8),
    "non-contiguous": RNG.integers(0, 256, (60, 80, 3), dtype=np.uint8)[::2, ::-3],
}

# crops that are not images: NaN row, one warning each
BROKEN = {
    "empty": np.zeros((0, 5, 3), np.uint8),
    "NaN": np.full((4, 4, 3), np.nan),
    "float above 255": np.full((4, 4, 3), 300.0),
    "5 channels": np.zeros((4, 4, 5), np.uint8),
    "1-D": np.zeros(10, np.uint8),
    "strings": np.array([["a", "b"]]),
    "int64 out of range": np.full((4, 4, 3), 300),
}


def test_defined_crops_give_finite_values_without_any_warning(caplog):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning (0/0, log 0...) fails the test
        with caplog.at_level(logging.WARNING, logger="explainendo.handcrafted"):
            frame = extract(list(DEFINED.values()))
    assert caplog.records == []
    assert frame.dtypes.eq(np.float64).all()
    bad = frame.index[~np.isfinite(frame.to_numpy()).all(axis=1)]
    assert list(bad) == [], [list(DEFINED)[i] for i in bad]
    # greyscale inputs are achromatic: zero saturation entropy, equal channel means
    grey = frame.iloc[list(DEFINED).index("grey 2-D")]
    assert grey["hsi_saturation_entropy.entropy"] == 0.0
    assert grey["color_moments.r_mean"] == grey["color_moments.g_mean"] == grey["color_moments.b_mean"]


def test_broken_crops_give_nan_rows_and_one_warning_each_and_the_batch_survives(caplog):
    good = RNG.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    crops = [good, *BROKEN.values(), good]
    with caplog.at_level(logging.WARNING, logger="explainendo.handcrafted"):
        frame = extract(crops, names=["good"] + list(BROKEN) + ["good again"])
    assert np.isfinite(frame.iloc[0]).all() and np.isfinite(frame.iloc[-1]).all()
    assert frame.iloc[1:-1].isna().all().all()
    assert len(caplog.records) == len(BROKEN)
    for i, (name, record) in enumerate(zip(BROKEN, caplog.records), start=1):
        assert f"crop {i} ({name})" in record.getMessage()


def test_undefined_feature_is_nan_in_its_own_columns_with_one_warning_naming_extractor_and_crop(caplog):
    crops = [np.zeros((8, 8, 3), np.uint8)] * 3
    masks = [None, np.zeros((8, 8), bool), np.ones((4, 4), bool)]  # empty mask, wrong-size mask
    with caplog.at_level(logging.WARNING, logger="explainendo.handcrafted"):
        frame = extract(crops, masks=masks)
    assert frame["aspect_ratio.width_over_height"].isna().tolist() == [False, True, True]
    assert frame.drop(columns="aspect_ratio.width_over_height").notna().all().all()
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert "aspect_ratio" in messages[0] and "crop 1" in messages[0] and "empty" in messages[0]
    assert "aspect_ratio" in messages[1] and "crop 2" in messages[1] and "does not match" in messages[1]


def test_strict_raises_typed_errors():
    with pytest.raises(FeatureExtractionError, match="aspect_ratio.*crop 0.*empty"):
        extract([np.zeros((8, 8, 3), np.uint8)], masks=[np.zeros((8, 8), bool)], strict=True)
    with pytest.raises(FeatureExtractionError, match="crop 0.*NaN"):
        extract([np.full((4, 4, 3), np.nan)], strict=True)
    # strict on good input is silent
    assert len(extract([np.zeros((8, 8, 3), np.uint8)], strict=True)) == 1


def test_mismatched_lists_are_refused():
    with pytest.raises(FeatureExtractionError, match="2 masks for 1 crops"):
        extract([np.zeros((4, 4, 3), np.uint8)], masks=[None, None])


def test_empty_batch_gives_an_empty_table_with_all_columns():
    frame = extract([])
    assert len(frame) == 0 and len(frame.columns) == 38


def test_a_floating_point_error_in_an_extractor_becomes_nan_and_a_warning_not_a_runtime_warning(caplog):
    from explainendo.handcrafted import Extractor, register_extractor
    from explainendo.handcrafted.base import EXTRACTORS

    if "test_zero_division" not in EXTRACTORS:
        @register_extractor("test_zero_division")
        class ZeroDivision(Extractor):
            """``mean(R) / 0``: never defined."""
            params = {}

            def column_names(self):
                return ["value"]

            def compute(self, crop):
                return crop.channels[0].mean(keepdims=True) / np.zeros(1)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with caplog.at_level(logging.WARNING, logger="explainendo.handcrafted"):
            frame = extract([np.ones((4, 4, 3), np.uint8)], params={"extractors": ["test_zero_division", "hog"]})
    assert np.isnan(frame.iloc[0, 0]) and frame.iloc[0, 1:].notna().all()
    assert len(caplog.records) == 1 and "test_zero_division" in caplog.text and "FloatingPointError" in caplog.text
