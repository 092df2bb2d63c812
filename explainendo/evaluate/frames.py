"""Frame-level evaluation of a frame detector: the colonoscopy paper's (BMC Med Inform Decis Mak 2021) confusion
matrix with a **Background** row and column, at IoU 0.45, 0.50 and 0.55 side by side, and per-class precision,
recall and F1 with class averages.

Every frame has one true class (e.g. normal / unclear / tumor) and, when that class is the boxed one
(``box_class``, tumor), its true boxes. The model calls each frame one class, or ``background`` (it brought no
detection: e.g. it judged the frame tumorous but found no box), with boxes for the boxed class. Each frame adds
**one** count to the row of its true class:

* called a class other than ``box_class``, or ``background``: the column of that call;
* called ``box_class`` on a frame whose truth is another class: the ``box_class`` column (a false tumor);
* called ``box_class`` on a ``box_class`` frame: the ``box_class`` column when one of its boxes matches a true
  box at IoU > t (:func:`~explainendo.evaluate.detection.match_one_to_one`), else the ``background`` column (the
  tumor was not found where it is: the paper's undetected tumors).

The **Background row** counts the spurious boxes: the called boxes on ``box_class`` frames that match no true
box at IoU > t. Per class ``c`` (the class rows; the Background row has no truth): recall = ``cm[c, c] / row
sum``, precision = ``cm[c, c] / column sum`` (the Background row included, so spurious boxes lower the tumor's
precision), F1 their harmonic mean; accuracy = the diagonal over the frames. Only ``box_class`` frames called
``box_class`` can change with the threshold, so a matrix that differs between IoU 0.45 and 0.55 is explained
by the frames whose best IoU lies in between (:attr:`FrameReport.threshold_sensitive`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import EvaluationError
from ..types import Box, boxes_to_array, pairwise_iou
from .detection import BACKGROUND, match_one_to_one

PAPER_THRESHOLDS = (0.45, 0.5, 0.55)


@dataclass
class FrameReport:
    """The frame-level evaluation at several IoU thresholds (module docstring).

    ``matrices[t]``: the confusion matrix (rows truth + ``background``, columns calls + ``background``);
    ``metrics[t]``: per-class precision / recall / F1 / support, then ``macro`` and ``weighted`` averages and
    ``accuracy``; ``frames``: one row per frame (truth, call, best IoU of its boxes with the true ones, image).
    """

    thresholds: tuple[float, ...]
    classes: list[str]
    box_class: str
    matrices: dict[float, pd.DataFrame]
    metrics: dict[float, pd.DataFrame]
    frames: pd.DataFrame
    title: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(len(self.frames))

    def accuracy(self, threshold: float = 0.5) -> float:
        return float(self.metrics[self._t(threshold)].loc["accuracy", "f1"])

    def recall(self, cls: str, threshold: float = 0.5) -> float:
        return float(self.metrics[self._t(threshold)].loc[cls, "recall"])

    def _t(self, threshold: float) -> float:
        for t in self.thresholds:
            if math.isclose(t, threshold):
                return t
        raise EvaluationError(f"no matrix at IoU {threshold}", hint=f"thresholds: {list(self.thresholds)}")

    @property
    def identical(self) -> bool:
        """Whether the matrices are the same at every threshold."""
        first = self.matrices[self.thresholds[0]]
        return all(self.matrices[t].equals(first) for t in self.thresholds[1:])

    @property
    def threshold_sensitive(self) -> pd.DataFrame:
        """The frames whose outcome depends on the threshold: ``box_class`` frames called ``box_class`` whose
        best IoU lies in ``(min threshold, max threshold]``."""
        lo, hi = min(self.thresholds), max(self.thresholds)
        f = self.frames
        return f[(f["truth"] == self.box_class) & (f["called"] == self.box_class) & (f["best_iou"] > lo)
                 & (f["best_iou"] <= hi)]

    def side_by_side(self) -> pd.DataFrame:
        """The matrices next to each other (the paper's layout): columns ``IoU t / <call>``."""
        return pd.concat({f"IoU {t:.2f}": self.matrices[t] for t in self.thresholds}, axis=1)

    def to_markdown(self) -> str:
        lines = [f"### {self.title}" if self.title else "", f"{self.n_frames} frames; rows: truth, columns: the "
                 f"model's call (background = no detection / a spurious {self.box_class} box)", ""]
        for t in self.thresholds:
            lines += [f"IoU {t:.2f}", "", _markdown(self.matrices[t].reset_index()), ""]
        t = 0.5 if any(math.isclose(t, 0.5) for t in self.thresholds) else self.thresholds[0]
        lines += [f"per class at IoU {t:.2f}", "", _markdown(self.metrics[self._t(t)].round(4).reset_index()), ""]
        if self.identical:
            lines.append(f"The matrices are identical at IoU {', '.join(f'{t:.2f}' for t in self.thresholds)}.")
        else:
            sensitive = self.threshold_sensitive
            lines.append(f"The matrices differ: {len(sensitive)} {self.box_class} frame(s) have their best IoU "
                         f"between {min(self.thresholds):.2f} and {max(self.thresholds):.2f}.")
        return "\n".join(lines).strip() + "\n"

    def to_dict(self) -> dict:
        return {"title": self.title, "n_frames": self.n_frames, "classes": self.classes,
                "thresholds": list(self.thresholds),
                "matrices": {f"{t:.2f}": m.to_dict(orient="index") for t, m in self.matrices.items()},
                "metrics": {f"{t:.2f}": m.to_dict(orient="index") for t, m in self.metrics.items()},
                "identical": self.identical, "threshold_sensitive": int(len(self.threshold_sensitive)), **self.extra}


def _markdown(table: pd.DataFrame) -> str:
    cols = [str(c) for c in table.columns]
    rows = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        rows.append("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(rows)


def _boxes(entry) -> list[Box]:
    if entry is None:
        return []
    if isinstance(entry, Box):
        return [entry]
    return [b for b in entry if b is not None]


def evaluate_frames(truth: Sequence[str], called: Sequence[str], truth_boxes: Sequence | None = None,
                    called_boxes: Sequence | None = None, *, classes: Sequence[str] | None = None,
                    box_class: str = "tumor", thresholds: Sequence[float] = PAPER_THRESHOLDS,
                    images: Sequence[str] | None = None, title: str = "") -> FrameReport:
    """The frame-level report (module docstring). ``truth`` / ``called``: one class per frame (``called`` may
    be ``background``); ``truth_boxes`` / ``called_boxes``: per frame a Box, a list of boxes or None (only the
    ``box_class`` frames' boxes are used). ``classes`` default: the true classes, sorted."""
    truth = [str(t) for t in truth]
    called = [str(c) for c in called]
    n = len(truth)
    if len(called) != n:
        raise EvaluationError(f"{n} true classes but {len(called)} calls", hint="one of each per frame")
    truth_boxes = [None] * n if truth_boxes is None else list(truth_boxes)
    called_boxes = [None] * n if called_boxes is None else list(called_boxes)
    if len(truth_boxes) != n or len(called_boxes) != n:
        raise EvaluationError(f"{n} frames but {len(truth_boxes)} true and {len(called_boxes)} called box entries",
                              hint="one entry (a Box, a list or None) per frame")
    classes = sorted(set(truth)) if classes is None else [str(c) for c in classes]
    if BACKGROUND in classes:
        raise EvaluationError(f"{BACKGROUND!r} is the no-detection column, not a class")
    unknown = sorted((set(truth) | set(called)) - set(classes) - {BACKGROUND})
    if unknown:
        raise EvaluationError(f"classes {unknown} are not among {classes}",
                              hint=f"pass classes=[...] with every class (calls may also be {BACKGROUND!r})")
    if box_class not in classes:
        raise EvaluationError(f"box_class {box_class!r} is not among the classes {classes}")
    thresholds = tuple(float(t) for t in thresholds)
    if not thresholds or any(not 0.0 <= t < 1.0 for t in thresholds):
        raise EvaluationError(f"IoU thresholds must lie in [0, 1), got {list(thresholds)}")
    missing = [i for i in range(n) if truth[i] == box_class and not _boxes(truth_boxes[i])]
    if missing:
        raise EvaluationError(f"{len(missing)} {box_class} frame(s) have no true box (first: frame {missing[0]})",
                              hint=f"every {box_class} frame needs its box to be scored against")
    names = [*classes, BACKGROUND]
    pos = {c: k for k, c in enumerate(names)}
    best = np.full(n, np.nan)
    for i in range(n):
        if truth[i] == box_class and called[i] == box_class and _boxes(called_boxes[i]):
            ious = pairwise_iou(boxes_to_array(_boxes(called_boxes[i])), boxes_to_array(_boxes(truth_boxes[i])))
            best[i] = float(ious.max())
    matrices, metrics = {}, {}
    for t in thresholds:
        cm = np.zeros((len(names), len(names)), dtype=np.int64)
        for i in range(n):
            row = pos[truth[i]]
            if called[i] != box_class or truth[i] != box_class:
                cm[row, pos[called[i]]] += 1
                continue
            pred, gts = _boxes(called_boxes[i]), _boxes(truth_boxes[i])
            pairs = match_one_to_one(pred, gts, t)
            cm[row, pos[box_class] if pairs else pos[BACKGROUND]] += 1
            cm[pos[BACKGROUND], pos[box_class]] += len(pred) - len(pairs)
        matrix = pd.DataFrame(cm, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))
        matrices[t] = matrix
        metrics[t] = per_class_metrics(matrix, classes)
    frames = pd.DataFrame({"image": list(images) if images is not None else [f"frame {i}" for i in range(n)],
                           "truth": truth, "called": called, "best_iou": best})
    return FrameReport(thresholds, classes, box_class, matrices, metrics, frames, title)


def per_class_metrics(matrix: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support per class from a matrix with a Background row / column, then the
    ``macro`` and support-``weighted`` averages and ``accuracy`` (in every column but support). A class never
    called has precision NaN (undefined), as a class without frames has recall NaN."""
    cm = matrix.to_numpy()
    classes = list(classes)
    rows = {}
    for k, c in enumerate(classes):
        tp, row, col = cm[k, k], cm[k].sum(), cm[:, k].sum()
        p = tp / col if col else math.nan
        r = tp / row if row else math.nan
        f1 = 2 * p * r / (p + r) if (p == p and r == r and p + r > 0) else (0.0 if p == 0 or r == 0 else math.nan)
        rows[c] = {"precision": p, "recall": r, "f1": f1, "support": int(row)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    support = table["support"].to_numpy(float)
    total = support.sum()
    avg = {m: float(np.nanmean(table[m])) for m in ("precision", "recall", "f1")}
    weighted = {m: float(np.nansum(table[m].to_numpy() * support) / total) if total else math.nan
                for m in ("precision", "recall", "f1")}
    accuracy = float(np.trace(cm[:len(classes), :len(classes)]) / total) if total else math.nan
    table.loc["macro"] = {**avg, "support": int(total)}
    table.loc["weighted"] = {**weighted, "support": int(total)}
    table.loc["accuracy"] = {"precision": accuracy, "recall": accuracy, "f1": accuracy, "support": int(total)}
    table["support"] = table["support"].astype(int)
    table.index.name = "class"
    return table
