"""Histogram of oriented gradients, summarised to a fixed length (ENDOANGEL-ED handcrafted feature 5)."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .base import Extractor, Param, PreparedCrop, register_extractor, shannon_entropy_bits

#: L2-Hys (Dalal and Triggs): L2-normalise, clip at 0.2, L2-normalise again; eps as in skimage.
L2HYS_CLIP = 0.2
EPS = 1e-5


def gradient_orientation(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient magnitude and unsigned orientation in ``[0, pi)`` with the ``[-1, 0, 1]`` kernels.

    ``gx = I(y, x+1) - I(y, x-1)``, ``gy = I(y+1, x) - I(y-1, x)`` with the image extended by edge
    replication (so a border pixel sees a half difference and a flat image has zero gradient),
    ``m = sqrt(gx^2 + gy^2)``, ``theta = atan2(gy, gx) mod pi``.
    """
    padded = np.pad(grey, 1, mode="edge")
    gx = padded[1:-1, 2:] - padded[1:-1, :-2]
    gy = padded[2:, 1:-1] - padded[:-2, 1:-1]
    magnitude = np.hypot(gx, gy)
    theta = np.mod(np.arctan2(gy, gx), math.pi)
    theta[theta >= math.pi] = 0.0  # mod can round -tiny up to exactly pi
    return magnitude, theta


def hog_blocks(magnitude: np.ndarray, theta: np.ndarray, orientations: int, cell_size: int,
               block_size: int) -> np.ndarray:
    """Block-normalised HOG descriptor, ``(n_blocks, block_cells, orientations)``, from
    :func:`gradient_orientation`'s magnitude and orientation.

    Dalal-Triggs HOG as in skimage's ``hog``: hard orientation binning (``bin = floor(theta / (pi / B))``),
    cell histograms of summed magnitudes on a grid of ``cell_size`` pixel cells (pixels beyond the last
    whole cell are dropped; an image smaller than a cell is one cell), blocks of ``block_size^2`` cells
    with stride one cell (fewer if the grid is smaller), each L2-Hys normalised:
    ``v <- v / sqrt(|v|^2 + eps^2)``, ``v <- min(v, 0.2)``, ``v <- v / sqrt(|v|^2 + eps^2)``.
    """
    h, w = magnitude.shape
    cell_h, cell_w = min(cell_size, h), min(cell_size, w)
    ny, nx = h // cell_h, w // cell_w
    magnitude = magnitude[: ny * cell_h, : nx * cell_w]
    bins = np.minimum((theta[: ny * cell_h, : nx * cell_w] * (orientations / math.pi)).astype(np.int64),
                      orientations - 1)
    cell_row = (np.arange(ny * cell_h) // cell_h)[:, None]
    cell_col = (np.arange(nx * cell_w) // cell_w)[None, :]
    index = ((cell_row * nx + cell_col) * orientations + bins).ravel()
    cells = np.bincount(index, weights=magnitude.ravel(), minlength=ny * nx * orientations)
    cells = cells.reshape(ny, nx, orientations)
    by, bx = min(block_size, ny), min(block_size, nx)
    blocks = sliding_window_view(cells, (by, bx), axis=(0, 1))  # (nby, nbx, B, by, bx)
    blocks = blocks.reshape(-1, orientations, by * bx).transpose(0, 2, 1)
    norm = np.sqrt((blocks ** 2).sum(axis=(1, 2), keepdims=True) + EPS ** 2)
    blocks = np.minimum(blocks / norm, L2HYS_CLIP)
    norm = np.sqrt((blocks ** 2).sum(axis=(1, 2), keepdims=True) + EPS ** 2)
    return blocks / norm


@register_extractor("hog")
class HistogramOfOrientedGradients(Extractor):
    """HOG of the grey working image, pooled over positions into an orientation distribution.

    The full HOG descriptor (see :func:`hog_blocks`) has a length that depends on the crop size; to give a
    fixed, small length it is pooled over all block positions and block cells:

    * ``bin_b = (1 / n_blocks) sum_blocks sum_cells v[block, cell, b]`` for ``b = 0..B-1``: the average
      block-normalised mass in orientation bin ``b`` (bin ``b`` covers ``[b pi / B, (b + 1) pi / B)``;
      ``theta = 0`` is a horizontal gradient, i.e. a vertical edge). All zero for a flat crop.
    * ``entropy = -sum_b q_b log2 q_b`` with ``q_b = bin_b / sum(bin)`` (bits; 0 when there is no gradient):
      low for one dominant edge direction, high for isotropic texture.
    * ``mean_magnitude = mean over pixels of m`` (the gradient magnitude of the grey image in [0, 1] units at
      the working resolution, before block normalisation): overall edge strength, which normalisation
      removes from the bins.

    Rotating a crop by 90 degrees moves the mass of bin ``b`` to bin ``b + B/2`` (mod ``B``) when ``B`` is
    even and the grid maps onto itself.

    References: Dalal N., Triggs B., "Histograms of oriented gradients for human detection", CVPR 2005;
    ENDOANGEL-ED (npj Digit Med 2023) feature "HOG".

    Columns: ``hog.bin_0 .. hog.bin_{B-1}``, ``hog.entropy``, ``hog.mean_magnitude`` (``B + 2``).
    """

    params = {
        "orientations": Param(9, int, "number of unsigned orientation bins B over [0, pi)", minimum=2, maximum=36),
        "cell_size": Param(8, int, "cell side in working-image pixels", minimum=2, maximum=64),
        "block_size": Param(2, int, "block side in cells (blocks move one cell at a time)", minimum=1, maximum=8),
    }

    def column_names(self) -> list[str]:
        return [f"bin_{b}" for b in range(self.config["orientations"])] + ["entropy", "mean_magnitude"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        magnitude, theta = gradient_orientation(crop.grey)
        blocks = hog_blocks(magnitude, theta, self.config["orientations"], self.config["cell_size"],
                            self.config["block_size"])
        pooled = blocks.sum(axis=1).mean(axis=0)
        return np.concatenate([pooled, [shannon_entropy_bits(pooled), float(magnitude.mean())]])
