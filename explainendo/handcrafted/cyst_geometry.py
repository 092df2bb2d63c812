"""Where the cyst, its wall and the tissue around and below it lie in an EUS crop (shared by the EUS extractors).

The EUS system crops each frame about the cyst box enlarged by a factor ``E`` (``enlarge``, default 1.5), so
the crop also holds the wall and the tissue beside and below the cyst. Without a mask the cyst box is the
central ``1 / E`` of the crop and the cyst is the ellipse inscribed in it. On the grey working image
(``h x w`` pixels, pixel ``(y, x)`` centred at ``(y + 0.5, x + 0.5)``), with centre ``(cy, cx) = (h / 2, w / 2)``
and semi-axes ``a = w / (2 E)``, ``b = h / (2 E)``, every pixel gets the **normalised radius**

    ``r = sqrt(((x + 0.5 - cx) / a)^2 + ((y + 0.5 - cy) / b)^2)``

(0 at the centre, 1 on the cyst's outline, ``E`` where the axes meet the crop's edge). When the crop comes
with a cyst mask (``crop.mask``, crop-sized; resized to the working grid by area averaging, kept where
``>= 0.5``) the mask is the cyst instead, wherever it lies in the crop, and

    ``r = 1 - (d_in - 1/2) / R`` inside, ``r = 1 + (d_out - 1/2) / R`` outside,

with ``d_in`` / ``d_out`` the Euclidean distance from a pixel to the nearest pixel on the other side of the
outline (beyond the crop's edge counting as outside) and ``R = max(d_in) - 1/2`` (the inradius), which is the
ellipse formula again for a disc; ``cx, cy, a, b`` then come from the mask's bounding box (centre and half
extents). Regions are bands of ``r``:
interior ``r < 1 - wall_width``, wall ``1 - wall_width <= r <= 1``, surroundings ``r >= 1 + gap``; the bands
beside and below the cyst use ``cx, cy, a, b`` (the transducer is at the top of the image: "below" is
deeper, away from it).

Pixels outside the ultrasound sector (the black background of a sector scan) are left out of every region:
``valid`` is :meth:`PreparedCrop.field_of_view` at ``fov_level`` (the largest region brighter than it, holes
filled, so an anechoic cyst enclosed by tissue stays in; the whole crop when that region is under 10% of it).

A crop cut at the frame's border is not centred on its cyst: give a mask for such crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .base import Param, PreparedCrop, UndefinedFeature

GEOMETRY_PARAMS = {
    "enlarge": Param(1.5, float, "the crop is the cyst box enlarged by this factor about its centre, so the cyst "
                                 "box is the central 1/enlarge of the crop (ignored when a mask is given)",
                     minimum=1.0, maximum=4.0),
    "fov_level": Param(0.02, float, "pixels outside the largest region brighter than this (the black background "
                                    "outside the ultrasound sector) are left out; 0: keep every pixel",
                       minimum=0.0, maximum=0.5),
}


@dataclass(frozen=True)
class CystGeometry:
    """The cyst's place on the working grid: normalised radius ``r`` per pixel, centre ``(cy, cx)`` and
    semi-axes ``(a, b)`` in working pixels (continuous coordinates), pixel-centre coordinates ``ys, xs``
    and ``valid`` (inside the ultrasound sector)."""

    radius: np.ndarray
    valid: np.ndarray
    cy: float
    cx: float
    a: float
    b: float
    ys: np.ndarray
    xs: np.ndarray

    def band(self, low: float, high: float, inclusive: bool = False) -> np.ndarray:
        """Valid pixels with ``low <= r < high`` (``<= high`` when ``inclusive``)."""
        upper = self.radius <= high if inclusive else self.radius < high
        return self.valid & (self.radius >= low) & upper

    @property
    def depth(self) -> np.ndarray:
        """``(y + 0.5 - cy) / b`` per pixel: 1 at the cyst's lowest point, larger deeper."""
        return (self.ys - self.cy) / self.b

    @property
    def lateral(self) -> np.ndarray:
        """``|x + 0.5 - cx| / a`` per pixel: 1 at the cyst's sides."""
        return np.abs(self.xs - self.cx) / self.a


def cyst_geometry(crop: PreparedCrop, enlarge: float, fov_level: float) -> CystGeometry:
    """The :class:`CystGeometry` of a crop (see the module docstring); cached on the crop per argument pair."""
    key = (float(enlarge), float(fov_level))
    cache = crop.__dict__.setdefault("_cyst_geometry_cache", {})
    if key not in cache:
        cache[key] = _geometry(crop, float(enlarge), float(fov_level))
    return cache[key]


def _geometry(crop: PreparedCrop, enlarge: float, fov_level: float) -> CystGeometry:
    h, w = crop.grey.shape
    ys = np.arange(h, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(w, dtype=np.float64)[None, :] + 0.5
    valid = crop.field_of_view(fov_level, 0) if fov_level > 0 else np.ones((h, w), bool)
    if crop.mask is None:
        cy, cx, a, b = h / 2, w / 2, w / (2 * enlarge), h / (2 * enlarge)
        radius = np.sqrt(((xs - cx) / a) ** 2 + ((ys - cy) / b) ** 2)
        return CystGeometry(radius, valid, cy, cx, a, b, np.broadcast_to(ys, (h, w)), np.broadcast_to(xs, (h, w)))
    from scipy import ndimage

    mask = np.asarray(crop.mask)
    if mask.ndim != 2 or mask.shape != crop.shape:
        raise UndefinedFeature(f"mask shape {mask.shape} does not match the crop's {crop.shape}")
    mask = mask.astype(bool)
    if mask.shape != (h, w):
        mask = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
    if not mask.any():
        raise UndefinedFeature("the cyst mask is empty (on the working grid)")
    # the crop's edge counts as the outline where the mask reaches it (what lies beyond is unknown)
    inside = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    outside = ndimage.distance_transform_edt(~mask) if not mask.all() else np.zeros(mask.shape)
    inradius = float(inside.max()) - 0.5
    radius = np.where(mask, 1.0 - (inside - 0.5) / inradius, 1.0 + (outside - 0.5) / inradius)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    cy, cx = (rows[0] + rows[-1] + 1) / 2, (cols[0] + cols[-1] + 1) / 2
    b, a = (rows[-1] + 1 - rows[0]) / 2, (cols[-1] + 1 - cols[0]) / 2
    return CystGeometry(radius, valid, float(cy), float(cx), float(a), float(b), np.broadcast_to(ys, (h, w)),
                        np.broadcast_to(xs, (h, w)))


def region_mean(grey: np.ndarray, region: np.ndarray, what: str) -> float:
    """Mean of ``grey`` over a boolean region; :class:`UndefinedFeature` naming ``what`` when it is empty."""
    if not region.any():
        raise UndefinedFeature(f"the {what} has no pixel in this crop (too small, or enlarge / mask leave no room)")
    return float(grey[region].mean())


def michelson(high: float, low: float) -> float:
    """``(high - low) / (high + low)``, in [-1, 1] for non-negative means; 0 when both are 0."""
    total = high + low
    return 0.0 if total <= 0 else (high - low) / total
