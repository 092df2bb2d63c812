"""EUS phantoms: greyscale sector (fan) ultrasound of pancreatic parenchyma with one cyst.

The fan opens downwards from a transducer apex above the top edge. Tissue is an echogenicity map
(parenchyma with lobular variation, a vessel or duct as a dark tube, depth attenuation with partial gain
compensation) multiplied by fully developed speckle: the magnitude of complex Gaussian noise filtered by
an anisotropic point-spread function (wider laterally than axially), then log-compressed. One cyst per
image, its box ``cyst`` and mask:

* ``mucinous`` (MCN): unilocular, anechoic, a thick echogenic wall (18-30% of the radius), sometimes a thin
  septum; with probability ``p_calcification`` a bright peripheral (eggshell) calcification arc that casts
  an acoustic shadow away from the transducer.
* ``serous`` (SCN): a microcystic honeycomb, many small anechoic locules separated by echogenic septa
  (a Voronoi tessellation); with probability ``p_scar`` a bright stellate central scar, sometimes calcified
  with a shadow.

Both show posterior acoustic enhancement below the cyst. Size (radius 6-16% of the frame width) and position
vary. ``attr.calcification``, ``attr.central_scar``, ``attr.locularity`` (unilocular / microcystic),
``attr.wall`` (thick / thin) and ``attr.septa`` (a septum in a unilocular cyst; always in a honeycomb) say what
was drawn (:data:`explainendo.specs.EUS_ATTRIBUTES`).

By default the label follows from locularity and wall alone (every mucinous cyst unilocular and thick-walled,
every serous one a honeycomb), so scar and calcification add no evidence of their own. Two options, both 0 by
default (which draws exactly the phantoms above, bit for bit), make locularity and wall fallible, as in the
clinic, so the findings carry evidence of their own:

* ``p_oligocystic``: the share of serous cysts drawn **oligocystic** (macrocystic): one large anechoic locule
  with a thin, faint wall (as the honeycomb's rim), sometimes one thin septum, and a lobulated (scalloped)
  outline; it looks unilocular and mimics a mucinous cyst (``attr.locularity`` unilocular, ``attr.wall``
  thin). A central scar is drawn as in a honeycomb (``p_scar``), calcified or not.
* ``p_thin_wall``: the share of mucinous cysts drawn with a **thin** wall (10-14% of the radius, against
  18-30%; ``attr.wall`` thin), still bright and with the smooth round outline of a mucinous cyst.

A thin-walled mucinous cyst and an oligocystic serous one still differ in principle (the mucinous wall is
brighter and thicker than the serous rim, the serous outline lobulated), so the label is still what is drawn;
where locularity and wall mislead, an eggshell calcification (mucinous) or a central scar (serous) tells them
apart at a glance. Calcification is peripheral in a mucinous cyst and central (in the scar) in a serous one.

Images are RGB with three equal channels. The label is what is drawn, so the Bayes rate is ``1 - label_noise``
(``label_noise`` flips that fraction of labels at random; default 0).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd

from ..errors import ConfigError
from . import render as R

LABELS = ("mucinous", "serous")


def _fan(size: int, apex_y: float, half_angle: float, r_max: float, near: float):
    """Mask of the fan, distance from the apex and angle (normalised coordinates)."""
    yy, xx = R.grid(size)
    dy, dx = yy - apex_y, xx
    depth = np.sqrt(dy * dy + dx * dx)
    angle = np.arctan2(dx, dy)
    px = 2.0 / size
    inside = np.minimum(np.minimum((half_angle - np.abs(angle)) * depth / px, (r_max - depth) / px),
                        (depth - near) / px)
    return np.clip(inside + 0.5, 0, 1).astype(np.float32), depth, angle


def _speckle(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fully developed speckle (Rayleigh amplitude, unit mean) with a laterally elongated grain."""
    re = rng.standard_normal((size, size), dtype=np.float32)
    im = rng.standard_normal((size, size), dtype=np.float32)
    sx, sy = max(0.6, size / 256 * 1.6), max(0.4, size / 256 * 0.8)
    re = cv2.GaussianBlur(re, (0, 0), sigmaX=sx, sigmaY=sy)
    im = cv2.GaussianBlur(im, (0, 0), sigmaX=sx, sigmaY=sy)
    amp = np.sqrt(re * re + im * im)
    return amp / amp.mean()


def render_eus(label: str, calcification: bool, scar: bool, rng: np.random.Generator, size: int,
               drawn: dict | None = None, *, oligocystic: bool = False, thin_wall: bool = False):
    """One EUS frame: ``(RGB uint8 with equal channels, bool cyst mask, xyxy box)``. ``drawn``, a dict, receives
    what the random draws added (``septa``: a septum inside a unilocular cyst; a serous honeycomb always has).
    ``oligocystic`` (serous only) draws one large locule with a thin rim and a lobulated outline instead of the
    honeycomb; ``thin_wall`` (mucinous only) a wall of 10-14% of the radius instead of 18-30%."""
    yy, xx = R.grid(size)
    apex_y = -1.0 - rng.uniform(0.0, 0.08)
    half = math.radians(rng.uniform(38, 50))
    fan, depth, angle = _fan(size, apex_y, half, rng.uniform(1.9, 2.0) - 1.0 - apex_y, 0.12 - 1.0 - apex_y)
    # tissue echogenicity: lobular parenchyma, a vessel/duct, gain falling with depth
    echo = 0.36 + 0.10 * R.smooth_noise(rng, size, 6, 2)
    t = rng.uniform(0, math.pi)
    line = (xx - rng.uniform(-0.5, 0.5)) * math.cos(t) + (yy - rng.uniform(-0.3, 0.6)) * math.sin(t) \
        + 0.08 * R.smooth_noise(rng, size, 2)
    echo = echo * (1 - 0.85 * np.exp(-(line / rng.uniform(0.03, 0.07)) ** 2))
    # the cyst
    radius = rng.uniform(0.12, 0.32)
    cy = rng.uniform(-0.55 + radius, 0.8 - radius)
    lateral = (cy - apex_y) * math.tan(half) - radius * 1.3  # keep the cyst inside the fan
    cx = rng.uniform(-1, 1) * max(0.0, min(lateral, 0.85 - radius))
    aspect = rng.uniform(0.75, 1.0)
    rot = rng.uniform(0, math.pi)
    u = (xx - cx) * math.cos(rot) + (yy - cy) * math.sin(rot)
    v = -(xx - cx) * math.sin(rot) + (yy - cy) * math.cos(rot)
    rho = np.sqrt((u / radius) ** 2 + (v / (radius * aspect)) ** 2) \
        * (1 + 0.05 * np.cos(3 * np.arctan2(v, u) + rng.uniform(0, 6)))
    oligocystic = oligocystic and label != "mucinous"
    if oligocystic:  # a lobulated (scalloped) outline: 4-6 lobes
        rho = rho * (1 + rng.uniform(0.05, 0.08) * np.cos(int(rng.integers(4, 7)) * np.arctan2(v, u)
                                                         + rng.uniform(0, 6)))
    px = 2.0 / size / radius
    inside = np.clip((1 - rho) / px + 0.5, 0, 1).astype(np.float32)
    shadow_from = np.zeros_like(inside)
    if label == "mucinous":
        wall = rng.uniform(0.1, 0.14) if thin_wall else rng.uniform(0.18, 0.3)
        ring = np.clip((1 - np.abs(rho - 1 + wall / 2) / (wall / 2)) * 1.5, 0, 1)
        lumen = np.clip((1 - wall - rho) / px + 0.5, 0, 1)
        echo = echo * (1 - lumen) + 0.03 * lumen
        echo = np.maximum(echo, 0.95 * ring)
        septum = rng.random() < 0.3
        if drawn is not None:
            drawn["septa"] = bool(septum)
        if septum:  # a thin septum
            s = np.abs(u * math.cos(0.7) + v * math.sin(0.7) - rng.uniform(-0.3, 0.3) * radius)
            echo = np.maximum(echo, 0.6 * np.exp(-(s / (0.02 * radius + px * radius)) ** 2) * lumen)
        if calcification:
            arc_a = rng.uniform(-math.pi, math.pi)
            phi = np.arctan2(v, u)
            dphi = np.abs((phi - arc_a + math.pi) % (2 * math.pi) - math.pi)
            arc = np.clip((0.6 - dphi) / 0.1, 0, 1) \
                * np.exp(-((rho - 1 + wall / 2) / (max(wall, 0.15) * 0.7)) ** 2)  # (as wide on a thin wall)
            echo = np.maximum(echo, 1.3 * arc)
            shadow_from = arc
    elif oligocystic:
        # one large anechoic locule, sometimes a thin septum; the rim as thin and faint as the honeycomb's
        septum = rng.random() < 0.3
        if drawn is not None:
            drawn["septa"] = bool(septum)
        cells = np.full_like(inside, 0.04)
        if septum:
            s = np.abs(u * math.cos(0.7) + v * math.sin(0.7) - rng.uniform(-0.3, 0.3) * radius)
            cells = np.maximum(cells, 0.6 * np.exp(-(s / (0.02 * radius + px * radius)) ** 2))
    else:
        if drawn is not None:
            drawn["septa"] = True
        # honeycomb: Voronoi locules (distance to nearest minus second nearest seed)
        k = int(rng.integers(18, 45))
        sr = np.sqrt(rng.uniform(0, 1, k)) * 1.05
        st = rng.uniform(0, 2 * math.pi, k)
        seeds_u, seeds_v = sr * np.cos(st) * radius, sr * np.sin(st) * radius * aspect
        win = inside > 0
        d = np.sqrt((u[win][:, None] - seeds_u[None]) ** 2 + (v[win][:, None] - seeds_v[None]) ** 2)
        d.sort(axis=1)
        septa = np.zeros_like(inside)
        gap = (d[:, 1] - d[:, 0]) / radius
        septa[win] = np.exp(-(gap / rng.uniform(0.05, 0.08)) ** 2)
        cells = 0.05 + 0.75 * septa
    if label != "mucinous":
        if scar:
            scar_map = np.exp(-(rho / 0.28) ** 2) * (0.7 + 0.3 * np.cos(5 * np.arctan2(v, u)) ** 2)
            cells = np.maximum(cells, 0.9 * scar_map)
            if calcification:
                calc = np.exp(-(rho / 0.1) ** 2)
                cells = np.maximum(cells, 1.4 * calc)
                shadow_from = calc
        rim = np.exp(-((rho - 1) / 0.05) ** 2)
        echo = echo * (1 - inside) + inside * cells
        echo = np.maximum(echo, 0.55 * rim)
    # posterior acoustic enhancement below the cyst, shadow behind calcium (along the beam = away from apex)
    # (beams are radial; near the axis the vertical below the cyst is a fair approximation)
    below = np.clip((yy - cy) / 0.6, 0, 1) * np.exp(-((xx - cx) / (radius * aspect)) ** 2) * (rho > 1)
    echo = echo * (1 + 0.45 * below)
    ys, xs = np.nonzero(shadow_from > 0.3)
    if ys.size:  # (a calcification too small to resolve at this size casts none)
        sy, sx = yy[ys, xs].max(), xx[ys, xs].mean()
        half_w = max(float(np.ptp(xx[ys, xs])) / 2, 0.03)
        shadow = (yy > sy) * np.exp(-((xx - sx) / half_w) ** 4) * (shadow_from < 0.3)
        echo = echo * (1 - 0.8 * shadow)
    attenuation = np.exp(-0.35 * (depth - depth.min()))
    img = echo * _speckle(rng, size) * attenuation * rng.uniform(0.9, 1.15)
    img = np.log1p(6 * np.clip(img, 0, None)) / np.log1p(6 * 1.6)  # log compression
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 0.5) * fan
    # depth markers along the fan's left edge (dots, as on EUS consoles)
    grey = np.clip(img, 0, 1)
    for k_mark in range(1, 6):
        dd = k_mark * 0.35
        my, mx = apex_y + dd * math.cos(half) + 0.03, -dd * math.sin(half) - 0.04
        py, pxx = int((my + 1) * size / 2), int((mx + 1) * size / 2)
        if 0 <= py < size and 0 <= pxx < size:
            cv2.circle(grey, (pxx, py), max(1, size // 200), 0.9, -1, cv2.LINE_AA)
    grey = np.clip(grey + rng.standard_normal(grey.shape, dtype=np.float32) * 0.01 * fan, 0, 1)
    u8 = (grey * 255 + 0.5).astype(np.uint8)
    mask = inside >= 0.5
    return np.repeat(u8[..., None], 3, axis=2), mask, R.mask_box(mask, pad=2)


def generate_eus(n: int, seed: int, size: int, proportions=None, p_calcification: float = 0.3,
                 p_scar: float = 0.4, images_per_patient: int = 1, label_noise: float = 0.0,
                 p_oligocystic: float = 0.0, p_thin_wall: float = 0.0, progress=None):
    """EUS frames; ``proportions`` maps mucinous / serous to weights (default equal). ``p_oligocystic`` (serous)
    and ``p_thin_wall`` (mucinous), both 0 by default, draw the look-alikes that make locularity and wall fallible
    (module docstring); a patient keeps its type, findings and label flip whatever they are."""
    for name, value in (("p_calcification", p_calcification), ("p_scar", p_scar), ("p_oligocystic", p_oligocystic),
                        ("p_thin_wall", p_thin_wall)):
        if not 0 <= value <= 1:
            raise ConfigError(f"{name} must be in [0, 1], got {value}")
    props = {"mucinous": 0.5, "serous": 0.5} if proportions is None else dict(proportions)
    if set(props) - set(LABELS) or any(v < 0 for v in props.values()) or sum(props.values()) <= 0:
        raise ConfigError(f"EUS proportions {proportions} must give non-negative weights to {LABELS}")
    if not 0 <= label_noise < 0.5:
        raise ConfigError(f"label_noise must be in [0, 0.5), got {label_noise}")
    w = np.array([props.get(k, 0.0) for k in LABELS], np.float64)
    w /= w.sum()
    images, masks, rows = [], [], []
    drawn = {}
    for i in range(n):
        p = i // images_per_patient
        if p not in drawn:
            prng = np.random.default_rng([seed, 401, p])
            kind = LABELS[int(prng.choice(2, p=w))]
            calc = bool(prng.random() < p_calcification)
            scar = bool(prng.random() < p_scar) if kind == "serous" else False
            flip = bool(prng.random() < label_noise)
            variant = bool(prng.random() < (p_thin_wall if kind == "mucinous" else p_oligocystic))  # drawn last
            drawn[p] = (kind, calc if (kind == "mucinous" or scar) else False, scar, flip, variant)
        kind, calc, scar, flip, variant = drawn[p]
        oligo, thin = variant and kind == "serous", variant and kind == "mucinous"
        found: dict = {}
        image, mask, box = render_eus(kind, calc, scar, np.random.default_rng([seed, 402, i]), size, drawn=found,
                                      oligocystic=oligo, thin_wall=thin)
        if progress is not None:
            progress(1)
        images.append(image)
        masks.append(mask)
        label = LABELS[1 - LABELS.index(kind)] if flip else kind
        rows.append({"image": f"eus_{i:05d}.png", "patient": f"eus_p{p:05d}", "label": label,
                     "x1": box[0], "y1": box[1], "x2": box[2], "y2": box[3], "box_label": "cyst",
                     "width": size, "height": size, "attr.cyst_type": kind,
                     "attr.calcification": "yes" if calc else "no",
                     "attr.central_scar": "yes" if scar else "no",
                     "attr.locularity": "unilocular" if kind == "mucinous" or oligo else "microcystic",
                     "attr.wall": "thick" if kind == "mucinous" and not thin else "thin",
                     "attr.septa": "yes" if found["septa"] else "no"})
    return images, pd.DataFrame(rows), masks, None


generate_eus.bayes_rate = lambda rule, options: 1.0 - float(options.get("label_noise", 0.0))
