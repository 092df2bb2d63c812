"""Entropy of the HSI saturation channel (ENDOANGEL-ED handcrafted feature 3)."""

from __future__ import annotations

import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor, shannon_entropy_bits


def hsi_saturation(red: np.ndarray, green: np.ndarray, blue: np.ndarray) -> np.ndarray:
    """HSI saturation ``S = 1 - 3 min(R, G, B) / (R + G + B)`` of RGB channels in [0, 1].

    Black (``R + G + B = 0``) has no defined saturation; it is set to 0, the limit along the grey axis
    (Gonzalez and Woods treat black as achromatic), so pure black crops need no special case.
    """
    total = red + green + blue
    low = np.minimum(np.minimum(red, green), blue)
    lit = total > 0
    saturation = 1.0 - 3.0 * low / np.where(lit, total, 1.0)
    saturation = np.where(lit, saturation, 0.0)
    return np.clip(saturation, 0.0, 1.0, out=saturation)


@register_extractor("hsi_saturation_entropy")
class HSISaturationEntropy(Extractor):
    """Shannon entropy of the saturation channel in HSI space.

    ``S = 1 - 3 min(R, G, B) / (R + G + B)`` per pixel (0 for black), a histogram of ``S`` with ``bins``
    equal-width bins on [0, 1] (bin ``floor(S * bins)``, ``S = 1`` in the last bin), ``p_k`` the fraction of
    pixels in bin ``k``, and ``entropy = -sum_k p_k log2 p_k`` in bits (0 for a crop of one saturation,
    at most ``log2(bins)``).

    Reference: ENDOANGEL-ED (npj Digit Med 2023) feature "entropy of the S channel in HSI space";
    HSI as in Gonzalez R.C., Woods R.E., Digital Image Processing, ch. 6.

    Columns: ``hsi_saturation_entropy.entropy``.
    """

    params = {"bins": Param(32, int, "number of equal-width saturation bins on [0, 1]", minimum=2, maximum=4096)}

    def column_names(self) -> list[str]:
        return ["entropy"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        bins = self.config["bins"]
        saturation = hsi_saturation(*crop.channels)
        index = np.minimum((saturation * bins).astype(np.int64), bins - 1)
        counts = np.bincount(index, minlength=bins)
        return np.array([shannon_entropy_bits(counts)])
