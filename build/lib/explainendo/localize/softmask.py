"""Boxes <-> Gaussian soft masks, the target encoding of the ERCP ampulla localizer (Kim et al., Sci Rep 2021).

Encoding. Each box becomes a bivariate Gaussian centred on the box centre ``(cx, cy)``:

.. math::  m(x, y) = \\exp\\Big(-\\tfrac12\\big[(x - c_x)^2 / \\sigma_x^2 + (y - c_y)^2 / \\sigma_y^2\\big]\\Big),
           \\qquad \\sigma_x = w / 2,\\; \\sigma_y = h / 2

evaluated at pixel centres ``(col + 0.5, row + 0.5)``; several boxes combine by the pixel-wise maximum.
The paper says the "variance" follows half the box width and height. We read *half the box size* as the
**standard deviation**, because only that reading makes the paper's 0.6 decoding threshold meaningful:
``exp(-1/2) = 0.607``, so the 0.6 level set of an isolated box's mask is (almost exactly) the ellipse
inscribed in the box (semi-axes ``sqrt(2 ln(1/0.6)) sigma = 1.011 sigma``), and its bounding box is the box
itself (IoU ~0.98 on a pixel grid). Under the variance reading (``sigma = sqrt(w/2)`` pixels) the decoded
box would not scale with the box at all.

Decoding (paper): normalise the mask to peak 1, keep the pixels above ``threshold`` (0.6) that are
connected to the peak, return their bounding box; the box's score is the raw peak value (the predicted
probability). ``multi=True`` repeats this for every separate local peak, each normalised by its own height.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InvalidBoxError, InvalidImageError
from ..types import Box

#: exp(-1/2), the one-sigma level of a Gaussian; the paper rounds it to 0.6.
ONE_SIGMA_LEVEL = float(np.exp(-0.5))


def _shape_hw(shape) -> tuple[int, int]:
    try:
        h, w = int(shape[0]), int(shape[1])
    except (TypeError, ValueError, IndexError):
        raise InvalidImageError(f"mask shape must be (height, width), got {shape!r}") from None
    if h <= 0 or w <= 0:
        raise InvalidImageError(f"mask shape must be positive, got {shape!r}")
    return h, w


def boxes_to_soft_mask(boxes: Sequence[Box], shape, spread: float = 0.5) -> np.ndarray:
    """Soft mask ``(H, W)`` float32 in [0, 1] for ``boxes`` (pixel xyxy) on an image of ``shape``.

    ``sigma_x = spread * width`` and ``sigma_y = spread * height`` (``spread=0.5``: half the box size, see
    the module docstring). A box partly outside the image is kept (its Gaussian is cut by the border);
    a box entirely outside raises :class:`InvalidBoxError`. No boxes gives an all-zero mask (a negative frame).
    """
    h, w = _shape_hw(shape)
    if not spread > 0:
        raise InvalidBoxError(f"spread must be positive, got {spread}")
    mask = np.zeros((h, w), dtype=np.float32)
    xs = np.arange(w, dtype=np.float64) + 0.5
    ys = np.arange(h, dtype=np.float64) + 0.5
    for box in boxes:
        if not isinstance(box, Box):
            raise InvalidBoxError(f"expected explainendo.types.Box, got {type(box).__name__}")
        box.clip(w, h)  # raises when the box lies wholly outside the image
        cx, cy = box.center
        sx, sy = spread * box.width, spread * box.height
        gx = np.exp(-0.5 * ((xs - cx) / sx) ** 2)
        gy = np.exp(-0.5 * ((ys - cy) / sy) ** 2)
        np.maximum(mask, np.outer(gy, gx).astype(np.float32), out=mask)
    return mask


def _component_box(mask: np.ndarray, peak_rc: tuple[int, int], level: float, score: float,
                   label: str | None) -> tuple[Box, np.ndarray]:
    from scipy import ndimage

    above = mask >= level
    labels, _ = ndimage.label(above)
    region = labels == labels[peak_rc]
    rows = np.flatnonzero(region.any(axis=1))
    cols = np.flatnonzero(region.any(axis=0))
    box = Box(float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1), score=score, label=label)
    return box, region


def soft_mask_to_boxes(mask: np.ndarray, threshold: float = 0.6, multi: bool = False, min_peak: float = 0.0,
                       min_peak_ratio: float = 0.3, label: str | None = None) -> list[Box]:
    """Decode a soft mask into boxes (paper's rule; see the module docstring).

    ``threshold`` is relative to the peak (0.6 of the peak height). ``min_peak``: no box when the mask's
    maximum is below it (an empty frame). With ``multi=True`` every local maximum at least
    ``min_peak_ratio`` times the global peak (and ``>= min_peak``) whose region does not overlap an
    earlier, higher one gives a box; boxes come highest peak first.
    """
    m = np.asarray(mask, dtype=np.float64)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2 or m.size == 0:
        raise InvalidImageError(f"soft mask must be a 2-D array, got shape {m.shape}", source=mask)
    if not np.isfinite(m).all():
        raise InvalidImageError("soft mask holds NaN or inf", source=mask)
    if not 0 < threshold < 1:
        raise InvalidBoxError(f"threshold must be in (0, 1), got {threshold}")
    peak = float(m.max())
    if peak <= 0 or peak < min_peak:
        return []
    if not multi:
        rc = np.unravel_index(int(np.argmax(m)), m.shape)
        return [_component_box(m, rc, threshold * peak, peak, label)[0]]
    from scipy import ndimage

    local_max = (m == ndimage.maximum_filter(m, size=3, mode="constant", cval=-np.inf))
    floor = max(min_peak, min_peak_ratio * peak, 1e-12)
    cand = np.argwhere(local_max & (m >= floor))
    order = np.argsort(-m[cand[:, 0], cand[:, 1]], kind="stable")
    taken = np.zeros(m.shape, dtype=bool)
    boxes = []
    for r, c in cand[order]:
        if taken[r, c]:
            continue
        value = float(m[r, c])
        box, region = _component_box(m, (int(r), int(c)), threshold * value, value, label)
        if (region & taken).any():  # this peak's region merges with a higher peak's: same object
            taken |= region
            continue
        taken |= region
        boxes.append(box)
    return boxes
