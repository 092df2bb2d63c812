import math

import numpy as np
import pytest

from explainendo.errors import InvalidBoxError
from explainendo.types import Box, Lesion, Result, boxes_to_array, pairwise_iou


def test_conversions_round_trip():
    b = Box(10, 20, 50, 100, score=0.9, label="polyp")
    assert b.to_xywh() == (10, 20, 40, 80)
    assert b.to_cxcywh() == (30, 60, 40, 80)
    assert Box.from_xywh(*b.to_xywh()).to_xyxy() == b.to_xyxy()
    assert Box.from_cxcywh(*b.to_cxcywh()).to_xyxy() == b.to_xyxy()
    n = b.to_normalized(200, 400)
    assert n == (0.05, 0.05, 0.25, 0.25)
    assert Box.from_normalized(*n, 200, 400).to_xyxy() == b.to_xyxy()
    y = b.to_yolo(200, 400)  # cx/W, cy/H, w/W, h/H
    assert y == (0.15, 0.15, 0.2, 0.2)
    assert Box.from_yolo(*y, 200, 400).to_xyxy() == pytest.approx(b.to_xyxy())
    assert Box.from_dict(b.to_dict()) == b
    assert b.area == 3200 and b.aspect_ratio == 0.5 and b.center == (30, 60)


def test_iou_by_hand():
    a, b = Box(0, 0, 10, 10), Box(5, 5, 15, 15)
    # intersection 5x5 = 25, union 100 + 100 - 25 = 175
    assert a.iou(b) == pytest.approx(25 / 175)
    assert a.iou(a) == 1.0
    assert a.iou(Box(20, 20, 30, 30)) == 0.0
    m = pairwise_iou(boxes_to_array([a, b]), boxes_to_array([b]))
    assert m.shape == (2, 1) and m[0, 0] == pytest.approx(25 / 175) and m[1, 0] == 1.0
    assert boxes_to_array([]).shape == (0, 4)


def test_enlarge_about_centre_and_clip():
    b = Box(40, 40, 60, 80)
    e = b.enlarge(1.2)
    assert e.center == pytest.approx(b.center)
    assert e.width == pytest.approx(24) and e.height == pytest.approx(48)
    big = Box(-10, 5, 50, 120).clip(100, 100)
    assert big.to_xyxy() == (0, 5, 50, 100)
    with pytest.raises(InvalidBoxError, match="outside"):
        Box(200, 200, 300, 300).clip(100, 100)
    with pytest.raises(InvalidBoxError):
        b.enlarge(0)


@pytest.mark.parametrize("coords", [(10, 10, 10, 20), (10, 10, 5, 20), (0, 0, math.nan, 1), (0, 0, math.inf, 1),
                                    ("a", 0, 1, 1)])
def test_degenerate_boxes_rejected(coords):
    with pytest.raises(InvalidBoxError):
        Box(*coords)


def test_crop_rounds_outward_and_clips():
    img = np.arange(100 * 120 * 3, dtype=np.uint32).reshape(100, 120, 3).astype(np.uint8)
    c = Box(10.4, 20.6, 30.2, 40.0).crop(img)
    assert c.shape == (20, 21, 3)  # rows 20..39, cols 10..30
    np.testing.assert_array_equal(c, img[20:40, 10:31])
    edge = Box(100, 80, 130, 120).crop(img)  # partly outside: clipped
    assert edge.shape == (20, 20, 3)
    enlarged = Box(50, 50, 60, 60).crop(img, enlarge=1.2)  # 12x12 about (55, 55)
    assert enlarged.shape == (12, 12, 3)
    sub = Box(5.2, 5.2, 5.4, 5.4).crop(img)  # sub-pixel box still yields one pixel
    assert sub.shape == (1, 1, 3)


def test_result_and_lesion_defaults():
    r = Result(image="x.png")
    assert r.lesions == [] and r.frame_index == 0 and r.timestamp is None and r.frame is None
    assert r.ok and not r.no_lesion and r.primary is None and r.boxes == []
    box = Box(0, 0, 4, 4, score=0.7)
    les = Lesion(box, "a", 0.9)
    assert les.probabilities == {} and les.features == {}
    assert Box.from_dict(les.to_dict()["box"]) == box
    with_frame = Result(image="x.png", lesions=[les], frame=np.zeros((4, 4, 3), np.uint8))
    assert with_frame == Result(image="x.png", lesions=[les])  # pixels do not take part in equality
