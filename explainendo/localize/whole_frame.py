"""``WholeFrame``: the whole image as one box, for frame-level systems (the EUS cyst classifier)."""

from __future__ import annotations

import numpy as np

from ..types import Box
from .base import Localizer, register_kind


def field_of_view_box(image: np.ndarray, level: int = 20, min_fraction: float = 0.1) -> Box:
    """Bounding box of the circular / octagonal field of view: the largest connected region of pixels
    brighter than ``level`` (max over channels). Taking the largest region keeps burnt-in text and markers
    in the black border out. Falls back to the whole image when that region covers less than
    ``min_fraction`` of it (a dark or borderless frame)."""
    from ..io.image import brightest_channel, largest_bright_box

    h, w = image.shape[:2]
    # the region's bounding box straight from its connected component (filling its holes never moves it)
    found = largest_bright_box(brightest_channel(image), level, min_fraction)
    if found is None:
        return Box(0.0, 0.0, float(w), float(h))
    return Box(*(float(v) for v in found))


@register_kind
class WholeFrame(Localizer):
    """One box per image: the full frame, or (``remove_border=True``) the field of view without the
    black border. Needs no training; ``fit`` only checks its input and returns ``self``."""

    kind = "whole_frame"
    needs_fit = False

    def __init__(self, remove_border: bool = True, label: str | None = None):
        self.remove_border = remove_border
        self.label = label


    def fit(self, manifest=None, **kw) -> "WholeFrame":
        self.fitted_ = True
        return self

    def _locate_arrays(self, images: list[np.ndarray]) -> list[list[Box]]:
        out = []
        for img in images:
            h, w = img.shape[:2]
            box = field_of_view_box(img) if self.remove_border else Box(0.0, 0.0, float(w), float(h))
            out.append([Box(box.x1, box.y1, box.x2, box.y2, score=1.0, label=self.label)])
        return out
