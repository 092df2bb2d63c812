"""Grey-level co-occurrence texture of an EUS cyst (Haralick statistics)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Extractor, Param, PreparedCrop, UndefinedFeature, register_extractor, shannon_entropy_bits
from .cyst_geometry import GEOMETRY_PARAMS, cyst_geometry

#: The four directions of the co-occurrence matrices (0, 45, 90 and 135 degrees), as skimage names them.
ANGLES = (0.0, math.pi / 4, math.pi / 2, 3 * math.pi / 4)


@dataclass(frozen=True)
class DistancesParam(Param):
    """A non-empty list of distinct whole pixel distances, each in ``[minimum, maximum]``."""

    def check(self, value: Any) -> str | None:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or not value:
            return f"must be a non-empty list of whole pixel distances, got {value!r}"
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
                return f"must hold whole numbers, got {item!r} ({type(item).__name__})"
            if not self.minimum <= item <= self.maximum:
                return f"each distance must be in [{self.minimum}, {self.maximum}], got {item!r}"
        if len(set(value)) != len(value):
            return f"a distance is listed twice in {list(value)}"
        return None


@register_extractor("glcm")
class GreyLevelCooccurrence(Extractor):
    """Grey-level co-occurrence statistics (Haralick et al. 1973) of the cyst, averaged over 4 directions.

    The grey working image ``g`` in [0, 1] is quantised to ``L`` = ``levels`` fixed bins,
    ``q = min(floor(L g), L - 1)`` (fixed, not per-crop, bins: an anechoic cyst stays dark whatever else is
    in the crop). For each distance ``d`` in ``distances`` and direction ``theta`` in 0, 45, 90, 135 degrees,
    ``P_{d,theta}(i, j)`` counts the pixel pairs at that offset with levels ``(i, j)``, both pixels inside the
    region, counted both ways (symmetric) and normalised to sum 1 (skimage's ``graycomatrix``, the region
    cut out by giving outside pixels an extra level that is then dropped). The region is the cyst
    (``region: cyst``, normalised radius ``r <= 1``, see :mod:`~explainendo.handcrafted.cyst_geometry`; the
    mask when one is given) or the whole crop (``region: crop``); pixels outside the ultrasound sector never
    count. With ``mu_i = sum i P``, ``sigma_i^2 = sum (i - mu_i)^2 P`` (likewise ``j``):

    * ``contrast = sum_{i,j} (i - j)^2 P(i, j)``
    * ``homogeneity = sum_{i,j} P(i, j) / (1 + (i - j)^2)``
    * ``energy = sqrt(sum_{i,j} P(i, j)^2)``
    * ``correlation = sum_{i,j} (i - mu_i)(j - mu_j) P(i, j) / (sigma_i sigma_j)``, 1 when ``sigma = 0``
      (a flat region; skimage's and pyradiomics' convention)
    * ``entropy = -sum_{i,j} P(i, j) log2 P(i, j)`` (bits)

    Each statistic is the mean over the ``(d, theta)`` pairs for which the region holds at least one pixel
    pair (undefined when none does). A one-pixel 0 / 1 checkerboard at ``d = 1`` has contrast
    ``(L - 1)^2 / 2`` (horizontal and vertical neighbours always differ, diagonal ones never), homogeneity
    ``(1 / (1 + (L - 1)^2) + 1) / 2`` and correlation ``(-1 + 1) / 2 = 0``.

    What it tells on EUS: a unilocular mucinous cyst is one dark, smooth area (high homogeneity and energy, low
    contrast and entropy); a serous honeycomb alternates dark locules and bright septa (high contrast and
    entropy).

    Reference: Haralick R.M., Shanmugam K., Dinstein I., "Textural features for image classification", IEEE
    TSMC 3(6), 1973; the pyradiomics GLCM definitions.

    Columns: ``glcm.contrast``, ``glcm.homogeneity``, ``glcm.energy``, ``glcm.correlation``, ``glcm.entropy``.
    """

    params = {
        **GEOMETRY_PARAMS,
        "levels": Param(16, int, "grey levels L the [0, 1] grey image is quantised to (fixed bins)", minimum=2,
                        maximum=128),
        "distances": DistancesParam([1], list, "pixel distances of the co-occurring pairs (working image), "
                                               "e.g. [1, 2]; statistics are averaged over them", minimum=1,
                                    maximum=64),
        "region": Param("cyst", str, "cyst: the pixels with normalised radius <= 1 (or the mask); crop: all of it",
                        choices=("cyst", "crop")),
    }

    def column_names(self) -> list[str]:
        return ["contrast", "homogeneity", "energy", "correlation", "entropy"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        from skimage.feature import graycomatrix, graycoprops

        c = self.config
        levels = int(c["levels"])
        geometry = cyst_geometry(crop, c["enlarge"], c["fov_level"])
        region = geometry.valid if c["region"] == "crop" else geometry.band(0.0, 1.0, inclusive=True)
        quantised = np.minimum(np.floor(crop.grey * levels), levels - 1).astype(np.uint8)
        quantised[~region] = levels  # an extra level for outside pixels: its pairs are dropped below
        counts = graycomatrix(quantised, [int(d) for d in c["distances"]], ANGLES, levels=levels + 1,
                              symmetric=True, normed=False)[:levels, :levels]
        counts = counts.reshape(levels, levels, 1, -1).astype(np.float64)
        counts = counts[..., counts.sum(axis=(0, 1))[0] > 0]
        if counts.shape[-1] == 0:
            raise UndefinedFeature("the region holds no pixel pair at the given distances")
        values = [graycoprops(counts, prop).mean() for prop in ("contrast", "homogeneity", "energy", "correlation")]
        entropy = np.mean([shannon_entropy_bits(counts[:, :, 0, k]) for k in range(counts.shape[-1])])
        return np.array([*values, entropy], dtype=np.float64)
