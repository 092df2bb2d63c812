"""Classification metrics with confidence intervals, per-class reports and frame-to-video aggregation.

Binary metrics from the confusion counts (TP, FP, TN, FN; "positive" = the class named by ``positive``)::

    accuracy    = (TP + TN) / N          sensitivity = TP / (TP + FN)      specificity = TN / (TN + FP)
    PPV         = TP / (TP + FP)         NPV         = TN / (TN + FN)

each with its 95% Wilson interval (:func:`~explainendo.evaluate.proportions.wilson_interval`); the AUC with
its DeLong interval (:func:`~explainendo.evaluate.auc.delong_ci`). A metric whose denominator is 0 (e.g. PPV
of a model that never calls a case positive) is reported as NaN, not as an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EvaluationError
from ._checks import as_1d, as_scores, binary_truth, check_confidence, is_positive, same_length
from .proportions import wilson_interval

BINARY_METRICS = ("accuracy", "sensitivity", "specificity", "ppv", "npv")
METRIC_TITLES = {"accuracy": "Accuracy", "sensitivity": "Sensitivity", "specificity": "Specificity",
                 "ppv": "PPV", "npv": "NPV", "auc": "AUC"}
COLUMNS = ["metric", "value", "ci_low", "ci_high", "numerator", "denominator"]


def confusion_counts(y_true, y_pred, positive=1) -> dict[str, int]:
    """``{"tp", "fp", "tn", "fn"}`` for a binary task (at most two labels in ``y_true`` and ``y_pred``)."""
    return counts_from_masks(*binary_pair(y_true, y_pred, positive))


def counts_from_masks(truth: np.ndarray, called: np.ndarray) -> dict[str, int]:
    """Confusion counts from boolean ``truth`` (is positive) and ``called`` (predicted positive)."""
    return {"tp": int(np.sum(truth & called)), "fp": int(np.sum(~truth & called)),
            "tn": int(np.sum(~truth & ~called)), "fn": int(np.sum(truth & ~called))}


def binary_pair(y_true, y_pred, positive=1) -> tuple[np.ndarray, np.ndarray]:
    """Boolean ``(is truly positive, is called positive)`` after checking lengths and labels."""
    t = as_1d(y_true, "y_true")
    p = as_1d(y_pred, "y_pred")
    same_length(y_true=t, y_pred=p)
    labels = set(t.tolist()) | set(p.tolist())
    if len(labels) > 2:
        raise EvaluationError(f"y_true and y_pred together have {len(labels)} labels; binary metrics need two",
                              hint="binarise the labels or use classification_report")
    return binary_truth(t, positive), is_positive(p, positive, "y_pred", sorted(labels, key=str))


def metric_fractions(counts: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Numerator and denominator of each binary metric."""
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    return {"accuracy": (tp + tn, tp + fp + tn + fn), "sensitivity": (tp, tp + fn), "specificity": (tn, tn + fp),
            "ppv": (tp, tp + fp), "npv": (tn, tn + fn)}


def binary_metrics(y_true, y_pred, positive=1, score=None, confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy, sensitivity, specificity, PPV and NPV with Wilson intervals (and the AUC with DeLong's).

    Returns a tidy DataFrame with columns ``metric, value, ci_low, ci_high, numerator, denominator``
    (``numerator``/``denominator`` are the counts behind each proportion; NA for the AUC). ``score`` is the
    probability (or any score increasing with) of the positive class; it needs both classes in ``y_true``.
    """
    confidence = check_confidence(confidence)
    counts = confusion_counts(y_true, y_pred, positive)
    rows = []
    for metric, (num, den) in metric_fractions(counts).items():
        if den == 0:
            rows.append((metric, np.nan, np.nan, np.nan, num, den))
            continue
        low, high = wilson_interval(num, den, confidence)
        rows.append((metric, num / den, low, high, num, den))
    if score is not None:
        from .auc import delong_ci

        s = as_scores(score, "score")
        same_length(y_true=as_1d(y_true, "y_true"), score=s)
        auc = delong_ci(y_true, s, confidence, positive)
        rows.append(("auc", auc.auc, auc.low, auc.high, pd.NA, pd.NA))
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["numerator"] = frame["numerator"].astype("Int64")
    frame["denominator"] = frame["denominator"].astype("Int64")
    return frame


def classification_report(y_true, y_pred, labels=None, confidence: float = 0.95) -> pd.DataFrame:
    """Per-class precision, recall and F1 with support, then macro and weighted averages.

    Same numbers as ``sklearn.metrics.classification_report`` (a class never predicted has precision 0, as in
    sklearn). Recall gets its Wilson interval (``recall_low``, ``recall_high``). Index: the class labels, then
    ``"macro avg"`` (unweighted mean over classes) and ``"weighted avg"`` (weighted by support); the last row
    ``"accuracy"`` has the overall accuracy in ``recall`` with its interval.
    """
    from sklearn.metrics import precision_recall_fscore_support

    confidence = check_confidence(confidence)
    t = as_1d(y_true, "y_true")
    p = as_1d(y_pred, "y_pred")
    same_length(y_true=t, y_pred=p)
    if labels is None:
        labels = sorted(set(t.tolist()) | set(p.tolist()), key=lambda v: (str(type(v)), v))
    labels = list(labels)
    unknown = (set(t.tolist()) | set(p.tolist())) - set(labels)
    if unknown:
        raise EvaluationError(f"labels {sorted(map(str, unknown))[:5]} occur in the data but not in labels",
                              hint="list every label or leave labels=None")
    prec, rec, f1, support = precision_recall_fscore_support(t, p, labels=labels, zero_division=0.0)
    frame = pd.DataFrame({"precision": prec, "recall": rec, "f1": f1, "support": support}, index=labels)
    lows, highs = [], []
    for label, n in zip(labels, support):
        if n == 0:
            lows.append(np.nan)
            highs.append(np.nan)
            continue
        lo, hi = wilson_interval(int(np.sum((t == label) & (p == label))), int(n), confidence)
        lows.append(lo)
        highs.append(hi)
    frame["recall_low"], frame["recall_high"] = lows, highs
    weights = support / support.sum()
    frame.loc["macro avg"] = [prec.mean(), rec.mean(), f1.mean(), support.sum(), np.nan, np.nan]
    frame.loc["weighted avg"] = [prec @ weights, rec @ weights, f1 @ weights, support.sum(), np.nan, np.nan]
    correct = int(np.sum(t == p))
    lo, hi = wilson_interval(correct, t.size, confidence)
    frame.loc["accuracy"] = [np.nan, correct / t.size, np.nan, t.size, lo, hi]
    frame["support"] = frame["support"].astype(int)
    return frame


def aggregate_by_group(y_true, score, groups, how: str = "mean", threshold: float = 0.5, positive=1,
                       negative=None) -> pd.DataFrame:
    """Turn frame-level predictions into group-level ones (video or patient; the paper's video accuracy).

    ``score`` is each frame's probability of the positive class. Per group:

    * ``how="mean"``: the mean frame score; called positive when ``>= threshold``;
    * ``how="max"``: the highest frame score (one suspicious frame suffices); positive when ``>= threshold``;
    * ``how="vote"``: the share of frames with ``score >= threshold``; positive when at least half the frames
      are (ties go to positive: a missed neoplasm costs more than a second look).

    Every frame of a group must carry the same truth label (a video shows one lesion); mixed groups are an
    error listing them. Returns a DataFrame with columns ``group, y_true, score, y_pred, n_frames`` in order
    of first appearance; ``y_pred`` uses the labels of ``y_true`` (``positive``, and ``negative``, which is
    inferred from ``y_true`` unless given).
    """
    if how not in ("mean", "max", "vote"):
        raise EvaluationError(f"how must be 'mean', 'max' or 'vote', got {how!r}")
    t = as_1d(y_true, "y_true")
    s = as_scores(score, "score")
    g = as_1d(groups, "groups")
    same_length(y_true=t, score=s, groups=g)
    truth = binary_truth(t, positive)
    if negative is None:
        others = sorted({v for v, pos in zip(t.tolist(), truth) if not pos}, key=str)
        if not others:
            raise EvaluationError("every case is positive, so the negative label is unknown",
                                  hint="pass negative=<the negative label>")
        negative = others[0]
    frame = pd.DataFrame({"group": g, "y_true": t, "score": s, "hit": s >= threshold})
    mixed = frame.groupby("group", sort=False)["y_true"].nunique()
    mixed = mixed[mixed > 1]
    if len(mixed):
        raise EvaluationError(f"{len(mixed)} group(s) mix truth labels, e.g. {mixed.index[:5].tolist()}",
                              hint="group by lesion/video so that each group has one diagnosis")
    grouped = frame.groupby("group", sort=False)
    out = grouped.agg(y_true=("y_true", "first"), n_frames=("score", "size"),
                      mean=("score", "mean"), max=("score", "max"), vote=("hit", "mean"))
    agg_score = out[how].to_numpy(dtype=float)
    called = agg_score >= (0.5 if how == "vote" else threshold)
    result = pd.DataFrame({"group": out.index.to_numpy(), "y_true": out["y_true"].to_numpy(), "score": agg_score,
                           "y_pred": np.where(called, np.array(positive, dtype=object),
                                              np.array(negative, dtype=object)),
                           "n_frames": out["n_frames"].to_numpy()})
    if pd.api.types.is_numeric_dtype(result["y_true"]):
        try:
            result["y_pred"] = result["y_pred"].astype(result["y_true"].dtype)
        except (TypeError, ValueError):
            pass
    return result


def metrics_by_group(y_true, predictions, groups, positive=1, confidence: float = 0.95) -> pd.DataFrame:
    """Every binary metric of every model, per group (per centre: where a model breaks).

    ``predictions``: model name -> ``(y_pred, score)`` (``score`` may be None). Returns one row per
    ``(group, model)`` in order of first appearance: ``group, model, n, positives``, then for each of
    accuracy, sensitivity, specificity, PPV, NPV and the AUC its value and ``<metric>_low`` /
    ``<metric>_high`` (Wilson; DeLong for the AUC). A metric a group cannot give (the AUC or the sensitivity
    of a centre without a positive lesion) is NaN."""
    t = as_1d(y_true, "y_true")
    g = as_1d(groups, "groups")
    same_length(y_true=t, groups=g)
    checked = {}  # each model's calls and scores checked once, not once per group
    for name, value in predictions.items():
        pred, score = value if isinstance(value, tuple) else (value, None)
        pred = as_1d(pred, f"{name} predictions")
        same_length(y_true=t, **{f"{name}": pred})
        checked[name] = (pred, None if score is None else as_scores(score, name))
    rows = []
    for group in pd.unique(g):
        at = g == group
        truth = binary_truth(t[at], positive)
        both = truth.any() and not truth.all()
        for name, (pred, score) in checked.items():
            table = binary_metrics(t[at], pred[at], positive, score=None if score is None or not both else score[at],
                                   confidence=confidence).set_index("metric")
            row = {"group": group, "model": name, "n": int(at.sum()), "positives": int(truth.sum())}
            for metric in (*BINARY_METRICS, "auc"):
                have = metric in table.index
                row[metric] = float(table.loc[metric, "value"]) if have else np.nan
                row[f"{metric}_low"] = float(table.loc[metric, "ci_low"]) if have else np.nan
                row[f"{metric}_high"] = float(table.loc[metric, "ci_high"]) if have else np.nan
            rows.append(row)
    return pd.DataFrame(rows)
