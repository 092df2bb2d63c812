"""Sharpness of a frame (colonoscopy frame quality): variance of the Laplacian and high-frequency energy."""

from __future__ import annotations

import cv2
import numpy as np

from .base import Extractor, Param, PreparedCrop, register_extractor
from .frame_masks import FOV_PARAMS, HIGHLIGHT_PARAMS, dilate, highlight_mask


@register_extractor("sharpness")
class Sharpness(Extractor):
    """How much fine detail the frame holds inside its field of view (low = defocused or blurred).

    On the grey working image ``g`` in 8-bit grey levels (``255 * luma``), inside the eroded field of view
    ``F`` (:meth:`PreparedCrop.field_of_view`) less the specular highlights grown by ``highlight_margin`` pixels
    (:func:`~explainendo.handcrafted.frame_masks.highlight_mask`: reflections and bubble rims are sharp whatever the
    focus, and are measured by ``specular_highlights``; the tissue's detail is what tells focus):

    * ``laplacian_variance``: ``Var_F(L)`` with the 4-neighbour Laplacian
      ``L = s(x+1, y) + s(x-1, y) + s(x, y+1) + s(x, y-1) - 4 s(x, y)`` of ``s``, the grey image smoothed by a
      Gaussian of SD ``smoothing`` pixels (borders mirrored, OpenCV's ``BORDER_REFLECT_101``): the classic focus
      measure (Pech-Pacheco et al., ICPR 2000) as a Laplacian of Gaussian, because sensor noise at the pixel scale
      survives any defocus and would otherwise keep a blurred frame's variance up (``smoothing: 0`` gives the
      plain Laplacian). A flat image gives 0; with ``smoothing: 0`` a one-pixel 0/200 checkerboard gives
      ``L = +-4 * 200``, so ``16 * 200^2``.
    * ``high_frequency_ratio``: the share of the spectrum's energy above ``cutoff`` cycles per pixel:
      pixels outside ``F`` are set to the mean inside it, the mean is removed, ``P = |FFT(g)|^2`` and the ratio is
      ``sum_{|f| > cutoff} P / sum_{f != 0} P`` with ``|f| = sqrt(fx^2 + fy^2)`` (``fx, fy`` in [-0.5, 0.5));
      0 for a flat image. The one-pixel checkerboard has all its energy at ``|f| = 0.707``: ratio 1.

    Columns: ``sharpness.laplacian_variance``, ``sharpness.high_frequency_ratio``.
    """

    params = {**FOV_PARAMS, **HIGHLIGHT_PARAMS,
              "highlight_margin": Param(2, int, "pixels around each highlight left out as well", minimum=0,
                                        maximum=32),
              "smoothing": Param(1.0, float, "SD (working pixels) of the Gaussian smoothing before the Laplacian; "
                                             "0: none", minimum=0.0, maximum=16.0),
              "cutoff": Param(0.25, float, "spatial frequency (cycles per working pixel) above which energy counts "
                                           "as high frequency", minimum=0.01, maximum=0.7)}

    def column_names(self) -> list[str]:
        return ["laplacian_variance", "high_frequency_ratio"]

    def compute(self, crop: PreparedCrop) -> np.ndarray:
        grey = crop.grey * 255.0
        c = self.config
        inside = crop.field_of_view(c["fov_level"], c["fov_erode"])
        # the smoothing kernel (radius 4 SD) and the Laplacian (1 pixel) carry an edge that far: keep that much away
        reach = 1 + int(np.ceil(4 * c["smoothing"]))
        inside = inside & ~dilate(highlight_mask(crop.working_rgb, c["value_min"], c["saturation_max"]),
                                  c["highlight_margin"] + reach)
        if reach > 1:  # and from the rim of the field of view
            inside = inside & cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=reach - 1,
                                        borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)
        smooth = grey if c["smoothing"] <= 0 else cv2.GaussianBlur(grey, (0, 0), c["smoothing"],
                                                                   borderType=cv2.BORDER_REFLECT_101)
        laplacian = cv2.Laplacian(smooth, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT_101)
        variance = float(laplacian[inside].var()) if inside.any() else 0.0
        return np.array([variance, high_frequency_ratio(grey, inside, self.config["cutoff"])])


def high_frequency_ratio(grey: np.ndarray, inside: np.ndarray, cutoff: float) -> float:
    """``sum_{|f| > cutoff} P / sum_{f != 0} P`` of the power spectrum of ``grey`` (outside ``inside`` set to
    the inside mean), 0 when there is no energy."""
    if not inside.any():
        return 0.0
    mean = float(grey[inside].mean())
    centred = np.where(inside, grey, mean) - mean
    power = np.abs(np.fft.fft2(centred)) ** 2
    fy = np.fft.fftfreq(grey.shape[0])[:, None]
    fx = np.fft.fftfreq(grey.shape[1])[None, :]
    radius = np.sqrt(fx ** 2 + fy ** 2)
    power[0, 0] = 0.0
    total = float(power.sum())
    return float(power[radius > cutoff].sum() / total) if total > 1e-12 * grey.size else 0.0
