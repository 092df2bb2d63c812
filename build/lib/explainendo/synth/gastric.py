"""Gastric phantoms: white-light gastroscopy frames with one focal lesion, ENDOANGEL-ED attributes.

Each synthetic patient has one lesion; its attributes (bleeding, elevation, depression, boundary, surface,
tone, landmark) are drawn independently from ``marginals`` and its label from a :class:`LogisticRule` over
the causal attributes (default: reddened tone, rough surface, unclear boundary, depression). The patient
gets ``images_per_patient`` views of that lesion: different positions, zoom, rotation, illumination and
blur, the same attributes and landmark.

How each attribute is drawn (inside the lesion mask ``alpha``):

* tone: reddened multiplies RGB by about (1.24, 0.74, 0.76); pale mixes towards a whitish pink
  (saturation falls); unchanged keeps the background colour (small jitter).
* surface: rough multiplies brightness by ``1 + 0.2 * n`` with ``n`` unit noise of 2-4 px grain;
  smooth adds none (every lesion has a faint coarse mottling, so an unremarkable lesion is still there).
* boundary: clear = a 1 px edge with a thin demarcation line (30% darker); unclear = the alpha ramps over
  about 80% of the radius, ragged by noise.
* elevation: a dome height field lit from the upper left (bright upper-left, shadowed lower-right rim) and a
  specular highlight on the top; depression: a crater, its centre darkened by about 45%.
* bleeding: 4-9 dark-red spots, sometimes with a streak running down from one.
* landmark: each of the 26 sites has its own background: lumen position and size, folds (parallel rugae,
  radial rosette, duodenal rings, the angulus arch), the scope in retroflex views, oesophageal palisade
  vessels, the Z-line, duodenal villi, a fundic fluid lake, or a blurred unclear lumen.

Every causal attribute stays visible whatever the landmark: a lesion replaces the mucosa's own pattern
(vessels, duodenal villi, the relief of folds and Kerckring rings, whose fine grain and edges would otherwise
read as a rough surface on a smooth lesion) and stays in focus in the blurred "unclear lumen" scene (the
blur would hide a rough one). Otherwise the Bayes rate, computed from the attributes, would not be
reachable from the images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from ..specs import GASTRIC_LABELS, GASTRIC_LANDMARKS, location_of
from . import render as R
from .rules import LogisticRule, merge_marginals, sample_attributes

#: default independent attribute distribution (landmark uniform over the 26 sites)
DEFAULT_MARGINALS: dict[str, dict[str, float]] = {
    "bleeding": {"no": 0.7, "yes": 0.3},
    "elevation": {"no": 0.55, "yes": 0.45},
    "depression": {"no": 0.6, "yes": 0.4},
    "boundary": {"unclear": 0.5, "clear": 0.5},
    "surface": {"smooth": 0.5, "rough": 0.5},
    "tone": {"unchanged": 0.45, "reddened": 0.35, "pale": 0.2},
    "landmark": {k: 1.0 / len(GASTRIC_LANDMARKS) for k in GASTRIC_LANDMARKS},
}

#: default rule: log-odds of ``neoplastic``; P(neoplastic) = 0.53, Bayes rate = 0.890
DEFAULT_WEIGHTS: dict[tuple[str, str], float] = {
    ("tone", "reddened"): 4.0,
    ("surface", "rough"): 4.0,
    ("boundary", "unclear"): 3.5,
    ("depression", "yes"): 3.5,
}
DEFAULT_INTERCEPT = -6.25

VESSEL_ABSORPTION = np.float32([0.15, 0.55, 0.5])  # vessels darken green and blue most
ATTRIBUTE_ORDER = ("bleeding", "elevation", "depression", "boundary", "surface", "tone", "landmark")


def gastric_rule(weights=None, intercept=None, marginals=None) -> LogisticRule:
    """The gastric label rule; ``marginals`` entries override the defaults attribute by attribute."""
    m = merge_marginals(DEFAULT_MARGINALS, marginals, "gastric")
    return LogisticRule(dict(DEFAULT_WEIGHTS if weights is None else weights),
                        DEFAULT_INTERCEPT if intercept is None else float(intercept), m, GASTRIC_LABELS)


# ---- landmark scenes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scene:
    """Background cues of one landmark. ``lumen``: (angle deg, distance, radius) or None; ``folds``: kind,
    strength, frequency; ``scope``: angle (deg) the retroflexed scope enters from, or None."""

    tone: str
    lumen: tuple[float, float, float] | None
    folds: str = "none"
    fold_strength: float = 0.0
    fold_freq: float = 3.0
    scope: float | None = None
    special: str = ""


_TONES = {  # background mucosa RGB
    "stomach": (0.80, 0.40, 0.32), "body": (0.78, 0.36, 0.30), "antrum": (0.84, 0.50, 0.38),
    "oesophagus": (0.86, 0.63, 0.57), "duodenum": (0.84, 0.56, 0.36),
}
_WALL_ANGLE = {"greater_curvature": 0.0, "posterior_wall": -90.0, "anterior_wall": 90.0, "lesser_curvature": 180.0}
_WALL_FOLDS = {"greater_curvature": 1.0, "posterior_wall": 0.55, "anterior_wall": 0.55, "lesser_curvature": 0.2}


def _scenes() -> dict[str, Scene]:
    s = {
        "oesophagus": Scene("oesophagus", (0, 0.0, 0.30), "radial", 0.25, 14, special="palisade"),
        "squamocolumnar_junction": Scene("oesophagus", (0, 0.1, 0.22), "none", special="zline"),
        "pylorus": Scene("antrum", (0, 0.0, 0.09), "radial", 0.7, 9),
        "duodenal_bulb": Scene("duodenum", (45, 0.5, 0.20), "none", special="villi"),
        "descending_duodenum": Scene("duodenum", (0, 0.0, 0.18), "rings", 0.8, 5, special="villi"),
        "angulus_antegrade": Scene("stomach", (90, 0.62, 0.25), "arc", 1.0),
        "angulus_retroflex": Scene("stomach", None, "arc", 1.0, scope=90),
        "fundus": Scene("body", None, "rugae", 1.0, 2.0, scope=100, special="lake"),
        "cardia_retroflex": Scene("body", None, "radial", 0.8, 10, scope=0, special="cardia"),
        "cardia_antegrade": Scene("body", (0, 0.0, 0.10), "radial", 0.8, 8, special="zring"),
        "gastric_lumen_unclear": Scene("stomach", (200, 0.3, 0.35), "rugae", 0.4, 3, special="unclear"),
    }
    for wall, ang in _WALL_ANGLE.items():
        s[f"antrum_{wall}"] = Scene("antrum", (ang, 0.55, 0.16), "rugae", 0.3 * _WALL_FOLDS[wall], 3)
        s[f"lower_body_{wall}"] = Scene("stomach", (ang, 0.5, 0.22), "rugae", _WALL_FOLDS[wall], 4)
        s[f"middle_upper_body_{wall}"] = Scene("body", (ang, 0.45, 0.32), "rugae", 1.2 * _WALL_FOLDS[wall], 2.5)
    s["middle_upper_body_lesser_curvature_retroflex"] = Scene("body", None, "rugae", 0.4, 2.5, scope=90)
    s["middle_upper_body_posterior_wall_retroflex"] = Scene("body", None, "rugae", 0.9, 2.5, scope=150)
    s["middle_upper_body_anterior_wall_retroflex"] = Scene("body", None, "rugae", 0.9, 2.5, scope=30)
    assert set(s) == set(GASTRIC_LANDMARKS)
    return s


SCENES: dict[str, Scene] = _scenes()


def _draw_background(scene: Scene, rng: np.random.Generator, size: int):
    """Mucosa of one landmark: RGB float image, height field (pixels) and a map of where a lesion may sit."""
    yy, xx = R.grid(size)
    jitter = lambda s: rng.normal(0, s)  # noqa: E731
    base = np.asarray(_TONES[scene.tone], np.float32) * np.float32(1 + jitter(0.04))
    base = base * (1 + rng.normal(0, 0.03, 3)).astype(np.float32)
    height = np.zeros((size, size), np.float32)
    bright = 1.0 + 0.06 * R.smooth_noise(rng, size, 4, 2)
    allowed = (np.sqrt(xx * xx + yy * yy) < 0.64).astype(np.float32)
    warp = 0.12 * R.smooth_noise(rng, size, 3)

    lumen_c = None
    if scene.lumen is not None:
        ang, dist, rad = scene.lumen
        a = math.radians(ang + jitter(12))
        lumen_c = (dist * math.sin(a) + jitter(0.04), dist * math.cos(a) + jitter(0.04))
        rad = rad * (1 + jitter(0.1))
    scope_c = None
    if scene.scope is not None:
        a = math.radians(scene.scope + jitter(10))
        scope_c = (math.sin(a), math.cos(a))

    # folds as a height field, shaded later
    if scene.folds == "rugae":
        theta = math.radians((scene.lumen[0] if scene.lumen else (scene.scope or 0) + 90) + jitter(10))
        across = -xx * math.sin(theta) + yy * math.cos(theta)
        ph = rng.uniform(0, 2 * math.pi)
        height += scene.fold_strength * np.maximum(
            0, np.cos(2 * math.pi * scene.fold_freq * (across + warp) * 0.5 + ph)) ** 1.5
    elif scene.folds in ("radial", "rings"):
        cy, cx = lumen_c if lumen_c else (scope_c[0] * 0.0, 0.0)
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) + 1e-3
        if scene.folds == "radial":
            phi = np.arctan2(yy - cy, xx - cx)
            height += scene.fold_strength * np.maximum(0, np.cos(scene.fold_freq * phi + 3 * warp)) ** 1.5 \
                * np.exp(-d / 0.7) * (1 - np.exp(-(d / 0.2) ** 2))
        else:
            height += scene.fold_strength * np.maximum(0, np.cos(2 * math.pi * scene.fold_freq * 0.5
                                                                 * np.log(d) + 2 * warp)) ** 2 \
                * (1 - np.exp(-(d / 0.35) ** 2))  # rings crowd towards the lumen: fade them there
    elif scene.folds == "arc":  # the angulus: an arch seen across the view
        cy = 1.5 + jitter(0.1)
        d = np.sqrt((yy - cy) ** 2 + (xx - jitter(0.1)) ** 2)
        r0 = cy - 0.05 + jitter(0.06)
        arch = np.exp(-((d - r0 + warp * 0.3) / 0.09) ** 2)
        height += scene.fold_strength * arch
        bright = bright * (1 - 0.35 * np.clip((r0 - d) / 0.8, 0, 1) * (scope_c is None))  # far antrum darker
        allowed *= (np.abs(d - r0) > 0.15).astype(np.float32)

    rgb = R.colorize(base, bright)
    # fine vessels: a thin network, darker and redder
    vessels = R.ridges(R.smooth_noise(rng, size, 10, 2), 0.10) * np.float32(0.18 + jitter(0.03))
    if scene.special == "palisade":
        phi = np.arctan2(yy, xx)
        vessels = np.maximum(vessels, 0.35 * R.ridges(np.sin(24 * phi + 4 * warp), 0.25))
    # the mucosa's own pattern (vessels, villi, fold relief) as one multiplier: a lesion divides it out
    mucosa_tint = 1 - vessels[..., None] * VESSEL_ABSORPTION
    rgb = rgb * mucosa_tint

    if scene.special == "zline":  # pale squamous outside, red columnar inside, zig-zag border
        cy, cx = lumen_c
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        phi = np.arctan2(yy - cy, xx - cx)
        border = 0.5 + 0.06 * np.sin(9 * phi + rng.uniform(0, 6)) + 0.1 * warp
        inner = np.clip((border - d) / 0.03 + 0.5, 0, 1)[..., None]
        rgb = rgb * (1 - inner) + R.colorize(_TONES["body"], bright) * inner
        allowed *= (np.abs(d - border) > 0.1).astype(np.float32)
    if scene.special == "zring":
        cy, cx = lumen_c
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        ring = np.exp(-((d - 0.2) / 0.07) ** 2)[..., None]
        rgb = rgb * (1 - 0.6 * ring) + 0.6 * ring * np.float32(_TONES["oesophagus"])
    if scene.special == "villi":  # left on a smooth lesion, this 6 px grain would read as a rough surface
        villi = (1 + 0.10 * R.smooth_noise(rng, size, max(8, size // 6)))[..., None]
        rgb = rgb * villi
        mucosa_tint = mucosa_tint * villi

    # shading of the fold relief, grooves darker
    light = (-0.6 + jitter(0.1), -0.8 + jitter(0.1))
    height_px = height * (size * 0.03)
    # (a lesion replaces it too: the edges of Kerckring rings and radial folds would read as surface texture)
    relief = (np.clip(R.shade(height_px, light, 0.6), 0.2, None) * (0.85 + 0.15 * np.clip(height, 0, 1)))[..., None]
    rgb = rgb * relief
    mucosa_tint = mucosa_tint * relief
    ridge_tops = np.clip(height - 0.6, 0, None)

    if lumen_c is not None:  # the dark lumen and the perspective falloff towards it
        cy, cx = lumen_c
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        dark = 1 - 0.95 * np.exp(-(d / rad) ** 2)
        persp = np.clip(d / (rad * 3), 0.3, 1.0) ** 0.6
        rgb = rgb * (dark * persp)[..., None]
        allowed *= (d > rad * 1.9).astype(np.float32)
    if scene.special == "lake":  # a pool of yellowish fluid in the fundus
        a = rng.uniform(0, 2 * math.pi)
        lake = np.clip((R.gaussian_blob(size, 0.75 * math.sin(a), 0.75 * math.cos(a), 0.45) - 0.35) * 6, 0, 1)
        rgb = rgb * (1 - lake[..., None]) + lake[..., None] * np.float32([0.72, 0.66, 0.30]) * bright[..., None]
        allowed *= (lake < 0.05).astype(np.float32)
    if scope_c is not None:  # the retroflexed scope: a dark tube entering from the edge
        sy, sx = scope_c
        t = np.clip(xx * sx + yy * sy, 0.15 + jitter(0.05), 2)  # position along the shaft (edge -> centre)
        py, px = t * sy, t * sx
        dist = np.sqrt((yy - py) ** 2 + (xx - px) ** 2)
        w = 0.22 + jitter(0.02)
        tube = np.clip((w - dist) / 0.02, 0, 1)
        side = np.clip(1 - dist / w, 0, 1)
        scope_rgb = np.float32([0.10, 0.10, 0.11]) + 0.25 * (side ** 6)[..., None]
        rgb = rgb * (1 - tube[..., None]) + scope_rgb * tube[..., None]
        allowed *= (dist > w + 0.12).astype(np.float32)
        if scene.special == "cardia":  # mucosa hugging the shaft
            hug = np.exp(-((dist - w - 0.03) / 0.05) ** 2)
            rgb = rgb * (1 + 0.15 * hug)[..., None]
    if scene.special == "unclear":  # fluid and poor focus: the lumen can't be made out. The lesion is drawn
        # afterwards, in focus: blurred with the scene, its 2-4 px surface grain would be invisible and the rule's
        # surface attribute unreadable, so the phantoms' Bayes rate would not be reachable from the image
        sigma = size / 60
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma) * 0.8 + np.float32([0.12, 0.11, 0.05])
        mucosa_tint = cv2.GaussianBlur(mucosa_tint, (0, 0), sigma)
    return rgb.astype(np.float32), height, allowed, ridge_tops, mucosa_tint


# ---- the lesion ------------------------------------------------------------------------------------
def lesion_shape(rng: np.random.Generator) -> dict:
    """Per-lesion (per-patient) shape: aspect and boundary wobble; the same lesion across views."""
    k = np.arange(2, 6)
    return {"aspect": float(rng.uniform(0.65, 1.0)), "wobble_amp": rng.uniform(0, 0.1, k.size) / k,
            "wobble_phase": rng.uniform(0, 2 * math.pi, k.size), "scale": float(rng.uniform(0.15, 0.27))}


def _draw_lesion(rgb, allowed, mucosa_tint, attrs: dict, shape: dict, rng: np.random.Generator, size: int):
    """Paint the lesion into a copy of ``rgb``; returns image, bool mask and alpha (frame-sized).

    All the work happens in a window around the lesion, which keeps a 256 px phantom at a few ms.
    """
    yy_full, xx_full = R.grid(size)
    radius = shape["scale"] * rng.uniform(0.85, 1.2)  # zoom differs between views
    # position: a random allowed spot (clear of lumen, scope, fluid) far enough inside the field of view
    lim = 0.80 - 1.25 * radius
    ok = (allowed > 0.5) & (yy_full * yy_full + xx_full * xx_full <= lim * lim)
    cand = np.flatnonzero(ok.reshape(-1))
    if cand.size:
        idx = cand[rng.integers(cand.size)]
        cy, cx = float(yy_full.reshape(-1)[idx]), float(xx_full.reshape(-1)[idx])
    else:  # nothing allowed that far in (a crowded view): the most central spot of the allowed area
        cy, cx = (float(v) for v in rng.uniform(-0.15, 0.15, 2))
    # the window: 1.7 radii around the centre (an unclear boundary fades out beyond the radius)
    half = 1.7 * radius * 1.15
    to_px = lambda t: int(round((t + 1) * size / 2))  # noqa: E731
    r0, r1 = max(0, to_px(cy - half)), min(size, to_px(cy + half))
    c0, c1 = max(0, to_px(cx - half)), min(size, to_px(cx + half))
    win = (slice(r0, r1), slice(c0, c1))
    yy, xx = yy_full[win], xx_full[win]
    wh, ww = yy.shape
    wsize = max(wh, ww)
    noise = lambda cells, *a: R.smooth_noise(rng, wsize, cells, *a)[:wh, :ww]  # noqa: E731

    rot = rng.uniform(0, math.pi)
    cr, sr = math.cos(rot), math.sin(rot)
    u = (xx - cx) * cr + (yy - cy) * sr
    v = -(xx - cx) * sr + (yy - cy) * cr
    a, b = radius, radius * shape["aspect"]
    phi = np.arctan2(v / b, u / a)
    wob = 1.0
    for k, amp, ph in zip(range(2, 6), shape["wobble_amp"], shape["wobble_phase"]):
        wob = wob + np.float32(amp) * np.cos(k * phi + np.float32(ph))
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2) / wob
    px = 2.0 / size / b  # one pixel in rho units
    if attrs["boundary"] == "clear":
        alpha = np.clip((1 - rho) / px + 0.5, 0, 1)
    else:
        ragged = rho + 0.16 * noise(max(4, int(wsize / 10)))
        alpha = np.clip((1.0 - ragged) / 0.8 + 0.5, 0, 1) ** 1.2
    alpha = alpha.astype(np.float32)
    A = alpha[..., None]
    patch = rgb[win]

    # every lesion, whatever its attributes, replaces the mucosa's pattern (vessels, villi, fold relief) and has
    # a faint mottling
    devesseled = patch * (1 - A) + patch / mucosa_tint[win] * A
    base = devesseled * (1 + 0.07 * noise(max(3, int(wsize / 10))) * alpha)[..., None]
    tone = attrs["tone"]
    if tone == "reddened":
        target = base * np.float32([1.24, 0.74, 0.76]) * np.float32(rng.uniform(0.93, 1.0))
    elif tone == "pale":
        lum = base.mean(axis=2, keepdims=True)
        target = 0.45 * base + 0.55 * lum * np.float32([1.35, 1.22, 1.18])
    else:
        target = base * (1 + rng.normal(0, 0.02, 3)).astype(np.float32)
    out = patch * (1 - A) + target * A
    if attrs["boundary"] == "clear":  # a thin demarcation line
        line = np.exp(-((rho - 1) / (2.0 * px)) ** 2)
        out = out * (1 - 0.3 * line)[..., None]

    if attrs["surface"] == "rough":  # granular / nodular surface: 2-4 px grain
        grain = R.smooth_noise(rng, wsize, max(8, wsize // 4), 2, 0.6)[:wh, :ww]
        out = out * (1 + 0.2 * grain * alpha)[..., None]

    # relief: dome (elevation) and/or crater (depression), lit from the upper left
    h = np.zeros_like(alpha)
    if attrs["elevation"] == "yes":
        h += np.sqrt(np.clip(1 - rho ** 2, 0, 1)) * alpha
    pit = np.clip(1 - (rho / 0.7) ** 2, 0, 1) * alpha
    if attrs["depression"] == "yes":
        h -= 0.8 * pit
    if attrs["elevation"] == "yes" or attrs["depression"] == "yes":
        hp = h * np.float32(b * size * 0.22)
        out = out * np.clip(R.shade(hp, (-0.6, -0.8), 0.8), 0.5, 1.5)[..., None]
    if attrs["depression"] == "yes":
        out = out * (1 - 0.45 * pit)[..., None]
    if attrs["elevation"] == "yes":
        d2 = ((yy - (cy - 0.35 * b)) ** 2 + (xx - (cx - 0.25 * a)) ** 2) / np.float32((0.18 * b) ** 2)
        hl = np.exp(-d2) * alpha
        out = R.add_specular(out, np.clip(hl * 0.9 - 0.2, 0, 0.7).astype(np.float32))

    # bleeding: dark-red spots, sometimes a streak running down from one
    if attrs["bleeding"] == "yes":
        layer = np.zeros((wh, ww), np.float32)
        for _ in range(int(rng.integers(4, 10))):
            r_s, t_s = math.sqrt(rng.uniform(0.02, 0.7)), rng.uniform(0, 2 * math.pi)
            ex, ey = r_s * a * math.cos(t_s), r_s * b * math.sin(t_s)
            sx, sy = cx + ex * cr - ey * sr, cy + ex * sr + ey * cr
            pxy = (to_px(sx) - c0, to_px(sy) - r0)
            spot = max(2, size // 80, int(round(rng.uniform(0.14, 0.26) * b * size / 2)))
            cv2.circle(layer, pxy, spot, 1.0, -1, cv2.LINE_AA)
        if rng.random() < 0.5:
            end = (pxy[0] + int(rng.normal(0, 0.02) * size), pxy[1] + int(rng.uniform(0.04, 0.08) * size))
            cv2.line(layer, pxy, end, 1.0, max(2, size // 96), cv2.LINE_AA)
        layer = cv2.GaussianBlur(layer, (3, 3), 0) * np.float32(0.92)
        blood = np.float32([0.50, 0.03, 0.04]) * out.mean(axis=2, keepdims=True).clip(0.4, 1.0)
        out = out * (1 - layer[..., None]) + blood * layer[..., None]

    result = rgb.copy()
    result[win] = out
    alpha_full = np.zeros((size, size), np.float32)
    alpha_full[win] = alpha
    return result, alpha_full >= 0.5, alpha_full


def render_gastric(attrs: dict, shape: dict, rng: np.random.Generator, size: int, fov: str = "random"):
    """One gastric frame: ``(RGB uint8 image, bool lesion mask, xyxy box)``."""
    scene = SCENES[attrs["landmark"]]
    rgb, height, allowed, ridge_tops, mucosa_tint = _draw_background(scene, rng, size)
    rgb, mask, alpha = _draw_lesion(rgb, allowed, mucosa_tint, attrs, shape, rng, size)
    # illumination: light centre near the middle, falloff varies; overall gain varies
    gain = rng.uniform(0.85, 1.15)
    vig = R.vignette(size, rng.normal(0, 0.15), rng.normal(0, 0.15), rng.uniform(0.4, 1.1))
    rgb = rgb * (vig * np.float32(gain))[..., None]
    # specular highlights on fold crests and scattered on wet mucosa (not on the lesion, except elevation's)
    where = (ridge_tops + 0.05) * (1 - alpha)
    rgb = R.add_specular(rgb, R.specular_spots(rng, size, int(rng.integers(2, 9)), where))
    kind = fov if fov in ("circle", "octagon") else ("circle", "octagon")[int(rng.integers(2))]
    image = R.finish(rgb, rng, R.field_of_view(size, kind), rng.uniform(0.0, 0.8), rng.uniform(0.006, 0.018))
    box = R.mask_box(mask, pad=1)
    return image, mask, box


def generate_gastric(n: int, seed: int, size: int, images_per_patient: int = 4, weights=None, intercept=None,
                     marginals=None, fov: str = "random", progress=None):
    """The gastric phantom set (see the module docstring); returns the pieces of a ``PhantomSet``."""
    rule = gastric_rule(weights, intercept, marginals)
    n_patients = max(1, -(-n // images_per_patient))
    # each patient draws from its own generator, so a set of n is a prefix of a larger set
    per_patient, shapes = [], []
    for p in range(n_patients):
        rng = np.random.default_rng([seed, 101, p])
        row = sample_attributes(rule.marginals, 1, rng)
        row["label"] = rule.sample_labels(row, rng)
        per_patient.append(row)
        shapes.append(lesion_shape(rng))
    patients = pd.concat(per_patient, ignore_index=True)
    patients["label_probability"] = np.atleast_1d(rule.probability(patients))

    images, masks, rows = [], [], []
    for i in range(n):
        p = i // images_per_patient
        attrs = {name: patients.at[p, "attr." + name] for name in ATTRIBUTE_ORDER}
        image, mask, box = render_gastric(attrs, shapes[p], np.random.default_rng([seed, 102, i]), size, fov)
        if progress is not None:
            progress(1)
        images.append(image)
        masks.append(mask)
        x1, y1, x2, y2 = box
        rows.append({"image": f"gastric_{i:05d}.png", "patient": f"gastric_p{p:05d}",
                     "label": patients.at[p, "label"], "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                     "box_label": "lesion", "width": size, "height": size,
                     **{"attr." + k: v for k, v in attrs.items()},
                     "attr.location": location_of(attrs["landmark"]),
                     "label_probability": float(patients.at[p, "label_probability"])})
    return images, pd.DataFrame(rows), masks, rule
