"""Echogenicity of an EUS cyst's interior against its wall and the tissue around it."""

from __future__ import annotations

import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor
from .cyst_geometry import GEOMETRY_PARAMS, cyst_geometry, michelson, region_mean

WALL_PARAMS = {
    "wall_width": Param(0.3, float, "the wall is the ring 1 - wall_width <= r <= 1 of the normalised radius (a "
                                    "fraction of the cyst's radius); the interior is r < 1 - wall_width",
                        minimum=0.05, maximum=0.95),
    "gap": Param(0.25, float, "the surroundings start at r >= 1 + gap: the blurred outline and any wall drawn "
                              "outside the box stay out of them", minimum=0.0, maximum=3.0),
}


@register_extractor("cyst_echogenicity")
class CystEchogenicity(Extractor):
    """Mean echo (grey) of the cyst's interior, its wall and the tissue around it, and their contrasts.

    On the grey working image ``g`` in [0, 1], with the normalised radius ``r`` of
    :mod:`~explainendo.handcrafted.cyst_geometry` (the crop is the cyst box enlarged ``enlarge`` times: the
    cyst is the ellipse inscribed in its central ``1 / enlarge``, or the mask when one is given), and ``w`` =
    ``wall_width``:

    * ``interior_mean = I = mean g`` over ``r < 1 - w`` (the cyst's content)
    * ``wall_mean = W = mean g`` over ``1 - w <= r <= 1`` (the ring at the cyst's rim)
    * ``surround_mean = S = mean g`` over ``r >= 1 + gap`` (the tissue around, up to the crop's edge)
    * ``wall_interior_contrast = (W - I) / (W + I)`` (Michelson; 1 for a black cyst in a bright wall)
    * ``interior_darkness = (S - I) / (S + I)`` (1 anechoic, 0 isoechoic, < 0 hyperechoic content)
    * ``wall_surround_contrast = (W - S) / (W + S)`` (> 0: a wall brighter than the parenchyma)

    A contrast whose two means are both 0 is 0. Undefined when a region is empty (a crop too small, or
    ``enlarge`` close to 1: no surroundings). Pixels outside the ultrasound sector never count.

    What it tells on EUS: a mucinous cyst is anechoic inside a thick echogenic wall (high wall / interior
    contrast); a serous honeycomb has echogenic septa inside (a brighter interior) and a thin rim.

    Columns: ``cyst_echogenicity.interior_mean``, ``.wall_mean``, ``.surround_mean``,
    ``.wall_interior_contrast``, ``.interior_darkness``, ``.wall_surround_contrast``.
    """

    params = {**GEOMETRY_PARAMS, **WALL_PARAMS}

    def column_names(self) -> list[str]:
        return ["interior_mean", "wall_mean", "surround_mean", "wall_interior_contrast", "interior_darkness",
                "wall_surround_contrast"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        c = self.config
        geometry = cyst_geometry(crop, c["enlarge"], c["fov_level"])
        inner = 1.0 - c["wall_width"]
        interior = region_mean(crop.grey, geometry.band(0.0, inner), "cyst interior")
        wall = region_mean(crop.grey, geometry.band(inner, 1.0, inclusive=True), "cyst wall")
        surround = region_mean(crop.grey, geometry.band(1.0 + c["gap"], np.inf), "surroundings")
        return np.array([interior, wall, surround, michelson(wall, interior), michelson(surround, interior),
                         michelson(wall, surround)], dtype=np.float64)
