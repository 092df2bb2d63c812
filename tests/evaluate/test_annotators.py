"""compare_annotators: the ERCP paper's model / expert / ground-truth comparison on hand-made boxes."""

import math

import numpy as np
import pytest

from explainendo.errors import EvaluationError
from explainendo.evaluate import compare_annotators
from explainendo.types import Box

# three 100 x 200 (w x h) images; the reference box is 0..10 x 0..10 in each
TRUTH = [Box(0, 0, 10, 10)] * 3
SIZES = [(100, 200)] * 3


def test_hand_values_of_each_comparison():
    model = [Box(0, 0, 10, 10),                  # exact
             [Box(5, 0, 15, 10, score=0.9), Box(50, 50, 60, 60, score=0.2)],  # best box: half shifted right
             []]                                 # a miss
    expert = [Box(0, 0, 10, 20), Box(0, 0, 10, 10), Box(0, 0, 5, 10)]
    res = compare_annotators(model, expert, TRUTH, SIZES, images=["a", "b", "c"])
    t = res.per_image.set_index(["comparison", "image"])
    mg, eg, me = "model vs ground truth", "expert vs ground truth", "model vs expert"
    # b: overlap 5 x 10 = 50, union 150
    assert t.loc[(mg, "b"), "iou"] == pytest.approx(1 / 3)
    assert t.loc[(mg, "b"), "area_precision"] == pytest.approx(0.5)
    assert t.loc[(mg, "b"), "centroid_distance"] == pytest.approx(5 / 100)  # centres 5 px apart in x
    assert t.loc[(mg, "c"), "iou"] == 0 and math.isinf(t.loc[(mg, "c"), "centroid_distance"])
    # expert a: 10 x 20 over the 10 x 10 reference: IoU 0.5, precision 0.5, recall 1, centre 5 px lower in y
    assert t.loc[(eg, "a"), ["iou", "area_precision", "area_recall"]].tolist() == pytest.approx([0.5, 0.5, 1.0])
    assert t.loc[(eg, "a"), "centroid_distance"] == pytest.approx(5 / 200)
    # model vs expert as the ground truth: a is 0.5 (10x10 inside 10x20), b 1/3, c a miss
    assert t.loc[(me, "a"), "iou"] == pytest.approx(0.5) and t.loc[(me, "a"), "area_recall"] == pytest.approx(0.5)
    s = res.summary
    assert s.loc[mg, "mIoU"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert s.loc[mg, "mIoU_sd"] == pytest.approx(np.std([1, 1 / 3, 0], ddof=1))
    assert s.loc[mg, "boxes"] == 2 and s.loc[mg, "centroid_distance"] == pytest.approx((0 + 0.05) / 2)
    assert s.loc[mg, "success_iou_0.3"] == pytest.approx(2 / 3)
    assert s.loc[mg, "success_centroid_0.05"] == pytest.approx(2 / 3)  # 0 and exactly 0.05
    assert s.loc[eg, "mIoU"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert s.loc[eg, "area_recall"] == pytest.approx((1 + 1 + 0.5) / 3)
    # the paired test sees the three IoU differences 0.5, -2/3, -0.5
    assert res.test.details["n"] == 3 and res.test.details["median_difference"] == pytest.approx(-0.5)
    text = res.to_markdown()
    assert "| model vs ground truth | 3 | 0.444 ± 0.509 |" in text and "p = " in text


def test_refuses_what_it_cannot_compare():
    good = [Box(0, 0, 10, 10)] * 3
    with pytest.raises(EvaluationError, match="2 entries for 3"):
        compare_annotators(good[:2], good, TRUTH, SIZES)
    with pytest.raises(EvaluationError, match="exactly one"):
        compare_annotators(good, [Box(0, 0, 1, 1), [], Box(0, 0, 1, 1)], TRUTH, SIZES, images=["a", "b", "c"])
    with pytest.raises(EvaluationError, match="image b"):
        compare_annotators(good, [Box(0, 0, 1, 1), 7, Box(0, 0, 1, 1)], TRUTH, SIZES, images=["a", "b", "c"])
    with pytest.raises(EvaluationError, match="at least two"):
        compare_annotators(good[:1], good[:1], TRUTH[:1], SIZES[:1])
