"""Brightness and exposure (colonoscopy frame quality): too dark, too bright."""

from __future__ import annotations

import numpy as np

from .base import LUMA_WEIGHTS, Extractor, Param, PreparedCrop, register_extractor
from .frame_masks import FOV_PARAMS


@register_extractor("exposure")
class Exposure(Extractor):
    """Exposure inside the field of view ``F`` of the working image, on the luma ``Y`` (BT.601, in [0, 1]):

    * ``brightness_mean``: ``mean_F(Y)`` (too dark: low; too bright: high);
    * ``overexposed_ratio``: the share of ``F`` where any channel is ``>= bright`` (clipped by the sensor).

    No ``contrast`` (``std_F(Y)``) and no ``dark_ratio`` (the share of ``F`` below a dark level), columns until
    issue 21: in a colonoscopy frame both measure the dark lumen against the lit wall, not an exposure fault.
    Turbid fluid hides the lumen and defocus greys it, and the fitters read the drop as "exposure" on those frames,
    taking their explanation from ``fluid_colour`` and ``sharpness`` (docs/colon.md). A frame too dark or too
    bright shows in ``brightness_mean`` and ``overexposed_ratio``.

    Columns: ``exposure.brightness_mean``, ``exposure.overexposed_ratio``.
    """

    params = {"fov_level": FOV_PARAMS["fov_level"],
              "bright": Param(0.98, float, "a channel at or above this counts as clipped", minimum=0.0, maximum=1.0)}

    def column_names(self) -> list[str]:
        return ["brightness_mean", "overexposed_ratio"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        pixels = crop.pixels_in(self.config["fov_level"], 0)
        if pixels.size == 0:
            return np.zeros(2)
        luma = pixels @ LUMA_WEIGHTS
        bright = self.config["bright"]
        clipped = (pixels[:, 0] >= bright) | (pixels[:, 1] >= bright) | (pixels[:, 2] >= bright)
        return np.array([float(luma.mean()), float(clipped.mean())])
