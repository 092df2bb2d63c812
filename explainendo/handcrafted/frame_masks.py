"""What the frame-quality extractors share: the field-of-view parameters and the directional detail of a frame
(``sharpness`` reads its sharpest orientation, ``motion_blur`` its most blurred one)."""

from __future__ import annotations

import functools

import cv2
import numpy as np

from .base import Param

FOV_PARAMS = {
    "fov_level": Param(0.08, float, "the field of view is the largest region whose brightest channel exceeds this "
                                    "(fraction of full scale)", minimum=0.0, maximum=1.0),
    "fov_erode": Param(3, int, "pixels of the working image taken off the field of view's rim, so its edge is "
                               "not measured as image detail", minimum=0, maximum=64),
}

#: the directional detail's frequency band, in cycles per working-image side (wavelengths of 2.6-6.5% of the side:
#: about 7-17 pixels at 256): above the folds and the lumen, below the sensor noise
DETAIL_BAND = (15.0, 38.0)
#: its orientations: sectors this wide (degrees), one every DETAIL_STEP degrees
DETAIL_SECTOR = 12.0
DETAIL_STEP = 6.0
#: the local mean taken off before the spectrum (Gaussian SD, fraction of the side), and the SD of the taper that
#: fades the field of view's rim out of it (fraction of the side)
DETAIL_HIGHPASS = 0.03
DETAIL_TAPER = 0.025


def directional_detail(grey: np.ndarray, inside: np.ndarray) -> tuple[float, float, float]:
    """``(sharpest, blurriest, blurriest_deg)``: the frame's fine detail in its sharpest and in its most blurred
    orientation, and the most blurred orientation (shared by ``sharpness`` and ``motion_blur``).

    On ``grey`` (any scale) inside the field of view ``F``: the local mean (normalised convolution over ``F``
    with a Gaussian of SD ``DETAIL_HIGHPASS * side``) is taken off, the rest is multiplied by the taper
    ``w = (F * G_t) F`` (``G_t``: a Gaussian of SD ``DETAIL_TAPER * side``, so the rim adds no edge of its own), and
    ``P(f) = |FFT((g - mean_local) w)|^2 / sum(w)``. For each orientation ``theta = 0, 6, ..., 174`` degrees (of
    the frequency vector: x rightwards, y downwards) ``E(theta)`` is the mean of ``P`` over the frequencies of the
    band ``DETAIL_BAND`` (cycles per side) within ``DETAIL_SECTOR / 2`` degrees of ``theta``. Relative to the
    frame's variance ``V = Var_F(g)``: ``sharpest = ln(max E / V)``, ``blurriest = ln(min E / V)`` (powers floored
    at ``1e-9 V``), and ``blurriest_deg`` where the second harmonic fitted to ``ln E`` is lowest,
    ``0.5 * arg(-sum_k ln E_k exp(2i theta_k))`` in [0, 180).

    A linear blur along ``phi`` removes the frequencies along ``phi`` and keeps those across it: ``blurriest`` falls
    at ``theta = phi`` while ``sharpest`` stays near a clear view's; defocus removes every orientation (both fall);
    a clear view keeps both. A flat frame (``V = 0``) or a band without frequencies (a tiny image) gives
    ``(0, 0, 0)``."""
    h, w = grey.shape
    side = max(h, w)
    field = inside.astype(np.float64)
    total = float(field.sum())
    if total < 1:
        return 0.0, 0.0, 0.0
    g = grey.astype(np.float64)
    variance = float((((g - (g * field).sum() / total) ** 2) * field).sum() / total)
    if variance <= 1e-18:
        return 0.0, 0.0, 0.0
    sigma = DETAIL_HIGHPASS * side
    local = (cv2.GaussianBlur(g * field, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
             / np.maximum(cv2.GaussianBlur(field, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT), 1e-9))
    taper = cv2.GaussianBlur(field, (0, 0), DETAIL_TAPER * side, borderType=cv2.BORDER_CONSTANT) * field
    index, sector, counts = _sector_geometry(h, w)
    if index.size == 0:
        return 0.0, 0.0, 0.0
    # the power only at the band's frequencies (the same values as over the whole spectrum, a fraction of the work)
    spectrum = np.fft.fft2((g - local) * taper).reshape(-1)
    power = np.abs(spectrum[index]) ** 2 / max(float(taper.sum()), 1e-9)
    sums = np.bincount(sector, weights=power, minlength=len(counts))
    filled = counts > 0
    thetas = (np.arange(len(counts)) * DETAIL_STEP)[filled]
    energies = sums[filled] / counts[filled]
    energies = np.maximum(np.array(energies), 1e-9 * variance)
    # the blur direction: where the second harmonic of ln E(theta) is lowest (a fit over all orientations; the
    # single lowest sector is noisy where a short blur's sidelobes cross the band)
    harmonic = np.sum(np.log(energies) * np.exp(2j * np.radians(thetas)))
    direction = round(float(np.degrees(np.angle(-harmonic)) / 2.0), 9) % 180.0 if abs(harmonic) > 0 else 0.0
    return (float(np.log(energies.max() / variance)), float(np.log(energies.min() / variance)), float(direction))


@functools.lru_cache(maxsize=16)
def _sector_geometry(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For an ``(h, w)`` spectrum: the flat indices of the band's frequencies (each listed once per orientation
    sector it lies in), their sector numbers, and the number of frequencies per sector."""
    side = max(h, w)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    radius = np.sqrt(fx ** 2 + fy ** 2) * side
    band = ((radius >= DETAIL_BAND[0]) & (radius < DETAIL_BAND[1])).reshape(-1)
    angle = (np.degrees(np.arctan2(fy, fx)) % 180.0 + np.zeros((h, w))).reshape(-1)[band]
    flat = np.flatnonzero(band)
    n = int(round(180.0 / DETAIL_STEP))
    index, sector = [], []
    for k in range(n):
        near = np.abs((angle - k * DETAIL_STEP + 90.0) % 180.0 - 90.0) < DETAIL_SECTOR / 2
        index.append(flat[near])
        sector.append(np.full(int(near.sum()), k))
    index, sector = np.concatenate(index), np.concatenate(sector)
    return index, sector, np.bincount(sector, minlength=n).astype(float)


def crop_directional_detail(crop, level: float, erode: int) -> tuple[float, float, float]:
    """:func:`directional_detail` of a prepared crop's grey image inside its field of view (``level``, ``erode``),
    computed once per crop and field: ``sharpness`` and ``motion_blur`` both read it."""
    cache = crop.__dict__.setdefault("_directional_detail", {})
    key = (float(level), int(erode))
    if key not in cache:
        cache[key] = directional_detail(crop.grey, crop.field_of_view(level, erode))
    return cache[key]
