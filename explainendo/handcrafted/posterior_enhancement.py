"""Posterior acoustic enhancement (or shadowing) below an EUS cyst."""

from __future__ import annotations

import numpy as np

from .base import Extractor, Param, PreparedCrop, UndefinedFeature, register_extractor
from .cyst_geometry import GEOMETRY_PARAMS, cyst_geometry, region_mean


@register_extractor("posterior_enhancement")
class PosteriorEnhancement(Extractor):
    """Brightness of the band just below the cyst against the bands of equal depth beside it.

    Sound crossing fluid is barely attenuated, so the tissue behind a cyst looks brighter than tissue at the
    same depth beside it (posterior acoustic enhancement); a calcification stops the sound and casts a dark
    shadow behind it. The transducer is at the top of the image: "below" is deeper.

    With the cyst's centre ``(cy, cx)`` and semi-axes ``(a, b)`` of :mod:`~explainendo.handcrafted.cyst_geometry`
    (the central ``1 / enlarge`` of the crop, or the mask's bounding box), depth ``t = (y + 0.5 - cy) / b`` and
    lateral offset ``u = |x + 0.5 - cx| / a`` per pixel, the rows ``1 + gap <= t <= 1 + gap + depth`` hold

    * the posterior band ``B``: ``u <= half_width`` (under the cyst's centre, where enhancement is strongest),
    * the side bands ``D``: ``u >= 1 + gap`` (left and right, beside the cyst, pooled),

    and on the grey working image ``g``:

    * ``posterior_mean = mean_B g``, ``side_mean = mean_D g``
    * ``enhancement_ratio = posterior_mean / side_mean`` (> 1: enhancement; < 1: a shadow or a solid lesion)
    * ``shadow_fraction``: the share of ``B``'s columns whose mean over ``B``'s rows is below
      ``shadow_level * side_mean`` (a calcification's narrow acoustic shadow; 0 without one)

    With the default ``enlarge`` 1.5 the crop reaches ``t = 1.5`` below the centre, so the default ``gap`` 0.05
    and ``depth`` 0.45 use all of it. Undefined when a band is empty or the side bands are black. Pixels outside
    the ultrasound sector never count.

    Columns: ``posterior_enhancement.posterior_mean``, ``.side_mean``, ``.enhancement_ratio``,
    ``.shadow_fraction``.
    """

    params = {
        **GEOMETRY_PARAMS,
        "gap": Param(0.05, float, "the bands start this far (fraction of the cyst's half height) below the cyst, and "
                                  "the side bands this far (fraction of its half width) beside it", minimum=0.0,
                     maximum=2.0),
        "depth": Param(0.45, float, "height of the bands (fraction of the cyst's half height)", minimum=0.05,
                       maximum=4.0),
        "half_width": Param(0.6, float, "the posterior band spans |x - cx| <= half_width * a (a fraction of the "
                                        "cyst's half width)", minimum=0.05, maximum=1.0),
        "shadow_level": Param(0.5, float, "a posterior column darker than this fraction of the side mean is "
                                          "shadowed", minimum=0.0, maximum=1.0),
    }

    def column_names(self) -> list[str]:
        return ["posterior_mean", "side_mean", "enhancement_ratio", "shadow_fraction"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        c = self.config
        geometry = cyst_geometry(crop, c["enlarge"], c["fov_level"])
        depth, lateral = geometry.depth, geometry.lateral
        rows = geometry.valid & (depth >= 1.0 + c["gap"]) & (depth <= 1.0 + c["gap"] + c["depth"])
        below = rows & (lateral <= c["half_width"])
        beside = rows & (lateral >= 1.0 + c["gap"])
        grey = crop.grey
        posterior = region_mean(grey, below, "band below the cyst")
        side = region_mean(grey, beside, "band beside the cyst")
        if side <= 0:
            raise UndefinedFeature("the bands beside the cyst are black: no reference brightness")
        columns = below.any(axis=0)
        column_means = (grey * below).sum(axis=0)[columns] / below.sum(axis=0)[columns]
        shadow = float(np.mean(column_means < c["shadow_level"] * side))
        return np.array([posterior, side, posterior / side, shadow], dtype=np.float64)
