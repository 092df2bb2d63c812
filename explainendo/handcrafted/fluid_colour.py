"""Fluid and debris colour (colonoscopy frame quality): turbid yellow-brown water in front of the mucosa."""

from __future__ import annotations

import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor
from .frame_masks import FOV_PARAMS


@register_extractor("fluid_colour")
class FluidColour(Extractor):
    """Colour statistics that tell turbid fluid and faecal debris (yellow to brown, greenish) from the red-pink
    colonic mucosa, inside the field of view ``F`` of the working RGB image (values in [0, 1]):

    * ``yellow_ratio``: the share of pixels of ``F`` whose HSV hue ``H`` (degrees) lies in
      [``hue_min``, ``hue_max``] with saturation ``>= saturation_min`` and value ``>= value_min``
      (mucosa sits below about 20 degrees or above 340; yellow-brown fluid at 25-75);
    * ``green_red_ratio``: ``mean_F(G) / mean_F(R)`` (fluid raises green against red; 0 when ``mean_F(R) = 0``);
    * ``blue_red_ratio``: ``mean_F(B) / mean_F(R)`` (likewise);
    * ``saturation_mean``: the mean HSV saturation ``(V - min) / V`` over ``F`` (0 for black pixels).

    Columns: ``fluid_colour.yellow_ratio``, ``fluid_colour.green_red_ratio``, ``fluid_colour.blue_red_ratio``,
    ``fluid_colour.saturation_mean``.
    """

    params = {"fov_level": FOV_PARAMS["fov_level"],
              "hue_min": Param(25.0, float, "lowest hue (degrees) counted as fluid", minimum=0.0, maximum=360.0),
              "hue_max": Param(75.0, float, "highest hue (degrees) counted as fluid", minimum=0.0, maximum=360.0),
              "saturation_min": Param(0.25, float, "fluid pixels are at least this saturated", minimum=0.0,
                                      maximum=1.0),
              "value_min": Param(0.15, float, "fluid pixels are at least this bright", minimum=0.0, maximum=1.0)}

    def column_names(self) -> list[str]:
        return ["yellow_ratio", "green_red_ratio", "blue_red_ratio", "saturation_mean"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        c = self.config
        pixels = crop.pixels_in(c["fov_level"], 0)
        if pixels.size == 0:
            return np.zeros(4)
        hue, saturation, value = hsv(pixels)
        fluid = (hue >= c["hue_min"]) & (hue <= c["hue_max"]) & (saturation >= c["saturation_min"]) \
            & (value >= c["value_min"])
        r, g, b = pixels.mean(axis=0)
        return np.array([float(fluid.mean()), g / r if r > 0 else 0.0, b / r if r > 0 else 0.0,
                         float(saturation.mean())])


def hsv(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """HSV of ``(N, 3)`` RGB in [0, 1]: hue in degrees [0, 360) (0 for grey), saturation ``(V - min) / V``
    (0 for black), value ``V = max(R, G, B)`` (the hexcone model, Smith 1978)."""
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    # element-wise over the three columns: numpy's reduction over a short last axis is many times slower
    value = np.maximum(np.maximum(r, g), b)
    low = np.minimum(np.minimum(r, g), b)
    chroma = value - low
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(value == r, ((g - b) / safe) % 6.0, np.where(value == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    hue = np.where(chroma > 0, 60.0 * hue, 0.0) % 360.0
    saturation = np.where(value > 0, chroma / np.where(value > 0, value, 1.0), 0.0)
    return hue, saturation, value
