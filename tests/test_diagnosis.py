"""Results, lesions and explanations: JSON-ready dicts, plain-words summaries, the primary lesion."""

import json

import numpy as np
import pytest

from explainendo import types
from explainendo.types import Box, Explanation, Lesion, Result, describe_group

PROBS = {"non_neoplastic": 0.2, "neoplastic": 0.8}


def two_lesions() -> Result:
    weak = Lesion(Box(40, 40, 60, 60, score=0.6), label="non_neoplastic", probability=0.7,
                  probabilities={"non_neoplastic": 0.7, "neoplastic": 0.3}, features={"lbp.hist_0": 0.1})
    strong = Lesion(Box(1, 2, 30, 40, score=0.9), label="neoplastic", probability=0.8, probabilities=PROBS,
                    features={"tone.p_reddened": 0.7, "lbp.hist_0": np.nan})
    return Result(image="a.png", lesions=[weak, strong], frame_index=3, timestamp=0.12, predictor="hybrid: svm")


def test_result_to_dict_is_strict_json_even_with_missing_features():
    r = two_lesions()
    out = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert out["lesions"][1]["features"]["lbp.hist_0"] is None and out["box"]["x2"] == 30
    assert out["lesions"][0]["box"]["score"] == 0.6 and out["lesions"][1]["box"]["score"] == 0.9
    assert out["primary"] == 1 and out["label"] == "neoplastic" and out["probability"] == 0.8
    assert out["probabilities"] == PROBS and out["frame_index"] == 3 and out["timestamp"] == 0.12
    assert out["predictor"] == "hybrid: svm" and out["no_lesion"] is False and out["error"] is None
    assert "frame" not in out  # never pixels
    assert "neoplastic (p=0.80" in r.summary() and "2 lesion(s)" in r.summary() and "hybrid: svm" in r.summary()


def test_primary_lesion_is_the_most_confident_box():
    r = two_lesions()
    assert r.primary == 1 and r.lesion is r.lesions[1]
    assert r.label == "neoplastic" and r.probability == 0.8 and r.probabilities == PROBS
    assert r.box == Box(1, 2, 30, 40, score=0.9) and r.boxes == [les.box for les in r.lesions]
    assert r.features == r.lesions[1].features and r.ok
    # a tie goes to the first lesion
    tie = Result(image="t.png", lesions=[Lesion(Box(0, 0, 5, 5, score=0.5), "a", 0.6),
                                         Lesion(Box(5, 5, 9, 9, score=0.5), "b", 0.9)])
    assert tie.primary == 0 and tie.label == "a"


def test_no_lesion_and_error_results():
    empty = Result(image="b.png", no_lesion=True, message="the localizer found no lesion")
    assert empty.ok and empty.primary is None and empty.lesion is None and empty.label is None
    assert empty.probability is None and empty.probabilities == {} and empty.box is None
    assert empty.boxes == [] and empty.features == {}
    assert "no lesion" in empty.summary() and "the localizer found no lesion" in empty.summary()
    out = json.loads(json.dumps(empty.to_dict(), allow_nan=False))
    assert out["no_lesion"] is True and out["label"] is None and out["box"] is None and out["lesions"] == []
    assert out["primary"] is None

    broken = Result(image="c.png", error="cannot read image")
    assert not broken.ok and broken.label is None
    assert broken.summary() == "c.png: error: cannot read image"
    assert json.loads(json.dumps(broken.to_dict()))["error"] == "cannot read image"


def test_lesion_to_dict():
    les = Lesion(Box(1, 2, 3, 4, score=0.5, label="polyp"), "neoplastic", np.float32(0.75),
                 {"neoplastic": np.float64(0.75), "non_neoplastic": 0.25}, {"size_mm.value": np.inf})
    out = json.loads(json.dumps(les.to_dict(), allow_nan=False))
    assert out == {"box": {"x1": 1, "y1": 2, "x2": 3, "y2": 4, "score": 0.5, "label": "polyp"},
                   "label": "neoplastic", "probability": 0.75,
                   "probabilities": {"neoplastic": 0.75, "non_neoplastic": 0.25}, "features": {"size_mm.value": None}}


def test_plot_draws_every_box_and_highlights_the_primary():
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    r = two_lesions()
    r.frame = np.zeros((64, 64, 3), np.uint8)
    ax = r.plot()
    try:
        rects = [p for p in ax.patches if isinstance(p, Rectangle)]
        assert len(rects) == 2 and len(ax.images) == 1
        colours = [tuple(p.get_edgecolor()) for p in rects]
        from matplotlib.colors import to_rgba
        assert colours[r.primary] == to_rgba("yellow") and colours[0] == to_rgba("white")
        assert "neoplastic" in ax.get_title()
    finally:
        plt.close(ax.figure)
    # without a kept frame, a frame may be given; with neither only the boxes are drawn
    fig, ax = plt.subplots()
    try:
        assert Result(image="b.png", no_lesion=True, message="m").plot(ax=ax) is ax and not ax.patches
        two_lesions().plot(ax=ax, frame=np.zeros((8, 8, 3), np.uint8))
        assert len(ax.images) == 1
    finally:
        plt.close(fig)


def explanation() -> Explanation:
    return Explanation(result=two_lesions(), lesion_index=1, shap={"tone.p_reddened": 0.3, "lbp.hist_0": -0.05},
                       group_shap={"tone": 0.3, "lbp": -0.05}, expected_value=0.1, output=0.35, space="log-odds",
                       explainer="linear", explained_class="neoplastic",
                       groups={"tone": ["tone.p_reddened"], "lbp": ["lbp.hist_0"]})


def test_explanation_to_dict_has_the_result():
    e = explanation()
    assert e.lesion is e.result.lesions[1]
    out = json.loads(json.dumps(e.to_dict(), allow_nan=False))
    assert "diagnosis" not in out and out["result"] == json.loads(json.dumps(e.result.to_dict()))
    assert out["lesion_index"] == 1 and out["explained_class"] == "neoplastic" and out["space"] == "log-odds"
    assert out["contributions"][0] == {"group": "tone", "value": "p(reddened) = 0.70", "contribution": 0.3}
    assert e.top_groups(1) == ["tone"] and e.sentences()[0] == "tone: p(reddened) = 0.70, +0.30"
    assert e.expected_value + sum(e.group_shap.values()) == pytest.approx(e.output)
    assert e.attribute_probabilities() == {"tone.p_reddened": 0.7}


def test_diagnosis_is_gone():
    assert not hasattr(types, "Diagnosis")


def test_describe_group_in_plain_words():
    f = {"tone.p_unchanged": 0.1, "tone.p_reddened": 0.83, "tone.p_pale": 0.07, "bleeding.p_yes": 0.2,
         "size_mm.value": 12.0, "surface.rough": 1.0, "surface.smooth": 0.0, "lbp.hist_0": 0.1, "lbp.hist_1": 0.3}
    assert describe_group("tone", f) == "reddened (0.83)"
    assert describe_group("bleeding", f) == "p(yes) = 0.20"
    assert describe_group("size_mm", f) == "12"
    assert describe_group("surface", f) == "rough"
    assert describe_group("lbp", f) == "2 values"
    assert describe_group("absent", f) == "unknown"
