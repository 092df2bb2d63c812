"""Detection and localization metrics used by the four papers.

Inputs are per-image lists of :class:`~explainendo.types.Box` (pixel xyxy; ``score`` and ``label`` used
where they matter): ``predictions[i]`` and ``ground_truth[i]`` belong to image ``i``.

* **Localization** (ERCP paper, one target per image): each ground-truth box is compared with the
  prediction that overlaps it most (:func:`localization_table`): IoU, area precision
  ``|P ∩ G| / |P|``, area recall ``|P ∩ G| / |G|`` and the normalised centroid distance (ERCP eq. 1)

  .. math::  d = \\sqrt{\\big((x_P - x_G) / W\\big)^2 + \\big((y_P - y_G) / H\\big)^2}

  with box centres ``(x, y)`` and the image width ``W`` and height ``H``. A target without any
  prediction scores IoU 0, precision 0, recall 0 and ``d = inf`` (it fails every success threshold).
  Success rates: the fraction of targets with IoU >= t (t = 0, 0.1, ... 0.9) or with d <= t
  (t = 0.01 ... 0.1), plotted as success plots (Kim et al. 2021, Fig. 3).
* **Average precision** (COCO rule, :func:`average_precision`): predictions sorted by score are matched
  greedily to the unmatched same-class target with the highest IoU >= t; AP is the mean over 101 recall
  points r of the highest precision reached at recall >= r. mAP50 uses t = 0.5, mAP50-95 the mean over
  t = 0.50, 0.55 ... 0.95; classes are averaged.
* **Confusion matrix with Background** (colon paper, BMC Med Inform Decis Mak 2021): predictions and
  targets are paired one-to-one by IoU > t (highest IoU first, class-agnostic); a pair counts in
  (true class, predicted class), an unpaired target in (true class, ``background``) (a miss), an unpaired
  prediction in (``background``, predicted class) (a spurious detection). Rows are truth, columns predictions.
"""

from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidBoxError
from ..types import Box, boxes_to_array, pairwise_iou

IOU_THRESHOLDS = tuple(round(0.1 * i, 2) for i in range(10))            # 0.0 .. 0.9
CENTROID_THRESHOLDS = tuple(round(0.01 * i, 2) for i in range(1, 11))   # 0.01 .. 0.1
COCO_IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))  # 0.50 .. 0.95
BACKGROUND = "background"
DEFAULT_CLASS = "object"


# ---- single pairs ------------------------------------------------------------------------------------
def iou(pred: Box, target: Box) -> float:
    """Intersection over union ``|P ∩ G| / |P ∪ G|``."""
    return pred.iou(target)


def area_precision(pred: Box, target: Box) -> float:
    """``|P ∩ G| / |P|``: the share of the predicted box that lies on the target."""
    return pred.intersection(target) / pred.area


def area_recall(pred: Box, target: Box) -> float:
    """``|P ∩ G| / |G|``: the share of the target that the predicted box covers."""
    return pred.intersection(target) / target.area


def centroid_distance(pred: Box, target: Box, width: float, height: float) -> float:
    """Normalised centroid distance (ERCP paper, eq. 1): ``sqrt(((xP-xG)/W)^2 + ((yP-yG)/H)^2)``."""
    if not (width > 0 and height > 0):
        raise InvalidBoxError(f"image width and height must be positive, got {width}x{height}")
    (px, py), (gx, gy) = pred.center, target.center
    return math.hypot((px - gx) / width, (py - gy) / height)


# ---- per-target localization table -------------------------------------------------------------------
def _check_lists(predictions, ground_truth, sizes=None) -> None:
    if len(predictions) != len(ground_truth):
        raise InvalidBoxError(f"{len(predictions)} prediction lists for {len(ground_truth)} images",
                              hint="give one list of boxes per image, in the same order")
    if sizes is not None and len(sizes) != len(ground_truth):
        raise InvalidBoxError(f"{len(sizes)} image sizes for {len(ground_truth)} images",
                              hint="give one (width, height) per image")


def _kept(preds: Sequence[Box], top_k: int | None, min_score: float) -> list[Box]:
    kept = sorted((b for b in preds if b.score >= min_score), key=lambda b: -b.score)
    return kept[:top_k] if top_k else kept


def localization_table(predictions: Sequence[Sequence[Box]], ground_truth: Sequence[Sequence[Box]],
                       sizes: Sequence[tuple[float, float]], top_k: int | None = None,
                       min_score: float = 0.0) -> pd.DataFrame:
    """One row per ground-truth box: ``image`` (index), ``iou``, ``area_precision``, ``area_recall``,
    ``centroid_distance``, ``score`` of the prediction compared (the one with the highest IoU with the
    target; ties and no overlap: the highest score). ``sizes`` are ``(width, height)`` per image.

    Only predictions with ``score >= min_score`` count, and with ``top_k`` only the ``top_k``
    highest-scoring ones per image: ``top_k=1`` is the ERCP paper's single-target setting, and keeps a
    detector that returns many low-confidence boxes from being credited with the best of them."""
    _check_lists(predictions, ground_truth, sizes)
    rows = []
    for i, (preds, gts) in enumerate(zip(predictions, ground_truth)):
        w, h = sizes[i]
        preds = _kept(preds, top_k, min_score)
        for g in gts:
            if not preds:
                rows.append({"image": i, "iou": 0.0, "area_precision": 0.0, "area_recall": 0.0,
                             "centroid_distance": math.inf, "score": math.nan})
                continue
            best = max(preds, key=lambda p: (p.iou(g), p.score))
            rows.append({"image": i, "iou": best.iou(g), "area_precision": area_precision(best, g),
                         "area_recall": area_recall(best, g),
                         "centroid_distance": centroid_distance(best, g, w, h), "score": best.score})
    return pd.DataFrame(rows, columns=["image", "iou", "area_precision", "area_recall", "centroid_distance",
                                       "score"])


def mean_iou(predictions, ground_truth, sizes=None, top_k: int | None = None, min_score: float = 0.0) -> float:
    """mIoU: the mean over targets of the IoU with their best-overlapping prediction (0 when missed)."""
    sizes = sizes if sizes is not None else [(1.0, 1.0)] * len(ground_truth)
    t = localization_table(predictions, ground_truth, sizes, top_k, min_score)
    return float(t["iou"].mean()) if len(t) else math.nan


def success_rate(values: Sequence[float], threshold: float, kind: str = "iou") -> float:
    """Share of targets that succeed: IoU >= threshold (``kind="iou"``) or distance <= threshold
    (``kind="centroid"``)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return math.nan
    if kind == "iou":
        return float(np.mean(v >= threshold))
    if kind == "centroid":
        return float(np.mean(v <= threshold))
    raise ValueError(f"kind must be 'iou' or 'centroid', got {kind!r}")


def success_curve(table: pd.DataFrame, iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
                  centroid_thresholds: Sequence[float] = CENTROID_THRESHOLDS) -> pd.DataFrame:
    """Success plot data from a :func:`localization_table`: columns ``kind`` (iou | centroid),
    ``threshold``, ``success``."""
    rows = [{"kind": "iou", "threshold": float(t), "success": success_rate(table["iou"], t, "iou")}
            for t in iou_thresholds]
    rows += [{"kind": "centroid", "threshold": float(t),
              "success": success_rate(table["centroid_distance"], t, "centroid")} for t in centroid_thresholds]
    return pd.DataFrame(rows)


def plot_success(curves: dict[str, pd.DataFrame] | pd.DataFrame, title: str | None = None):
    """Success plots (IoU and centroid distance side by side) for one or several methods
    (``{"YOLO": curve, "soft mask": curve}``). Returns the matplotlib ``Figure``."""
    import matplotlib.pyplot as plt

    if isinstance(curves, pd.DataFrame):
        curves = {"": curves}
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for name, c in curves.items():
        for ax, kind in zip(axes, ("iou", "centroid")):
            part = c[c["kind"] == kind]
            ax.plot(part["threshold"], part["success"], marker="o", ms=3, label=name or None)
    axes[0].set(xlabel="IoU threshold", ylabel="success rate", ylim=(0, 1.02), title="IoU")
    axes[1].set(xlabel="normalised centroid distance threshold", ylim=(0, 1.02), title="centroid distance")
    if any(curves):
        axes[1].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---- average precision -------------------------------------------------------------------------------
def _label(b: Box) -> str:
    return b.label if b.label is not None else DEFAULT_CLASS


def _match_for_ap(predictions, ground_truth, cls: str, threshold: float):
    """(scores, is_true_positive, n_targets) for one class at one IoU threshold (COCO greedy matching)."""
    scores, tps, n_gt = [], [], 0
    for preds, gts in zip(predictions, ground_truth):
        g = [b for b in gts if _label(b) == cls]
        p = sorted((b for b in preds if _label(b) == cls), key=lambda b: -b.score)
        n_gt += len(g)
        if not p:
            continue
        ious = pairwise_iou(boxes_to_array(p), boxes_to_array(g)) if g else np.zeros((len(p), 0))
        used = np.zeros(len(g), dtype=bool)
        for k, box in enumerate(p):
            scores.append(box.score)
            cand = np.where(~used & (ious[k] >= threshold))[0]
            if cand.size:
                used[cand[np.argmax(ious[k, cand])]] = True
                tps.append(True)
            else:
                tps.append(False)
    return np.asarray(scores, dtype=np.float64), np.asarray(tps, dtype=bool), n_gt


def ap_from_matches(scores: np.ndarray, tp: np.ndarray, n_targets: int) -> float:
    """COCO 101-point AP: mean over r in {0, 0.01, ..., 1} of max precision at recall >= r."""
    if n_targets == 0:
        return math.nan
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = tp[order].astype(np.float64)
    ctp, cfp = np.cumsum(tp), np.cumsum(1.0 - tp)
    recall = ctp / n_targets
    precision = ctp / (ctp + cfp)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at this recall or beyond
    points = np.linspace(0.0, 1.0, 101)
    idx = np.searchsorted(recall, points, side="left")
    return float(np.mean(np.where(idx < len(recall), envelope[np.minimum(idx, len(recall) - 1)], 0.0)))


def average_precision(predictions, ground_truth, iou_threshold: float = 0.5,
                      classes: Sequence[str] | None = None) -> dict[str, float]:
    """AP per class at one IoU threshold (classes without targets are left out)."""
    _check_lists(predictions, ground_truth)
    if classes is None:
        classes = sorted({_label(b) for gts in ground_truth for b in gts})
    out = {}
    for c in classes:
        s, tp, n = _match_for_ap(predictions, ground_truth, c, iou_threshold)
        if n:
            out[c] = ap_from_matches(s, tp, n)
    return out


def mean_average_precision(predictions, ground_truth, iou_thresholds: Sequence[float] = (0.5,),
                           classes: Sequence[str] | None = None) -> float:
    """Mean over classes and over ``iou_thresholds`` of AP (``(0.5,)``: mAP50)."""
    vals = []
    for t in iou_thresholds:
        vals.extend(average_precision(predictions, ground_truth, t, classes).values())
    return float(np.mean(vals)) if vals else math.nan


def map50(predictions, ground_truth, classes=None) -> float:
    return mean_average_precision(predictions, ground_truth, (0.5,), classes)


def map50_95(predictions, ground_truth, classes=None) -> float:
    return mean_average_precision(predictions, ground_truth, COCO_IOU_THRESHOLDS, classes)


# ---- confusion matrix with a background class --------------------------------------------------------
def match_one_to_one(predictions: Sequence[Box], targets: Sequence[Box], iou_threshold: float) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of prediction ``i`` and target ``j`` with IoU > ``iou_threshold``, one-to-one, the
    highest IoU first (class-agnostic; ties in input order)."""
    if not predictions or not targets:
        return []
    ious = pairwise_iou(boxes_to_array(predictions), boxes_to_array(targets))
    pairs = np.argwhere(ious > iou_threshold)
    used_p, used_g, out = set(), set(), []
    for k in np.argsort(-ious[pairs[:, 0], pairs[:, 1]], kind="stable"):
        i, j = (int(v) for v in pairs[k])
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        out.append((i, j))
    return out


def detection_confusion_matrix(predictions, ground_truth, classes: Sequence[str] | None = None,
                               iou_threshold: float = 0.5, min_score: float = 0.0) -> pd.DataFrame:
    """Confusion matrix with a ``background`` row and column (see the module docstring).

    Predictions with ``score < min_score`` are ignored. Returns an integer DataFrame indexed by true class
    (``background`` last) with predicted classes as columns (``background`` last).
    """
    _check_lists(predictions, ground_truth)
    if classes is None:
        classes = sorted({_label(b) for bs in (*ground_truth, *predictions) for b in bs})
    names = [*classes, BACKGROUND]
    pos = {c: i for i, c in enumerate(names)}
    cm = np.zeros((len(names), len(names)), dtype=np.int64)
    bg = pos[BACKGROUND]
    for preds, gts in zip(predictions, ground_truth):
        p = [b for b in preds if b.score >= min_score]
        for b in (*p, *gts):
            if _label(b) not in pos:
                raise InvalidBoxError(f"box label {_label(b)!r} is not among the classes {list(classes)}")
        pairs = match_one_to_one(p, gts, iou_threshold)
        matched_p, matched_g = {i for i, _ in pairs}, {j for _, j in pairs}
        for i, j in pairs:
            cm[pos[_label(gts[j])], pos[_label(p[i])]] += 1
        for j, g in enumerate(gts):
            if j not in matched_g:
                cm[pos[_label(g)], bg] += 1
        for i, b in enumerate(p):
            if i not in matched_p:
                cm[bg, pos[_label(b)]] += 1
    return pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))


def confusion_matrices(predictions, ground_truth, classes=None, thresholds: Sequence[float] = (0.45, 0.5, 0.55),
                       min_score: float = 0.0) -> dict[float, pd.DataFrame]:
    """The colon paper's three matrices, at IoU 0.45, 0.50 and 0.55."""
    return {float(t): detection_confusion_matrix(predictions, ground_truth, classes, t, min_score)
            for t in thresholds}


def summarize(predictions, ground_truth, sizes, top_k: int | None = 1, min_score: float = 0.0) -> dict[str, float]:
    """The headline figures: mAP50, mAP50-95 (from every prediction), and from the ``top_k`` best-scoring
    predictions per image (default 1, the single-target setting): mIoU, mean/median centroid distance,
    success at IoU 0.3 and 0.5, success at centroid distance 0.05, mean area precision and recall; those are per
    true box (an image with several lesions and ``top_k=1`` can succeed on one of them at most). Beside them, per
    image: ``image_success_iou_0.3`` / ``_0.5``, the share of images with a true box whose kept predictions hit at
    least one of its true boxes (the operating figure of a localizer that must put the crop on *a* lesion)."""
    t = localization_table(predictions, ground_truth, sizes, top_k, min_score)
    d = t["centroid_distance"].to_numpy()
    per_image = t.groupby("image")["iou"].max() if len(t) else pd.Series(dtype=float)
    return {
        "mAP50": map50(predictions, ground_truth), "mAP50_95": map50_95(predictions, ground_truth),
        "mIoU": float(t["iou"].mean()) if len(t) else math.nan,
        "centroid_distance_mean": float(np.mean(d[np.isfinite(d)])) if np.isfinite(d).any() else math.nan,
        "centroid_distance_median": float(np.median(d)) if len(d) else math.nan,
        "success_iou_0.3": success_rate(t["iou"], 0.3, "iou"),
        "success_iou_0.5": success_rate(t["iou"], 0.5, "iou"),
        "success_centroid_0.05": success_rate(d, 0.05, "centroid"),
        "image_success_iou_0.3": success_rate(per_image, 0.3, "iou"),
        "image_success_iou_0.5": success_rate(per_image, 0.5, "iou"),
        "area_precision": float(t["area_precision"].mean()) if len(t) else math.nan,
        "area_recall": float(t["area_recall"].mean()) if len(t) else math.nan,
        "targets": int(len(t)), "target_images": int(len(per_image)),
    }


def evaluate_localizer(localizer, manifest, class_agnostic: bool = True, top_k: int | None = 1,
                       batch_size: int = 16) -> tuple[dict, pd.DataFrame]:
    """A fitted localizer on every image of ``manifest`` (a :class:`~explainendo.io.Manifest` with boxes):
    :func:`summarize`'s figures plus ``images``, ``unreadable`` (frames that could not be read, named in
    ``localizer.errors_``) and ``ms_per_image`` (wall time of ``locate_batch`` per image, on this machine),
    and the success-plot table (:func:`success_curve`). Rows the manifest's validation drops (missing files,
    paths outside the root, boxes outside their image) are counted in ``dropped_rows`` and named in a warning;
    when none with a box is left it raises :class:`~explainendo.errors.ManifestError` with the reasons.
    ``class_agnostic`` (default): a box's class is not
    checked (localization); False: mAP per class, averaged."""
    import time

    from ..errors import ManifestError

    clean = manifest.validate(strict=False)  # fills width / height; drops (and reports) unusable rows
    report = clean.report
    if not clean.has_boxes:
        if manifest.has_boxes and report is not None and not report.ok:
            # every boxed row was dropped: say why, not "no boxes"
            hint = "fix the rows listed above"
            if "path_escapes_root" in report.by_kind():
                hint = (f"image paths must lie under the manifest root '{manifest.root}': give the image folder "
                        "as the root (CLI: --root), or write paths relative to it")
            raise ManifestError("no usable boxed row is left to evaluate the localizer on:\n" + report.summary(),
                                source=manifest.name or None, problems=report.problems, hint=hint)
        raise ManifestError("the manifest has no boxes to evaluate a localizer against",
                            source=manifest.name or None, hint="add x1,y1,x2,y2 columns (pixel xyxy)")
    dropped = report.bad_rows if report is not None else []
    if dropped:
        warnings.warn(f"{len(dropped)} manifest row(s) dropped before evaluation:\n{report.summary(limit=10)}",
                      stacklevel=2)
    images = clean.images()
    t0 = time.perf_counter()
    preds = localizer.locate_batch([clean.path(i) for i in images], batch_size=batch_size)
    seconds = time.perf_counter() - t0
    gts = [clean.boxes_for(i) for i in images]
    if class_agnostic:
        strip = lambda boxes: [Box(b.x1, b.y1, b.x2, b.y2, score=b.score) for b in boxes]  # noqa: E731
        preds, gts = [strip(p) for p in preds], [strip(g) for g in gts]
    table = clean.image_table().set_index("image").loc[images]
    sizes = [(int(w), int(h)) for w, h in zip(table["width"], table["height"])]
    res = summarize(preds, gts, sizes, top_k=top_k)
    res.update(images=len(images), dropped_rows=len(dropped), unreadable=len(getattr(localizer, "errors_", [])),
               ms_per_image=1000 * seconds / max(len(images), 1))
    return res, success_curve(localization_table(preds, gts, sizes, top_k=top_k))
