"""Specular highlights and bubbles (colonoscopy frame quality): bright, colourless reflections."""

from __future__ import annotations

import cv2
import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor
from .frame_masks import FOV_PARAMS, HIGHLIGHT_PARAMS, highlight_mask


@register_extractor("specular_highlights")
class SpecularHighlights(Extractor):
    """Bright, nearly colourless reflections inside the field of view: a few on the crests of folds in a clear
    view, many small ones when the lens looks through bubbles.

    On the working RGB image (values in [0, 1]) inside the field of view ``F`` (not eroded): a pixel is a
    highlight when its value ``V = max(R, G, B) >= value_min`` and its HSV saturation
    ``(V - min(R, G, B)) / V <= saturation_max``. Highlights are grouped into 8-connected blobs.

    * ``highlight_ratio``: highlight pixels / pixels of ``F``.
    * ``blob_count``: the number of highlight blobs (separate reflections; scale-free, unlike a density).
    * ``small_blob_fraction``: the share of highlight pixels in blobs smaller than ``small_blob`` of ``F``'s
      area (bubbles: many small rims; 0 when there is no highlight).

    Columns: ``specular_highlights.highlight_ratio``, ``specular_highlights.blob_count``,
    ``specular_highlights.small_blob_fraction``.
    """

    params = {"fov_level": FOV_PARAMS["fov_level"], **HIGHLIGHT_PARAMS,
              "small_blob": Param(0.002, float, "blobs below this fraction of the field of view count as small",
                                  minimum=0.0, maximum=1.0)}

    def column_names(self) -> list[str]:
        return ["highlight_ratio", "blob_count", "small_blob_fraction"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        inside = crop.field_of_view(self.config["fov_level"], 0)
        highlight = inside & highlight_mask(crop.working_rgb, self.config["value_min"], self.config["saturation_max"])
        area = max(int(inside.sum()), 1)
        n_pixels = int(highlight.sum())
        if n_pixels == 0:
            return np.array([0.0, 0.0, 0.0])
        n, labels, stats, _ = cv2.connectedComponentsWithStats(highlight.astype(np.uint8), connectivity=8)
        sizes = stats[1:, cv2.CC_STAT_AREA]
        small = float(sizes[sizes < self.config["small_blob"] * area].sum()) / n_pixels
        return np.array([n_pixels / area, float(n - 1), small])
