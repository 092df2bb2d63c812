"""A localizer against a human annotator (the ERCP paper's expert comparison, Kim et al., Sci Rep 2021, Table 1).

On the same images, three comparisons of one box per image:

* ``model vs ground truth``: the localizer's best box against the reference annotation;
* ``expert vs ground truth``: a second annotator's box against the same reference;
* ``model vs expert``: the localizer's box with the expert's box taken as the ground truth.

Each gets, per image, the IoU, the area precision ``|P ∩ G| / |P|``, the area recall ``|P ∩ G| / |G|`` and the
centroid distance normalised by the image's width and height (:mod:`explainendo.evaluate.detection`); the
summary is their mean and SD over images, with the success rates at IoU 0.3 and at centroid distance 0.05. A
paired Wilcoxon signed-rank test on the per-image IoUs asks whether the model is as close to the reference
as the expert is (``model vs ground truth`` against ``expert vs ground truth``). An image where the model
gives no box scores IoU 0 and an infinite centroid distance (a miss, as in the success rate); the mean
centroid distance is over the images with a box and says how many those are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import EvaluationError
from ..types import Box
from ._checks import TestResult
from .detection import area_precision, area_recall, centroid_distance

COMPARISONS = ("model vs ground truth", "expert vs ground truth", "model vs expert")
_MEASURES = ("iou", "area_precision", "area_recall", "centroid_distance")


@dataclass
class AnnotatorComparison:
    """``per_image``: one row per image and comparison (``image``, ``comparison``, the four measures);
    ``summary``: one row per comparison (``images``, ``boxes`` (images where the compared annotator gave a
    box), ``mIoU``, ``mIoU_sd``, ``area_precision``, ``area_recall``, ``centroid_distance``,
    ``centroid_distance_sd``, ``success_iou_0.3``, ``success_centroid_0.05``); ``test``: the paired Wilcoxon
    test of model vs expert IoU against the reference."""

    per_image: pd.DataFrame
    summary: pd.DataFrame
    test: TestResult

    def to_markdown(self, decimals: int = 3) -> str:
        """The summary as the paper's table: mean ± SD where there is one."""
        from .cv import format_mean_sd

        head = "| comparison | images | mIoU | area precision | area recall | centroid distance | success IoU 0.3 " \
               "| success centroid 0.05 |"
        lines = [head, "|" + "---|" * 8]
        for name, r in self.summary.iterrows():
            lines.append(f"| {name} | {int(r['images'])} | {format_mean_sd(r['mIoU'], r['mIoU_sd'], decimals)} | "
                         f"{r['area_precision']:.{decimals}f} | {r['area_recall']:.{decimals}f} | "
                         f"{format_mean_sd(r['centroid_distance'], r['centroid_distance_sd'], decimals)} | "
                         f"{r['success_iou_0.3']:.{decimals}f} | {r['success_centroid_0.05']:.{decimals}f} |")
        lines.append("")
        lines.append(f"model vs expert IoU against the reference: {self.test.name}, p = {self.test.pvalue:.3g} "
                     f"(median difference {self.test.details.get('median_difference', math.nan):+.3f})")
        return "\n".join(lines)


def compare_annotators(model: Sequence[Any], expert: Sequence[Any], truth: Sequence[Any],
                       sizes: Sequence[tuple[float, float]], images: Sequence[str] | None = None
                       ) -> AnnotatorComparison:
    """Compare a localizer and an expert with the reference annotation (module docstring).

    ``model``, ``expert``, ``truth``: per image a :class:`~explainendo.types.Box` or a list of boxes (the
    first, i.e. best-scoring, box is used for ``model``; the expert and the reference must give exactly one
    box per image: the single-target setting of the paper). ``sizes``: ``(width, height)`` per image.
    ``images``: names for the per-image table (default ``0 .. n-1``).
    """
    from .ranks import wilcoxon_signed_rank

    n = len(truth)
    for name, seq in (("model", model), ("expert", expert), ("sizes", sizes)):
        if len(seq) != n:
            raise EvaluationError(f"{name} has {len(seq)} entries for {n} reference images",
                                  hint="give one entry per image, in the same order")
    if n < 2:
        raise EvaluationError("an annotator comparison needs at least two images", hint="annotate more images")
    names = [str(i) for i in range(n)] if images is None else [str(i) for i in images]
    if len(names) != n:
        raise EvaluationError(f"images has {len(names)} names for {n} images")
    model_boxes = [_first(b, "model", names[i], required=False) for i, b in enumerate(model)]
    expert_boxes = [_first(b, "expert", names[i], required=True) for i, b in enumerate(expert)]
    truth_boxes = [_first(b, "truth", names[i], required=True) for i, b in enumerate(truth)]
    rows = []
    for comparison, preds, refs in ((COMPARISONS[0], model_boxes, truth_boxes),
                                    (COMPARISONS[1], expert_boxes, truth_boxes),
                                    (COMPARISONS[2], model_boxes, expert_boxes)):
        for i, (p, g) in enumerate(zip(preds, refs)):
            w, h = sizes[i]
            rows.append({"image": names[i], "comparison": comparison, **_measures(p, g, w, h)})
    per_image = pd.DataFrame(rows, columns=["image", "comparison", *_MEASURES])
    summary = pd.DataFrame([_summary(per_image[per_image["comparison"] == c]) for c in COMPARISONS],
                           index=pd.Index(COMPARISONS, name="comparison"))
    iou = per_image.pivot(index="image", columns="comparison", values="iou").loc[names]
    test = wilcoxon_signed_rank(iou[COMPARISONS[0]].to_numpy(), iou[COMPARISONS[1]].to_numpy())
    return AnnotatorComparison(per_image=per_image, summary=summary, test=test)


def _first(boxes: Any, who: str, image: str, required: bool) -> Box | None:
    if isinstance(boxes, Box):
        return boxes
    if boxes is None:
        boxes = []
    try:
        boxes = list(boxes)
    except TypeError:
        raise EvaluationError(f"{who}'s entry for image {image} is a {type(boxes).__name__}, not boxes",
                              hint="give a Box or a list of Boxes per image") from None
    if not all(isinstance(b, Box) for b in boxes):
        raise EvaluationError(f"{who}'s entry for image {image} holds something that is not a Box")
    if required and len(boxes) != 1:
        raise EvaluationError(f"{who} has {len(boxes)} boxes for image {image}: the comparison needs exactly one",
                              hint="the single-target setting: one annotated box per image")
    if not boxes:
        return None
    return max(boxes, key=lambda b: b.score) if who == "model" else boxes[0]


def _measures(pred: Box | None, target: Box, width: float, height: float) -> dict[str, float]:
    if pred is None:
        return {"iou": 0.0, "area_precision": 0.0, "area_recall": 0.0, "centroid_distance": math.inf}
    return {"iou": pred.iou(target), "area_precision": area_precision(pred, target),
            "area_recall": area_recall(pred, target), "centroid_distance": centroid_distance(pred, target, width, height)}


def _summary(part: pd.DataFrame) -> dict[str, float]:
    d = part["centroid_distance"].to_numpy(dtype=float)
    found = np.isfinite(d)
    iou = part["iou"].to_numpy(dtype=float)
    return {"images": int(len(part)), "boxes": int(found.sum()),
            "mIoU": float(iou.mean()), "mIoU_sd": float(iou.std(ddof=1)),
            "area_precision": float(part["area_precision"].mean()), "area_recall": float(part["area_recall"].mean()),
            "centroid_distance": float(d[found].mean()) if found.any() else math.nan,
            "centroid_distance_sd": float(d[found].std(ddof=1)) if found.sum() > 1 else math.nan,
            "success_iou_0.3": float(np.mean(iou >= 0.3)), "success_centroid_0.05": float(np.mean(d <= 0.05))}
