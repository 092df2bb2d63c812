"""Grad-CAM pass-through: heatmaps from the feature sources that can make them (the attribute heads).

A source offers ``gradcam(samples, attributes=None) -> {attribute: [HxW map per lesion, crop coords]}``;
this collects the first lesion's map of every attribute from every such source, scaled to [0, 1]. A
source that fails to make its maps is logged and left out: the explanation still has its SHAP values.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def source_gradcams(sources, samples, index: int = 0) -> dict[str, np.ndarray]:
    maps: dict[str, np.ndarray] = {}
    for source in sources:
        method = getattr(source, "gradcam", None)
        if method is None:
            continue
        try:
            found = method(samples)
        except Exception as exc:  # noqa: BLE001 - a heatmap failure must not lose the SHAP explanation
            log.warning("Grad-CAM from %r failed: %s", getattr(source, "name", source), exc)
            continue
        for attr, per_lesion in (found or {}).items():
            cam = np.asarray(per_lesion[index], dtype=float)
            lo, hi = np.nanmin(cam), np.nanmax(cam)
            maps[attr] = (cam - lo) / (hi - lo) if hi > lo else np.zeros_like(cam)
    return maps
