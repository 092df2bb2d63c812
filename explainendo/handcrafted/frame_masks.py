"""The masks the frame-quality extractors share: the field-of-view parameters and the specular-highlight mask."""

from __future__ import annotations

import cv2
import numpy as np

from .base import Param

FOV_PARAMS = {
    "fov_level": Param(0.08, float, "the field of view is the largest region whose brightest channel exceeds this "
                                    "(fraction of full scale)", minimum=0.0, maximum=1.0),
    "fov_erode": Param(3, int, "pixels of the working image taken off the field of view's rim, so its edge is "
                               "not measured as image detail", minimum=0, maximum=64),
}

HIGHLIGHT_PARAMS = {
    "value_min": Param(0.9, float, "a highlight's brightest channel is at least this", minimum=0.0, maximum=1.0),
    "saturation_max": Param(0.3, float, "a highlight's HSV saturation is at most this", minimum=0.0, maximum=1.0),
}


def highlight_mask(rgb: np.ndarray, value_min: float = 0.9, saturation_max: float = 0.3) -> np.ndarray:
    """Specular highlights of ``(h, w, 3)`` RGB in [0, 1]: ``V = max(R, G, B) >= value_min`` and HSV saturation
    ``(V - min(R, G, B)) / V <= saturation_max`` (bright and nearly colourless)."""
    value = rgb.max(axis=2)
    low = rgb.min(axis=2)
    saturation = np.where(value > 0, (value - low) / np.where(value > 0, value, 1.0), 0.0)
    return (value >= value_min) & (saturation <= saturation_max)


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` grown by ``pixels`` 3 x 3 steps."""
    if pixels <= 0:
        return mask
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=int(pixels)).astype(bool)
