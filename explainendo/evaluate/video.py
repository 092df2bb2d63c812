"""Video-level evaluation: per-video decisions from per-frame results, their metrics, label flicker, and how well
a freeze detector finds the frozen spans.

ENDOANGEL-ED (npj Digit Med 2023) also tested on videos: one decision per video, accuracy 81.1% (internal) and
88.2% (external) for the hybrid model against 71.7% and 84.7% for the sole CNN. A video's decision can be taken
three ways from its frames' class probabilities ``p_t(c)`` (frames without a prediction, i.e. no lesion found or
an unreadable frame, take no part):

* ``vote``: each frame votes for its most probable class; the video gets the class with the most votes
  (a tie goes to the tied class with the highest mean probability, then to the first class);
  ``vote_p_<c>`` is the share of the votes;
* ``mean``: ``mean_p(c) = 1/T sum_t p_t(c)`` over the predicted frames; the video gets ``argmax_c mean_p(c)``;
* ``frozen``: the mean probability over the predicted *frozen* frames only (the frames the endoscopist froze to
  look at the lesion, where ENDOANGEL-ED runs its full explanation); ``argmax`` again. A video without a predicted
  frozen frame falls back to ``fallback`` (``mean``, ``vote``, or None for no decision), and its ``frozen_from``
  column says so (``"mean (no freeze)"``): a fallback is never silent.

:func:`video_metrics` turns a decisions table into accuracy (any number of classes) or the binary metrics
(accuracy, sensitivity, specificity, PPV, NPV with Wilson intervals, AUC with DeLong's) per method, with the
existing :func:`~explainendo.evaluate.classification.binary_metrics`; :func:`compare_video_decisions` runs the
paper's paired per-video tests (McNemar, chi-square, DeLong) between models with
:func:`~explainendo.evaluate.comparison.compare_models`. (For a binary score, aggregation by mean / max / vote is
also :func:`~explainendo.evaluate.classification.aggregate_by_group`; this module adds the multi-class decisions
and the frozen-frame decision.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import EvaluationError
from ._checks import as_bool, check_confidence
from .proportions import wilson_interval

METHODS = ("vote", "mean", "frozen")
FALLBACKS = ("mean", "vote", None)


# ---- frames table ----------------------------------------------------------------------------------------------
def frames_from_results(results: Iterable[Any], video: Any, *, frozen: Sequence[Any] | None = None,
                        truth: Any = None, prefix: str = "p_") -> pd.DataFrame:
    """The frames table of one video from its :class:`~explainendo.types.Result` objects (a list or a stream).

    Columns: ``video, frame_index, timestamp, label`` (the primary lesion's; None without one), ``p_<class>`` (NaN
    on a frame without a prediction: no lesion or an error), ``frozen`` when ``frozen`` is given (one bool or
    :class:`~explainendo.video.FreezeState` per result) and ``truth`` when given (the video's true label).
    """
    rows = []
    for r in results:
        row = {"video": video, "frame_index": int(r.frame_index), "timestamp": r.timestamp, "label": r.label}
        row.update({f"{prefix}{k}": float(v) for k, v in r.probabilities.items()})
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frozen is not None:
        flags = [bool(getattr(f, "frozen", f)) for f in frozen]
        if len(flags) != len(frame):
            raise EvaluationError(f"frozen has {len(flags)} entries for {len(frame)} results",
                                  hint="pass one flag (or FreezeState) per result")
        frame["frozen"] = flags
    if truth is not None:
        frame["truth"] = truth
    return frame


def _probability_columns(frames: pd.DataFrame, prefix: str) -> tuple[list[str], list[str]]:
    cols = [c for c in frames.columns if isinstance(c, str) and c.startswith(prefix) and len(c) > len(prefix)]
    if len(cols) < 2:
        raise EvaluationError(f"the frames table needs a probability column per class ('{prefix}<class>'), found "
                              f"{cols or 'none'} among {list(frames.columns)[:10]}",
                              hint="e.g. columns p_neoplastic, p_non_neoplastic (frames_from_results builds them)")
    return cols, [c[len(prefix):] for c in cols]


def _argmax(values: np.ndarray, classes: list[str]) -> str | None:
    if not np.isfinite(values).all():
        return None
    return classes[int(np.argmax(values))]  # the first class on a tie


# ---- per-video decisions ------------------------------------------------------------------------------------------
def video_decisions(frames: pd.DataFrame, *, video: str = "video", frozen: str = "frozen", truth: str = "truth",
                    prefix: str = "p_", fallback: str | None = "mean") -> pd.DataFrame:
    """One row per video (in order of first appearance) with its ``vote``, ``mean`` and ``frozen`` decisions.

    ``frames``: one row per frame with the column ``video``, a probability column ``<prefix><class>`` per class
    (all NaN on a frame without a prediction), optionally ``frozen`` (bool) and ``truth`` (the video's label,
    the same on all its frames). Returns the columns ``video, [truth], n_frames, n_predicted, n_frozen, vote, mean,
    frozen, frozen_from``, then ``vote_p_<c>``, ``mean_p_<c>``, ``frozen_p_<c>`` for each class. A video without any
    predicted frame has no decisions (missing: None or NaN; NaN probabilities). See the module docstring for the
    three rules.
    """
    if fallback not in FALLBACKS:
        raise EvaluationError(f"fallback must be 'mean', 'vote' or None, got {fallback!r}")
    if not isinstance(frames, pd.DataFrame) or frames.empty:
        raise EvaluationError("frames must be a non-empty DataFrame, one row per frame")
    if video not in frames:
        raise EvaluationError(f"the frames table has no video column {video!r}", hint="pass video=<its column>")
    cols, classes = _probability_columns(frames, prefix)
    probs = frames[cols].to_numpy(dtype=float)
    finite = np.isfinite(probs)
    predicted = finite.all(axis=1)
    partial = finite.any(axis=1) & ~predicted
    if partial.any():
        raise EvaluationError(f"{int(partial.sum())} frame(s) have some class probabilities but not all (first: row "
                              f"{int(np.flatnonzero(partial)[0])})",
                              hint="a frame without a prediction has NaN in every probability column")
    has_frozen = frozen in frames
    is_frozen = as_bool(frames[frozen].to_numpy(), frozen) if has_frozen else np.zeros(len(frames), bool)
    has_truth = truth in frames
    if has_truth:
        mixed = frames.groupby(video, sort=False)[truth].nunique(dropna=False)
        mixed = mixed[mixed > 1]
        if len(mixed):
            raise EvaluationError(f"{len(mixed)} video(s) have several truth labels, e.g. {mixed.index[:5].tolist()}",
                                  hint="a video shows one lesion: one truth label per video")

    ids = frames[video].to_numpy()
    rows = []
    for vid in pd.unique(ids):
        at = ids == vid
        use = at & predicted
        p = probs[use]
        row: dict[str, Any] = {"video": vid}
        if has_truth:
            row["truth"] = frames.loc[at, truth].iloc[0]
        row.update(n_frames=int(at.sum()), n_predicted=int(use.sum()), n_frozen=int((at & is_frozen).sum()))
        mean_p = p.mean(axis=0) if len(p) else np.full(len(classes), np.nan)
        if len(p):
            votes = np.bincount(np.argmax(p, axis=1), minlength=len(classes)).astype(float)
            vote_p = votes / votes.sum()
            tied = np.flatnonzero(votes == votes.max())
            vote = classes[int(tied[np.argmax(mean_p[tied])])]
        else:
            vote_p, vote = np.full(len(classes), np.nan), None
        frozen_rows = probs[use & is_frozen]
        if len(frozen_rows):
            frozen_p, frozen_from = frozen_rows.mean(axis=0), "frozen frames"
            frozen_label = _argmax(frozen_p, classes)
        else:
            why = "no freeze" if not (at & is_frozen).any() else "no predicted frozen frame"
            if fallback is None:
                frozen_p, frozen_label, frozen_from = np.full(len(classes), np.nan), None, f"none ({why})"
            else:
                frozen_p = mean_p if fallback == "mean" else vote_p
                frozen_label = _argmax(mean_p, classes) if fallback == "mean" else vote
                frozen_from = f"{fallback} ({why})"
        row.update(vote=vote, mean=_argmax(mean_p, classes), frozen=frozen_label, frozen_from=frozen_from)
        for method, values in (("vote", vote_p), ("mean", mean_p), ("frozen", frozen_p)):
            row.update({f"{method}_p_{c}": float(v) for c, v in zip(classes, values)})
        rows.append(row)
    return pd.DataFrame(rows)


# ---- metrics ------------------------------------------------------------------------------------------------------
def video_metrics(decisions: pd.DataFrame, positive: Any = None, *, truth: str = "truth",
                  methods: Sequence[str] = METHODS, confidence: float = 0.95) -> pd.DataFrame:
    """Video-level metrics of each decision method, with 95% Wilson intervals.

    ``positive=None``: accuracy only (any number of classes). With ``positive`` (the positive class's label):
    accuracy, sensitivity, specificity, PPV, NPV and, when both classes occur, the AUC of ``<method>_p_<positive>``
    (DeLong), from :func:`~explainendo.evaluate.classification.binary_metrics`. Videos without a decision for a
    method (no predicted frame; ``fallback=None`` without a freeze) are left out of it and counted in
    ``n_excluded``. Returns ``method, metric, value, ci_low, ci_high, numerator, denominator, n_videos,
    n_excluded``.
    """
    from .classification import binary_metrics

    confidence = check_confidence(confidence)
    if truth not in decisions:
        raise EvaluationError(f"the decisions table has no truth column {truth!r}",
                              hint="give the frames a truth column before video_decisions")
    frames = []
    for method in methods:
        if method not in decisions:
            raise EvaluationError(f"the decisions table has no column {method!r}", hint=f"methods: {list(METHODS)}")
        keep = decisions[method].notna().to_numpy()
        if not keep.any():
            raise EvaluationError(f"no video has a {method!r} decision")
        y_true = decisions.loc[keep, truth].to_numpy()
        y_pred = decisions.loc[keep, method].to_numpy()
        if positive is None:
            correct = int(np.sum(y_true == y_pred))
            low, high = wilson_interval(correct, int(keep.sum()), confidence)
            table = pd.DataFrame([{"metric": "accuracy", "value": correct / keep.sum(), "ci_low": low, "ci_high": high,
                                   "numerator": correct, "denominator": int(keep.sum())}])
        else:
            score_col = f"{method}_p_{positive}"
            both = len(set(y_true.tolist())) == 2
            score = decisions.loc[keep, score_col].to_numpy(dtype=float) if both and score_col in decisions else None
            table = binary_metrics(y_true, y_pred, positive, score=score, confidence=confidence)
        table.insert(0, "method", method)
        table["n_videos"] = int(keep.sum())
        table["n_excluded"] = int((~keep).sum())
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def compare_video_decisions(decisions: Mapping[str, pd.DataFrame], positive: Any, *, method: str = "frozen",
                            truth: str = "truth", video: str = "video", reference: str | None = None,
                            confidence: float = 0.95, title: str = "Video-level comparison"):
    """The paper's per-video comparison of models: ``decisions`` maps model name -> its
    :func:`video_decisions` table (the same videos in each). Each model's ``method`` decision and its
    ``<method>_p_<positive>`` score go to :func:`~explainendo.evaluate.comparison.compare_models` (Wilson intervals,
    McNemar for accuracy / sensitivity / specificity, chi-square for PPV / NPV, DeLong for the AUC), one row per
    video. Every video needs a decision from every model."""
    from .comparison import compare_models

    if not decisions:
        raise EvaluationError("decisions must map at least one model name to its video_decisions table")
    names = list(decisions)
    for name in names:
        missing = [c for c in (video, truth, method) if c not in decisions[name]]
        if missing:
            raise EvaluationError(f"the decisions of {name!r} have no column(s) {missing}",
                                  hint="pass video_decisions tables (with a truth column)")
    first = decisions[names[0]].set_index(video)
    order = first.index
    preds = {}
    for name in names:
        table = decisions[name].set_index(video)
        if set(table.index) != set(order) or len(table.index) != len(order):
            raise EvaluationError(f"model {name!r} has other videos than {names[0]!r}",
                                  hint="decide on the same videos with every model")
        table = table.loc[order]
        if table[method].isna().any():
            missing = table.index[table[method].isna()].tolist()[:5]
            raise EvaluationError(f"model {name!r} has no {method!r} decision for video(s) {missing}",
                                  hint="a paired comparison needs every video: use a fallback or drop them")
        score_col = f"{method}_p_{positive}"
        preds[name] = (table[method].to_numpy(), table[score_col].to_numpy(dtype=float) if score_col in table else None)
    return compare_models(first[truth].to_numpy(), preds, positive=positive, reference=reference,
                          confidence=confidence, title=title, unit="videos")


def label_flips(frames: pd.DataFrame, *, video: str = "video", frame: str = "frame_index", label: str = "label",
                timestamp: str = "timestamp", fps: float | None = None) -> pd.DataFrame:
    """Flicker: how often the displayed label changes, per video.

    A flip is a frame whose label differs from the label of the previous frame that had one (frames without a
    label are skipped: they neither flip nor break a run). The video's duration is ``t_last - t_first`` from the
    ``timestamp`` column, or ``(last frame - first frame) / fps``. Returns ``video, n_frames, flips, minutes,
    flips_per_minute`` (NaN for a video shorter than one frame interval).
    """
    for col in (video, label):
        if col not in frames:
            raise EvaluationError(f"the frames table has no column {col!r}")
    rows = []
    ids = frames[video].to_numpy()
    for vid in pd.unique(ids):
        part = frames[ids == vid]
        part = part.sort_values(frame, kind="stable") if frame in part else part
        labels = [v for v in part[label].tolist() if not pd.isna(v)]
        flips = int(sum(a != b for a, b in zip(labels, labels[1:])))
        times = part[timestamp].to_numpy(dtype=float) if timestamp in part else np.array([np.nan])
        if np.isfinite(times).any():
            seconds = float(np.nanmax(times) - np.nanmin(times))
        elif fps is not None and frame in part:
            seconds = float(part[frame].max() - part[frame].min()) / float(fps)
        else:
            raise EvaluationError(f"video {vid!r} has no timestamps and no fps was given",
                                  hint="pass fps=<frames per second> or a timestamp column")
        minutes = seconds / 60.0
        rows.append({"video": vid, "n_frames": int(len(part)), "flips": flips, "minutes": minutes,
                     "flips_per_minute": flips / minutes if minutes > 0 else np.nan})
    return pd.DataFrame(rows)


# ---- freeze detection ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FreezeScores:
    """Counts behind a freeze detector's precision and recall; add them up over clips (``a + b``).

    Frame-wise: a frame is a true positive when it is frozen and detected frozen. Span-wise: a detected span and
    a true span match one to one when their temporal IoU ``|A & B| / |A | B|`` (frames) is at least ``min_iou``
    (greedy, best IoU first); unmatched detected spans are false positives, unmatched true spans false negatives.
    """

    frame_tp: int = 0
    frame_fp: int = 0
    frame_fn: int = 0
    span_tp: int = 0
    span_fp: int = 0
    span_fn: int = 0

    def __add__(self, other: "FreezeScores") -> "FreezeScores":
        return FreezeScores(*(a + b for a, b in zip(self._counts(), other._counts())))

    def _counts(self) -> tuple[int, ...]:
        return (self.frame_tp, self.frame_fp, self.frame_fn, self.span_tp, self.span_fp, self.span_fn)

    @staticmethod
    def _ratio(num: int, den: int) -> float:
        return num / den if den else math.nan

    @property
    def frame_precision(self) -> float:
        return self._ratio(self.frame_tp, self.frame_tp + self.frame_fp)

    @property
    def frame_recall(self) -> float:
        return self._ratio(self.frame_tp, self.frame_tp + self.frame_fn)

    @property
    def span_precision(self) -> float:
        return self._ratio(self.span_tp, self.span_tp + self.span_fp)

    @property
    def span_recall(self) -> float:
        return self._ratio(self.span_tp, self.span_tp + self.span_fn)

    def table(self, confidence: float = 0.95) -> pd.DataFrame:
        """``level, metric, value, ci_low, ci_high, numerator, denominator`` (Wilson intervals)."""
        rows = []
        for level, tp, fp, fn in (("frame", self.frame_tp, self.frame_fp, self.frame_fn),
                                  ("span", self.span_tp, self.span_fp, self.span_fn)):
            for metric, den in (("precision", tp + fp), ("recall", tp + fn)):
                low, high = wilson_interval(tp, den, confidence) if den else (math.nan, math.nan)
                rows.append({"level": level, "metric": metric, "value": self._ratio(tp, den), "ci_low": low,
                             "ci_high": high, "numerator": tp, "denominator": den})
        return pd.DataFrame(rows)


def _span_iou(a: Sequence[int], b: Sequence[int]) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / union if union > 0 else 0.0


def freeze_detection_scores(true_spans: Iterable[Sequence[int]], found_spans: Iterable[Sequence[int]],
                            n_frames: int, min_iou: float = 0.5) -> FreezeScores:
    """Compare detected frozen spans with the true ones on one clip of ``n_frames`` frames (half-open
    ``(start, end)`` spans, e.g. :func:`~explainendo.video.detect_freezes` against
    :attr:`~explainendo.synth.clips.Clip.frozen_spans`). See :class:`FreezeScores`."""
    from ..video.freeze import frozen_mask

    true_spans = [tuple(map(int, s)) for s in true_spans]
    found_spans = [tuple(map(int, s)) for s in found_spans]
    truth, found = frozen_mask(true_spans, n_frames), frozen_mask(found_spans, n_frames)
    matched = match_spans(true_spans, found_spans, min_iou)
    return FreezeScores(frame_tp=int(np.sum(truth & found)), frame_fp=int(np.sum(~truth & found)),
                        frame_fn=int(np.sum(truth & ~found)), span_tp=len(matched),
                        span_fp=len(found_spans) - len(matched), span_fn=len(true_spans) - len(matched))


def match_spans(true_spans: Sequence[Sequence[int]], found_spans: Sequence[Sequence[int]],
                min_iou: float = 0.5) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(true index, found index, IoU)`` of half-open spans with temporal IoU >= ``min_iou``,
    greedy from the best IoU (ties: the earlier spans first)."""
    pairs = sorted(((-_span_iou(t, f), i, j) for i, t in enumerate(true_spans) for j, f in enumerate(found_spans)))
    used_t, used_f, out = set(), set(), []
    for neg_iou, i, j in pairs:
        if -neg_iou < min_iou or -neg_iou <= 0:
            break
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            out.append((i, j, -neg_iou))
    return out
