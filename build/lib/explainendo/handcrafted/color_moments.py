"""Colour moments: mean, standard deviation and skewness per channel (ENDOANGEL-ED feature 6)."""

from __future__ import annotations

import numpy as np

from .base import Extractor, PreparedCrop, register_extractor

CHANNELS = ("r", "g", "b")


@register_extractor("color_moments")
class ColorMoments(Extractor):
    """The first three colour moments of each RGB channel (Stricker and Orengo 1995).

    With ``p_ij`` the value of channel ``i`` at pixel ``j`` (RGB scaled to [0, 1]) over the ``N`` pixels of
    the crop (the shared colour subsample, see :class:`~explainendo.handcrafted.base.PreparedCrop`):

    * ``mean_i = (1/N) sum_j p_ij``
    * ``std_i = sqrt((1/N) sum_j (p_ij - mean_i)^2)`` (population standard deviation)
    * ``skewness_i = cbrt((1/N) sum_j (p_ij - mean_i)^3)``: the cube root of the third central moment, as in
      Stricker and Orengo's colour-moment definition. It has the channel's units and, unlike the
      standardised skewness ``m3 / std^3``, is defined for a constant channel (where it is 0), so uniform
      crops need no special case. A third moment below ``1e-12 std^3`` in magnitude is rounding
      residue (the cube root would inflate it to ~1e-6) and is reported as 0. The standardised value
      is ``(skewness_i / std_i)^3`` where ``std_i > 0``.

    References: Stricker M., Orengo M., "Similarity of color images", SPIE Storage and Retrieval for
    Image and Video Databases III, 1995; ENDOANGEL-ED (npj Digit Med 2023) feature "colour moments".

    Columns: ``color_moments.{r,g,b}_{mean,std,skewness}`` (9, channel-major).
    """

    params = {}

    def column_names(self) -> list[str]:
        return [f"{c}_{m}" for c in CHANNELS for m in ("mean", "std", "skewness")]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        channels = crop.channels  # (3, N)
        # shift by the first pixel before averaging (the "shifted data" algorithm): better conditioned, and
        # a constant channel gives exactly 0 for std and skewness instead of 1e-15 rounding residue
        shifted = channels - channels[:, :1]
        shifted_mean = shifted.mean(axis=1)
        mean = channels[:, 0] + shifted_mean
        centred = shifted - shifted_mean[:, None]
        squared = centred * centred
        second = squared.mean(axis=1)
        third = (squared * centred).mean(axis=1)
        # the cube root turns 1e-17 rounding residue of a symmetric channel into 1e-6; a third moment below
        # 1e-12 std^3 (a standardised skewness below 1e-12) is that residue, so it is set to 0
        third[np.abs(third) <= 1e-12 * second ** 1.5] = 0.0
        return np.column_stack([mean, np.sqrt(second), np.cbrt(third)]).reshape(-1)
