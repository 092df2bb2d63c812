"""LabelSmoother against values computed by hand: the EMA, a flickering sequence, the hysteresis switches."""

import pytest
from sklearn.base import clone

from explainendo.errors import ConfigError
from explainendo.video import LabelSmoother, SmoothedLabel, smooth_sequence


def test_ema_values_by_hand_for_three_frames():
    s = LabelSmoother(alpha=0.3, margin=0.5, patience=None)
    out = [s.update(p) for p in ({"a": 0.6, "b": 0.4}, {"a": 0.0, "b": 1.0}, {"a": 1.0, "b": 0.0})]
    # s0 = p0; s1 = 0.3 p1 + 0.7 s0 = (0.42, 0.58); s2 = 0.3 p2 + 0.7 s1 = (0.594, 0.406)
    assert out[0] == SmoothedLabel("a", {"a": 0.6, "b": 0.4})
    assert out[1].probabilities == pytest.approx({"a": 0.42, "b": 0.58})
    assert out[2].probabilities == pytest.approx({"a": 0.594, "b": 0.406})
    assert [o.label for o in out] == ["a", "a", "a"]  # b's lead at frame 1 (0.16) is under the margin


def test_margin_switch_at_the_right_frame():
    s = LabelSmoother(alpha=0.5, margin=0.2, patience=None)
    seq = [{"a": 0.8, "b": 0.2}, {"a": 0.2, "b": 0.8}, {"a": 0.1, "b": 0.9}]
    out = [s.update(p) for p in seq]
    # s1 = (0.5, 0.5): no lead; s2 = (0.3, 0.7): b leads by 0.4 > 0.2, so the label changes at frame 2
    assert out[1].probabilities == pytest.approx({"a": 0.5, "b": 0.5})
    assert out[2].probabilities == pytest.approx({"a": 0.3, "b": 0.7})
    assert [o.label for o in out] == ["a", "a", "b"] and s.switches_ == 1


def test_a_flickering_sequence_gives_a_stable_label():
    seq = [{"a": 0.55, "b": 0.45} if i % 2 == 0 else {"a": 0.45, "b": 0.55} for i in range(40)]
    raw = [max(p, key=p.get) for p in seq]
    assert sum(x != y for x, y in zip(raw, raw[1:])) == 39
    labels = [o.label for o in smooth_sequence(seq, LabelSmoother(alpha=0.3, margin=0.1, patience=10))]
    assert set(labels) == {"a"}


def test_patience_switch_on_a_small_but_lasting_lead():
    s = LabelSmoother(alpha=1.0, margin=0.5, patience=3)  # alpha 1: no averaging, only the hysteresis
    lead_b = {"a": 0.45, "b": 0.55}
    seq = [{"a": 0.7, "b": 0.3}, lead_b, {"a": 0.6, "b": 0.4}, lead_b, lead_b, lead_b, lead_b]
    labels = [s.update(p).label for p in seq]
    # b leads at 1 (then a breaks the run), and at 3, 4, 5: its third consecutive lead is frame 5
    assert labels == ["a", "a", "a", "a", "a", "b", "b"]


def test_threshold_the_challenger_must_reach():
    s = LabelSmoother(alpha=1.0, margin=0.5, patience=2, threshold=0.6)
    seq = [{"a": 0.5, "b": 0.3, "c": 0.2}, {"a": 0.3, "b": 0.45, "c": 0.25}, {"a": 0.3, "b": 0.45, "c": 0.25},
           {"a": 0.2, "b": 0.65, "c": 0.15}, {"a": 0.2, "b": 0.65, "c": 0.15}]
    assert [s.update(p).label for p in seq] == ["a", "a", "a", "a", "b"]


def test_frames_without_a_prediction():
    first = {"a": 0.8, "b": 0.2}
    hold = LabelSmoother(alpha=0.5)
    hold.update(first)
    assert hold.update(None) == SmoothedLabel("a", first)
    assert hold.update({}) == SmoothedLabel("a", first)
    assert hold.update({"a": float("nan"), "b": float("nan")}) == SmoothedLabel("a", first)
    decay = LabelSmoother(alpha=0.5, missing="decay")
    decay.update(first)
    out = decay.update(None)  # s <- 0.5 s + 0.5 / 2
    assert out.label == "a" and out.probabilities == pytest.approx({"a": 0.65, "b": 0.35})
    gone = LabelSmoother(max_missing=2)
    gone.update(first)
    assert gone.update(None).label == "a"
    assert gone.update(None) == SmoothedLabel(None, {})  # the lesion left the view: forget it
    assert gone.update({"a": 0.1, "b": 0.9}) == SmoothedLabel("b", {"a": 0.1, "b": 0.9})  # a new EMA
    before = LabelSmoother()
    assert before.update(None) == SmoothedLabel(None, {})


def test_errors_and_estimator_style():
    s = LabelSmoother()
    s.update({"a": 0.5, "b": 0.5})
    with pytest.raises(ConfigError, match="classes"):
        s.update({"a": 0.5, "c": 0.5})
    with pytest.raises(ConfigError, match="NaN"):
        s.update({"a": 0.5, "b": float("nan")})
    for bad in ({"alpha": 0.0}, {"alpha": 1.5}, {"margin": -0.1}, {"patience": 0}, {"missing": "drop"},
                {"threshold": 2.0}, {"max_missing": 0}):
        with pytest.raises(ConfigError):
            LabelSmoother(**bad).reset()
    given = LabelSmoother(alpha=0.4)
    assert clone(given).get_params() == given.get_params()
    smooth_sequence([{"a": 1.0, "b": 0.0}], given)
    assert not hasattr(given, "label_")  # smooth_sequence runs a copy
