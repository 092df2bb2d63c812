"""Grad-CAM pass-through: heatmaps from the feature sources that make them (attribute heads, a CNN score).

A source offers ``gradcam(samples) -> {attribute: [HxW map per lesion, crop coordinates]}``; this collects
every lesion's map of every attribute from every source, each scaled to [0, 1]. A source that fails to
make its maps is logged and left out: the explanation still has its SHAP values.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


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
