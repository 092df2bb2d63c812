"""Colon phantoms: colonoscopy frames labelled normal / unclear / tumor, grouped into synthetic videos.

A video has its own mucosa colour, vessel density, fold spacing and a lumen that drifts smoothly from
frame to frame (a deterministic function of the frame's position in the video, so sets are prefixes of
larger sets). Each frame's label is drawn from ``proportions``:

* ``normal``: the lumen (dark, off-centre), semilunar haustral folds around it, a submucosal vessel
  network, specular highlights on fold crests; no box.
* ``unclear``: a normal view spoiled by one of ``motion_blur`` (a linear blur kernel of 6-16% of the frame),
  ``defocus`` (Gaussian blur, sigma 2.5-5% of the frame), ``fluid`` (turbid brown water with debris) or
  ``bubbles`` (many bright-rimmed circles); no box. ``attr.artifact`` names which.
* ``tumor``: a polyp (``attr.polyp`` sessile or pedunculated): a raised, reddish, lobulated dome lit from
  the light source, with a highlight; box ``tumor`` and a mask.

The label is fully determined by what is drawn, so the Bayes rate is 1 (reported as ``None``: no rule).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd

from ..errors import ConfigError
from . import render as R

LABELS = ("normal", "unclear", "tumor")
ARTIFACTS = ("motion_blur", "defocus", "fluid", "bubbles")
DEFAULT_PROPORTIONS = {"normal": 0.4, "unclear": 0.3, "tumor": 0.3}


def _video_params(rng: np.random.Generator) -> dict:
    return {"base": np.float32([0.86, 0.52, 0.44]) * (1 + rng.normal(0, 0.05, 3)).astype(np.float32),
            "vessel": float(rng.uniform(0.25, 0.5)), "folds": float(rng.uniform(2.5, 4.0)),
            "phase": rng.uniform(0, 2 * math.pi, 4), "speed": rng.uniform(0.15, 0.35, 2),
            "fov": ("circle", "octagon")[int(rng.integers(2))]}


def _draw_colon_view(video: dict, t: int, rng: np.random.Generator, size: int):
    yy, xx = R.grid(size)
    ph, sp = video["phase"], video["speed"]
    ly = 0.4 * math.sin(sp[0] * t + ph[0]) + 0.1 * math.sin(0.7 * t + ph[2])
    lx = 0.4 * math.cos(sp[1] * t + ph[1]) + 0.1 * math.cos(0.5 * t + ph[3])
    d = np.sqrt((yy - ly) ** 2 + (xx - lx) ** 2) + 1e-3
    phi = np.arctan2(yy - ly, xx - lx)
    warp = 0.15 * R.smooth_noise(rng, size, 3)
    # semilunar haustral folds: rings in log-distance (perspective), each covering part of the circle
    ring = np.cos(2 * math.pi * video["folds"] * 0.5 * np.log(d) + 2 * warp + rng.uniform(0, 6))
    arc = 0.5 + 0.5 * np.cos(phi * 2 + 3 * warp + rng.uniform(0, 6))
    height = np.maximum(0, ring) ** 2 * (0.4 + 0.6 * arc) * (1 - np.exp(-(d / 0.3) ** 2))
    bright = 1.0 + 0.05 * R.smooth_noise(rng, size, 4, 2)
    rgb = R.colorize(video["base"], bright)
    vessels = R.ridges(R.smooth_noise(rng, size, 7, 3), 0.08) * np.float32(video["vessel"])
    rgb = rgb * (1 - vessels[..., None] * np.float32([0.2, 0.6, 0.5]))
    light = (-0.5, -0.7)
    rgb = rgb * (R.shade(height * (size * 0.03), light, 0.5) * (0.82 + 0.18 * height))[..., None]
    lumen = 1 - 0.96 * np.exp(-(d / 0.2) ** 2)
    rgb = rgb * (lumen * np.clip(d / 0.6, 0.25, 1.0) ** 0.7)[..., None]
    allowed = ((d > 0.45) & (np.sqrt(xx * xx + yy * yy) < 0.6)).astype(np.float32)
    return rgb.astype(np.float32), np.clip(height - 0.5, 0, None), allowed


def _draw_polyp(rgb, allowed, rng: np.random.Generator, size: int, pedunculated: bool):
    yy, xx = R.grid(size)
    cand = np.flatnonzero(allowed.reshape(-1) > 0.5)
    idx = cand[rng.integers(cand.size)] if cand.size else size * size // 2 + size // 2
    cy, cx = float(yy.reshape(-1)[idx]), float(xx.reshape(-1)[idx])
    radius = float(rng.uniform(0.12, 0.24))
    lim = 0.82 - 1.3 * radius
    if math.hypot(cy, cx) > lim:
        k = lim / math.hypot(cy, cx)
        cy, cx = cy * k, cx * k
    aspect = rng.uniform(0.75, 1.0)
    rot = rng.uniform(0, math.pi)
    u = (xx - cx) * math.cos(rot) + (yy - cy) * math.sin(rot)
    v = -(xx - cx) * math.sin(rot) + (yy - cy) * math.cos(rot)
    lobes = 1 + 0.08 * np.cos(3 * np.arctan2(v, u) + rng.uniform(0, 6))
    rho = np.sqrt((u / radius) ** 2 + (v / (radius * aspect)) ** 2) / lobes
    alpha = np.clip((1 - rho) * radius * size / 2 + 0.5, 0, 1).astype(np.float32)
    h = np.sqrt(np.clip(1 - rho ** 2, 0, 1)) * alpha
    if pedunculated:  # a stalk running from the head towards the wall, a lower ridge
        ang = rng.uniform(0, 2 * math.pi)
        sx, sy = math.cos(ang), math.sin(ang)
        along = (xx - cx) * sx + (yy - cy) * sy
        across = -(xx - cx) * sy + (yy - cy) * sx
        w = 0.32 * radius
        profile = np.sqrt(np.clip(1 - (across / w) ** 2, 0, 1))
        fade = np.clip((2.0 * radius - along) / (0.9 * radius), 0, 1) * (along > 0)  # merges into the wall
        stalk = profile * fade
        stalk_alpha = (np.clip(profile * 4, 0, 1) * fade).astype(np.float32)
        h = np.maximum(h, 0.45 * stalk)
        alpha = np.maximum(alpha, stalk_alpha)
    texture = 1 + 0.12 * R.smooth_noise(rng, size, max(12, size // 8), 2)
    polyp_rgb = rgb * np.float32([1.12, 0.82, 0.82]) * texture[..., None]
    out = rgb * (1 - alpha[..., None]) + polyp_rgb * alpha[..., None]
    out = out * np.clip(R.shade(h * (radius * size * 0.3), (-0.5, -0.7), 0.9), 0.45, 1.5)[..., None]
    hl = np.exp(-((yy - cy + 0.4 * radius) ** 2 + (xx - cx + 0.3 * radius) ** 2) / (0.2 * radius) ** 2) * alpha
    out = R.add_specular(out, np.clip(hl * 1.1 - 0.2, 0, 0.85).astype(np.float32))
    mask = alpha >= 0.5
    return out, mask, alpha


def _spoil(rgb, artifact: str, rng: np.random.Generator, size: int):
    if artifact == "motion_blur":
        length = max(3, int(rng.uniform(0.06, 0.16) * size))
        k = np.zeros((length, length), np.float32)
        k[length // 2, :] = 1.0 / length
        m = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        k = cv2.warpAffine(k, m, (length, length))
        return cv2.filter2D(rgb, -1, k / max(k.sum(), 1e-6), borderType=cv2.BORDER_REFLECT)
    if artifact == "defocus":
        return cv2.GaussianBlur(rgb, (0, 0), rng.uniform(0.025, 0.05) * size)
    if artifact == "fluid":
        turbid = np.clip(0.65 + 0.25 * R.smooth_noise(rng, size, 3, 2), 0, 1)[..., None]
        debris = np.clip(R.smooth_noise(rng, size, max(16, size // 6)) - 1.2, 0, 1)[..., None]
        brown = np.float32([0.55, 0.42, 0.18])
        out = cv2.GaussianBlur(rgb, (0, 0), 0.012 * size) * (1 - 0.85 * turbid) + 0.85 * turbid * brown
        return out * (1 - debris) + debris * np.float32([0.35, 0.25, 0.08])
    if artifact == "bubbles":
        out = rgb.copy()
        rim = np.zeros(rgb.shape[:2], np.float32)
        fill = np.zeros(rgb.shape[:2], np.float32)
        cy, cx = rng.uniform(0.25, 0.75, 2) * size
        for _ in range(int(rng.integers(25, 60))):
            r = max(2, int(rng.uniform(0.015, 0.07) * size))
            y, x = int(cy + rng.normal(0, 0.18) * size), int(cx + rng.normal(0, 0.18) * size)
            cv2.circle(fill, (x, y), r, 1.0, -1, cv2.LINE_AA)
            cv2.circle(rim, (x, y), r, 1.0, max(1, size // 160), cv2.LINE_AA)
            cv2.circle(rim, (x - r // 3, y - r // 3), max(1, r // 5), 1.0, -1, cv2.LINE_AA)
        out = out * (1 - 0.25 * fill[..., None]) + 0.25 * fill[..., None] * np.float32([0.95, 0.9, 0.8])
        return R.add_specular(out, np.clip(rim, 0, 0.9))
    raise ConfigError(f"unknown artifact '{artifact}'", hint=f"known: {ARTIFACTS}")


def degrade(image: np.ndarray, artifact: str, rng: np.random.Generator) -> np.ndarray:
    """A real frame made "unclear" by one documented degradation (the phantoms' own, ``_spoil``), for when no
    real unclear frames exist: ``motion_blur`` (a linear box kernel of 6-16% of the frame's longer side at a
    uniform random angle), ``defocus`` (Gaussian blur, SD 2.5-5% of the side), ``fluid`` (turbid brown water,
    0.65 +- 0.25 opacity, over a slightly blurred view, with dark debris) or ``bubbles`` (25-60 bright-rimmed circles
    of 1.5-7% of the side around a random centre). ``image``: RGB uint8 ``(H, W, 3)``; the degradation is drawn
    on a square copy of side ``max(H, W)`` and resized back. The black border outside the field of view
    (:func:`~explainendo.io.image.largest_bright_region`) is filled with the view's mean colour while the
    degradation is drawn, so no blur smears it into the view, and is black again afterwards. Figures from such frames must say they are derived (docs/colon.md)."""
    if artifact not in ARTIFACTS:
        raise ConfigError(f"unknown artifact '{artifact}'", hint=f"known: {ARTIFACTS}")
    h, w = image.shape[:2]
    side = max(h, w)
    rgb = cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    from ..io.image import largest_bright_region

    inside = largest_bright_region(rgb.max(axis=2), 20 / 255.0)
    source = rgb
    if inside is not None:  # the blur must not smear the black border into the view: fill it with the view's mean
        source = rgb.copy()
        source[~inside] = rgb[inside].mean(axis=0)
    out = np.clip(_spoil(source, artifact, rng, side), 0.0, 1.0)
    if inside is not None:
        out[~inside] = rgb[~inside]
    return cv2.resize((out * 255.0 + 0.5).astype(np.uint8), (w, h), interpolation=cv2.INTER_AREA)


def render_colon(video: dict, t: int, label: str, rng: np.random.Generator, size: int, artifact: str | None = None,
                 pedunculated: bool = False):
    """One colon frame: ``(RGB uint8, mask or None, box or None)``."""
    rgb, crests, allowed = _draw_colon_view(video, t, rng, size)
    mask = alpha = None
    if label == "tumor":
        rgb, mask, alpha = _draw_polyp(rgb, allowed, rng, size, pedunculated)
    vig = R.vignette(size, rng.normal(0, 0.1), rng.normal(0, 0.1), rng.uniform(0.5, 1.2))
    rgb = rgb * (vig * np.float32(rng.uniform(0.85, 1.15)))[..., None]
    where = crests + 0.03 if alpha is None else (crests + 0.03) * (1 - alpha)
    rgb = R.add_specular(rgb, R.specular_spots(rng, size, int(rng.integers(3, 12)), where))
    if label == "unclear":
        rgb = _spoil(rgb, artifact, rng, size)
    image = R.finish(rgb, rng, R.field_of_view(size, video["fov"]), rng.uniform(0.0, 0.7), rng.uniform(0.006, 0.016))
    box = None if mask is None else R.mask_box(mask, pad=1)
    return image, mask, box


def generate_colon(n: int, seed: int, size: int, proportions=None, frames_per_video: int = 16,
                   videos_per_patient: int = 1, progress=None):
    """Colon frames in videos; ``proportions`` maps normal / unclear / tumor to weights (normalised)."""
    props = dict(DEFAULT_PROPORTIONS if proportions is None else proportions)
    unknown = set(props) - set(LABELS)
    if unknown or not props or any(v < 0 for v in props.values()) or sum(props.values()) <= 0:
        raise ConfigError(f"colon proportions {proportions} must give non-negative weights to {LABELS}")
    if frames_per_video < 1 or videos_per_patient < 1:
        raise ConfigError("frames_per_video and videos_per_patient must be at least 1")
    weights = np.array([props.get(k, 0.0) for k in LABELS], np.float64)
    weights /= weights.sum()
    images, masks, rows, videos = [], [], [], {}
    for i in range(n):
        v, t = divmod(i, frames_per_video)
        if v not in videos:
            videos[v] = _video_params(np.random.default_rng([seed, 200, v]))
        rng = np.random.default_rng([seed, 201, i])
        label = LABELS[int(rng.choice(3, p=weights))]
        artifact = ARTIFACTS[int(rng.integers(len(ARTIFACTS)))] if label == "unclear" else None
        pedunculated = bool(rng.random() < 0.35) if label == "tumor" else False
        image, mask, box = render_colon(videos[v], t, label, rng, size, artifact, pedunculated)
        if progress is not None:
            progress(1)
        images.append(image)
        masks.append(mask)
        x1, y1, x2, y2 = box if box is not None else (np.nan,) * 4
        rows.append({"image": f"colon_{i:05d}.png", "patient": f"colon_p{v // videos_per_patient:05d}",
                     "video": f"colon_v{v:05d}", "label": label, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                     "box_label": "tumor" if box is not None else np.nan, "width": size, "height": size,
                     "attr.artifact": artifact if artifact else np.nan,
                     "attr.polyp": ("pedunculated" if pedunculated else "sessile") if label == "tumor" else np.nan,
                     "frame": t})
    return images, pd.DataFrame(rows), masks, None


generate_colon.bayes_rate = lambda rule, options: None  # label fully determined by the drawn content
