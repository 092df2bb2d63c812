"""How many anechoic locules an EUS cyst holds (unilocular mucinous vs microcystic serous)."""

from __future__ import annotations

import cv2
import numpy as np

from .base import Extractor, Param, PreparedCrop, UndefinedFeature, register_extractor
from .cyst_geometry import GEOMETRY_PARAMS, cyst_geometry


@register_extractor("locule_count")
class LoculeCount(Extractor):
    """The anechoic locules inside the cyst: their number, size and the echogenic septa between them.

    The grey working image ``g`` in [0, 1] is smoothed by a Gaussian of SD ``smoothing`` working pixels
    (borders mirrored; 0: none) to ``s``: speckle inside a locule must not split it, nor speckle in a septum
    open it. The search region ``C`` is the cyst inside its wall, ``r < region_radius`` (normalised radius of
    :mod:`~explainendo.handcrafted.cyst_geometry`: the ellipse inscribed in the central ``1 / enlarge`` of
    the crop, or the mask), less the pixels outside the ultrasound sector. Dark pixels are ``s < threshold``
    (anechoic fluid; fixed in grey, since anechoic is black whatever the gain); a **locule** is a
    4-connected component of dark pixels of ``C`` with at least ``min_area * |C|`` pixels (4-connected, so a
    septum one pixel thick separates two locules even where it runs diagonally).

    * ``count``: the number of locules (1 for a unilocular cyst, many for a honeycomb, 0 for a solid one)
    * ``mean_size = mean_k |locule_k| / |C|`` (0 without locules)
    * ``largest_size = max_k |locule_k| / |C|`` (0 without locules)
    * ``septal_fraction = |{p in C: s_p >= threshold}| / |C|`` (the echogenic share of the cyst: septa, a
      central scar, debris)

    Undefined when ``C`` is empty.

    Columns: ``locule_count.count``, ``.mean_size``, ``.largest_size``, ``.septal_fraction``.
    """

    params = {
        **GEOMETRY_PARAMS,
        "region_radius": Param(0.85, float, "locules are sought where the normalised radius is below this (inside "
                                            "the wall)", minimum=0.1, maximum=1.5),
        "smoothing": Param(0.7, float, "SD (working pixels) of the Gaussian smoothing before thresholding; 0: none",
                           minimum=0.0, maximum=8.0),
        "threshold": Param(0.25, float, "grey level (fraction of full scale) below which a smoothed pixel is "
                                        "anechoic", minimum=0.0, maximum=1.0),
        "min_area": Param(0.004, float, "smallest locule, as a fraction of the search region's area (smaller dark "
                                        "specks are speckle)", minimum=0.0, maximum=1.0),
    }

    def column_names(self) -> list[str]:
        return ["count", "mean_size", "largest_size", "septal_fraction"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        from scipy import ndimage

        c = self.config
        geometry = cyst_geometry(crop, c["enlarge"], c["fov_level"])
        region = geometry.band(0.0, c["region_radius"])
        area = int(region.sum())
        if area == 0:
            raise UndefinedFeature("the cyst region has no pixel in this crop")
        grey = crop.grey
        smooth = grey if c["smoothing"] <= 0 else cv2.GaussianBlur(grey, (0, 0), c["smoothing"],
                                                                   borderType=cv2.BORDER_REFLECT_101)
        dark = region & (smooth < c["threshold"])
        labels, n = ndimage.label(dark)  # the default structure: 4-connectivity
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        sizes = sizes[sizes >= c["min_area"] * area]
        septal = float((region & ~dark).sum() / area)
        if sizes.size == 0:
            return np.array([0.0, 0.0, 0.0, septal])
        return np.array([float(sizes.size), float(sizes.mean() / area), float(sizes.max() / area), septal])
