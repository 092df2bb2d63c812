"""Motion blur of a frame (colonoscopy frame quality): its direction, how directional the blur is, its extent."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor
from .frame_masks import FOV_PARAMS


#: the high-pass before the extent search: the frame minus its Gaussian blur of this SD (fraction of the side)
HIGHPASS = 0.03
#: a linear blur shows as a dip of the derivative's autocorrelation below -DIP; none: extent 0
DIP = 0.1
#: ... and that dip is narrow: R(k) is at least SHARP_DIP * |R(k)| below the mean of R(k -+ DIP_HALF_WIDTH)
SHARP_DIP = 0.35
DIP_HALF_WIDTH = 4
#: blurs shorter than this (working pixels), or than 1.5 high-pass SDs, are not told from the filters' own dips
MIN_LAG = 4


@register_extractor("motion_blur")
class MotionBlur(Extractor):
    """Linear motion blur: a camera shake smears the frame along one direction, which removes the gradients
    along that direction and keeps those across it.

    On the grey working image high-passed (``g``: minus its Gaussian blur of SD ``0.03 * side``, so the folds' and
    the lumen's own orientation does not count as blur) inside the field of view ``F`` eroded by ``fov_erode``
    plus the high-pass's reach (2 SD), with central-difference gradients ``gx = (g(x+1) - g(x-1)) / 2``, ``gy``
    likewise, and the structure tensor
    ``J = sum_F [[gx^2, gx gy], [gx gy, gy^2]]`` with eigenvalues ``l1 >= l2``:

    * ``anisotropy``: ``(l1 - l2) / (l1 + l2)`` in [0, 1]; 0 for isotropic detail (or none), near 1 when all
      gradient energy lies across one direction (strong linear blur).
    * ``direction_deg``: the blur direction, the eigenvector of ``l2`` (least gradient energy), in degrees
      from the image x axis (rightwards) towards y (downwards), in [0, 180): 0 = horizontal, 90 = vertical.
    * ``extent``: the blur length as a fraction of the working image's longer side: ``g`` is rotated so the
      blur direction is horizontal, differentiated along it, and the autocorrelation ``R(k)`` of that derivative
      along rows (inside the rotated field, eroded further) is taken for lags ``k = 1 .. max_extent * side``;
      a box blur of length ``k`` makes the derivative a difference of two copies ``k`` apart, so ``R`` has its
      negative minimum at ``k`` (Yitzhaky and Kopeika, CVGIP 1997). The high-pass matters here too (folds and
      lumen would otherwise dominate every lag); the rotated image is also lightly smoothed (SD 1 pixel: the
      staircase of an oblique blur puts a spurious dip at lag 1-2).
      ``extent = argmin_k R(k) / side`` when that dip is below -0.1 and narrow (at least 0.35 |R(k)| below the
      mean of ``R(k - 4)`` and ``R(k + 4)``: a box blur's dip is a few pixels wide whatever its length, while the
      negative lobe that an isotropic blur such as defocus leaves after the high-pass is as broad as the blur),
      else 0 (no linear blur found: a sharp or defocused frame, or a blurred view too smooth to show its kernel).
      Lags under ``max(4, 1.5 * 0.03 * side)`` pixels (4.5% of the side) are not searched: the smoothing and the
      high-pass put dips of their own there, so shorter blurs read as 0.

    Columns: ``motion_blur.anisotropy``, ``motion_blur.direction_deg``, ``motion_blur.extent``.
    """

    params = {**FOV_PARAMS,
              "max_extent": Param(0.25, float, "longest blur searched, as a fraction of the working image's longer "
                                               "side", minimum=0.01, maximum=0.5)}

    def column_names(self) -> list[str]:
        return ["anisotropy", "direction_deg", "extent"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        grey = high_pass(crop.grey)
        # the high-pass turns the field's rim into an edge 2 SD wide: keep that far from it as well
        reach = int(math.ceil(2 * HIGHPASS * max(grey.shape)))
        inside = crop.field_of_view(self.config["fov_level"], self.config["fov_erode"] + reach)
        anisotropy, direction = blur_direction(grey, inside)
        side = max(grey.shape)
        lag = blur_extent(grey, inside, direction, max(2, int(round(self.config["max_extent"] * side))))
        return np.array([anisotropy, direction, lag / side])


def _central_gradients(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kernel = np.array([[-0.5, 0.0, 0.5]])
    gx = cv2.filter2D(grey, cv2.CV_64F, kernel, borderType=cv2.BORDER_REFLECT_101)
    gy = cv2.filter2D(grey, cv2.CV_64F, kernel.T, borderType=cv2.BORDER_REFLECT_101)
    return gx, gy


def high_pass(grey: np.ndarray) -> np.ndarray:
    """``grey`` minus its Gaussian blur of SD ``HIGHPASS * side``: the fine detail a blur acts on, without the
    folds and the lumen (whose own orientation is the scene's, not the blur's)."""
    sigma = HIGHPASS * max(grey.shape)
    return grey - cv2.GaussianBlur(grey, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


def blur_direction(grey: np.ndarray, inside: np.ndarray) -> tuple[float, float]:
    """``(anisotropy, direction_deg)`` from the structure tensor of ``grey`` over ``inside`` (class docstring)."""
    gx, gy = _central_gradients(grey)
    a, b, c = (float((v[inside]).sum()) for v in (gx * gx, gx * gy, gy * gy))
    trace = a + c
    if trace <= 1e-18:
        return 0.0, 0.0
    spread = math.hypot((a - c) / 2.0, b)
    anisotropy = 2.0 * spread / trace
    strongest = 0.5 * math.degrees(math.atan2(2.0 * b, a - c))  # the direction of most gradient energy
    return float(min(1.0, anisotropy)), float((strongest + 90.0) % 180.0)


def blur_extent(grey: np.ndarray, inside: np.ndarray, direction_deg: float, max_lag: int) -> int:
    """The lag (working pixels) of the most negative autocorrelation of the derivative along ``direction_deg``."""
    h, w = grey.shape  # ``grey`` is high-passed and ``inside`` kept clear of the rim (MotionBlur.compute)
    # rotating by +direction (OpenCV: counter-clockwise on screen) turns the blur direction horizontal
    rotation = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), direction_deg, 1.0)
    turned = cv2.warpAffine(grey, rotation, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    valid = cv2.warpAffine(inside.astype(np.uint8), rotation, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    valid = cv2.erode(valid, np.ones((3, 3), np.uint8), iterations=1).astype(bool)
    # a light smoothing first: the staircase of an oblique blur and the rotation's interpolation otherwise put
    # a spurious dip at lag 1-2 that can be deeper than the blur's own
    turned = cv2.GaussianBlur(turned, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT_101)
    derivative = np.diff(turned, axis=1)
    both = valid[:, 1:] & valid[:, :-1]
    d = np.where(both, derivative, 0.0)
    d = d - np.where(both, d, 0.0).sum(axis=1, keepdims=True) / np.maximum(both.sum(axis=1, keepdims=True), 1) * both
    energy = float((d * d).sum())
    max_lag = min(max_lag, d.shape[1] - 1)
    if energy <= 1e-18 or max_lag < 1:
        return 0
    n = 1 << int(math.ceil(math.log2(2 * d.shape[1])))
    spectrum = np.fft.rfft(d, n=n, axis=1)
    corr = np.fft.irfft(spectrum * np.conj(spectrum), n=n, axis=1).sum(axis=0)[1:max_lag + 1] / energy
    # the smoothing and the high-pass put narrow dips of their own at short lags
    corr[:max(MIN_LAG, int(math.ceil(1.5 * HIGHPASS * max(h, w)))) - 1] = 0.0
    lag = int(np.argmin(corr))
    if corr[lag] >= -DIP:
        return 0
    # a box blur's dip is narrow (a few pixels, whatever its lag); the negative lobe an isotropic blur leaves
    # after the high-pass is as broad as the blur
    sides = [corr[k] for k in (lag - DIP_HALF_WIDTH, lag + DIP_HALF_WIDTH) if 0 <= k < len(corr)]
    if sides and (float(np.mean(sides)) - float(corr[lag])) < SHARP_DIP * abs(float(corr[lag])):
        return 0
    return lag + 1
