"""Lesion aspect ratio (ENDOANGEL-ED handcrafted feature 1)."""

from __future__ import annotations

import numpy as np

from ..types import Box
from .base import Extractor, PreparedCrop, UndefinedFeature, register_extractor


@register_extractor("aspect_ratio")
class AspectRatio(Extractor):
    """Aspect ratio of the lesion: ``width / height``.

    Formula: ``aspect_ratio.width_over_height = W / H`` where, in order of preference,

    1. a mask is given: ``W`` and ``H`` are the extent of its True pixels, ``W = max(col) - min(col) + 1``
       and ``H = max(row) - min(row) + 1`` (the tight box of the segmented lesion);
    2. a box is given: its width and height (``Box`` pixel-edge xyxy, ``x2 - x1`` over ``y2 - y1``). The box,
       not the crop, is used because crops may be enlarged and clipped at the frame border;
    3. otherwise the crop's own width and height.

    Reference: Dong Z. et al., "Explainable artificial intelligence incorporated with domain knowledge
    diagnosing early gastric neoplasms under white light endoscopy", npj Digit Med 2023 (ENDOANGEL-ED),
    handcrafted feature "aspect ratio of the lesion".

    Undefined (NaN + one warning) when the mask is empty or does not match the crop's height and width.

    Columns: ``aspect_ratio.width_over_height``.
    """

    params = {}

    def column_names(self) -> list[str]:
        return ["width_over_height"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        if crop.mask is not None:
            mask = np.asarray(crop.mask).astype(bool)
            if mask.shape[:2] != crop.shape:
                raise UndefinedFeature(f"mask shape {mask.shape} does not match the crop's {crop.shape}")
            rows = np.flatnonzero(mask.any(axis=1))
            cols = np.flatnonzero(mask.any(axis=0))
            if rows.size == 0:
                raise UndefinedFeature("the mask is empty (no lesion pixel)")
            width, height = cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
        elif crop.box is not None:
            box = crop.box if isinstance(crop.box, Box) else Box(*[float(v) for v in crop.box][:4])
            width, height = box.width, box.height
        else:
            height, width = crop.shape
        return np.array([width / height], dtype=np.float64)
