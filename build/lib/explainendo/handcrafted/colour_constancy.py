"""Colour constancy before the colour features: take the centre's light source and processor out of the crop.

Every centre's processor and light source tint its frames; a handcrafted colour feature (dominant colour,
colour moments, HSI saturation) measured on the raw crop carries that tint, and a model trained on some
centres reads the tint of a new centre as a change of the lesion's colour. The shades-of-grey family of
illuminant estimates (Finlayson & Trezzi, "Shades of grey and colour constancy", CIC 2004) removes a
global per-channel cast:

    e_c  = ( mean over the reference pixels of I_c(x) ** p ) ** (1 / p)      for c in R, G, B
    g_c  = (e_R + e_G + e_B) / 3 / e_c
    I'_c = clip(g_c * I_c, 0, full scale)

``p = 1`` is the grey-world assumption (Buchsbaum 1980: the average reflectance is grey), ``p = inf`` the
white patch (max-RGB: ``e_c`` is the channel's maximum), and ``p = 6`` the value Finlayson & Trezzi found
best, the usual "shades of grey". The gains keep the mean of ``e`` (the overall brightness) and equalise
the channels, so a uniformly colour-cast image becomes grey.

``reference="frame"`` (the default) estimates ``e`` on the whole frame the lesion was cut from, skipping
dark pixels (the black border and vignetting: every channel below ``dark``) and clipped ones (any channel
at or above ``bright``: specular highlights, overlay text). The lesion's colour *relative to the mucosa
around it* is what the diagnosis reads (a reddened lesion on normal mucosa), and a crop-wise estimate
would grey the lesion itself; the frame-wise estimate removes only what the whole frame shares, which is
the centre's cast. ``reference="crop"`` uses the crop's own pixels (for crops without their frame).
"""

from __future__ import annotations

from typing import Any, Mapping

import logging

import numpy as np

from ..errors import ConfigError, InvalidImageError
from ..io.image import rgb_and_full_scale
from .base import Param

logger = logging.getLogger(__name__)

#: method -> Minkowski exponent p (None: take ``p`` from the params)
METHODS = {"none": None, "grey_world": 1.0, "shades_of_grey": None, "max_rgb": np.inf}

PARAMS = {
    "method": Param("none", str, "colour constancy before the colour features: none, grey_world (p=1), "
                    "shades_of_grey (p below) or max_rgb (p=inf)", choices=tuple(METHODS)),
    "p": Param(6.0, float, "the Minkowski exponent of shades_of_grey (Finlayson & Trezzi 2004: 6)", minimum=1.0,
               maximum=64.0),
    "reference": Param("frame", str, "where the illuminant is estimated: the whole frame (keeps the lesion's "
                       "colour relative to the mucosa) or the crop itself", choices=("frame", "crop")),
    "dark": Param(0.08, float, "reference pixels with every channel below this fraction of full scale are left "
                  "out (black border, vignetting)", minimum=0.0, maximum=1.0),
    "bright": Param(0.98, float, "reference pixels with any channel at or above this fraction of full scale are "
                    "left out (specular highlights, overlay text)", minimum=0.0, maximum=1.0),
}


def exponent(params: Mapping[str, Any]) -> float | None:
    """The Minkowski ``p`` of ``params["method"]``; None for ``method="none"``."""
    method = params["method"]
    if method == "none":
        return None
    fixed = METHODS[method]
    return float(params["p"]) if fixed is None else float(fixed)


def illuminant(image: Any, p: float, dark: float = 0.08, bright: float = 0.98, max_pixels: int = 65536
               ) -> np.ndarray:
    """``e`` (3,), in [0, 1] of full scale: the shades-of-grey estimate of ``image``'s illuminant (module
    docstring) over its usable pixels (a regular grid of at most ``max_pixels``). Raises
    :class:`~explainendo.errors.InvalidImageError` when no pixel is usable or a channel is black."""
    rgb, full = rgb_and_full_scale(image)
    stride = max(1, int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / max_pixels))))
    pixels = rgb[::stride, ::stride].reshape(-1, 3).astype(np.float64) / full
    usable = (pixels.max(axis=1) >= dark) & (pixels.max(axis=1) < bright) if bright < 1.0 else (
        pixels.max(axis=1) >= dark)
    pixels = pixels[usable]
    if len(pixels) == 0:
        raise InvalidImageError("no pixel is usable for the colour-constancy estimate (all dark or clipped)",
                                hint="lower colour_constancy.dark or raise colour_constancy.bright, or use "
                                     "reference: crop")
    e = pixels.max(axis=0) if np.isinf(p) else np.mean(pixels ** p, axis=0) ** (1.0 / p)
    if np.any(e <= 0):
        raise InvalidImageError(f"a colour channel is black in the reference pixels (estimate {e.round(4)})",
                                hint="colour constancy needs all three channels")
    return e


def gains(e: np.ndarray) -> np.ndarray:
    """``g_c = mean(e) / e_c``: equalise the channels, keep the brightness."""
    e = np.asarray(e, dtype=np.float64)
    return e.mean() / e


def apply_gains(crop: Any, g: np.ndarray) -> np.ndarray:
    """``clip(g_c * I_c)`` at the crop's own precision and dtype (uint8, uint16 or float in [0, 1])."""
    rgb, full = rgb_and_full_scale(crop)
    out = np.clip(rgb.astype(np.float64) * np.asarray(g, dtype=np.float64), 0.0, full)
    if np.issubdtype(rgb.dtype, np.integer):
        return np.rint(out).astype(rgb.dtype)
    return out.astype(rgb.dtype)


def correct(crops: list, frames: list | None, params: Mapping[str, Any], names: list | None = None,
            strict: bool = False) -> list:
    """``crops`` colour-corrected by ``params`` (the ``colour_constancy`` section); unchanged for ``none``.

    With ``reference="frame"``, ``frames[i]`` is the frame of ``crops[i]`` (a frame shared by several lesions
    is estimated once); without frames, ``reference="frame"`` raises :class:`ConfigError` before any
    work (no silent switch to the crop). A lesion whose estimate fails (a black or clipped frame) becomes
    ``None`` with a warning naming it: the extractors give that lesion a row of NaN, the others go on
    (``strict``: it raises instead)."""
    p = exponent(params)
    if p is None:
        return list(crops)
    if params["reference"] == "frame" and (frames is None or any(f is None for f in frames)):
        raise ConfigError("colour_constancy.reference is 'frame' but the lesions have no frames",
                                hint="pass LesionSamples with frames, or set colour_constancy.reference: crop")
    cache: dict[int, Any] = {}
    out: list = []
    for i, crop in enumerate(crops):
        reference = frames[i] if params["reference"] == "frame" else crop
        key = id(reference)
        if key not in cache:
            try:
                cache[key] = gains(illuminant(reference, p, params["dark"], params["bright"]))
            except InvalidImageError as error:
                cache[key] = error
        g = cache[key]
        if isinstance(g, InvalidImageError):
            if strict:
                raise g
            where = names[i] if names is not None else f"lesion {i}"
            logger.warning("colour constancy failed for %s (%s); its handcrafted features are NaN", where, g)
            out.append(None)
            continue
        out.append(apply_gains(crop, g))
    return out
