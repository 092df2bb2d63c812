"""Trust metrics: does an explanation point at the lesion, is it faithful to the model, does it depend on the
model at all, and do the feature groups' SHAP values match what removing a group does?

Four families, each usable on any model of the library through a small callable:

**Localisation** (:func:`pointing_game`, :func:`box_heat`, :func:`box_agreement`)
    Pointing game (Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016 / IJCV 2018):
    a hit when the map's maximum lies inside the lesion box, or within ``tolerance`` pixels of it. Heat in the
    box (:func:`explainendo.explain.gradcam.region_heat`): the share of the map's sum inside the box against the
    box's share of the area; a map that ignores the lesion scores ratio 1, a random map's pointing game scores
    the box's area share on average.

**Faithfulness** (:class:`DeletionInsertion`; adapters :class:`HeadScore`, :class:`ClassifierScore`)
    Deletion and insertion (Petsiuk et al., "RISE", BMVC 2018): the pixels are changed in order of decreasing
    saliency in ``steps`` equal steps, the explained class's score is read after each, and the area under the
    curve over the fraction of pixels changed is reported. Deletion (lower is better) turns the image into the
    baseline; insertion (higher is better) turns the baseline into the image.

**Sanity** (:class:`CascadingRandomisation`, :func:`heads_sanity_check`, :func:`fitter_sanity_check`)
    Model-parameter randomisation (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018): the
    layers of a deep *copy* of the network are re-initialised one after the other from the top, the
    explanation recomputed after each step, and its Spearman rank correlation (and SSIM) with the trained
    model's explanation reported. An explanation that does not change is not explaining the model.

**Feature groups** (:func:`grouped_deletion`, :func:`hybrid_grouped_deletion`)
    Remove one group (its columns set to the background's), measure how much the fitter's output drops, and
    rank-correlate the drops with the groups' SHAP values, per lesion and over all lesions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, EvaluationError
from ..types import Box
from .gradcam import region_heat, scale_cam

#: the baselines :class:`DeletionInsertion` knows by name (an array of the image's shape works too)
BASELINES = ("mean", "blur", "black")


# ------------------------------------------------------------------------------------------------ checks
def _checked_map(saliency, what: str = "saliency") -> np.ndarray:
    """A finite 2-D map, else :class:`EvaluationError` (a NaN map comes from an unusable crop: leave it out)."""
    cam = np.asarray(saliency, dtype=np.float32)
    if cam.ndim != 2 or min(cam.shape) < 1:
        raise EvaluationError(f"{what} must be a 2-D map, got shape {cam.shape}", source=what,
                              hint="pass one (h, w) map per image")
    if not np.isfinite(cam).all():
        raise EvaluationError(f"{what} has NaN or infinite values", source=what,
                              hint="leave out the maps of unusable crops (their Grad-CAM is NaN)")
    return cam


def _shape(shape, cam: np.ndarray) -> tuple[int, int]:
    """(H, W) of the image the map explains (default: the map's own)."""
    if shape is None:
        return int(cam.shape[0]), int(cam.shape[1])
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise EvaluationError(f"image shape {tuple(shape)} is empty", hint="pass the (H, W) of the explained image")
    return h, w


def _upsampled(cam: np.ndarray, h: int, w: int) -> np.ndarray:
    """The map at the image's size: bilinear (:func:`~explainendo.explain.gradcam.scale_cam`), as the card shows
    it; a map already at that size is kept as it is."""
    return cam if cam.shape == (h, w) else scale_cam(cam, (w, h))


def crop_coordinates(box: Box, crop_box: Box, frame_shape, enlarge: float = 1.0) -> Box:
    """``box`` (frame pixels) in the coordinates of the crop cut at ``crop_box`` enlarged ``enlarge`` times and
    clipped to the frame (as :meth:`Box.crop` cuts it), clipped to that crop: where a crop's map sees the box."""
    h, w = int(frame_shape[0]), int(frame_shape[1])
    rows, cols = (crop_box.enlarge(enlarge) if enlarge != 1.0 else crop_box).pixel_slice(w, h)
    moved = Box(box.x1 - cols.start, box.y1 - rows.start, box.x2 - cols.start, box.y2 - rows.start)
    return moved.clip(cols.stop - cols.start, rows.stop - rows.start)


# ---------------------------------------------------------------------------------------- localisation
def pointing_game(saliency, box: Box, shape=None, tolerance: float = 0.0) -> float:
    """Pointing game (Zhang et al. 2016): 1.0 when the map's maximum point lies inside ``box`` or within
    ``tolerance`` pixels of it, 0.0 when not, NaN for a flat map (it points nowhere).

    ``saliency``: an (h, w) map over the image of ``shape`` (H, W, ...; default the map's own), at any
    resolution: a smaller map (Grad-CAM's 3x3 or 7x7 grid) is first resized to (H, W) bilinearly
    (:func:`~explainendo.explain.gradcam.scale_cam`), so its maximum is where the picture a reader sees peaks.
    ``box``: pixel ``xyxy`` in that image (:func:`crop_coordinates` moves a frame box into a crop).
    The maximum point p is the mean position of the pixels holding the maximum, pixel (r, c) standing at
    (c + 0.5, r + 0.5); hit = distance(p, box) <= ``tolerance`` (Zhang et al. use 15 px on 224 px images).
    A random i.i.d. map at the image's resolution hits with probability |box| / |image|.
    """
    cam = _checked_map(saliency)
    if tolerance < 0:
        raise ConfigError(f"tolerance={tolerance!r} is negative", hint="use 0 or a distance in pixels")
    if float(cam.max()) <= float(cam.min()):
        return float("nan")
    h, w = _shape(shape, cam)
    full = _upsampled(cam, h, w)
    rows, cols = np.nonzero(full == full.max())
    x, y = float(cols.mean()) + 0.5, float(rows.mean()) + 0.5
    dx = max(box.x1 - x, 0.0, x - box.x2)
    dy = max(box.y1 - y, 0.0, y - box.y2)
    return float(np.hypot(dx, dy) <= tolerance)


def box_heat(saliency, box: Box, shape=None) -> dict:
    """The share of a non-negative map's heat inside ``box`` against the box's share of the image
    (:func:`~explainendo.explain.gradcam.region_heat` with the whole image as the crop): ``heat`` = sum of the
    map inside / sum of the map, ``area`` = |box| / |image|, ``ratio`` = heat / area (1: no preference for the
    box). A map smaller than ``shape`` is resized to it bilinearly first; NaN heat for a flat zero map."""
    cam = _checked_map(saliency)
    if float(cam.min()) < 0:
        raise EvaluationError("box_heat needs a non-negative map (heat)", source="saliency",
                              hint="pass a Grad-CAM (ReLU'd) map, or the absolute value of a signed attribution")
    h, w = _shape(shape, cam)
    return region_heat(cam, Box(0, 0, w, h), box, (h, w))


def box_auc(saliency, box: Box, shape=None) -> float:
    """How well the map's values rank the pixels inside ``box`` above those outside it: the ROC AUC, i.e. the
    probability that a pixel drawn inside has more heat than one drawn outside (ties count one half). 1.0: every
    pixel inside outranks every pixel outside; 0.5: no preference (a random map); 0.0: the reverse. Unlike
    :func:`box_heat`'s ratio it is unchanged by any strictly increasing transform of the map (squaring a map raises
    the heat ratio without telling more about the model, and leaves this as it was: exactly at the map's own
    resolution, nearly so through the resize). The map is resized to ``shape`` (H, W; default its own) bilinearly
    first, as the reader sees it.
    NaN for a flat map, or a box that covers the whole image."""
    cam = _checked_map(saliency)
    if float(cam.max()) <= float(cam.min()):
        return float("nan")
    h, w = _shape(shape, cam)
    full = _upsampled(cam, h, w).ravel()
    inside = np.zeros((h, w), dtype=bool)
    inside[box.pixel_slice(w, h)] = True  # the box's pixels, as region_heat counts them
    inside = inside.ravel()
    if inside.all() or not inside.any():
        return float("nan")
    from ..evaluate.auc import auc_score

    return auc_score(inside, full, positive=True)  # Mann-Whitney form: ties count one half


def box_agreement(maps: Sequence, boxes: Sequence[Box], shapes: Sequence | None = None,
                  tolerance: float = 0.0) -> pd.DataFrame:
    """One row per map: ``pointing`` (:func:`pointing_game`), ``heat``, ``area``, ``ratio`` (:func:`box_heat`),
    ``auc`` (:func:`box_auc`). ``shapes``: the (H, W) of each explained image (default: each map's own)."""
    if len(maps) != len(boxes) or (shapes is not None and len(shapes) != len(maps)):
        raise EvaluationError(f"{len(maps)} maps, {len(boxes)} boxes"
                              + ("" if shapes is None else f", {len(shapes)} shapes"),
                              hint="give one box (and shape) per map")
    rows = []
    for i, (cam, box) in enumerate(zip(maps, boxes)):
        shape = None if shapes is None else shapes[i]
        rows.append({"pointing": pointing_game(cam, box, shape, tolerance), **box_heat(cam, box, shape),
                     "auc": box_auc(cam, box, shape)})
    return pd.DataFrame(rows, columns=["pointing", "heat", "area", "ratio", "auc"])


# ---------------------------------------------------------------------------------------- faithfulness
def curve_auc(scores, fractions=None) -> float:
    """Area under a deletion / insertion curve by the trapezoidal rule over the fraction of pixels changed:
    AUC = sum_i (f_{i+1} - f_i) (s_i + s_{i+1}) / 2, with f from 0 to 1 (default: equal steps), so the AUC of
    scores in [0, 1] is in [0, 1]."""
    s = np.asarray(scores, dtype=float).reshape(-1)
    f = np.linspace(0.0, 1.0, len(s)) if fractions is None else np.asarray(fractions, dtype=float).reshape(-1)
    if len(s) < 2 or len(f) != len(s):
        raise EvaluationError(f"a curve needs >= 2 points and one fraction per score ({len(s)} scores, "
                              f"{len(f)} fractions)")
    return float(np.sum(np.diff(f) * (s[1:] + s[:-1]) / 2.0))


@dataclass
class CurveResult:
    """Deletion and insertion curves of one image: ``fractions`` of pixels changed, the score after each step."""

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    baseline: str

    @property
    def deletion_auc(self) -> float:
        return curve_auc(self.deletion, self.fractions)

    @property
    def insertion_auc(self) -> float:
        return curve_auc(self.insertion, self.fractions)

    def to_dict(self) -> dict:
        return {"deletion_auc": self.deletion_auc, "insertion_auc": self.insertion_auc, "baseline": self.baseline,
                "fractions": self.fractions.tolist(), "deletion": self.deletion.tolist(),
                "insertion": self.insertion.tolist()}


class DeletionInsertion:
    """Deletion and insertion AUC (Petsiuk et al., RISE, BMVC 2018) of a saliency map for a scoring function.

    ``score``: a callable ``images (n, H, W[, C]) -> (n,)`` scores of the explained class (e.g.
    :class:`HeadScore`, :class:`ClassifierScore`); it gets arrays of the explained image's dtype and is called
    **once** per image with every step of both curves (2 (steps + 1) images). ``steps``: how many equal steps
    the pixels are changed in. The pixels are ranked by the map resized to the image (bilinear, as
    :func:`pointing_game`), highest first; ties (a ReLU'd map's zeros) in a random order drawn from ``seed``.
    After step i the first round(i N / steps) of the N pixels are changed; the fraction changed is the curve's
    x. AUC: :func:`curve_auc`.

    ``baseline``, what a removed pixel becomes (deletion) and what insertion starts from:

    * ``"mean"`` (default): every pixel the image's mean colour. It holds no spatial information yet stays in the
      image's colour range, whereas RISE's black (``"black"``: zeros) is a colour no endoscopy crop has and
      tests the network on an out-of-distribution input as much as the map;
    * ``"blur"``: a Gaussian blur of the image (sigma = ``sigma`` px, default a tenth of the shorter side),
      RISE's insertion start: it keeps the colour and removes the texture;
    * an array of the image's shape.
    """

    def __init__(self, score: Callable, steps: int = 20, baseline: Any = "mean", sigma: float | None = None,
                 seed: int = 0):
        self.score = score
        self.steps = steps
        self.baseline = baseline
        self.sigma = sigma
        self.seed = seed

    def _check(self) -> None:
        if not callable(self.score):
            raise ConfigError(f"score must be a callable images -> scores, got {type(self.score).__name__}",
                              hint="e.g. HeadScore(heads, 'bleeding', 'yes') or ClassifierScore(model, 'neoplastic')")
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)) or self.steps < 1:
            raise ConfigError(f"steps={self.steps!r}", hint="use an integer >= 1 (RISE: one step per 224 px row)")
        if isinstance(self.baseline, str) and self.baseline not in BASELINES:
            raise ConfigError(f"unknown baseline {self.baseline!r}", hint=f"use one of {BASELINES} or an array")
        if self.sigma is not None and not self.sigma > 0:
            raise ConfigError(f"sigma={self.sigma!r}", hint="use a positive blur in pixels, or None")

    def baseline_image(self, image: np.ndarray) -> np.ndarray:
        """The baseline for ``image`` (class docstring), as float."""
        img = image.astype(np.float64)
        if not isinstance(self.baseline, str):
            base = np.asarray(self.baseline, dtype=np.float64)
            if base.shape != image.shape:
                raise EvaluationError(f"baseline shape {base.shape} differs from the image's {image.shape}",
                                      hint="pass a baseline of the image's shape, or 'mean' / 'blur' / 'black'")
            return base
        if self.baseline == "black":
            return np.zeros_like(img)
        if self.baseline == "mean":
            return np.broadcast_to(img.mean(axis=(0, 1), keepdims=True), img.shape).copy()
        import cv2

        sigma = self.sigma if self.sigma is not None else max(1.0, min(image.shape[:2]) / 10)
        return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma)).reshape(img.shape)

    def __call__(self, image, saliency) -> CurveResult:
        """Both curves of ``image`` (H, W) or (H, W, C) for ``saliency`` (any resolution)."""
        self._check()
        image = np.asarray(image)
        if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
            raise EvaluationError(f"image must be (H, W) or (H, W, C), got shape {image.shape}", source=image)
        h, w = image.shape[:2]
        cam = _upsampled(_checked_map(saliency), h, w)
        n = h * w
        rng = np.random.default_rng(self.seed)
        order = np.lexsort((rng.permutation(n), -cam.reshape(-1)))  # by saliency, highest first; ties at random
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        counts = np.rint(np.arange(self.steps + 1) * n / self.steps).astype(np.int64)
        changed = (rank.reshape(h, w)[None] < counts[:, None, None])  # (steps + 1, H, W)
        if image.ndim == 3:
            changed = changed[..., None]
        img, base = image.astype(np.float64), self.baseline_image(image)
        deletion = np.where(changed, base, img)
        insertion = np.where(changed, img, base)
        batch = np.concatenate([deletion, insertion])
        if np.issubdtype(image.dtype, np.integer):
            info = np.iinfo(image.dtype)
            batch = np.clip(np.rint(batch), info.min, info.max)
        scores = np.asarray(self.score(batch.astype(image.dtype)), dtype=float).reshape(-1)
        if scores.shape != (len(batch),) or not np.isfinite(scores).all():
            raise EvaluationError(f"the score function returned {scores.shape[0]} scores for {len(batch)} images"
                                  + ("" if np.isfinite(scores).all() else " (some not finite)"),
                                  hint="it must map a batch of images to one finite score per image")
        k = self.steps + 1
        return CurveResult(fractions=counts / n, deletion=scores[:k], insertion=scores[k:],
                           baseline=self.baseline if isinstance(self.baseline, str) else "array")


def _class_index(classes: Sequence, target: Any, what: str) -> int:
    classes = [str(c) for c in classes]
    if isinstance(target, str):
        if target not in classes:
            raise ConfigError(f"{what}: {target!r} is not a class", hint=f"classes: {classes}")
        return classes.index(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and 0 <= int(target) < len(classes):
        return int(target)
    raise ConfigError(f"{what}: target {target!r} is neither a class name nor an index",
                      hint=f"classes: {classes}")


def _whole_image_samples(images, enlarge: float = 1.0, frames: bool = True):
    """Each image as one lesion whose box is the whole image (an enlarged crop of it is clipped back to it)."""
    from ..features import LesionSamples

    images = [np.asarray(im) for im in images]
    boxes = [Box(0, 0, im.shape[1], im.shape[0]) for im in images]
    if frames:
        return LesionSamples.from_images(images, boxes, enlarge=enlarge)
    return LesionSamples(crops=images, boxes=boxes, enlarge=enlarge)


class HeadScore:
    """Score function of one attribute head: the probability of class ``target`` (name or index) of head
    ``attribute`` of fitted :class:`~explainendo.heads.AttributeHeads`, each image taken as a lesion crop (a
    frame head, e.g. the landmark head, reads it as the frame). What :class:`DeletionInsertion` calls."""

    def __init__(self, heads, attribute: str, target: Any):
        self.heads = heads
        self.attribute = attribute
        self.target = target

    def __call__(self, images) -> np.ndarray:
        self.heads._check_fitted()
        spec = {s.name: s for s in self.heads.net_specs_}.get(self.attribute)
        if spec is None:
            raise ConfigError(f"no trained head {self.attribute!r}",
                              hint=f"trained heads: {self.heads.trained_attributes_}")
        c = _class_index(spec.classes, self.target, f"head {self.attribute!r}")
        samples = _whole_image_samples(images, frames=spec.input == "frame")
        return self.heads.predict_proba(samples)[self.attribute][:, c]


class ClassifierScore:
    """Score function of a predictor (a :class:`~explainendo.predict.CNNClassifier`, or any predictor with
    ``classes_`` and ``predict_proba``): the probability of class ``target`` (name or index), each image taken as
    a lesion whose box is the whole image (frame and crop at once)."""

    def __init__(self, predictor, target: Any):
        self.predictor = predictor
        self.target = target

    def __call__(self, images) -> np.ndarray:
        classes = getattr(self.predictor, "classes_", None)
        if classes is None:
            raise ConfigError(f"{type(self.predictor).__name__} is not fitted", hint="fit it or load a model first")
        c = _class_index(classes, self.target, type(self.predictor).__name__)
        samples = _whole_image_samples(images, enlarge=float(getattr(self.predictor, "enlarge", 1.0)))
        return np.asarray(self.predictor.predict_proba(samples), dtype=float)[:, c]


# ---------------------------------------------------------------------------------------------- sanity
def spearman(a, b) -> float:
    """Spearman rank correlation of two equally shaped explanations (flattened); NaN when either is constant
    (a flat map ranks nothing)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float).reshape(-1), np.asarray(b, dtype=float).reshape(-1)
    if a.shape != b.shape:
        raise EvaluationError(f"explanations of {a.size} and {b.size} values cannot be compared",
                              hint="compare explanations of the same input")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def map_ssim(a, b) -> float:
    """Structural similarity of two maps each scaled to [0, 1] (scikit-image, data range 1; Adebayo et al.'s
    second measure); NaN for maps under 7 px a side (SSIM's window) or a flat map."""
    from skimage.metrics import structural_similarity

    from .gradcam import unit_scale

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 2 or a.shape != b.shape or min(a.shape) < 7 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(structural_similarity(unit_scale(a), unit_scale(b), data_range=1.0))


@dataclass
class SanityResult:
    """The explanations' similarity to the trained model's after each randomisation step.

    ``steps``: step names (``"trained"`` first; then what was randomised, cumulatively for a cascade);
    ``spearman`` / ``ssim``: (steps, explanations) arrays (NaN: undefined, e.g. a flat map; ``ssim`` None when
    not computed). Adebayo et al.'s reading: a faithful explanation's correlation falls once the weights are
    random (this project's goal: below 0.5)."""

    method: str
    steps: list[str]
    spearman: np.ndarray
    ssim: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        rows = []
        for i, step in enumerate(self.steps):
            rho = self.spearman[i]
            row = {"step": i, "randomised": step, "n": int(rho.size), "n_undefined": int(np.isnan(rho).sum()),
                   "spearman_mean": _nanmean(rho), "spearman_median": _nanmedian(rho)}
            if self.ssim is not None:
                row["ssim_mean"] = _nanmean(self.ssim[i])
            rows.append(row)
        return pd.DataFrame(rows).set_index("step")

    def to_dict(self) -> dict:
        return {"method": self.method, "steps": list(self.steps), "meta": dict(self.meta),
                "table": self.to_frame().reset_index().to_dict(orient="records")}


def _nanmean(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")


def _nanmedian(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.nanmedian(x)) if np.isfinite(x).any() else float("nan")


def reinitialise(module, seed: int) -> None:
    """Re-draw every parameter of a torch ``module`` from its layers' own initialisation (``reset_parameters``:
    Kaiming-uniform convolutions and linear layers, batch norms back to weight 1, bias 0 and fresh running
    statistics), with torch's RNG seeded by ``seed`` and restored afterwards. A parameter whose layer has no
    ``reset_parameters`` raises :class:`ConfigError` (it would otherwise stay trained, silently)."""
    import torch

    covered: set[int] = set()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(int(seed))
        for sub in module.modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()
                covered |= {id(p) for p in sub.parameters(recurse=False)}
                if hasattr(sub, "reset_running_stats"):
                    sub.reset_running_stats()
    left = [name for name, p in module.named_parameters() if id(p) not in covered]
    if left:
        raise ConfigError(f"cannot re-initialise parameters {left[:5]}: their layer has no reset_parameters",
                          hint="randomise a module built from standard torch layers")


def _resolve(obj, path: str):
    """``a.b.3`` on Python attributes, torch ModuleDict keys and ModuleList indices."""
    for part in path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"no layer {path!r} (stuck at {part!r})",
                              hint="name modules as in model.named_modules()") from None
    return obj


def _copy_model(model):
    """A deep copy of ``model`` without its onnxruntime sessions (``onnx_``: they would keep answering with the
    trained weights; the copy runs in torch)."""
    memo: dict = {}
    for owner in (model, getattr(model, "network_", None)):
        session = getattr(owner, "onnx_", None) if owner is not None else None
        if session is not None:
            memo[id(session)] = None
    return copy.deepcopy(model, memo)


class CascadingRandomisation:
    """Cascading model-parameter randomisation (Adebayo et al., NeurIPS 2018).

    ``layers``: dotted paths of the modules to re-initialise, top (output) first, resolved on a deep copy of the
    model (e.g. ``net_.heads.bleeding``, ``net_.backbone.stages.4``); ``explain``: ``model -> list of
    explanations`` (maps or vectors), called on the copy before any step and after each. Step k has the first k
    layers re-initialised (:func:`reinitialise`, seed ``seed + k``); the result holds each explanation's
    :func:`spearman` (and :func:`map_ssim` with ``ssim=True``) against the trained copy's. The model passed in is
    never changed."""

    def __init__(self, layers: Sequence[str], explain: Callable[[Any], list], seed: int = 0, ssim: bool = True,
                 method: str = "explanation"):
        self.layers = layers
        self.explain = explain
        self.seed = seed
        self.ssim = ssim
        self.method = method

    def __call__(self, model) -> SanityResult:
        if not self.layers:
            raise ConfigError("no layers to randomise", hint="list module paths, top layer first")
        work = _copy_model(model)
        if hasattr(work, "onnx_"):
            work.onnx_ = None
        modules = [_resolve(work, path) for path in self.layers]  # every path checked before any work
        reference = list(self.explain(work))
        rhos, ssims = [self._compare(reference, reference, spearman)], [self._compare(reference, reference, map_ssim)]
        for k, module in enumerate(modules, start=1):
            reinitialise(module, self.seed + k)
            maps = list(self.explain(work))
            rhos.append(self._compare(reference, maps, spearman))
            ssims.append(self._compare(reference, maps, map_ssim))
        return SanityResult(method=self.method, steps=["trained", *self.layers], spearman=np.array(rhos),
                            ssim=np.array(ssims) if self.ssim else None, meta={"seed": int(self.seed)})

    def _compare(self, reference: list, maps: list, measure) -> list[float]:
        if len(maps) != len(reference):
            raise EvaluationError(f"explain returned {len(maps)} explanations, {len(reference)} before randomising",
                                  hint="return one explanation per input, always in the same order")
        if measure is map_ssim and not self.ssim:
            return [float("nan")] * len(reference)
        return [measure(a, b) for a, b in zip(reference, maps)]


def _heads_and_samples(model, samples, attribute: str | None):
    """(AttributeHeads, samples cut as they expect, head name) for heads or a CNN classifier."""
    from ..heads import AttributeHeads
    from ..predict.cnn import HEAD, CNNClassifier

    if isinstance(model, CNNClassifier):
        model._check_fitted()
        if attribute not in (None, HEAD):
            raise ConfigError(f"a CNN classifier has one head, {HEAD!r}, not {attribute!r}",
                              hint="leave attribute None")
        return model.network_, model._recut(samples, "samples"), HEAD
    if not isinstance(model, AttributeHeads):
        raise ConfigError(f"heads_sanity_check takes AttributeHeads or a CNNClassifier, got {type(model).__name__}",
                          hint="for a hybrid's fitter use fitter_sanity_check")
    model._check_fitted()
    if attribute is None or attribute not in model.trained_attributes_:
        raise ConfigError(f"attribute {attribute!r} is not a trained head",
                          hint=f"trained: {model.trained_attributes_}")
    return model, samples, attribute


def heads_sanity_check(model, samples, attribute: str | None = None, seed: int = 0, ssim: bool = True
                       ) -> SanityResult:
    """Cascading randomisation of one head's Grad-CAM: the head's linear layer, then the backbone's stages from
    the last to the stem (``model``: fitted :class:`~explainendo.heads.AttributeHeads` with ``attribute``, or a
    :class:`~explainendo.predict.CNNClassifier`, whose one head is ``diagnosis``). Every step explains the class
    the *trained* model predicts for each lesion, so only the weights change. ``model`` is never changed."""
    heads, samples, attribute = _heads_and_samples(model, samples, attribute)
    targets = heads.predict_proba(samples)[attribute].argmax(1)

    def explain(copy_heads) -> list[np.ndarray]:
        maps: list = [None] * len(samples)
        for c in np.unique(targets):
            rows = np.flatnonzero(targets == c)
            found = copy_heads.gradcam(samples.subset(rows), attributes=[attribute], targets={attribute: int(c)})
            for i, cam in zip(rows, found[attribute]):
                maps[i] = cam
        return maps

    stages = len(heads.net_.backbone.stages)
    layers = [f"net_.heads.{attribute}", *(f"net_.backbone.stages.{i}" for i in reversed(range(stages)))]
    result = CascadingRandomisation(layers, explain, seed=seed, ssim=ssim, method=f"grad-cam {attribute}")(heads)
    result.steps = [s.removeprefix("net_.") for s in result.steps]
    result.meta.update(attribute=attribute, lesions=len(samples))
    return result


def _linear_model(fitter):
    """The linear classifier inside a fitter (the last step of a pipeline), or None."""
    inner = fitter.steps[-1][1] if hasattr(fitter, "steps") else fitter
    return inner if hasattr(inner, "coef_") and hasattr(inner, "intercept_") else None


def randomised_fitter(fitter, method: str, rng: np.random.Generator, X=None, y=None):
    """A randomised copy of a fitted ``fitter`` (the original is not changed):

    * ``"coefficients"`` (linear fitters: logistic regression): the coefficients re-drawn i.i.d. from
      N(0, sd^2), sd the trained coefficients' standard deviation (1 if they are all equal), the intercept
      kept: Adebayo et al.'s parameter randomisation of the fitter's one layer;
    * ``"labels"`` (any fitter): a clone refit on ``X`` with the labels ``y`` permuted (their data
      randomisation test): the fitter's hyper-parameters, nothing learned.
    """
    from sklearn.base import clone

    if method == "coefficients":
        new = copy.deepcopy(fitter)
        linear = _linear_model(new)
        if linear is None:
            raise ConfigError(f"{type(fitter).__name__} has no coefficients to re-draw",
                              hint="use method='labels' (refit on shuffled labels) for trees, SVMs and xgboost")
        sd = float(np.std(linear.coef_)) or 1.0
        linear.coef_ = rng.normal(0.0, sd, size=linear.coef_.shape)
        return new
    if method == "labels":
        if X is None or y is None:
            raise ConfigError("method='labels' needs the rows X and labels y to refit on",
                              hint="pass X (the fitter's input) and y (class indices), e.g. the training rows")
        return clone(fitter).fit(np.asarray(X, dtype=float), rng.permutation(np.asarray(y)))
    raise ConfigError(f"unknown method {method!r}", hint="use 'coefficients' or 'labels'")


def fitter_sanity_check(hybrid, samples, method: str = "coefficients", X=None, y=None, repeats: int = 3,
                        class_index: int | None = None, seed: int = 0) -> SanityResult:
    """Randomise a fitted :class:`~explainendo.predict.HybridPredictor`'s fitter ``repeats`` times
    (:func:`randomised_fitter`, seeds ``seed + 1`` ...) and report each lesion's Spearman correlation between the
    grouped SHAP values (over the groups the fitter uses) of the trained and the randomised fitter. Steps are
    independent draws, not a cascade (a fitter has one layer). ``samples``: lesions or their feature table;
    ``X`` / ``y`` (``method="labels"``): a feature table and its labels (class names) to refit on. The hybrid is
    never changed: each draw explains with a shallow copy that holds the randomised fitter."""
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ConfigError(f"repeats={repeats!r}", hint="use an integer >= 1")
    hybrid._check_fitted()
    features = samples if isinstance(samples, pd.DataFrame) else hybrid.features(samples)
    used = [g for g in hybrid.groups_ if g not in hybrid.dropped_groups_]
    Xf = yi = None
    if method == "labels" and X is not None and y is not None:
        Xf = hybrid._fitter_input(X)
        index = {str(c): i for i, c in enumerate(hybrid.classes_)}
        unknown = sorted({str(v) for v in y} - set(index))
        if unknown:
            raise EvaluationError(f"labels {unknown[:5]} are not classes of the model",
                                  hint=f"classes: {hybrid.classes_}")
        yi = np.array([index[str(v)] for v in y])
    reference = hybrid.shap_values(features, class_index=class_index).group_values[used].to_numpy()
    rhos, steps = [[spearman(r, r) for r in reference]], ["trained"]
    for k in range(1, repeats + 1):
        rng = np.random.default_rng(seed + k)
        twin = copy.copy(hybrid)  # shares the sources; its own fitter and explainer
        twin.fitter_ = randomised_fitter(hybrid.fitter_, method, rng, Xf, yi)
        twin._shap = None
        values = twin.shap_values(features, class_index=class_index).group_values[used].to_numpy()
        rhos.append([spearman(a, b) for a, b in zip(reference, values)])
        steps.append(f"{method} draw {k}")
    return SanityResult(method=f"grouped shap ({method})", steps=steps, spearman=np.array(rhos),
                        meta={"seed": int(seed), "groups": used, "lesions": int(len(features))})


# ----------------------------------------------------------------------------------- feature groups
@dataclass
class GroupedDeletionResult:
    """Per lesion (rows) and group (columns): ``drops`` = f(x) - f(x with the group's columns from the
    background), ``shap`` = the group's SHAP value; the Spearman correlation of the two across groups per
    lesion (:meth:`per_lesion`) and over every (lesion, group) pair (:attr:`overall`)."""

    drops: pd.DataFrame
    shap: pd.DataFrame
    replace: str

    def per_lesion(self) -> pd.Series:
        return pd.Series([spearman(d, s) for d, s in zip(self.drops.to_numpy(), self.shap.to_numpy())],
                         index=self.drops.index, name="spearman")

    @property
    def overall(self) -> float:
        return spearman(self.drops.to_numpy(), self.shap.to_numpy())

    def to_frame(self) -> pd.DataFrame:
        """One row per lesion: its Spearman correlation and the group with the largest drop and SHAP value."""
        return pd.DataFrame({"spearman": self.per_lesion(), "top_drop": self.drops.idxmax(axis=1),
                             "top_shap": self.shap.idxmax(axis=1)})

    def to_dict(self) -> dict:
        per = self.per_lesion()
        return {"replace": self.replace, "overall_spearman": self.overall, "mean_spearman": _nanmean(per),
                "median_spearman": _nanmedian(per), "lesions": int(len(per)), "groups": list(self.drops.columns),
                "drops": self.drops.to_dict(orient="list"), "shap": self.shap.to_dict(orient="list")}


def grouped_deletion(output: Callable, X, groups: dict[str, Sequence[str]], background, shap_values,
                     replace: str = "mean") -> GroupedDeletionResult:
    """Remove each feature group in turn and compare the output's drop with the group's SHAP value.

    ``output``: ``rows (n, p) -> (n,)`` in the space the SHAP values explain (log-odds for a logistic
    regression: :meth:`~explainendo.explain.grouped_shap.GroupedShapExplainer.model_output`); ``X``: a feature
    table (columns the fitter's inputs, in order); ``groups``: group -> columns; ``background``: rows (array or
    table, the same columns) that stand for "feature unknown"; ``shap_values``: a (rows x groups) table.
    ``replace``: ``"mean"`` sets the group's columns to the background's mean (one call), ``"rows"`` to each
    background row in turn and averages the outputs (the interventional expectation E_b f(x_-g, b_g)).
    For a linear output with ``"mean"`` the drop is sum_{j in g} w_j (x_j - mean_j): exactly the group's
    linear SHAP value. ``output`` is called once with every modified row."""
    if not isinstance(X, pd.DataFrame):
        raise EvaluationError("X must be a feature table (DataFrame) with the fitter's columns",
                              hint="e.g. hybrid.features(samples)")
    if replace not in ("mean", "rows"):
        raise ConfigError(f"replace={replace!r}", hint="use 'mean' or 'rows'")
    columns = list(X.columns)
    missing = {g: [c for c in cols if c not in columns] for g, cols in groups.items()}
    missing = {g: m for g, m in missing.items() if m}
    if missing or not groups:
        raise EvaluationError(f"group columns missing from X: {missing}" if missing else "no groups",
                              hint="pass groups whose columns are X's")
    shap_values = pd.DataFrame(shap_values)
    if list(shap_values.columns) != list(groups) or len(shap_values) != len(X):
        raise EvaluationError(f"shap_values must be {len(X)} rows x the groups {list(groups)}, got "
                              f"{shap_values.shape} with {list(shap_values.columns)[:5]}",
                              hint="pass ShapResult.group_values restricted to these groups")
    x = X.to_numpy(dtype=float)
    bg = np.asarray(background.to_numpy() if isinstance(background, pd.DataFrame) else background, dtype=float)
    if bg.ndim != 2 or bg.shape[1] != x.shape[1] or len(bg) == 0:
        raise EvaluationError(f"background must be rows x {x.shape[1]} columns, got {bg.shape}",
                              hint="pass the fitter's background rows (e.g. hybrid.background_)")
    refs = bg.mean(axis=0, keepdims=True) if replace == "mean" else bg
    n, b = len(x), len(refs)
    parts = []
    for cols in groups.values():
        idx = [columns.index(c) for c in cols]
        block = np.repeat(x[:, None, :], b, axis=1)  # (n, b, p)
        block[:, :, idx] = refs[None, :, idx]
        parts.append(block.reshape(n * b, -1))
    values = np.asarray(output(np.concatenate([x, *parts])), dtype=float).reshape(-1)
    if values.shape != (n + n * b * len(groups),):
        raise EvaluationError(f"output returned {values.size} values for {n + n * b * len(groups)} rows",
                              hint="output must give one value per row")
    full, removed = values[:n], values[n:].reshape(len(groups), n, b).mean(axis=2)
    drops = pd.DataFrame((full[None, :] - removed).T, columns=list(groups), index=X.index)
    return GroupedDeletionResult(drops=drops, shap=shap_values.set_axis(X.index), replace=replace)


def hybrid_grouped_deletion(hybrid, samples, class_index: int | None = None, replace: str = "mean"
                            ) -> GroupedDeletionResult:
    """:func:`grouped_deletion` of a fitted :class:`~explainendo.predict.HybridPredictor` on ``samples`` (lesions or
    their feature table): the fitter's output in SHAP's space for ``class_index`` (default the last class), its
    stored SHAP background, the groups the fitter uses."""
    hybrid._check_fitted()
    features = samples if isinstance(samples, pd.DataFrame) else hybrid.features(samples)
    explainer = hybrid.shap_explainer()
    c = explainer._class(class_index)
    inputs = pd.DataFrame(hybrid._fitter_input(features), columns=hybrid.fitter_columns_)
    groups = {g: [col for col in cols if col in hybrid.fitter_columns_] for g, cols in hybrid.groups_.items()
              if g not in hybrid.dropped_groups_}
    groups = {g: cols for g, cols in groups.items() if cols}
    shap = hybrid.shap_values(features, class_index=c).group_values[list(groups)]
    return grouped_deletion(lambda rows: explainer.model_output(rows, c), inputs, groups, hybrid.background_, shap,
                            replace=replace)
