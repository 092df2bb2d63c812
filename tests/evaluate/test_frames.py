"""The colon paper's frame-level confusion matrix with Background, on hand-made frames and boxes."""

import math

import pytest

from explainendo.errors import EvaluationError
from explainendo.evaluate import evaluate_frames, match_one_to_one
from explainendo.types import Box

CLASSES = ["normal", "unclear", "tumor"]
T = Box(0, 0, 10, 10, label="tumor")  # the true tumor of every tumor frame below


def _report():
    # frame 0: normal called normal                         -> (normal, normal)
    # frame 1: unclear called normal                        -> (unclear, normal)
    # frame 2: tumor, box IoU 1                              -> (tumor, tumor) at every threshold
    # frame 3: tumor, box 0..10 x 0..5: IoU 50 / 100 = 0.50  -> tumor at 0.45; background at 0.50 (not > 0.5), 0.55
    #          (and its box then counts as spurious in the Background row)
    # frame 4: tumor called tumor but no box                 -> (tumor, background)
    # frame 5: normal called tumor                           -> (normal, tumor), its box not counted again
    # frame 6: tumor called unclear                          -> (tumor, unclear)
    # frame 7: tumor, two boxes: one on the tumor, one far   -> (tumor, tumor) + 1 spurious (background, tumor)
    # frame 8: unclear called background (no detection)      -> (unclear, background)
    truth = ["normal", "unclear", "tumor", "tumor", "tumor", "normal", "tumor", "tumor", "unclear"]
    called = ["normal", "normal", "tumor", "tumor", "tumor", "tumor", "unclear", "tumor", "background"]
    tb = [None, None, T, T, T, None, T, [T], None]
    cb = [None, None, [Box(0, 0, 10, 10)], [Box(0, 0, 10, 5)], [], [Box(0, 0, 5, 5)], None,
          [Box(1, 0, 10, 10), Box(50, 50, 60, 60)], None]
    return evaluate_frames(truth, called, tb, cb, classes=CLASSES)


def test_the_matrices_at_the_three_thresholds_by_hand():
    rep = _report()
    m45, m50, m55 = (rep.matrices[t] for t in (0.45, 0.5, 0.55))
    assert m45.loc["tumor"].to_dict() == {"normal": 0, "unclear": 1, "tumor": 3, "background": 1}
    assert m50.loc["tumor"].to_dict() == {"normal": 0, "unclear": 1, "tumor": 2, "background": 2}
    assert m55.equals(m50)
    assert m45.loc["normal"].to_dict() == {"normal": 1, "unclear": 0, "tumor": 1, "background": 0}
    assert m45.loc["unclear"].to_dict() == {"normal": 1, "unclear": 0, "tumor": 0, "background": 1}
    # spurious boxes: frame 7's far box; at 0.50 also frame 3's half-overlapping box
    assert m45.loc["background", "tumor"] == 1 and m50.loc["background", "tumor"] == 2
    # each frame once in its truth row
    assert int(m45.loc[CLASSES].to_numpy().sum()) == 9
    assert not rep.identical
    assert rep.threshold_sensitive["image"].tolist() == ["frame 3"]
    assert rep.frames.loc[3, "best_iou"] == pytest.approx(0.5)
    assert math.isnan(rep.frames.loc[4, "best_iou"])


def test_per_class_metrics_by_hand():
    m = _report().metrics[0.45]
    # tumor at 0.45: tp 3, row 5 (frames 2, 3, 4, 6, 7), column 3 + normal's false tumor 1 + spurious 1 = 5
    assert m.loc["tumor", "recall"] == pytest.approx(3 / 5)
    assert m.loc["tumor", "precision"] == pytest.approx(3 / 5)
    assert m.loc["tumor", "f1"] == pytest.approx(3 / 5)
    # normal: tp 1 of row 2; column normal = frames 0 and 1: precision 1 / 2
    assert m.loc["normal", "recall"] == pytest.approx(0.5) and m.loc["normal", "precision"] == pytest.approx(0.5)
    # unclear: tp 0 of 2; column unclear = frame 6 only: precision 0, F1 0
    assert m.loc["unclear", "recall"] == 0.0 and m.loc["unclear", "precision"] == 0.0 and m.loc["unclear", "f1"] == 0
    assert m.loc["accuracy", "f1"] == pytest.approx(4 / 9)
    assert m.loc["macro", "recall"] == pytest.approx((0.5 + 0 + 0.6) / 3)
    assert m.loc["weighted", "recall"] == pytest.approx((0.5 * 2 + 0 * 2 + 0.6 * 5) / 9)
    assert _report().accuracy(0.5) == pytest.approx(3 / 9)


def test_side_by_side_and_markdown_say_why_the_matrices_differ():
    rep = _report()
    assert rep.side_by_side().shape == (4, 12)
    text = rep.to_markdown()
    assert "IoU 0.45" in text and "IoU 0.55" in text and "1 tumor frame(s) have their best IoU" in text
    same = evaluate_frames(["tumor", "normal"], ["tumor", "normal"], [T, None], [[T], None], classes=CLASSES)
    assert same.identical and "identical" in same.to_markdown()
    assert same.to_dict()["matrices"]["0.50"]["tumor"]["tumor"] == 1


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(EvaluationError, match="no true box"):
        evaluate_frames(["tumor"], ["tumor"], [None], [[T]], classes=CLASSES)
    with pytest.raises(EvaluationError, match="not among"):
        evaluate_frames(["polyp"], ["normal"], classes=CLASSES)
    with pytest.raises(EvaluationError, match="2 true classes but 1"):
        evaluate_frames(["normal", "tumor"], ["normal"], classes=CLASSES)


def test_match_one_to_one_takes_the_best_pairs_first():
    a, b = Box(0, 0, 10, 10), Box(2, 0, 12, 10)
    # prediction 0 overlaps both targets; the better pair (0, 0) wins, then (1, 1)
    assert match_one_to_one([a, b], [a, b], 0.5) == [(0, 0), (1, 1)]
    assert match_one_to_one([a], [b], 0.9) == []
