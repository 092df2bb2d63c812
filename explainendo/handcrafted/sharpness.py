"""Sharpness of a frame (colonoscopy frame quality): the fine detail of its sharpest orientation."""

from __future__ import annotations

import numpy as np

from .base import Extractor, PreparedCrop, register_extractor
from .frame_masks import FOV_PARAMS, crop_directional_detail


@register_extractor("sharpness")
class Sharpness(Extractor):
    """How much fine detail the frame keeps in its sharpest orientation (low = defocused).

    * ``detail_sharpest``: ``ln(max_theta E(theta) / V)``: the power of the frame's fine detail (a band of
      wavelengths of 2.6-6.5% of the working image's longer side, about 7-17 pixels at 256) in its sharpest
      orientation ``theta``, relative to the frame's grey-level variance ``V``, inside the field of view eroded by
      ``fov_erode`` (:func:`~explainendo.handcrafted.frame_masks.directional_detail` has the formula). 0 for a flat
      frame.

    Defocus takes detail from every orientation, so this falls with it. A linear motion blur keeps the detail
    across its direction, so this stays near a clear view's: the shake shows in ``motion_blur`` instead
    (``anisotropy``). That is why this is the sharpness measure of the colon suite. The
    classic focus measures it replaced (issue 21), the variance of the Laplacian (Pech-Pacheco et al., ICPR 2000)
    and the high-frequency share of the spectrum, fall as much with motion blur as with defocus (and rise with
    bubbles' rims), so they were a cue shared by every blur: with them the fitters credited ``sharpness`` for
    shaken frames (docs/colon.md). Scale-free: the same scene at another size or grey-level gain reads the same.

    Columns: ``sharpness.detail_sharpest``.
    """

    params = {**FOV_PARAMS}

    def column_names(self) -> list[str]:
        return ["detail_sharpest"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        sharpest, _, _ = crop_directional_detail(crop, self.config["fov_level"], self.config["fov_erode"])
        return np.array([sharpest])
