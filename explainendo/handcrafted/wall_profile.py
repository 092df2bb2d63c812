"""The wall of an EUS cyst read from its radial grey profile: how bright and how thick the ring is, found where
the image puts it rather than where the box says."""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .base import Extractor, Param, PreparedCrop, UndefinedFeature, register_extractor
from .cyst_geometry import GEOMETRY_PARAMS, cyst_geometry, michelson


@register_extractor("wall_profile")
class WallProfile(Extractor):
    """The brightest ring about the cyst in the mean grey per band of the normalised radius.

    :class:`~explainendo.handcrafted.cyst_echogenicity.CystEchogenicity` averages a fixed band of the normalised
    radius ``r`` (:mod:`~explainendo.handcrafted.cyst_geometry`); a thin wall fills only part of that band, and a
    box a few percent too small or too large (a localizer's box) moves the wall out of it. Here the wall is
    looked for: on the grey working image ``g`` the **profile** is ``p_k = mean g`` over the pixels with
    ``k * step <= r < (k + 1) * step`` (``k = 0, 1, ...`` while any pixel is left; band centres
    ``c_k = (k + 1/2) * step``; bands without a pixel are left out). With ``S`` the median of ``p_k`` over the
    bands with ``c_k >= 1 + gap`` (the tissue around the cyst) and ``k*`` the band of the largest ``p_k`` among
    ``search_low <= c_k <= search_high`` (the ring):

    * ``peak = p_{k*}`` (the ring's mean grey)
    * ``peak_surround_contrast = (p_{k*} - S) / (p_{k*} + S)`` (Michelson; > 0: a ring brighter than the tissue
      around, as a mucinous cyst's wall; about 0 for a serous cyst's faint rim)
    * ``peak_interior_contrast = (p_{k*} - m) / (p_{k*} + m)`` with ``m`` the smallest ``p_k`` inside the ring
      (``c_k < c_{k*}``; ``m = p_{k*}`` when the ring is the innermost band): a dark lumen inside a bright ring
    * ``ring_width``: the thickness of the ring over its radius, ``(r_out - r_in) / c_{k*}``, where ``r_in`` and
      ``r_out`` are the first crossings of the half level ``L = (p_{k*} + S) / 2`` going inward and outward from
      ``k*``, linearly interpolated between band centres (the profile's first or last band edge when it never
      drops below ``L`` on that side); 0 when ``p_{k*} <= S`` (no ring brighter than the tissue)

    All four are unchanged when the box is scaled about the cyst's centre (up to the band quantisation): the
    contrasts compare levels wherever they lie, and the width is a ratio of two radii that scale alike. Pixels
    outside the ultrasound sector never count. Undefined when no band with a pixel lies in the search range or
    beyond ``1 + gap``.

    Columns: ``wall_profile.peak``, ``.peak_surround_contrast``, ``.peak_interior_contrast``, ``.ring_width``.
    """

    params = {
        **GEOMETRY_PARAMS,
        "step": Param(0.05, float, "width of a profile band, in normalised radius (the cyst's outline is r = 1)",
                      minimum=0.005, maximum=0.5),
        "search_low": Param(0.6, float, "the ring is sought between search_low and search_high (band centres, "
                                        "normalised radius)", minimum=0.0, maximum=3.0),
        "search_high": Param(1.3, float, "see search_low: a box up to ~20% too small still has the wall inside",
                             minimum=0.0, maximum=3.0),
        "gap": Param(0.3, float, "the surroundings are the bands with centres at r >= 1 + gap", minimum=0.0,
                     maximum=3.0),
    }

    def __init__(self, **params):
        super().__init__(**params)
        if self.config["search_low"] >= self.config["search_high"]:
            raise ConfigError(f"search_low ({self.config['search_low']}) must be below search_high "
                              f"({self.config['search_high']})", hint="the ring is sought between the two radii")

    def column_names(self) -> list[str]:
        return ["peak", "peak_surround_contrast", "peak_interior_contrast", "ring_width"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        c = self.config
        geometry = cyst_geometry(crop, c["enlarge"], c["fov_level"])
        centres, profile = radial_profile(crop.grey, geometry.radius, geometry.valid, c["step"])
        in_search = (centres >= c["search_low"]) & (centres <= c["search_high"])
        if not in_search.any():
            raise UndefinedFeature(f"no pixel at normalised radius {c['search_low']}-{c['search_high']} (the ring's "
                                   f"search range) in this crop")
        around = centres >= 1.0 + c["gap"]
        if not around.any():
            raise UndefinedFeature(f"no pixel beyond normalised radius {1.0 + c['gap']} (the surroundings) in this "
                                   f"crop: a crop too small, or enlarge close to 1")
        surround = float(np.median(profile[around]))
        k = int(np.flatnonzero(in_search)[np.argmax(profile[in_search])])
        peak = float(profile[k])
        inner = float(profile[:k].min()) if k > 0 else peak
        return np.array([peak, michelson(peak, surround), michelson(peak, inner),
                         ring_width(centres, profile, k, surround, c["step"])], dtype=np.float64)


def radial_profile(grey: np.ndarray, radius: np.ndarray, valid: np.ndarray, step: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(band centres, mean grey per band) of the bands ``k * step <= radius < (k + 1) * step`` that hold a valid
    pixel, in increasing radius."""
    band = np.floor(radius[valid] / step).astype(np.int64)
    if band.size == 0:
        raise UndefinedFeature("no pixel inside the ultrasound sector in this crop")
    counts = np.bincount(band)
    sums = np.bincount(band, weights=grey[valid].astype(np.float64))
    kept = np.flatnonzero(counts)
    return (kept + 0.5) * step, sums[kept] / counts[kept]


def ring_width(centres: np.ndarray, profile: np.ndarray, k: int, surround: float, step: float) -> float:
    """The ring's thickness over its radius (:class:`WallProfile`, ``ring_width``)."""
    peak = profile[k]
    if peak - surround <= 1e-12:  # (equal levels may differ in the last bit: no ring either)
        return 0.0
    level = (peak + surround) / 2.0

    def crossing(j_out: int, j_in: int) -> float:  # between band j_in (>= level) and j_out (< level)
        a, b = profile[j_in], profile[j_out]
        return float(centres[j_in] + (centres[j_out] - centres[j_in]) * (a - level) / (a - b))

    below = np.flatnonzero(profile[:k] < level)
    r_in = crossing(below[-1], below[-1] + 1) if below.size else float(centres[0] - step / 2)
    above = np.flatnonzero(profile[k + 1:] < level)
    r_out = crossing(k + 1 + above[0], k + above[0]) if above.size else float(centres[-1] + step / 2)
    return (r_out - r_in) / float(centres[k])
