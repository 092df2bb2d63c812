"""Where a localizer looked: gradient-free saliency maps for its boxes (issue 24, item 2).

Two methods behind one call, ``method(localizer, image, box) -> (H, W) map in [0, 1]`` at the frame's size:

:class:`EigenCAM` (Muhammad and Yeasin, "Eigen-CAM", IJCNN 2020; what ultralytics' explainability guides use)
    The first principal component of the localizer's feature map (``localizer.feature_maps``: the CenterNet
    pyramid output, the box regressor's last encoder stage, the soft-mask U-Net's last decoder block, the YOLO
    neck layer feeding the Detect head). One forward pass, no gradient, no target: it shows what the network's
    features respond to most, for the whole frame (every lesion, not only the explained box).

:class:`DRise` (Petsiuk et al., "Black-box explanation of object detectors via saliency maps", CVPR 2021)
    Random masks (RISE: a coarse random binary grid, bilinearly upsampled and randomly shifted); each masked
    frame goes through the localizer's own ``locate``; a mask's weight is its best detection's similarity to the
    explained box (IoU x score x same label); the map is the weighted sum of the masks. Model-agnostic (any
    :class:`~explainendo.localize.Localizer`) and specific to the explained box, at the price of ``n_masks``
    localizer passes.

``Diagnoser.explain(..., localizer_saliency="eigencam")`` puts the map on the :class:`~explainendo.types.Explanation`
(``localizer_saliency``) and the card draws it ("where the localizer looked"); ``benchmarks/localizer_saliency.py``
measures both methods' heat in the box (:mod:`explainendo.explain.metrics`) and time per frame.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..types import Box


class LocalizerSaliency:
    """A saliency method for a localizer's box. Subclasses override :meth:`maps`; ``name`` is what cards show."""

    name = "saliency"

    def __call__(self, localizer, image, box: Box | None = None) -> np.ndarray:
        """The ``(H, W)`` float32 map in [0, 1] of one RGB uint8 frame for ``box`` (pixel xyxy)."""
        from ..io import read_image

        return self.maps(localizer, [read_image(image)], [box])[0]

    def maps(self, localizer, images: list[np.ndarray], boxes: list[Box | None]) -> list[np.ndarray]:
        raise NotImplementedError

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


def _frame_sized(cam: np.ndarray, shape) -> np.ndarray:
    """A non-negative map resized bilinearly to the frame's ``(H, W)`` and scaled to [0, 1] (zeros when flat)."""
    from .gradcam import scale_cam, unit_scale

    h, w = int(shape[0]), int(shape[1])
    cam = np.asarray(cam, dtype=np.float32)
    if cam.shape != (h, w):
        cam = scale_cam(cam, (w, h))
    return unit_scale(cam).astype(np.float32)


# ------------------------------------------------------------------------------------------------ EigenCAM
def principal_projection(activations, centre: bool = True) -> np.ndarray:
    """The projection of a ``(C, h, w)`` feature map on its first principal component, ``(h, w)``.

    Each of the h*w positions is a point in C dimensions (centred on their mean when ``centre``, as
    pytorch-grad-cam's ``get_2d_projection``); the first right singular vector v of that (h*w, C) matrix is
    the direction of largest variance and the map is each position's coordinate along v. A singular vector's
    sign is arbitrary: it is chosen so that the map correlates positively with the activation summed over the
    channels (the map is high where the features are strong)."""
    a = np.asarray(activations, dtype=np.float64)
    if a.ndim != 3 or min(a.shape) < 1:
        raise ConfigError(f"a feature map is (C, h, w), got shape {a.shape}")
    c, h, w = a.shape
    points = a.reshape(c, h * w).T
    if centre:
        points = points - points.mean(axis=0)
    if not np.isfinite(points).all():
        raise ConfigError("the feature map has NaN or infinite values")
    _, _, vt = np.linalg.svd(points, full_matrices=False)
    projection = points @ vt[0]
    strength = a.reshape(c, h * w).sum(axis=0)
    if float(np.dot(projection - projection.mean(), strength - strength.mean())) < 0:
        projection = -projection
    return projection.reshape(h, w)


class EigenCAM(LocalizerSaliency):
    """EigenCAM on ``localizer.feature_maps`` (module docstring). The projection's negative part (positions
    unlike the principal pattern) is cut to 0, then the map is resized to the frame and scaled to [0, 1].
    ``box`` is not used: the map is the frame's, for every lesion the features respond to."""

    name = "EigenCAM"

    def __init__(self, centre: bool = True):
        self.centre = centre

    def maps(self, localizer, images, boxes=None) -> list[np.ndarray]:
        feats = localizer.feature_maps(list(images))
        return [_frame_sized(np.maximum(principal_projection(f, self.centre), 0.0), img.shape)
                for f, img in zip(feats, images)]


# -------------------------------------------------------------------------------------------------- D-RISE
def rise_masks(n: int, shape, grid: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` RISE masks ``(n, H, W)`` float32 in [0, 1] (Petsiuk et al. 2018): a ``grid`` x ``grid`` binary grid
    (each cell kept with probability ``p``) upsampled bilinearly to ``(grid + 1)`` cells and shifted by a random
    fraction of a cell, so that the kept regions do not follow the grid's lines."""
    import cv2

    h, w = int(shape[0]), int(shape[1])
    cell_h, cell_w = int(np.ceil(h / grid)), int(np.ceil(w / grid))
    out = np.empty((n, h, w), np.float32)
    for i in range(n):  # one mask's draws after the other's: n masks in one call or in several are the same
        cells = (rng.random((grid, grid)) < p).astype(np.float32)
        dy, dx = int(rng.integers(0, cell_h)), int(rng.integers(0, cell_w))
        up = cv2.resize(cells, ((grid + 1) * cell_w, (grid + 1) * cell_h), interpolation=cv2.INTER_LINEAR)
        out[i] = up[dy:dy + h, dx:dx + w]
    return out


def detection_similarity(target: Box, found: list[Box], match_label: bool = True) -> float:
    """D-RISE's weight of one masked frame: the best ``IoU(target, d) x score(d) x [same label]`` over its
    detections ``found`` (0 without any). The paper's class term is the cosine of the two class-probability
    vectors; a localizer returns one label per box, so it is 1 for the same label and 0 otherwise (``target``
    without a label, or ``match_label=False``: every label counts)."""
    best = 0.0
    for d in found:
        if match_label and target.label is not None and d.label != target.label:
            continue
        best = max(best, target.iou(d) * (1.0 if d.score is None else float(d.score)))
    return best


FILLS = ("mean", "black", "grey")


class DRise(LocalizerSaliency):
    """D-RISE for one box (module docstring). Parameters: ``n_masks`` (the paper used thousands; the map's
    noise falls as 1/sqrt(n_masks)), ``grid`` (cells per side), ``p`` (a cell's chance to stay visible),
    ``fill`` (what hidden pixels become: ``"mean"`` the frame's mean colour, ``"black"`` the paper's zero,
    ``"grey"`` 127), ``batch_size`` (masked frames per localizer call), ``match_label`` (only detections of the
    box's label count), ``centre``, ``seed`` (the masks; the same seed gives the same map; the batch size does
    not change it).

    The paper's map is the weighted sum of the masks, sum_i w_i M_i. Every mask keeps a fraction ``p`` of every
    pixel on average, so that sum carries a uniform share (mean weight x p) plus sampling noise everywhere; with
    ``centre`` (the default) the mean weight is taken from each weight first, sum_i (w_i - mean w) M_i (the
    covariance of weight and mask per pixel, zero in expectation where hiding a pixel does not matter), and its
    negative part cut to 0. On the toy square of the tests this doubles the heat share in the box (0.19 -> 0.35
    with 300 masks). ``centre=False``: the paper's sum, shifted to 0 at its minimum. Either is then scaled to
    [0, 1]."""

    name = "D-RISE"

    def __init__(self, n_masks: int = 500, grid: int = 16, p: float = 0.5, fill: str = "mean", batch_size: int = 32,
                 match_label: bool = True, centre: bool = True, seed: int = 0):
        self.n_masks = n_masks
        self.grid = grid
        self.p = p
        self.fill = fill
        self.batch_size = batch_size
        self.match_label = match_label
        self.centre = centre
        self.seed = seed

    def _check(self) -> None:
        if not (isinstance(self.n_masks, int) and self.n_masks >= 1):
            raise ConfigError(f"DRise(n_masks={self.n_masks!r}): a positive integer")
        if not (isinstance(self.grid, int) and self.grid >= 2):
            raise ConfigError(f"DRise(grid={self.grid!r}): an integer >= 2")
        if not 0 < self.p < 1:
            raise ConfigError(f"DRise(p={self.p!r}): a number in (0, 1)")
        if self.fill not in FILLS:
            raise ConfigError(f"DRise(fill={self.fill!r})", hint=f"use one of {FILLS}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ConfigError(f"DRise(batch_size={self.batch_size!r}): a positive integer")

    def _fill(self, image: np.ndarray) -> np.ndarray:
        if self.fill == "mean":
            return image.reshape(-1, image.shape[-1]).mean(axis=0).astype(np.float32)
        return np.full(image.shape[-1], 0.0 if self.fill == "black" else 127.0, np.float32)

    def maps(self, localizer, images, boxes) -> list[np.ndarray]:
        self._check()
        if any(b is None for b in boxes):
            raise ConfigError("D-RISE explains one box per frame: give the box", hint="DRise()(localizer, image, box)")
        return [self._one(localizer, np.asarray(img), box) for img, box in zip(images, boxes)]

    def _one(self, localizer, image: np.ndarray, box: Box) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        h, w = image.shape[:2]
        fill = self._fill(image)
        pixels = image.astype(np.float32)
        total = np.zeros((h, w), np.float64)  # sum_i w_i M_i
        coverage = np.zeros((h, w), np.float64)  # sum_i M_i
        weight_sum = 0.0
        for start in range(0, self.n_masks, self.batch_size):
            masks = rise_masks(min(self.batch_size, self.n_masks - start), (h, w), self.grid, self.p, rng)
            m = masks[..., None]
            masked = np.clip(pixels * m + fill * (1.0 - m) + 0.5, 0, 255).astype(np.uint8)
            found = _locate(localizer, list(masked))
            weights = np.array([detection_similarity(box, f, self.match_label) for f in found], np.float64)
            total += np.tensordot(weights, masks, axes=1)
            coverage += masks.sum(axis=0)
            weight_sum += float(weights.sum())
        if self.centre:
            total = np.maximum(total - weight_sum / self.n_masks * coverage, 0.0)
        return _frame_sized(total / self.n_masks, (h, w))


def _locate(localizer, images: list[np.ndarray]) -> list[list[Box]]:
    """Boxes per masked frame through the localizer's own decoding: ``locate_batch`` for any object that has it
    (an explainendo :class:`~explainendo.localize.Localizer`'s frames are already checked arrays, so its
    ``_locate_arrays`` is called directly, which leaves its ``errors_`` alone), else ``locate`` per frame."""
    from ..localize.base import Localizer

    if isinstance(localizer, Localizer):
        localizer._check_fitted()
        return localizer._locate_arrays(images)
    if hasattr(localizer, "locate_batch"):
        return localizer.locate_batch(images)
    return [localizer.locate(a) for a in images]


#: the methods ``Diagnoser.explain(..., localizer_saliency=<name>)`` knows by name
METHODS = {"eigencam": EigenCAM, "d-rise": DRise}


def saliency_method(spec) -> LocalizerSaliency | None:
    """``"eigencam"`` / ``"d-rise"`` (default parameters), a :class:`LocalizerSaliency`, or None (no map)."""
    if spec is None or spec is False:
        return None
    if isinstance(spec, LocalizerSaliency):
        return spec
    if isinstance(spec, str) and spec.lower() in METHODS:
        return METHODS[spec.lower()]()
    raise ConfigError(f"localizer_saliency={spec!r} is not a saliency method",
                      hint=f"use one of {sorted(METHODS)}, an EigenCAM(...) / DRise(...), or None")


def localizer_saliency(localizer, image: np.ndarray, box: Box, method="eigencam") -> np.ndarray | None:
    """The map of ``method`` for ``box`` in ``image``, or None when the localizer cannot give one: no localizer,
    or EigenCAM on a localizer without a network (``WholeFrame``)."""
    chosen = saliency_method(method)
    if chosen is None or localizer is None:
        return None
    if isinstance(chosen, EigenCAM) and getattr(localizer, "feature_layer", None) is None:
        return None
    return chosen.maps(localizer, [image], [box])[0]
