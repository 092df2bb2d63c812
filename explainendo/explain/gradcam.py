"""Class activation maps: the methods and targets (pytorch-grad-cam's design), and the pass-through that collects
every source's maps for an explanation.

Methods, each a small class that overrides one thing (``CAM_METHODS``, by name). All take the activations ``A``
(N, K, h, w) of one layer and the gradients ``G = d score / d A`` and give ``ReLU(sum_k W_k * A_k)`` (N, h, w):

============  ======================================================================================  ==========
``gradcam``    W_k = mean_ij G_kij (Selvaraju et al., ICCV 2017)                                      one weight
``gradcam++``  W_k = sum_ij ReLU(G_kij) a_kij, a = G^2 / (2 G^2 + sum_ij A_kij G^3) (Chattopadhay et   one weight
               al., WACV 2018; the closed form of pytorch-grad-cam, a = 0 where G = 0)
``layercam``   W_kij = ReLU(G_kij), per position (Jiang et al., IEEE TIP 2021): usable on earlier,      per pixel
               finer layers, where a channel's mean gradient averages out
============  ======================================================================================  ==========

Targets are tiny callables ``target(logits) -> score per row`` on one head's logits (N, classes):
:class:`ClassTarget` (one class, pytorch-grad-cam's ``ClassifierOutputTarget``) and :class:`PredictedClass`.

A source offers ``gradcam(samples) -> {attribute: [HxW map per lesion, crop coordinates]}``; :func:`source_gradcams`
collects every lesion's map of every attribute from every source, each scaled to [0, 1]. A source that fails to
make its maps is logged and left out: the explanation still has its SHAP values.
"""

from __future__ import annotations

import logging

import numpy as np

from ..registry import Registry

log = logging.getLogger(__name__)

#: name -> CAM method class (``HeadCAM(method=...)``)
CAM_METHODS: Registry[type] = Registry("CAM method")


# ---- targets: what score a map explains -------------------------------------------------------------------------
class ClassTarget:
    """The logit of one class, per row: ``logits[:, index]``."""

    def __init__(self, index: int):
        self.index = int(index)

    def __call__(self, logits):
        return logits[:, self.index]

    def __repr__(self) -> str:
        return f"ClassTarget({self.index})"


class PredictedClass:
    """The logit of each row's top class (the class the head predicts)."""

    def __call__(self, logits):
        return logits.gather(1, logits.argmax(1, keepdim=True))[:, 0]

    def __repr__(self) -> str:
        return "PredictedClass()"


# ---- methods: activations and gradients -> map --------------------------------------------------------------------
class BaseCAM:
    """``ReLU(sum_k W_k A_k)`` over the channels; a method overrides :meth:`weights` only."""

    def weights(self, activations, grads):
        """W: (N, K, 1, 1) per channel, or (N, K, h, w) per position."""
        raise NotImplementedError

    def __call__(self, activations, grads):
        """(N, K, h, w) activations and their gradients (torch tensors) -> the raw maps (N, h, w)."""
        import torch

        return torch.relu((self.weights(activations, grads) * activations).sum(1))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@CAM_METHODS.register("gradcam")
class GradCAM(BaseCAM):
    def weights(self, activations, grads):
        return grads.mean(dim=(2, 3), keepdim=True)


@CAM_METHODS.register("gradcam++")
class GradCAMPlusPlus(BaseCAM):
    def weights(self, activations, grads):
        import torch

        g2 = grads.pow(2)
        g3 = g2 * grads
        total = activations.sum(dim=(2, 3), keepdim=True)
        alpha = g2 / (2 * g2 + total * g3 + 1e-7)
        alpha = torch.where(grads != 0, alpha, torch.zeros_like(alpha))
        return (torch.relu(grads) * alpha).sum(dim=(2, 3), keepdim=True)


@CAM_METHODS.register("layercam")
class LayerCAM(BaseCAM):
    def weights(self, activations, grads):
        import torch

        return torch.relu(grads)


def unit_scale(cam) -> np.ndarray:
    """A map scaled to [0, 1] (all zeros when it is flat)."""
    cam = np.asarray(cam, dtype=float)
    lo, hi = np.nanmin(cam), np.nanmax(cam)
    return (cam - lo) / (hi - lo) if hi > lo else np.zeros_like(cam)


def scale_cam(cam, size: tuple[int, int]) -> np.ndarray:
    """A raw Grad-CAM map shifted to 0 at its minimum, divided by ``1e-7 + max`` and resized to ``size``
    ``(width, height)`` by bilinear interpolation (``cv2.INTER_LINEAR``): float32. The same arithmetic as
    pytorch-grad-cam's ``scale_cam_image``, written here so that the library does not depend on that
    package (whose metadata pulls an OpenCV build without ``HOGDescriptor``)."""
    import cv2

    cam = np.asarray(cam, dtype=np.float32)
    cam = cam - np.min(cam)
    cam = cam / (1e-7 + np.max(cam))
    return cv2.resize(np.float32(cam), tuple(int(v) for v in size)).astype(np.float32)


def source_gradcams(sources, samples) -> list[dict[str, np.ndarray]]:
    """One ``{attribute: map}`` per lesion of ``samples``."""
    maps: list[dict[str, np.ndarray]] = [{} for _ in range(len(samples))]
    for source in sources:
        try:
            found = source.gradcam(samples)
        except Exception as exc:  # noqa: BLE001 - a heatmap failure must not lose the SHAP explanation
            log.warning("Grad-CAM from %r failed: %s", getattr(source, "name", source), exc)
            continue
        for attr, per_lesion in (found or {}).items():
            for i, cam in enumerate(per_lesion):
                maps[i][attr] = unit_scale(cam)
    return maps


def region_heat(cam, crop_box, region_box, frame_shape, enlarge: float = 1.0) -> dict:
    """How much of a crop's Grad-CAM heat lies inside ``region_box`` (e.g. the cyst), against that box's share of
    the area the model saw. ``cam``: the map in crop coordinates (the crop = ``crop_box`` enlarged ``enlarge``
    times and clipped to the frame, as the engine cuts it); ``frame_shape``: (H, W, ...).

    ``heat`` = sum of the map inside the box / sum of the map; ``area`` = |box ∩ crop| / |crop|; ``ratio`` =
    heat / area (1: the heat is spread evenly; 2: twice as dense on the box as elsewhere). A flat map (no heat)
    gives NaN for ``heat`` and ``ratio``."""
    from ..heads.attribute_heads import paste_on_frame

    h, w = int(frame_shape[0]), int(frame_shape[1])
    heat_map = paste_on_frame(np.asarray(cam, dtype=np.float32), crop_box, (h, w), enlarge)
    crop_rows, crop_cols = (crop_box.enlarge(enlarge) if enlarge != 1.0 else crop_box).pixel_slice(w, h)
    rows, cols = region_box.pixel_slice(w, h)
    inside = np.zeros((h, w), bool)
    inside[rows, cols] = True
    seen = np.zeros((h, w), bool)
    seen[crop_rows, crop_cols] = True
    total = float(heat_map.sum())
    area = float((inside & seen).sum()) / max(1.0, float(seen.sum()))
    heat = float(heat_map[inside].sum()) / total if total > 0 else float("nan")
    return {"heat": heat, "area": area, "ratio": heat / area if area > 0 and total > 0 else float("nan")}
