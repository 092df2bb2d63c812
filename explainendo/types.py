"""Core value types. ``Box`` is the currency between localizers, crops, features and metrics.

Coordinates are pixel ``xyxy`` floats with the pixel-edge convention: a box covering pixel columns
0..9 has ``x1=0, x2=10`` and width 10. ``crop`` rounds outward to whole pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Sequence

import numpy as np

from .errors import InvalidBoxError


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixel ``xyxy`` coordinates with a score and an optional label.

    Degenerate boxes (NaN/inf coordinates, ``x2 <= x1`` or ``y2 <= y1``) raise :class:`InvalidBoxError`
    at construction, so every ``Box`` in the library has a positive area.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0
    label: str | None = None

    def __post_init__(self) -> None:
        coords = (self.x1, self.y1, self.x2, self.y2)
        try:
            vals = [float(c) for c in coords]
        except (TypeError, ValueError):
            raise InvalidBoxError(f"box coordinates must be numbers, got {coords}") from None
        if not all(math.isfinite(v) for v in vals):
            raise InvalidBoxError(f"box coordinates must be finite, got {coords}")
        if vals[2] <= vals[0] or vals[3] <= vals[1]:
            raise InvalidBoxError(
                f"degenerate box {tuple(vals)}: need x2 > x1 and y2 > y1",
                hint="boxes are pixel xyxy; check whether the source uses xywh",
            )
        for name, v in zip(("x1", "y1", "x2", "y2"), vals):
            object.__setattr__(self, name, v)
        object.__setattr__(self, "score", float(self.score))

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float, **kw: Any) -> "Box":
        return cls(x, y, x + w, y + h, **kw)

    @classmethod
    def from_cxcywh(cls, cx: float, cy: float, w: float, h: float, **kw: Any) -> "Box":
        return cls(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, **kw)

    @classmethod
    def from_normalized(cls, x1: float, y1: float, x2: float, y2: float, width: int, height: int,
                        **kw: Any) -> "Box":
        """From ``xyxy`` in [0, 1] relative to an image of ``width`` x ``height`` pixels."""
        return cls(x1 * width, y1 * height, x2 * width, y2 * height, **kw)

    @classmethod
    def from_yolo(cls, cx: float, cy: float, w: float, h: float, width: int, height: int,
                  **kw: Any) -> "Box":
        """From a YOLO label line's normalised ``cx cy w h``."""
        return cls.from_cxcywh(cx * width, cy * height, w * width, h * height, **kw)

    @classmethod
    def from_dict(cls, d: dict) -> "Box":
        return cls(d["x1"], d["y1"], d["x2"], d["y2"], score=d.get("score", 1.0), label=d.get("label"))

    # ---- views --------------------------------------------------------------------------------
    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    @property
    def aspect_ratio(self) -> float:
        """Width / height."""
        return self.width / self.height

    def to_xyxy(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)

    def to_xywh(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.width, self.height)

    def to_cxcywh(self) -> tuple[float, float, float, float]:
        cx, cy = self.center
        return (cx, cy, self.width, self.height)

    def to_normalized(self, width: int, height: int) -> tuple[float, float, float, float]:
        return (self.x1 / width, self.y1 / height, self.x2 / width, self.y2 / height)

    def to_yolo(self, width: int, height: int) -> tuple[float, float, float, float]:
        cx, cy, w, h = self.to_cxcywh()
        return (cx / width, cy / height, w / width, h / height)

    def to_dict(self) -> dict:
        return asdict(self)

    # ---- geometry -----------------------------------------------------------------------------
    def intersection(self, other: "Box") -> float:
        w = min(self.x2, other.x2) - max(self.x1, other.x1)
        h = min(self.y2, other.y2) - max(self.y1, other.y1)
        return max(w, 0.0) * max(h, 0.0)

    def iou(self, other: "Box") -> float:
        inter = self.intersection(other)
        return inter / (self.area + other.area - inter)

    def enlarge(self, factor: float) -> "Box":
        """Scale width and height by ``factor`` about the centre (1.2 = the gastric paper's enlarged crop).

        The result may extend past the image; call :meth:`clip` (``crop`` does) to keep it inside.
        """
        if not (factor > 0 and math.isfinite(factor)):
            raise InvalidBoxError(f"enlarge factor must be a positive number, got {factor}")
        cx, cy = self.center
        return replace(self, x1=cx - self.width * factor / 2, y1=cy - self.height * factor / 2,
                       x2=cx + self.width * factor / 2, y2=cy + self.height * factor / 2)

    def clip(self, width: int, height: int) -> "Box":
        """Clip to the image ``[0, width] x [0, height]``.

        Raises :class:`InvalidBoxError` when nothing of the box lies inside the image (clipping would
        leave an empty box); a box partly outside is cut back to the part inside.
        """
        x1, y1 = max(self.x1, 0.0), max(self.y1, 0.0)
        x2, y2 = min(self.x2, float(width)), min(self.y2, float(height))
        if x2 <= x1 or y2 <= y1:
            raise InvalidBoxError(
                f"box {self.to_xyxy()} lies outside the {width}x{height} image",
                hint="check the box's coordinate convention and image size",
            )
        return replace(self, x1=x1, y1=y1, x2=x2, y2=y2)

    def is_inside(self, width: int, height: int, tol: float = 0.5) -> bool:
        return self.x1 >= -tol and self.y1 >= -tol and self.x2 <= width + tol and self.y2 <= height + tol

    def pixel_slice(self, width: int, height: int) -> tuple[slice, slice]:
        """Row and column slices of the clipped box, rounded outward to whole pixels (at least 1x1)."""
        b = self.clip(width, height)
        x1, y1 = int(math.floor(b.x1)), int(math.floor(b.y1))
        x2, y2 = int(math.ceil(b.x2)), int(math.ceil(b.y2))
        return slice(y1, max(y2, y1 + 1)), slice(x1, max(x2, x1 + 1))

    def crop(self, image: np.ndarray, enlarge: float = 1.0) -> np.ndarray:
        """The pixels under the box (optionally enlarged about its centre), clipped to the image."""
        box = self.enlarge(enlarge) if enlarge != 1.0 else self
        h, w = image.shape[:2]
        rows, cols = box.pixel_slice(w, h)
        return image[rows, cols]


def boxes_to_array(boxes: Sequence[Box]) -> np.ndarray:
    """``(N, 4)`` float array of ``xyxy`` coordinates."""
    if len(boxes) == 0:
        return np.zeros((0, 4), dtype=np.float64)
    return np.array([b.to_xyxy() for b in boxes], dtype=np.float64)


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` for two ``(N, 4)`` xyxy arrays (vectorised)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, 0.0)


# ---- diagnoses and their explanations -----------------------------------------------------------

def describe_group(group: str, features: dict[str, float]) -> str:
    """A group's value in plain words, from its feature columns ``<group>.<name>``.

    Probability columns (``tone.p_reddened`` ...) give the most likely class; one-hot columns
    (``tone.reddened`` = 1) the active category; a single ``<group>.value`` its number; anything
    else (``lbp.hist_0`` ...) the number of values.
    """
    cols = {k[len(group) + 1:]: v for k, v in features.items() if k.startswith(group + ".")}
    finite = {k: float(v) for k, v in cols.items() if v is not None and np.isfinite(v)}
    if not finite:
        return "unknown"
    probs = {k[2:]: v for k, v in finite.items() if k.startswith("p_")}
    if probs and len(probs) == len(finite):
        if len(probs) == 1:
            (name, p), = probs.items()
            return f"p({name}) = {p:.2f}"
        name = max(probs, key=probs.get)
        return f"{name} ({probs[name]:.2f})"
    if len(finite) == 1:
        (name, v), = finite.items()
        return f"{v:.3g}" if name == "value" else f"{name} = {v:.3g}"
    if set(np.round(list(finite.values()), 9)) <= {0.0, 1.0}:
        on = [k for k, v in finite.items() if v == 1.0]
        return ", ".join(on) if on else "none of " + ", ".join(finite)
    return f"{len(finite)} values"


def _finite_or_none(features: dict[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if v is not None and np.isfinite(v) else None) for k, v in features.items()}


@dataclass
class Lesion:
    """One localized lesion and what the predictor said of it: ``label``, ``probability`` (of ``label``),
    ``probabilities`` (every class) and ``features`` (the named features it was diagnosed from; empty for a
    CNN). ``interventions``: the attributes a clinician corrected (``Diagnoser.intervene``), empty otherwise."""

    box: Box
    label: str
    probability: float
    probabilities: dict[str, float] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)
    #: the diagnoser's further tasks: task name -> class probabilities (e.g. ``{"four_class": {"easy": ...}}``)
    tasks: dict[str, dict[str, float]] = field(default_factory=dict)
    #: attributes a clinician set (``Diagnoser.intervene``): attribute -> class, e.g. ``{"boundary": "clear"}``;
    #: ``label``, ``probabilities`` and ``features`` are then the diagnosis from the corrected attributes
    interventions: dict[str, str] = field(default_factory=dict)
    #: out-of-distribution score of the lesion (Mahalanobis distance to the training lesions) and whether it is
    #: flagged as unlike the training data; None unless the diagnoser has ``ood=OODDetector()``
    ood_score: float | None = None
    ood: bool | None = None

    def task_label(self, task: str) -> str:
        """The most probable class of one of the diagnoser's further ``tasks``."""
        if task not in self.tasks:
            from .errors import ConfigError

            raise ConfigError(f"no task {task!r} on this lesion", hint=f"tasks: {sorted(self.tasks)}")
        probs = self.tasks[task]
        return max(probs, key=probs.get)

    def to_dict(self) -> dict:
        out = {"box": self.box.to_dict(), "label": self.label, "probability": float(self.probability),
               "probabilities": {k: float(v) for k, v in self.probabilities.items()},
               "features": _finite_or_none(self.features)}
        if self.tasks:
            out["tasks"] = {t: {k: float(v) for k, v in probs.items()} for t, probs in self.tasks.items()}
        if self.interventions:
            out["interventions"] = dict(self.interventions)
        if self.ood is not None:
            out["ood_score"], out["ood"] = float(self.ood_score), bool(self.ood)
        return out


@dataclass
class Result:
    """A diagnoser's answer for one image or video frame.

    ``lesions``: every box with its own diagnosis; the *primary* lesion (the localizer's most confident box)
    also answers ``label``, ``probability``, ``box`` and ``features``. ``no_lesion`` is True (with
    ``message``) when the localizer found nothing; ``error`` is set (and ``lesions`` empty) when the frame
    was unreadable. ``frame_index`` counts the inputs from 0; ``timestamp`` is the position in a video in
    seconds. ``frame`` (the RGB pixels) is kept only with ``predict(..., keep_frames=True)``.
    """

    image: str
    lesions: list[Lesion] = field(default_factory=list)
    frame_index: int = 0
    timestamp: float | None = None
    predictor: str | None = None
    no_lesion: bool = False
    message: str | None = None
    error: str | None = None
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: boxes a detector found in the frame beside the diagnosed lesions (the colonoscopy system's tumor boxes on a
    #: frame it classified as a whole)
    detections: list[Box] = field(default_factory=list)
    #: out-of-distribution score of the whole frame and its flag (``Diagnoser(..., ood=OODDetector())``); None without
    ood_score: float | None = None
    ood: bool | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def primary(self) -> int | None:
        """Index of the primary lesion (highest box score; the first on a tie), None without lesions."""
        if not self.lesions:
            return None
        return max(range(len(self.lesions)), key=lambda i: (self.lesions[i].box.score, -i))

    @property
    def lesion(self) -> Lesion | None:
        return None if self.primary is None else self.lesions[self.primary]

    @property
    def label(self) -> str | None:
        return None if self.lesion is None else self.lesion.label

    @property
    def probability(self) -> float | None:
        return None if self.lesion is None else self.lesion.probability

    @property
    def probabilities(self) -> dict[str, float]:
        return {} if self.lesion is None else self.lesion.probabilities

    @property
    def box(self) -> Box | None:
        return None if self.lesion is None else self.lesion.box

    @property
    def boxes(self) -> list[Box]:
        return [les.box for les in self.lesions]

    @property
    def features(self) -> dict[str, float]:
        return {} if self.lesion is None else self.lesion.features

    def to_dict(self) -> dict:
        """JSON-ready: plain floats, boxes as dicts, no pixels."""
        return {"image": self.image, "frame_index": int(self.frame_index), "timestamp": self.timestamp,
                "label": self.label, "probability": None if self.probability is None else float(self.probability),
                "probabilities": {k: float(v) for k, v in self.probabilities.items()},
                "box": None if self.box is None else self.box.to_dict(),
                "lesions": [les.to_dict() for les in self.lesions], "primary": self.primary,
                "predictor": self.predictor, "no_lesion": self.no_lesion, "message": self.message,
                "error": self.error, "detections": [b.to_dict() for b in self.detections],
                **({} if self.ood is None else {"ood_score": float(self.ood_score), "ood": bool(self.ood)})}

    def summary(self) -> str:
        if self.error:
            return f"{self.image}: error: {self.error}"
        if self.no_lesion:
            return f"{self.image}: no lesion found ({self.message})"
        return (f"{self.image}: {self.label} (p={self.probability:.2f}, {len(self.lesions)} lesion(s), "
                f"{self.predictor})")

    def plot(self, ax=None, frame: np.ndarray | None = None):
        """The frame (kept, or given) with every box and the primary label (matplotlib axes returned)."""
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle

        if ax is None:
            _, ax = plt.subplots(figsize=(4, 4))
        frame = self.frame if frame is None else frame
        if frame is not None:
            ax.imshow(frame)
        for i, les in enumerate(self.lesions):
            b = les.box
            ax.add_patch(Rectangle((b.x1, b.y1), b.width, b.height, fill=False, lw=2,
                                   color="yellow" if i == self.primary else "white"))
        for b in self.detections:
            ax.add_patch(Rectangle((b.x1, b.y1), b.width, b.height, fill=False, lw=2, color="lime"))
            ax.text(b.x1, b.y1, f"{b.label or ''} {b.score:.2f}", color="lime", fontsize=7, va="bottom")
        ax.set_title(self.summary().split(": ", 1)[-1], fontsize=8)
        ax.axis("off")
        return ax


@dataclass
class Explanation:
    """Why the diagnoser said what it said, for one lesion of a :class:`Result`.

    ``shap`` (feature -> value) and ``group_shap`` (group -> the group's SHAP values summed, or its exact group
    Shapley value with ``explain(..., group_values="exact")``: ``explainer`` says which) explain the fitter's output
    for ``explained_class`` in ``space`` ("log-odds" or "probability"): ``expected_value +
    sum(group_shap.values())`` equals ``output``. A CNN predictor has no named features: its ``shap`` is
    empty and ``explainer`` is ``"grad-cam"``. ``gradcams`` maps attribute (or ``diagnosis``) -> heatmap
    in crop coordinates, values in [0, 1].
    """

    result: Result
    shap: dict[str, float]
    group_shap: dict[str, float]
    expected_value: float
    output: float
    space: str
    explainer: str
    explained_class: str
    lesion_index: int = 0
    groups: dict[str, list[str]] = field(default_factory=dict)
    gradcams: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    crop: np.ndarray | None = field(default=None, repr=False)
    frame: np.ndarray | None = field(default=None, repr=False)
    #: None: the diagnosis; else the name of the further task explained (its predictor's own features)
    task: str | None = None
    task_features: dict[str, float] | None = field(default=None, repr=False)
    #: the localizer's own heatmap in frame coordinates, values in [0, 1] (a soft-mask localizer's mask)
    localizer_map: np.ndarray | None = field(default=None, repr=False)
    #: where the localizer looked for the lesion's box: a saliency map in frame coordinates, values in [0, 1]
    #: (:mod:`explainendo.explain.localizer_saliency`; None when the localizer has none or it was not asked for)
    localizer_saliency: np.ndarray | None = field(default=None, repr=False)
    #: the method that made ``localizer_saliency`` (``"EigenCAM"``, ``"D-RISE"``)
    localizer_saliency_method: str | None = None
    #: per Grad-CAM map, the heat inside a region of interest (the EUS cyst): ``{"heat", "area", "ratio"}``
    #: (:func:`explainendo.explain.gradcam.region_heat`); None when no region was given
    region_heat: dict[str, dict[str, float]] | None = None

    @property
    def lesion(self) -> Lesion:
        return self.result.lesions[self.lesion_index]

    @property
    def features(self) -> dict[str, float]:
        """The named features the explained predictor read (the diagnosis's, or the task's)."""
        return self.lesion.features if self.task_features is None else self.task_features

    def contributions(self, top: int | None = None) -> list[tuple[str, str, float]]:
        """``(group, value in words, contribution)``, largest |contribution| first."""
        rows = [(g, describe_group(g, self.features), float(v)) for g, v in self.group_shap.items()]
        rows.sort(key=lambda r: -abs(r[2]))
        return rows[:top] if top else rows

    def top_groups(self, k: int = 3) -> list[str]:
        return [g for g, _, _ in self.contributions(k)]

    def sentences(self, top: int | None = None) -> list[str]:
        """Plain words: ``"tone: reddened (0.83), +0.21"``."""
        return [f"{g}: {words}, {v:+.2f}" for g, words, v in self.contributions(top)]

    def attribute_probabilities(self) -> dict[str, float]:
        """Every ``<attribute>.p_<class>`` feature (the heads' outputs)."""
        return {k: v for k, v in self.features.items() if ".p_" in k}

    def to_dict(self) -> dict:
        return {"result": self.result.to_dict(), "lesion_index": self.lesion_index, "explained_class": self.explained_class,
                "space": self.space, "explainer": self.explainer, "expected_value": self.expected_value,
                "output": self.output, "group_shap": self.group_shap, "shap": self.shap,
                "contributions": [{"group": g, "value": w, "contribution": v} for g, w, v in self.contributions()],
                "gradcams": sorted(self.gradcams), **({"task": self.task} if self.task else {}),
                **({"region_heat": self.region_heat} if self.region_heat else {}),
                **({"localizer_saliency": {"method": self.localizer_saliency_method, **self.localizer_box_heat()}}
                   if self.localizer_saliency is not None else {})}

    def localizer_box_heat(self) -> dict[str, float]:
        """The share of ``localizer_saliency``'s heat inside the lesion's box against the box's share of the frame
        (:func:`explainendo.explain.metrics.box_heat`: ``heat``, ``area``, ``ratio``); empty without a map."""
        if self.localizer_saliency is None:
            return {}
        from .explain.metrics import box_heat

        return {k: float(v) for k, v in box_heat(self.localizer_saliency, self.lesion.box).items()}

    def plot(self, top: int = 10):
        """The explanation card as a matplotlib figure (see :mod:`explainendo.explain.card`)."""
        from .explain.card import render_card
        return render_card(self, top=top)

    def save_card(self, path, top: int = 10):
        """Write the card: ``.png`` (an image) or ``.html`` (self-contained, images embedded)."""
        from .explain.card import save_card
        return save_card(self, path, top=top)

    def to_html(self, top: int = 10) -> str:
        from .explain.card import card_html
        return card_html(self, top=top)
