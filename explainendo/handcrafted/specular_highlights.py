"""Specular highlights shaped as rings (colonoscopy frame quality): the bright rims of bubbles."""

from __future__ import annotations

import cv2
import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor
from .frame_masks import FOV_PARAMS


@register_extractor("specular_highlights")
class SpecularHighlights(Extractor):
    """Bubbles in front of the lens: their rims catch the light as thin bright **rings** around a darker inside.

    A clear view's reflections are solid spots on the fold crests, and a blurred frame's are smeared or gone; only
    bubbles draw rings, so a clear view and a blurred one both read 0 here. (Until issue 21 this group measured
    every reflection: highlight share, blob count, small-blob share. A clear view has a few crest highlights and
    every blur smears them away, so those columns *fell* on every unclear frame, and the fitters credited this
    group for motion blur, defocus and fluid alike: docs/colon.md.)

    On the brightest channel ``V = max(R, G, B)`` of the working image (values in [0, 1]): the rims are the pixels
    of the field of view ``F`` (not eroded) that are bright and nearly colourless like a reflection
    (``V >= rim_value_min``, HSV saturation ``(V - min(R, G, B)) / V <= rim_saturation_max``) and where the white
    top-hat ``V - opening(V, D)`` exceeds ``ring_contrast`` (``D``: an elliptical structuring element of odd side
    ``max(3, round(ring_width * side))``, side = the working image's longer side; the top-hat keeps what is brighter
    than its surroundings and thinner than ``D``). A ring is a 4-connected region of non-rim pixels that touches no
    edge of the image (so 8-connected rim pixels enclose it) and has at least ``min_ring`` pixels. (Without the
    brightness and colour test, pixel noise strong enough draws rings of its own; real polyp frames, wet and lit
    from close by, show a few ring-shaped reflections, bubbles dozens.)

    * ``ring_count``: the number of rings (scale-free, unlike a density);
    * ``ring_area``: the rings' pixels / pixels of ``F``.

    Columns: ``specular_highlights.ring_count``, ``specular_highlights.ring_area``.
    """

    params = {"fov_level": FOV_PARAMS["fov_level"],
              "ring_width": Param(0.027, float, "rims are thinner than this fraction of the working image's longer "
                                                "side (the top-hat's structuring element)", minimum=0.0, maximum=0.5),
              "ring_contrast": Param(0.1, float, "a rim is at least this much brighter (V, full scale 1) than its "
                                                 "surroundings", minimum=0.0, maximum=1.0),
              "rim_value_min": Param(0.7, float, "a rim pixel's brightest channel is at least this", minimum=0.0,
                                     maximum=1.0),
              "rim_saturation_max": Param(0.45, float, "a rim pixel's HSV saturation is at most this", minimum=0.0,
                                          maximum=1.0),
              "min_ring": Param(2, int, "fewest pixels inside a ring", minimum=1, maximum=100000)}

    def column_names(self) -> list[str]:
        return ["ring_count", "ring_area"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        c = self.config
        inside = crop.field_of_view(c["fov_level"], 0)
        value = crop.brightest  # max(R, G, B), computed once per crop
        saturation = np.where(value > 0, (value - crop.darkest) / np.where(value > 0, value, 1.0), 0.0)
        candidates = inside & (value >= c["rim_value_min"]) & (saturation <= c["rim_saturation_max"])
        count, pixels = bright_rings(value, candidates, c["ring_width"], c["ring_contrast"], c["min_ring"])
        return np.array([float(count), pixels / max(int(inside.sum()), 1)])


def bright_rings(value: np.ndarray, candidates: np.ndarray, width: float, contrast: float,
                 min_ring: int) -> tuple[int, int]:
    """``(count, pixels)`` of the regions enclosed by thin bright rims among ``candidates`` (a mask) on the
    brightest channel ``value`` (:class:`SpecularHighlights`' docstring)."""
    k = max(3, int(round(width * max(value.shape))))
    k += 1 - k % 2  # odd
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    v = value.astype(np.float32)
    rim = candidates & ((v - cv2.morphologyEx(v, cv2.MORPH_OPEN, element, borderType=cv2.BORDER_REFLECT_101)) > contrast)
    if not rim.any():
        return 0, 0
    _, _, stats, _ = cv2.connectedComponentsWithStats((~rim).astype(np.uint8), connectivity=4)
    h, w = rim.shape
    x, y, bw, bh, size = (stats[1:, i] for i in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH,
                                                  cv2.CC_STAT_HEIGHT, cv2.CC_STAT_AREA))
    enclosed = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h) & (size >= min_ring)
    return int(enclosed.sum()), int(size[enclosed].sum())
