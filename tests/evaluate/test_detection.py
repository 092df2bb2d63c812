"""Detection metrics against values computed by hand."""

import math

import numpy as np
import pytest

from explainendo.errors import InvalidBoxError
from explainendo.evaluate.detection import (ap_from_matches, area_precision, area_recall, average_precision,
                                            centroid_distance, confusion_matrices, detection_confusion_matrix,
                                            iou, localization_table, map50, map50_95, mean_iou, plot_success,
                                            success_curve, success_rate, summarize)
from explainendo.types import Box

G = Box(0, 0, 10, 10)
P = Box(5, 0, 15, 10)  # half overlaps G: intersection 50, union 150


def test_pair_metrics_by_hand():
    assert iou(P, G) == pytest.approx(50 / 150)
    assert area_precision(P, G) == pytest.approx(0.5)
    assert area_recall(Box(0, 0, 5, 5), G) == pytest.approx(0.25)
    assert area_precision(Box(0, 0, 5, 5), G) == pytest.approx(1.0)
    # centres (10, 5) vs (5, 5) on a 100x50 image: dx = 5/100, dy = 0
    assert centroid_distance(P, G, 100, 50) == pytest.approx(0.05)
    # centres (3, 4) apart on a 30x40 image: sqrt(0.1^2 + 0.1^2)
    assert centroid_distance(Box(3, 4, 13, 14), G, 30, 40) == pytest.approx(math.sqrt(0.02))
    with pytest.raises(InvalidBoxError):
        centroid_distance(P, G, 0, 10)


def test_localization_table_picks_best_overlap_and_counts_misses():
    preds = [[Box(50, 50, 60, 60, score=0.9), P], []]
    gts = [[G], [Box(0, 0, 4, 4)]]
    t = localization_table(preds, gts, [(100, 100), (100, 100)])
    assert len(t) == 2
    assert t.loc[0, "iou"] == pytest.approx(1 / 3)
    assert t.loc[1, "iou"] == 0 and math.isinf(t.loc[1, "centroid_distance"])
    assert mean_iou(preds, gts) == pytest.approx((1 / 3 + 0) / 2)
    assert success_rate(t["iou"], 0.3) == 0.5
    assert success_rate(t["iou"], 0.0) == 1.0
    assert success_rate(t["centroid_distance"], 0.05, "centroid") == pytest.approx(0.5)  # 0.05 <= 0.05
    with pytest.raises(InvalidBoxError):
        localization_table(preds, gts[:1], [(100, 100)])


def test_success_curve_and_plot():
    t = localization_table([[G], [P]], [[G], [G]], [(100, 100)] * 2)
    c = success_curve(t)
    iou_part = c[c["kind"] == "iou"]
    assert list(iou_part["threshold"]) == pytest.approx([0.1 * i for i in range(10)])
    # IoUs are 1 and 1/3: both succeed up to 0.3, one from 0.4 on
    assert list(iou_part["success"]) == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    cen = c[c["kind"] == "centroid"]
    assert len(cen) == 10 and cen["threshold"].iloc[0] == pytest.approx(0.01)
    assert list(cen["success"]) == [0.5] * 4 + [1.0] * 6  # distances 0 and 0.05
    fig = plot_success({"a": c, "b": c}, title="t")
    assert len(fig.axes) == 2
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_ap_known_cases():
    # perfect detector: AP 1
    assert map50([[G]], [[G]]) == pytest.approx(1.0)
    # one of two targets found, no false positives: precision 1 up to recall 0.5 -> 51 of 101 points
    assert map50([[G], []], [[G], [Box(0, 0, 5, 5)]]) == pytest.approx(51 / 101)
    # a false positive ranked above the true positive: precision 1/2 at recall 1 -> AP 0.5
    preds = [[Box(50, 50, 60, 60, score=0.9), Box(0, 0, 10, 10, score=0.8)]]
    assert map50(preds, [[G]]) == pytest.approx(0.5)
    # ... ranked below it: AP 1
    preds = [[Box(50, 50, 60, 60, score=0.1), Box(0, 0, 10, 10, score=0.8)]]
    assert map50(preds, [[G]]) == pytest.approx(1.0)
    # a duplicate of a found target is a false positive
    s, tp = np.array([0.9, 0.8]), np.array([True, False])
    assert ap_from_matches(s, tp, 1) == pytest.approx(1.0)
    assert ap_from_matches(np.array([]), np.array([], bool), 3) == 0.0
    assert math.isnan(ap_from_matches(np.array([]), np.array([], bool), 0))


def test_map50_95_by_hand():
    # IoU 1/3 with the target: a true positive at no threshold from 0.5 -> 0
    assert map50_95([[P]], [[G]]) == 0.0
    # box shifted by 1 px: IoU 90/110 = 0.818: TP at 0.50 .. 0.80 (7 of 10 thresholds)
    q = Box(1, 0, 11, 10)
    assert q.iou(G) == pytest.approx(90 / 110)
    assert map50_95([[q]], [[G]]) == pytest.approx(0.7)


def test_ap_per_class():
    a, b = Box(0, 0, 10, 10, label="a"), Box(20, 20, 30, 30, label="b")
    preds = [[Box(0, 0, 10, 10, score=0.9, label="a"), Box(20, 20, 30, 30, score=0.9, label="a")]]
    ap = average_precision(preds, [[a, b]])
    assert ap == {"a": pytest.approx(1.0), "b": 0.0}  # the wrong-class box is a FP for 'a', 'b' is missed


def test_confusion_matrix_background_row_and_column():
    t1, t2 = Box(0, 0, 10, 10, label="tumor"), Box(50, 50, 60, 60, label="normal")
    preds = [[Box(0, 0, 10, 10, label="tumor"), Box(80, 80, 90, 90, label="tumor")],  # hit + spurious
             [Box(50, 50, 60, 60, label="tumor")],                                    # wrong class
             []]                                                                      # miss
    gts = [[t1], [t2], [Box(5, 5, 9, 9, label="tumor")]]
    cm = detection_confusion_matrix(preds, gts, classes=["normal", "tumor"], iou_threshold=0.5)
    assert list(cm.index) == ["normal", "tumor", "background"] == list(cm.columns)
    assert cm.loc["tumor", "tumor"] == 1
    assert cm.loc["background", "tumor"] == 1
    assert cm.loc["normal", "tumor"] == 1
    assert cm.loc["tumor", "background"] == 1
    assert cm.to_numpy().sum() == 4
    # IoU 90/110 = 0.818 and 0.5 -> 50/150: with IoU exactly 0.5 (strict '>') the pair does not match
    half = [[Box(0, 0, 10, 10, label="tumor")]], [[Box(0, 0, 10, 20, label="tumor")]]
    ms = confusion_matrices(*half, classes=["tumor"])
    assert set(ms) == {0.45, 0.5, 0.55}
    assert ms[0.45].loc["tumor", "tumor"] == 1
    assert ms[0.5].loc["tumor", "background"] == 1 and ms[0.5].loc["background", "tumor"] == 1
    with pytest.raises(InvalidBoxError):
        detection_confusion_matrix([[Box(0, 0, 1, 1, label="x")]], [[]], classes=["tumor"])


def test_confusion_matrix_min_score_and_one_to_one():
    g = Box(0, 0, 10, 10)
    preds = [[Box(0, 0, 10, 10, score=0.9), Box(0, 0, 10, 10.5, score=0.8), Box(0, 0, 10, 10, score=0.1)]]
    cm = detection_confusion_matrix(preds, [[g]], min_score=0.5)
    assert cm.loc["object", "object"] == 1 and cm.loc["background", "object"] == 1


def test_summarize_keys():
    s = summarize([[G]], [[G]], [(20, 20)])
    assert s["mAP50"] == 1 and s["mIoU"] == 1 and s["success_iou_0.3"] == 1 and s["targets"] == 1


def test_image_success_counts_an_image_whose_top_box_hits_one_of_its_lesions():
    # image 0: two lesions, the top box hits one; image 1: one lesion, missed; image 2: one lesion, hit
    a, b = Box(0, 0, 10, 10), Box(50, 50, 60, 60)
    preds = [[Box(0, 0, 10, 10, score=0.9)], [Box(70, 70, 80, 80, score=0.9)], [Box(0, 0, 10, 11, score=0.5)]]
    s = summarize(preds, [[a, b], [a], [a]], [(100, 100)] * 3)
    assert s["targets"] == 4 and s["target_images"] == 3
    assert s["success_iou_0.3"] == pytest.approx(2 / 4)  # per true box: the second lesion of image 0 counts as missed
    assert s["image_success_iou_0.3"] == pytest.approx(2 / 3) and s["image_success_iou_0.5"] == pytest.approx(2 / 3)


def test_top_k_and_min_score_limit_the_predictions_compared():
    # a high-scoring miss and a low-scoring hit: best-overlap credits the hit, top_k=1 does not
    preds = [[Box(50, 50, 60, 60, score=0.9), Box(0, 0, 10, 10, score=0.01)]]
    assert mean_iou(preds, [[G]]) == 1.0
    assert mean_iou(preds, [[G]], top_k=1) == 0.0
    assert mean_iou(preds, [[G]], min_score=0.5) == 0.0
    t = localization_table(preds, [[G]], [(100, 100)], min_score=0.95)
    assert t.loc[0, "iou"] == 0 and math.isinf(t.loc[0, "centroid_distance"])
    assert summarize(preds, [[G]], [(100, 100)])["mIoU"] == 0.0  # summarize's default: top_k=1
