"""Shared, vectorised drawing primitives for the phantom generators (float32 images in [0, 1]).

Everything is numpy / OpenCV on whole arrays with cached coordinate grids, so one 256 px phantom costs a
few milliseconds. Every random choice comes from the ``rng`` passed in (no global state), so a phantom is a
pure function of its seed.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


@lru_cache(maxsize=16)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(yy, xx)`` pixel-centre coordinates normalised to [-1, 1] (float32, read-only, cached per size)."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    yy, xx = np.meshgrid(c, c, indexing="ij")
    yy.setflags(write=False)
    xx.setflags(write=False)
    return yy, xx


@lru_cache(maxsize=16)
def field_of_view(size: int, kind: str) -> np.ndarray:
    """Soft mask of the endoscope's field of view: ``circle`` or ``octagon`` (cut corners), black outside."""
    yy, xx = grid(size)
    px = 2.0 / size  # one pixel in normalised units
    if kind == "circle":
        d = np.sqrt(xx * xx + yy * yy) - 0.99
    elif kind == "octagon":
        d = np.maximum(np.maximum(np.abs(xx), np.abs(yy)) - 0.97, (np.abs(xx) + np.abs(yy)) / np.sqrt(2) - 0.98)
    else:
        raise ValueError(f"unknown field of view '{kind}' (circle or octagon)")
    mask = np.clip(0.5 - d / px, 0.0, 1.0).astype(np.float32)
    mask.setflags(write=False)
    return mask


def smooth_noise(rng: np.random.Generator, size: int, cells: int, octaves: int = 1,
                 persistence: float = 0.5) -> np.ndarray:
    """Band-limited noise (zero mean, about unit std): random ``(cells+1)^2`` grids upsampled bicubically,
    summed over ``octaves`` that double the frequency and scale the amplitude by ``persistence``."""
    out = None
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        cells_i = max(2, min(int(cells), size))
        small = rng.standard_normal((cells_i + 1, cells_i + 1), dtype=np.float32)
        big = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        out = big * np.float32(amp) if out is None else cv2.scaleAdd(big, amp, out)
        total += amp * amp
        amp *= persistence
        cells *= 2
    return out * np.float32(1.0 / np.sqrt(total))


@lru_cache(maxsize=8)
def _noise_bank(n: int) -> np.ndarray:
    """A fixed block of unit Gaussian noise (seeded, so phantoms stay pure functions of their seed)."""
    bank = np.random.default_rng(20231123).standard_normal(n, dtype=np.float32)
    bank.setflags(write=False)
    return bank


def sensor_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit Gaussian noise of ``shape``: a random window of a fixed noise bank (far cheaper than drawing)."""
    n = int(np.prod(shape))
    bank = _noise_bank(4 * n)
    start = int(rng.integers(0, 3 * n))
    return bank[start:start + n].reshape(shape)


def ridges(noise: np.ndarray, width: float) -> np.ndarray:
    """Thin line network where ``noise`` crosses zero (vessels, crypts): ``exp(-(noise/width)^2)``."""
    return np.exp(-(noise / np.float32(width)) ** 2)


def gaussian_blob(size: int, cy: float, cx: float, radius: float) -> np.ndarray:
    """``exp(-d^2 / r^2)`` around a point given in normalised coordinates."""
    yy, xx = grid(size)
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / np.float32(radius * radius))


def shade(height: np.ndarray, light: tuple[float, float], strength: float) -> np.ndarray:
    """Lambert-like shading ``1 + strength * (n . light)`` with the normal ``n ~ (-dh/dy, -dh/dx)``: ``light``
    (dy, dx) points from the surface towards the light, so slopes facing it brighten (``h`` in pixels)."""
    gy, gx = np.gradient(height)
    return 1.0 - np.float32(strength) * (gy * np.float32(light[0]) + gx * np.float32(light[1]))


def vignette(size: int, cy: float, cx: float, falloff: float) -> np.ndarray:
    """Light falloff away from the light centre: ``1 / (1 + falloff * d^2)``."""
    yy, xx = grid(size)
    return 1.0 / (1.0 + np.float32(falloff) * ((yy - cy) ** 2 + (xx - cx) ** 2))


def specular_spots(rng: np.random.Generator, size: int, count: int, where: np.ndarray | None = None,
                   radius: tuple[float, float] = (0.004, 0.015)) -> np.ndarray:
    """A [0, 1] layer of small saturated highlights (elongated ellipses), placed where ``where`` is large."""
    layer = np.zeros((size, size), np.float32)
    if count <= 0:
        return layer
    if where is not None:
        flat = where.reshape(-1).astype(np.float64)
        flat = np.clip(flat, 0, None) ** 2 + 1e-9
        idx = rng.choice(flat.size, size=count, p=flat / flat.sum())
        ys, xs = np.divmod(idx, size)
    else:
        ys, xs = rng.integers(0, size, count), rng.integers(0, size, count)
    for y, x in zip(ys, xs):
        r = max(1, int(round(rng.uniform(*radius) * size)))
        axes = (r, max(1, int(r * rng.uniform(0.3, 1.0))))
        cv2.ellipse(layer, (int(x), int(y)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA)
    k = max(3, (size // 128) * 2 + 1)
    return cv2.GaussianBlur(layer, (k, k), 0)


def add_specular(image: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """Blend a highlight layer towards white (a highlight is whiter than the mucosa it sits on)."""
    a = layer[..., None]
    return image * (1.0 - a) + np.float32(1.0) * a


def finish(image: np.ndarray, rng: np.random.Generator, fov: np.ndarray | None, blur_sigma: float,
           noise_std: float) -> np.ndarray:
    """Lens blur, sensor noise, field-of-view mask, then clip to uint8 RGB."""
    if blur_sigma > 0.05:
        image = cv2.GaussianBlur(image, (0, 0), blur_sigma)
    if noise_std > 0:
        image = cv2.scaleAdd(sensor_noise(rng, image.shape), float(noise_std), image)
    if fov is not None:
        image = image * fov[..., None]
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def colorize(base_rgb, field: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` image: an RGB colour modulated by a brightness ``field``."""
    return field[..., None] * np.asarray(base_rgb, np.float32)[None, None, :]


def mask_box(mask: np.ndarray, pad: int = 0) -> tuple[float, float, float, float] | None:
    """Tight pixel-edge xyxy box of a boolean mask (``pad`` pixels added, clipped), or None if empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    h, w = mask.shape
    return (float(max(cols[0] - pad, 0)), float(max(rows[0] - pad, 0)),
            float(min(cols[-1] + 1 + pad, w)), float(min(rows[-1] + 1 + pad, h)))
