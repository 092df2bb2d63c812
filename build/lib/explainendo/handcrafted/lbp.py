"""Uniform local binary pattern texture statistics (ENDOANGEL-ED handcrafted feature 4)."""

from __future__ import annotations

import math

import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor, shannon_entropy_bits


def uniform_lbp(grey: np.ndarray, points: int, radius: float) -> np.ndarray:
    """Rotation-invariant uniform LBP codes (Ojala et al. 2002, ``LBP^{riu2}_{P,R}``) of a 2-D image.

    For each pixel ``g_c`` and ``P`` neighbours ``g_p`` on a circle of radius ``R`` (neighbour ``p`` at row
    offset ``-R sin(2 pi p / P)`` and column offset ``R cos(2 pi p / P)``, bilinearly interpolated):

    ``s_p = 1 if g_p >= g_c else 0``, ``U = sum_p |s_p - s_{p-1}|`` (circular) and
    ``code = sum_p s_p if U <= 2 else P + 1``, so codes lie in ``0..P+1``.

    This is skimage's ``local_binary_pattern(method="uniform")`` in vectorised numpy, except at the border:
    the image is extended by edge replication (skimage uses zeros), so a flat image gives every pixel the
    same code ``P``. Interpolation is written as ``a + f (b - a)`` so a flat neighbourhood interpolates to
    exactly its value (no 1-ulp flips of ``s_p``). Offsets are rounded to 5 decimals, as skimage does, so
    axis neighbours are whole pixels.
    """
    pad = int(math.ceil(radius)) + 1
    padded = np.pad(grey, pad, mode="edge")
    h, w = grey.shape
    centre = grey
    bits = np.empty((points, h, w), dtype=bool)
    for p in range(points):
        angle = 2.0 * math.pi * p / points
        dy = round(-radius * math.sin(angle), 5)
        dx = round(radius * math.cos(angle), 5)
        y0, x0 = math.floor(dy), math.floor(dx)
        fy, fx = dy - y0, dx - x0
        top = padded[pad + y0: pad + y0 + h, pad + x0: pad + x0 + w]
        if fx == 0.0 and fy == 0.0:
            value = top
        else:
            top_right = padded[pad + y0: pad + y0 + h, pad + x0 + 1: pad + x0 + 1 + w]
            bottom = padded[pad + y0 + 1: pad + y0 + 1 + h, pad + x0: pad + x0 + w]
            bottom_right = padded[pad + y0 + 1: pad + y0 + 1 + h, pad + x0 + 1: pad + x0 + 1 + w]
            upper = top + fx * (top_right - top)
            lower = bottom + fx * (bottom_right - bottom)
            value = upper + fy * (lower - upper)
        bits[p] = value >= centre
    ones = bits.sum(axis=0)
    transitions = (bits != np.roll(bits, 1, axis=0)).sum(axis=0)
    return np.where(transitions <= 2, ones, points + 1)


@register_extractor("lbp")
class LocalBinaryPattern(Extractor):
    """Uniform LBP histogram and summary statistics of the grey working image.

    Codes ``c`` in ``0..P+1`` from :func:`uniform_lbp` (``P`` = ``points``, ``R`` = ``radius``) on the grey
    image at the working resolution. With ``h_k`` the fraction of pixels with code ``k``:

    * ``hist_k = h_k`` for ``k = 0..P+1`` (``hist_P`` is "all neighbours >= centre": flat areas and
      local minima; ``hist_{P+1}`` collects the non-uniform patterns)
    * ``mean = sum_k k h_k``, ``std = sqrt(sum_k (k - mean)^2 h_k)``
    * ``entropy = -sum_k h_k log2 h_k`` (bits)

    References: Ojala T., Pietikainen M., Maenpaa T., "Multiresolution gray-scale and rotation invariant
    texture classification with local binary patterns", IEEE TPAMI 24(7), 2002; ENDOANGEL-ED
    (npj Digit Med 2023) feature "LBP texture".

    Columns: ``lbp.hist_0 .. lbp.hist_{P+1}``, ``lbp.mean``, ``lbp.std``, ``lbp.entropy`` (``P + 5``).
    """

    params = {
        "points": Param(8, int, "number of circle neighbours P", minimum=4, maximum=24),
        "radius": Param(1.0, float, "circle radius R in working-image pixels", minimum=0.5, maximum=8.0),
    }

    def column_names(self) -> list[str]:
        n_codes = self.config["points"] + 2
        return [f"hist_{k}" for k in range(n_codes)] + ["mean", "std", "entropy"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        points = self.config["points"]
        codes = uniform_lbp(crop.grey, points, float(self.config["radius"]))
        counts = np.bincount(codes.ravel(), minlength=points + 2).astype(np.float64)
        hist = counts / counts.sum()
        k = np.arange(points + 2, dtype=np.float64)
        mean = float(hist @ k)
        std = float(math.sqrt(max(0.0, hist @ (k - mean) ** 2)))
        return np.concatenate([hist, [mean, std, shannon_entropy_bits(counts)]])
