"""Per-video decisions (vote, mean, frozen) and video-level metrics against values computed by hand."""

import numpy as np
import pandas as pd
import pytest

import explainendo.evaluate as evaluate
from explainendo.errors import EvaluationError
from explainendo.evaluate import (FreezeScores, compare_video_decisions, frames_from_results, freeze_detection_scores,
                                  label_flips, match_spans, video_decisions, video_metrics, wilson_interval)
from explainendo.types import Box, Lesion, Result
from explainendo.video import FreezeState

NAN = float("nan")


def _frames():
    p_neo = [0.9, 0.6, 0.2, 0.4,      # A: votes 2-2, mean 0.525, frozen frames 0.3
             0.3, 0.45, NAN,          # B: no freeze, one frame without a prediction
             0.4, 0.7, 0.8,           # C: frozen frames 0.75
             NAN, NAN]                # D: nothing predicted
    frozen = [False, False, True, True, False, False, False, False, True, True, True, False]
    video = list("AAAABBBCCCDD")
    truth = {"A": "neo", "B": "non", "C": "neo", "D": "non"}
    return pd.DataFrame({"video": video, "frame_index": [0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 0, 1],
                         "p_neo": p_neo, "p_non": [1 - p for p in p_neo], "frozen": frozen,
                         "truth": [truth[v] for v in video]})


def test_decisions_by_hand():
    d = video_decisions(_frames()).set_index("video")
    assert d.index.tolist() == ["A", "B", "C", "D"]
    assert d["n_frames"].tolist() == [4, 3, 3, 2] and d["n_predicted"].tolist() == [4, 2, 3, 0]
    assert d["n_frozen"].tolist() == [2, 0, 2, 1]
    # A: a 2-2 vote goes to the class with the higher mean probability (neo, 0.525); its frozen frames say non
    assert d.loc["A", ["vote", "mean", "frozen"]].tolist() == ["neo", "neo", "non"]
    assert d.loc["A", "vote_p_neo"] == pytest.approx(0.5)
    assert d.loc["A", "mean_p_neo"] == pytest.approx(0.525)
    assert d.loc["A", "frozen_p_neo"] == pytest.approx(0.3) and d.loc["A", "frozen_from"] == "frozen frames"
    # B: no freeze, so the frozen decision falls back to the mean, and says so
    assert d.loc["B", ["vote", "mean", "frozen"]].tolist() == ["non", "non", "non"]
    assert d.loc["B", "mean_p_neo"] == pytest.approx(0.375) and d.loc["B", "frozen_p_neo"] == pytest.approx(0.375)
    assert d.loc["B", "frozen_from"] == "mean (no freeze)"
    assert d.loc["C", ["vote", "mean", "frozen"]].tolist() == ["neo", "neo", "neo"]
    assert d.loc["C", "mean_p_neo"] == pytest.approx(1.9 / 3) and d.loc["C", "frozen_p_neo"] == pytest.approx(0.75)
    assert d.loc["D", ["vote", "mean", "frozen"]].isna().all()
    assert d.loc["D", "frozen_from"] == "mean (no predicted frozen frame)"
    none = video_decisions(_frames(), fallback=None).set_index("video")
    assert pd.isna(none.loc["B", "frozen"]) and none.loc["B", "frozen_from"] == "none (no freeze)"
    vote = video_decisions(_frames(), fallback="vote").set_index("video")
    assert vote.loc["B", "frozen"] == "non" and vote.loc["B", "frozen_p_neo"] == 0.0
    no_column = video_decisions(_frames().drop(columns="frozen"))
    assert (no_column["frozen"].tolist() == no_column["mean"].tolist()
            and set(no_column["frozen_from"]) == {"mean (no freeze)"})


def test_metrics_by_hand():
    m = video_metrics(video_decisions(_frames()), positive="neo").set_index(["method", "metric"])
    # D has no decision: 3 videos. vote and mean are right on all; frozen misses A (neo called non)
    assert m.loc[("vote", "accuracy"), "value"] == 1.0 and m.loc[("vote", "accuracy"), "n_excluded"] == 1
    acc = m.loc[("frozen", "accuracy")]
    assert (acc["numerator"], acc["denominator"]) == (2, 3)
    assert (acc["ci_low"], acc["ci_high"]) == pytest.approx(tuple(wilson_interval(2, 3)))
    assert m.loc[("frozen", "sensitivity"), "value"] == 0.5 and m.loc[("frozen", "specificity"), "value"] == 1.0
    # AUC of frozen_p_neo: positives 0.3 and 0.75 against the negative 0.375 -> one of two pairs ordered
    assert m.loc[("frozen", "auc"), "value"] == pytest.approx(0.5)
    only_accuracy = video_metrics(video_decisions(_frames()), methods=("frozen",))
    assert only_accuracy["metric"].tolist() == ["accuracy"] and only_accuracy["value"].iloc[0] == pytest.approx(2 / 3)
    with pytest.raises(EvaluationError, match="truth"):
        video_metrics(video_decisions(_frames().drop(columns="truth")))


def test_bad_frames_tables():
    bad = _frames()
    bad.loc[0, "p_non"] = NAN
    with pytest.raises(EvaluationError, match="some class probabilities"):
        video_decisions(bad)
    mixed = _frames()
    mixed.loc[0, "truth"] = "non"
    with pytest.raises(EvaluationError, match="truth labels"):
        video_decisions(mixed)
    with pytest.raises(EvaluationError, match="probability column"):
        video_decisions(_frames().drop(columns="p_non"))


def test_frames_from_results_feed_the_decisions():
    def result(i, p):
        lesions = [] if p is None else [Lesion(Box(0, 0, 10, 10), "neo" if p >= 0.5 else "non", max(p, 1 - p),
                                               {"neo": p, "non": 1 - p})]
        return Result(f"v.mp4#{i}", lesions, frame_index=i, timestamp=i / 25, no_lesion=p is None)

    results = [result(0, 0.8), result(1, None), result(2, 0.2), result(3, 0.3)]
    states = [FreezeState(i, i / 25, frozen=i >= 2) for i in range(4)]
    frames = frames_from_results(results, "v", frozen=states, truth="non")
    assert frames.columns.tolist() == ["video", "frame_index", "timestamp", "label", "p_neo", "p_non", "frozen",
                                       "truth"]
    assert np.isnan(frames.loc[1, "p_neo"]) and frames["frozen"].tolist() == [False, False, True, True]
    d = video_decisions(frames).iloc[0]
    assert (d["vote"], d["mean"], d["frozen"]) == ("non", "non", "non")
    assert d["frozen_p_neo"] == pytest.approx(0.25)
    with pytest.raises(EvaluationError, match="frozen"):
        frames_from_results(results, "v", frozen=[True])


def test_label_flips_per_minute():
    frames = pd.DataFrame({"video": ["v"] * 6, "frame_index": range(6), "label": ["a", "a", "b", None, "b", "a"],
                           "timestamp": [0, 6, 12, 18, 24, 30]})
    row = label_flips(frames).iloc[0]
    assert (row["flips"], row["minutes"], row["flips_per_minute"]) == (2, 0.5, 4.0)
    by_fps = label_flips(frames.drop(columns="timestamp"), fps=0.1).iloc[0]  # 5 frame intervals of 10 s
    assert by_fps["flips_per_minute"] == pytest.approx(2 / (50 / 60))
    with pytest.raises(EvaluationError, match="fps"):
        label_flips(frames.drop(columns="timestamp"))


def test_freeze_detection_scores_by_hand():
    s = freeze_detection_scores([(10, 20)], [(11, 20), (30, 35)], 40)
    assert s == FreezeScores(frame_tp=9, frame_fp=5, frame_fn=1, span_tp=1, span_fp=1, span_fn=0)
    assert (s.frame_precision, s.frame_recall, s.span_precision, s.span_recall) == (9 / 14, 0.9, 0.5, 1.0)
    total = s + freeze_detection_scores([(0, 4)], [], 10)
    assert (total.frame_fn, total.span_fn, total.span_recall) == (5, 1, 0.5)
    table = total.table().set_index(["level", "metric"])
    assert table.loc[("span", "recall"), ["numerator", "denominator"]].tolist() == [1, 2]
    assert match_spans([(0, 10)], [(4, 10)]) == [(0, 0, 0.6)] and match_spans([(0, 10)], [(6, 10)]) == []
    assert np.isnan(FreezeScores().span_precision)


def test_paired_video_comparison_and_lazy_exports():
    truth = ["neo"] * 5 + ["non"] * 5
    hybrid = ["neo"] * 5 + ["non"] * 4 + ["neo"]
    cnn = ["neo", "neo", "neo", "non", "non"] + ["non"] * 3 + ["neo"] * 2
    def table(pred, scores):
        return pd.DataFrame({"video": list("abcdefghij"), "truth": truth, "frozen": pred, "frozen_p_neo": scores})
    hybrid_p = [0.9, 0.8, 0.85, 0.7, 0.75, 0.2, 0.1, 0.3, 0.25, 0.6]
    cnn_p = [0.8, 0.7, 0.6, 0.4, 0.45, 0.3, 0.2, 0.35, 0.55, 0.65]
    report = compare_video_decisions({"hybrid": table(hybrid, hybrid_p), "cnn": table(cnn, cnn_p)}, positive="neo")
    assert report.unit == "videos" and report.n == 10
    results = report.results.set_index(["model", "metric"])
    assert results.loc[("hybrid", "accuracy"), "value"] == pytest.approx(0.9)  # 9 of 10 videos
    assert results.loc[("cnn", "accuracy"), "value"] == pytest.approx(0.6)  # 3 + 3 of 10
    with pytest.raises(EvaluationError, match="other videos"):
        compare_video_decisions({"hybrid": table(hybrid, hybrid_p), "cnn": table(cnn, cnn_p).iloc[:9]}, positive="neo")
    assert evaluate.video_decisions is video_decisions and "video_metrics" in evaluate.__all__
