"""Brightness and exposure (colonoscopy frame quality): too dark, too bright, too flat."""

from __future__ import annotations

import numpy as np

from .base import LUMA_WEIGHTS, Extractor, Param, PreparedCrop, register_extractor
from .frame_masks import FOV_PARAMS


@register_extractor("exposure")
class Exposure(Extractor):
    """Exposure inside the field of view ``F`` of the working image, on the luma ``Y`` (BT.601, in [0, 1]):

    * ``brightness_mean``: ``mean_F(Y)``;
    * ``contrast``: ``std_F(Y)`` (population SD);
    * ``dark_ratio``: the share of ``F`` with ``Y < dark``;
    * ``overexposed_ratio``: the share of ``F`` where any channel is ``>= bright`` (clipped by the sensor).

    Columns: ``exposure.brightness_mean``, ``exposure.contrast``, ``exposure.dark_ratio``,
    ``exposure.overexposed_ratio``.
    """

    params = {"fov_level": FOV_PARAMS["fov_level"],
              "dark": Param(0.1, float, "luma below this counts as dark", minimum=0.0, maximum=1.0),
              "bright": Param(0.98, float, "a channel at or above this counts as clipped", minimum=0.0, maximum=1.0)}

    def column_names(self) -> list[str]:
        return ["brightness_mean", "contrast", "dark_ratio", "overexposed_ratio"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        inside = crop.field_of_view(self.config["fov_level"], 0)
        pixels = crop.working_rgb[inside]
        if pixels.size == 0:
            return np.zeros(4)
        luma = pixels @ LUMA_WEIGHTS
        return np.array([float(luma.mean()), float(luma.std()), float((luma < self.config["dark"]).mean()),
                         float((pixels >= self.config["bright"]).any(axis=1).mean())])
