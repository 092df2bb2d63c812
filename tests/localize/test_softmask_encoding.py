"""boxes_to_soft_mask / soft_mask_to_boxes: the Gaussian encoding and the paper's decoding rule."""

import numpy as np
import pytest

from explainendo.errors import InvalidBoxError, InvalidImageError
from explainendo.localize import boxes_to_soft_mask, soft_mask_to_boxes
from explainendo.types import Box


@pytest.mark.parametrize("box", [Box(20, 30, 80, 60), Box(5, 5, 9, 12), Box(100, 10, 250, 200),
                                 Box(0.5, 3.2, 40.7, 17.9), Box(200, 200, 256, 256)])
def test_isolated_box_round_trip(box):
    mask = boxes_to_soft_mask([box], (256, 256))
    (decoded,) = soft_mask_to_boxes(mask, threshold=0.6)
    assert decoded.iou(box) >= 0.9


def test_mask_values_follow_the_gaussian():
    box = Box(10, 20, 30, 60)  # centre (20, 40), sigma_x = 10, sigma_y = 20
    m = boxes_to_soft_mask([box], (100, 100))
    assert m.dtype == np.float32 and m.shape == (100, 100)
    # pixel (row 39, col 19) has its centre at (19.5, 39.5): 0.5 px from the box centre on both axes
    assert m[39, 19] == pytest.approx(np.exp(-0.5 * ((0.5 / 10) ** 2 + (0.5 / 20) ** 2)), rel=1e-5)
    # one sigma right of the centre: exp(-1/2), the level the 0.6 threshold stands for
    assert m[39, 29] == pytest.approx(np.exp(-0.5 * ((9.5 / 10) ** 2 + (0.5 / 20) ** 2)), rel=1e-5)
    assert boxes_to_soft_mask([], (8, 9)).sum() == 0


def test_threshold_is_relative_to_the_peak():
    box = Box(20, 20, 60, 40)
    m = boxes_to_soft_mask([box], (80, 80))
    (a,) = soft_mask_to_boxes(m)
    (b,) = soft_mask_to_boxes(0.3 * m)
    assert a == Box(b.x1, b.y1, b.x2, b.y2, score=a.score)
    assert b.score == pytest.approx(0.3 * a.score)
    assert soft_mask_to_boxes(0.3 * m, min_peak=0.5) == []
    assert soft_mask_to_boxes(np.zeros((5, 5))) == []


def test_multi_returns_one_box_per_peak():
    boxes = [Box(10, 10, 50, 50), Box(150, 150, 200, 230)]
    m = np.maximum(boxes_to_soft_mask(boxes[:1], (256, 256)), 0.8 * boxes_to_soft_mask(boxes[1:], (256, 256)))
    single = soft_mask_to_boxes(m)
    assert len(single) == 1 and single[0].iou(boxes[0]) > 0.9
    multi = soft_mask_to_boxes(m, multi=True)
    assert len(multi) == 2
    assert multi[0].iou(boxes[0]) > 0.9 and multi[1].iou(boxes[1]) > 0.9
    assert multi[0].score > multi[1].score


def test_bad_inputs():
    with pytest.raises(InvalidBoxError):
        boxes_to_soft_mask([Box(300, 300, 310, 310)], (64, 64))  # wholly outside
    partly = boxes_to_soft_mask([Box(50, 50, 80, 80)], (64, 64))  # partly outside: kept, cut by the border
    assert partly.max() > 0.9
    with pytest.raises(InvalidImageError):
        boxes_to_soft_mask([], (0, 10))
    with pytest.raises(InvalidImageError):
        soft_mask_to_boxes(np.zeros((2, 3, 4)))
    with pytest.raises(InvalidImageError):
        soft_mask_to_boxes(np.full((4, 4), np.nan))
    with pytest.raises(InvalidBoxError):
        soft_mask_to_boxes(np.ones((4, 4)), threshold=1.5)
