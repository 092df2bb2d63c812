"""scikit-learn's own estimator checks on HandcraftedFeatures, and crop-based stand-ins for those that cannot
apply; clone / get_params round trips and "fit does not modify its arguments".

HandcraftedFeatures takes image crops (an ``(N, H, W, C)`` array, a list of crops or a LesionSamples); the
checks generate tabular ``(n_samples, n_features)`` arrays, which it refuses in ``fit`` as in ``transform``
(``ConfigError``, a ``ValueError``). So every check that fits or transforms such a table is an expected
failure, listed with its reason below; ``xfail_strict=True`` turns a listed check that starts passing into a
failure. The checks that do not need a table (clone, repr, get_params / set_params, nothing set in
``__init__``, tags, mixin order, 1-D and sparse input refused ...) pass. ``check_array_api_input`` skips
itself inside scikit-learn (``SCIPY_ARRAY_API`` is not set). The tests after the checks assert the contract
of the failing ones on crops.
"""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from explainendo.errors import ConfigError
from explainendo.features import LesionSamples
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.types import Box

_TABLE = ("the check fits or transforms a tabular (n_samples, n_features) array; HandcraftedFeatures takes "
          "image crops and refuses a 2-D table (ConfigError)")

EXPECTED_FAILURES = {
    **dict.fromkeys([
        "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
        "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_positive_only_tag_during_fit",
        "check_estimators_dtypes", "check_dtype_object", "check_pipeline_consistency", "check_estimators_pickle",
        "check_f_contiguous_array_estimator", "check_transformer_general", "check_transformers_unfitted_stateless",
        "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1sample",
        "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
        "check_fit2d_predict1d"], _TABLE),
    **dict.fromkeys(["check_n_features_in_after_fitting", "check_n_features_in"],
                    _TABLE + "; and a batch of crops has no number of input features: no n_features_in_"),
    "check_transformer_data_not_an_array": _TABLE + " (here wrapped in a non-iterable _NotAnArray)",
    "check_transformer_preserve_dtypes": _TABLE + "; and the output is float64 columns for any crop dtype, by "
                                                  "design",
    **dict.fromkeys(["check_complex_data", "check_estimators_empty_data_messages"],
                    "the input is refused, but as not a batch of crops (the library's message), not with the "
                    "message check_array would give that the check matches"),
    "check_estimators_nan_inf": _TABLE + "; and a crop holding NaN or inf gives a row of NaN plus a warning, by "
                                         "design (strict=True raises FeatureExtractionError)",
}

PARAMS = {"extractors": ["color_moments", "lbp", "hog", "aspect_ratio"]}  # a cheap subset for the stand-ins


@parametrize_with_checks([HandcraftedFeatures()], expected_failed_checks=lambda est: EXPECTED_FAILURES,
                         xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _crops(n: int = 6, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# ---- the contract of the table checks, on crops --------------------------------------------------------------
def test_fit_returns_self_changes_no_attribute_and_is_stateless():
    """check_estimators_fit_returns_self, _dict_unchanged, _dont_overwrite_parameters, _fit_idempotent,
    _transformers_unfitted_stateless, _fit_check_is_fitted (requires_fit=False), _pipeline_consistency."""
    crops = _crops()
    features = HandcraftedFeatures(params=PARAMS)
    unfitted = features.transform(crops)
    state = copy.deepcopy(features.__dict__)
    assert features.fit(crops) is features
    assert features.__dict__ == state  # nothing learnt, no parameter changed
    pd.testing.assert_frame_equal(features.transform(crops), unfitted)
    pd.testing.assert_frame_equal(features.fit(_crops(3, 40)).transform(crops), unfitted)  # fit on others
    pd.testing.assert_frame_equal(clone(features).fit_transform(crops), unfitted)
    assert unfitted.dtypes.eq(np.float64).all() and list(unfitted.columns) == list(features.get_feature_names_out())


def test_transform_is_invariant_to_sample_order_and_subsets():
    """check_methods_sample_order_invariance and check_methods_subset_invariance."""
    crops = _crops()
    features = HandcraftedFeatures(params=PARAMS)
    full = features.transform(crops)
    order = np.random.default_rng(1).permutation(len(crops))
    pd.testing.assert_frame_equal(features.transform(crops[order]).reset_index(drop=True),
                                  full.iloc[order].reset_index(drop=True))
    for i in range(len(crops)):
        pd.testing.assert_frame_equal(features.transform(crops[i:i + 1]).reset_index(drop=True),
                                      full.iloc[i:i + 1].reset_index(drop=True))


def test_pickle_round_trip_and_read_only_or_float_input():
    """check_estimators_pickle, check_readonly_memmap_input, check_f_contiguous_array_estimator,
    check_estimators_dtypes."""
    crops = _crops()
    features = HandcraftedFeatures(params=PARAMS).fit(crops)
    expected = features.transform(crops)
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(features)).transform(crops), expected)
    frozen = crops.copy()
    frozen.setflags(write=False)
    pd.testing.assert_frame_equal(features.transform(frozen), expected)
    pd.testing.assert_frame_equal(features.transform(np.asfortranarray(crops)), expected)
    as_float = features.transform(crops.astype(np.float32) / 255)
    assert as_float.shape == expected.shape and as_float.dtypes.eq(np.float64).all()


@pytest.mark.parametrize("bad", [np.zeros((5, 3)), np.zeros(5), np.zeros((8, 8, 3)), pd.DataFrame(np.zeros((5, 3))),
                                 sparse.csr_array(np.eye(4))],
                         ids=["2-D table", "1-D", "one crop", "DataFrame", "sparse"])
def test_fit_and_transform_refuse_what_is_not_a_batch_of_crops(bad):
    """What check_fit1d, check_estimator_sparse_* (passing) and the table checks feed in is refused alike by
    fit and transform, with the library's error."""
    for method in ("fit", "transform"):
        with pytest.raises(ConfigError, match="sparse|batch|table"):
            getattr(HandcraftedFeatures(), method)(bad)


# ---- clone / get_params, and fit leaves its arguments alone ---------------------------------------------------
@pytest.mark.parametrize("features", [HandcraftedFeatures(), HandcraftedFeatures(params=PARAMS, strict=True),
                                      HandcraftedFeatures(params={"lbp": {"points": 16}})],
                         ids=["defaults", "subset_strict", "lbp_16_points"])
def test_clone_gives_equal_params_before_and_after_fit(features):
    params = copy.deepcopy(features.get_params())
    assert clone(features).get_params() == params
    features.fit(_crops(2))
    assert features.get_params() == params and clone(features).get_params() == params


def test_fit_and_transform_do_not_modify_their_arguments():
    batch = _crops()
    crops = list(_crops(3, 24))
    frames = [np.random.default_rng(i).integers(0, 256, (40, 50, 3), dtype=np.uint8) for i in range(2)]
    samples = LesionSamples.from_images(frames, [Box(5, 5, 30, 25), Box(0, 0, 40, 40)],
                                        table=pd.DataFrame({"image": ["a.png", "b.png"]}))
    params = {"extractors": ["color_moments", "aspect_ratio"], "color_moments": {}}
    features = HandcraftedFeatures(params=params)
    kept = (batch.copy(), [c.copy() for c in crops], [c.copy() for c in samples.crops], samples.table.copy(),
            copy.deepcopy(params))
    for X in (batch, crops, samples):
        features.fit(X)
        features.transform(X)
    np.testing.assert_array_equal(batch, kept[0])
    for now, before in zip(crops + samples.crops, kept[1] + kept[2]):
        np.testing.assert_array_equal(now, before)
    pd.testing.assert_frame_equal(samples.table, kept[3])
    assert features.params == kept[4] and features.params is params
