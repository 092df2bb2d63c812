"""Motion blur of a frame (colonoscopy frame quality): how directional the blur is, its direction and extent."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor
from .frame_masks import FOV_PARAMS, crop_directional_detail


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
    """Linear motion blur: a camera shake smears the frame along one direction, which removes the fine detail along
    that direction and keeps the detail across it.

    Direction and strength come from the frame's directional detail
    (:func:`~explainendo.handcrafted.frame_masks.directional_detail`: the band power of the locally high-passed grey
    image in 30 orientations, inside the field of view ``F`` eroded by ``fov_erode``, relative to the frame's
    variance):

    * ``anisotropy``: ``ln(max_theta E / min_theta E)``, >= 0:
      how much more detail the sharpest orientation keeps than the most blurred one. Defocus, fluid and bubbles
      leave it at or below a clear view's (they blur, veil or add detail in every orientation alike); a linear blur
      raises it. (It replaced the structure tensor's ``(l1 - l2) / (l1 + l2)``, which a clear view's folds made
      0.2-0.5 while the pixel noise left on a defocused, fluid or bubbly frame made it about 0: that *drop* was read
      by the fitters as evidence of motion blur on every other degradation.)
    * ``direction_deg``: the blur direction, where the second harmonic fitted to ``ln E(theta)`` over the 30
      orientations is lowest (``0.5 * arg(-sum_k ln E_k exp(2i theta_k))``), in degrees from the image x axis
      (rightwards) towards y (downwards), in [0, 180): 0 = horizontal, 90 = vertical. (The single lowest sector is
      noisy where a short blur's sidelobes cross the band; the fit uses every orientation.)
    * ``extent``: the blur length as a fraction of the working image's longer side. The grey working image,
      high-passed (``g``: minus its Gaussian blur of SD ``0.03 * side``, so folds and lumen do not dominate), is
      rotated so the blur direction is horizontal, lightly smoothed (SD 1 pixel: the staircase of an oblique blur
      puts a spurious dip at lag 1-2), differentiated along it, and the autocorrelation ``R(k)`` of that derivative
      along rows (inside the rotated field, kept ``fov_erode`` plus the high-pass's reach, 2 SD, from the rim) is
      taken for lags ``k = 1 .. max_extent * side``; a box blur of length ``k`` makes the derivative a difference of
      two copies ``k`` apart, so ``R`` has its negative minimum at ``k`` (Yitzhaky and Kopeika, CVGIP 1997).
      Lags under ``max(4, 1.5 * 0.03 * side)`` pixels (4.5% of the side) are not searched (the smoothing and the
      high-pass put dips of their own there). ``extent = k / side`` for the deepest ``R(k)`` when it is below -0.1,
      is not at the first lag searched (there the high-pass's own negative lobe runs on: clear phantom views read
      0.047 from it before issue 21, and every blurred frame's 0 then looked like evidence), and is narrow (at least
      0.35 |R(k)| below the mean of ``R(k - 4)`` and ``R(k + 4)``, those of them among the lags searched: a box
      blur's dip is a few pixels wide whatever its length, the negative lobe an isotropic blur leaves after the
      high-pass is as broad as the blur); else 0.

    Not a column: the detail left in the most blurred orientation itself (``ln(min_theta E / V)``). Defocus lowers
    it as much as a shake does, so with it the fitters credited ``motion_blur`` for defocused frames (measured on
    colon phantoms, docs/colon.md); the ratio to the sharpest orientation (``anisotropy``) is what only a shake
    raises.

    Columns: ``motion_blur.anisotropy``, ``motion_blur.direction_deg``, ``motion_blur.extent``.
    """

    params = {**FOV_PARAMS,
              "max_extent": Param(0.25, float, "longest blur searched, as a fraction of the working image's longer "
                                               "side", minimum=0.01, maximum=0.5)}

    def column_names(self) -> list[str]:
        return ["anisotropy", "direction_deg", "extent"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        sharpest, blurriest, direction = crop_directional_detail(crop, self.config["fov_level"],
                                                                 self.config["fov_erode"])
        grey = high_pass(crop.grey)
        # the high-pass turns the field's rim into an edge 2 SD wide: keep that far from it as well
        reach = int(math.ceil(2 * HIGHPASS * max(grey.shape)))
        inside = crop.field_of_view(self.config["fov_level"], self.config["fov_erode"] + reach)
        side = max(grey.shape)
        lag = blur_extent(grey, inside, direction, max(2, int(round(self.config["max_extent"] * side))))
        return np.array([sharpest - blurriest, direction, lag / side])


def high_pass(grey: np.ndarray) -> np.ndarray:
    """``grey`` minus its Gaussian blur of SD ``HIGHPASS * side``: the fine detail a blur acts on, without the
    folds and the lumen (whose own orientation is the scene's, not the blur's)."""
    sigma = HIGHPASS * max(grey.shape)
    return grey - cv2.GaussianBlur(grey, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


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
    # the smoothing and the high-pass put narrow dips of their own at short lags: those are not searched
    first = max(MIN_LAG, int(math.ceil(1.5 * HIGHPASS * max(h, w)))) - 1  # the first lag searched (index)
    if first >= len(corr):
        return 0
    lag = first + int(np.argmin(corr[first:]))
    # a minimum at the first lag searched is the high-pass's own negative lobe running on, not a dip
    if lag == first or corr[lag] >= -DIP:
        return 0
    # a box blur's dip is narrow (a few pixels, whatever its lag); the negative lobe an isotropic blur leaves
    # after the high-pass is as broad as the blur (the sides are taken among the lags searched)
    sides = [float(corr[k]) for k in (lag - DIP_HALF_WIDTH, lag + DIP_HALF_WIDTH) if first <= k < len(corr)]
    if not sides or (float(np.mean(sides)) - float(corr[lag])) < SHARP_DIP * abs(float(corr[lag])):
        return 0
    return lag + 1
