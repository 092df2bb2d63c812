"""Binary metrics with intervals, the per-class report against sklearn, and frame-to-video aggregation."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import classification_report as sk_report

from explainendo.errors import EvaluationError
from explainendo.evaluate import (
    aggregate_by_group,
    binary_metrics,
    classification_report,
    confusion_counts,
    delong_ci,
    wilson_interval,
)

# 10 cases: TP 4, FN 1, TN 3, FP 2
Y_TRUE = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
Y_PRED = np.array([1, 1, 1, 1, 0, 0, 0, 0, 1, 1])


def test_binary_metrics_by_hand():
    assert confusion_counts(Y_TRUE, Y_PRED) == {"tp": 4, "fp": 2, "tn": 3, "fn": 1}
    out = binary_metrics(Y_TRUE, Y_PRED).set_index("metric")
    expected = {"accuracy": (7, 10), "sensitivity": (4, 5), "specificity": (3, 5), "ppv": (4, 6), "npv": (3, 4)}
    assert list(out.index) == list(expected)
    for metric, (num, den) in expected.items():
        row = out.loc[metric]
        assert (row["numerator"], row["denominator"]) == (num, den)
        assert row["value"] == pytest.approx(num / den)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(tuple(wilson_interval(num, den)))


def test_binary_metrics_with_text_labels_and_score():
    words = np.where(Y_TRUE == 1, "neoplastic", "non_neoplastic")
    calls = np.where(Y_PRED == 1, "neoplastic", "non_neoplastic")
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.3, 0.1, 0.2, 0.4, 0.65, 0.55])
    out = binary_metrics(words, calls, positive="neoplastic", score=score).set_index("metric")
    assert out.loc["sensitivity", "value"] == pytest.approx(0.8)
    auc = delong_ci(words, score, positive="neoplastic")
    assert (out.loc["auc", "value"], out.loc["auc", "ci_low"], out.loc["auc", "ci_high"]) == (auc.auc, auc.low, auc.high)
    assert pd.isna(out.loc["auc", "numerator"])
    with pytest.raises(EvaluationError, match="positive label"):
        binary_metrics(words, calls)  # positive=1 is not a label here


def test_undefined_metrics_are_nan_and_bad_input_raises():
    out = binary_metrics(Y_TRUE, np.zeros(10, int)).set_index("metric")
    assert np.isnan(out.loc["ppv", "value"]) and out.loc["ppv", "denominator"] == 0
    assert out.loc["specificity", "value"] == 1.0
    perfect = binary_metrics(Y_TRUE, Y_TRUE).set_index("metric")
    assert (perfect["value"] == 1.0).all() and (perfect["ci_high"] == 1.0).all()
    with pytest.raises(EvaluationError, match="both classes"):
        binary_metrics(np.ones(6), np.ones(6), score=np.linspace(0, 1, 6))
    with pytest.raises(EvaluationError, match="labels"):
        binary_metrics([0, 1, 2], [0, 1, 1])
    with pytest.raises(EvaluationError, match="length"):
        binary_metrics(Y_TRUE, Y_PRED[:-1])
    with pytest.raises(EvaluationError, match="empty"):
        binary_metrics([], [])


def test_classification_report_matches_sklearn():
    rng = np.random.default_rng(0)
    labels = ["upper_middle", "lower", "indistinguishable"]
    y = rng.choice(labels, 90)
    p = np.where(rng.random(90) < 0.7, y, rng.choice(labels, 90))
    ours = classification_report(y, p, labels=labels)
    ref = sk_report(y, p, labels=labels, output_dict=True, zero_division=0.0)
    for key in labels + ["macro avg", "weighted avg"]:
        assert ours.loc[key, "precision"] == pytest.approx(ref[key]["precision"])
        assert ours.loc[key, "recall"] == pytest.approx(ref[key]["recall"])
        assert ours.loc[key, "f1"] == pytest.approx(ref[key]["f1-score"])
        assert ours.loc[key, "support"] == ref[key]["support"]
    assert ours.loc["accuracy", "recall"] == pytest.approx(ref["accuracy"])
    lo, hi = wilson_interval(int(np.sum((y == "lower") & (p == "lower"))), int(np.sum(y == "lower")))
    assert (ours.loc["lower", "recall_low"], ours.loc["lower", "recall_high"]) == pytest.approx((lo, hi))
    with pytest.raises(EvaluationError, match="not in labels"):
        classification_report(y, p, labels=labels[:2])


def test_aggregate_by_group_mean_max_vote():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.2, 0.3, 0.9, 0.6, 0.7, 0.1, 0.2])
    g = np.array(["v1", "v1", "v1", "v2", "v2", "v3", "v3"])
    mean = aggregate_by_group(y, s, g, how="mean").set_index("group")
    assert mean.loc["v1", "score"] == pytest.approx(1.4 / 3)
    assert mean.loc["v1", "y_pred"] == 0 and mean.loc["v2", "y_pred"] == 1
    assert mean["n_frames"].tolist() == [3, 2, 2]
    mx = aggregate_by_group(y, s, g, how="max").set_index("group")
    assert mx.loc["v1", "y_pred"] == 1 and mx.loc["v3", "y_pred"] == 0
    vote = aggregate_by_group(y, s, g, how="vote").set_index("group")
    assert vote.loc["v1", "score"] == pytest.approx(1 / 3) and vote.loc["v1", "y_pred"] == 0
    assert vote.loc["v2", "score"] == 1.0
    words = aggregate_by_group(np.where(y == 1, "neo", "non"), s, g, how="max", positive="neo")
    assert words["y_pred"].tolist() == ["neo", "neo", "non"]


def test_aggregate_by_group_rejects_mixed_groups():
    with pytest.raises(EvaluationError, match="mix truth labels"):
        aggregate_by_group([1, 0, 0], [0.2, 0.4, 0.6], ["v1", "v1", "v2"])
    with pytest.raises(EvaluationError, match="how"):
        aggregate_by_group([1, 0], [0.2, 0.4], ["a", "b"], how="median")
    with pytest.raises(EvaluationError, match="negative"):
        aggregate_by_group([1, 1], [0.2, 0.4], ["a", "b"])


def test_metrics_by_group_against_hand_counts():
    from explainendo.evaluate import metrics_by_group

    y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    centre = np.array(["A", "A", "A", "A", "B", "B", "B", "B"])
    pred = np.array([1, 0, 0, 1, 1, 0, 0, 1])
    score = np.array([0.9, 0.4, 0.2, 0.6, 0.8, 0.1, 0.3, 0.7])
    table = metrics_by_group(y, {"m": (pred, score), "always_no": (np.zeros(8, int), None)}, centre)
    a = table[(table.group == "A") & (table.model == "m")].iloc[0]
    # centre A: TP 1, FN 1, TN 1, FP 1
    assert (a.n, a.positives) == (4, 2)
    assert a.accuracy == 0.5 and a.sensitivity == 0.5 and a.specificity == 0.5 and a.ppv == 0.5
    # AUC by hand: positives 0.9, 0.4 against negatives 0.2, 0.6 -> pairs won: (0.9>0.2, 0.9>0.6, 0.4>0.2) = 3 of 4
    assert a.auc == pytest.approx(0.75)
    b = table[(table.group == "B") & (table.model == "m")].iloc[0]
    # centre B: TP 1, TN 2, FP 1; AUC: 0.8 beats 0.1, 0.3, 0.7 -> 1.0
    assert b.accuracy == 0.75 and b.sensitivity == 1.0 and b.specificity == pytest.approx(2 / 3) and b.auc == 1.0
    no = table[(table.group == "B") & (table.model == "always_no")].iloc[0]
    assert no.accuracy == 0.75 and np.isnan(no.ppv) and np.isnan(no.auc)  # never called positive; no score
    assert list(table.group) == ["A", "A", "B", "B"]
    one_class = metrics_by_group(np.array([1, 1]), {"m": (np.array([1, 0]), np.array([0.9, 0.2]))}, np.array(["C", "C"]))
    assert np.isnan(one_class.auc.iloc[0]) and np.isnan(one_class.specificity.iloc[0])
    assert one_class.sensitivity.iloc[0] == 0.5
