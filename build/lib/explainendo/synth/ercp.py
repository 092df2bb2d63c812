"""ERCP phantoms: side-viewing duodenoscope frames of the second part of the duodenum with a papilla.

Every image shows one major papilla (box ``papilla`` and a mask) on yellowish, villous duodenal mucosa
crossed by horizontal circular folds, with a longitudinal fold (frenulum) running down from it. The
visible anatomy is drawn from independent ``marginals``:

* ``papilla_size``: small / medium / large (radius about 4.5 / 7 / 10% of the frame width);
* ``protrusion``: flat (a low, barely raised mound) / protruding (a dome, redder, lit and highlighted);
* ``position``: central / off_centre (far from the frame centre, where the scope must be turned);
* ``diverticulum``: a periampullary diverticulum (dark pouch with a rim) beside the papilla, or none;
* ``hooding_fold``: short / long oral protrusion fold above the papilla (a long one overhangs it).

Cannulation difficulty follows a cumulative-logit :class:`~explainendo.synth.rules.OrdinalLogisticRule`
over those attributes (small, flat, off-centre, diverticulum and a long hooding fold make it harder),
giving ``attr.difficulty`` in easy < over_5_min < additional_technique < failure and the binary ``label``
easy / difficult (= any class but easy). Default: P(difficult) = 0.385, binary Bayes rate 0.831.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd

from . import render as R
from .rules import OrdinalLogisticRule, merge_marginals, sample_attributes

DIFFICULTY_CLASSES = ("easy", "over_5_min", "additional_technique", "failure")
BINARY_LABELS = ("easy", "difficult")
DEFAULT_MARGINALS = {
    "papilla_size": {"small": 0.3, "medium": 0.45, "large": 0.25},
    "protrusion": {"flat": 0.4, "protruding": 0.6},
    "position": {"central": 0.6, "off_centre": 0.4},
    "diverticulum": {"no": 0.75, "yes": 0.25},
    "hooding_fold": {"short": 0.6, "long": 0.4},
}
DEFAULT_WEIGHTS = {
    ("papilla_size", "small"): 3.0, ("papilla_size", "large"): -0.75, ("protrusion", "flat"): 2.25,
    ("position", "off_centre"): 1.8, ("diverticulum", "yes"): 3.0, ("hooding_fold", "long"): 1.5,
}
DEFAULT_THRESHOLDS = (4.5, 6.0, 7.5)
_SIZE = {"small": 0.09, "medium": 0.14, "large": 0.20}


def ercp_rule(weights=None, thresholds=None, marginals=None) -> OrdinalLogisticRule:
    m = merge_marginals(DEFAULT_MARGINALS, marginals, "ERCP")
    return OrdinalLogisticRule(dict(DEFAULT_WEIGHTS if weights is None else weights),
                               tuple(DEFAULT_THRESHOLDS if thresholds is None else thresholds), m,
                               DIFFICULTY_CLASSES, BINARY_LABELS)


def render_ercp(attrs: dict, rng: np.random.Generator, size: int):
    """One duodenoscope frame: ``(RGB uint8, bool papilla mask, xyxy box)``."""
    yy, xx = R.grid(size)
    base = np.float32([0.90, 0.56, 0.42]) * (1 + rng.normal(0, 0.04, 3)).astype(np.float32)
    warp = 0.1 * R.smooth_noise(rng, size, 3)
    # papilla geometry first: the folds bend around it
    r = _SIZE[attrs["papilla_size"]] * rng.uniform(0.85, 1.15)
    if attrs["position"] == "central":
        cy, cx = rng.normal(0.03, 0.06), rng.normal(0, 0.06)
    else:
        ang = rng.uniform(0, 2 * math.pi)
        dist = rng.uniform(0.38, 0.55) - 0.5 * r
        cy, cx = dist * math.sin(ang), dist * math.cos(ang)
    aspect = rng.uniform(1.15, 1.45)  # papillae are taller than wide in this view
    u, v = (xx - cx) / r, (yy - cy) / (r * aspect)
    rho = np.sqrt(u * u + v * v)
    alpha = np.clip((1 - rho) * r * size / 2 / 1.5 + 0.5, 0, 1).astype(np.float32)

    # circular folds: horizontal ridges, bent and interrupted by noise; villi; vessels
    fold_freq = rng.uniform(2.5, 4.0)
    folds = np.maximum(0, np.cos(2 * math.pi * fold_freq * 0.5 * (yy + 0.15 * xx * xx + warp) + rng.uniform(0, 6))) ** 2
    folds = folds * (0.5 + 0.5 * np.clip(R.smooth_noise(rng, size, 3) + 0.8, 0, 1)) * np.clip(rho - 1.2, 0, 1)
    height = 0.8 * folds
    # frenulum below the papilla, hooding fold above it
    frenulum = np.exp(-(((xx - cx) / (0.7 * r)) ** 2)) * np.clip((yy - cy) / (r * aspect), 0, 1) \
        * np.exp(-np.clip(yy - cy - 2.0 * r, 0, None) / 0.08)
    long_hood = attrs["hooding_fold"] == "long"
    hood_w = (2.6 if long_hood else 1.3) * r
    hood_y = cy - (0.85 if long_hood else 1.25) * r * aspect
    hood = np.exp(-(((yy - hood_y) / ((0.5 if long_hood else 0.35) * r)) ** 2)) \
        * np.exp(-((np.abs(xx - cx) / hood_w) ** 2))
    height = np.maximum(height, np.maximum(0.4 * frenulum, 0.8 * hood))
    villi = R.smooth_noise(rng, size, max(16, size // 4))
    bright = 1.0 + 0.05 * R.smooth_noise(rng, size, 4, 2) + 0.035 * villi
    rgb = R.colorize(base, bright)
    vessels = R.ridges(R.smooth_noise(rng, size, 8, 2), 0.08) * np.float32(0.12)
    rgb = rgb * (1 - vessels[..., None] * np.float32([0.15, 0.5, 0.5]))

    # diverticulum: a dark pouch beside the papilla
    if attrs["diverticulum"] == "yes":
        dr = rng.uniform(0.12, 0.2)
        ang = rng.uniform(0, 2 * math.pi)
        dy, dx = cy + math.sin(ang) * (r * aspect + dr) * 1.15, cx + math.cos(ang) * (r + dr) * 1.15
        dd = np.sqrt((yy - dy) ** 2 + ((xx - dx) / 1.2) ** 2) / dr
        pouch = np.clip((1 - dd) / 0.25, 0, 1)
        rim = np.exp(-((dd - 1.0) / 0.12) ** 2)
        rgb = rgb * (1 - 0.8 * pouch ** 1.2)[..., None] * np.float32([1.0, 0.9, 0.9])
        height = height + 0.25 * rim

    # papilla: a mound, redder and more granular than the mucosa, with the orifice near its top
    protruding = attrs["protrusion"] == "protruding"
    dome = np.sqrt(np.clip(1 - rho ** 2, 0, 1)) * alpha * (1.0 if protruding else 0.3)
    height = np.maximum(height, dome)
    pap_texture = 1 + 0.12 * R.smooth_noise(rng, size, max(20, size // 3))
    pap_rgb = rgb * np.float32([1.08, 0.80, 0.78] if protruding else [1.03, 0.92, 0.9]) * pap_texture[..., None]
    rgb = rgb * (1 - alpha[..., None]) + pap_rgb * alpha[..., None]
    light = (-0.7, -0.4)
    rgb = rgb * np.clip(R.shade(height * (size * 0.035), light, 0.7), 0.5, 1.5)[..., None] \
        * (0.86 + 0.14 * np.clip(height, 0, 1))[..., None]
    oy, ox = cy - 0.35 * r * aspect, cx + rng.normal(0, 0.1) * r
    orifice = np.exp(-(((xx - ox) / (0.13 * r)) ** 2 + ((yy - oy) / (0.22 * r)) ** 2))
    rgb = rgb * (1 - 0.65 * orifice)[..., None]
    if attrs["hooding_fold"] == "long":  # the overhanging fold hides the papilla's top: redraw it on top
        over = np.clip(hood * 1.5 - 0.3, 0, 1) * (yy < cy)
        rgb = rgb * (1 - over[..., None]) + over[..., None] * R.colorize(base, bright) * 1.05

    vig = R.vignette(size, rng.normal(-0.1, 0.1), rng.normal(0, 0.1), rng.uniform(0.4, 1.0))
    rgb = rgb * (vig * np.float32(rng.uniform(0.85, 1.1)))[..., None]
    crests = np.clip(height - 0.55, 0, None) + 0.02
    rgb = R.add_specular(rgb, R.specular_spots(rng, size, int(rng.integers(3, 10)), crests))
    image = R.finish(rgb, rng, R.field_of_view(size, "octagon" if rng.random() < 0.5 else "circle"),
                     rng.uniform(0.0, 0.8), rng.uniform(0.006, 0.016))
    mask = alpha >= 0.5
    return image, mask, R.mask_box(mask, pad=2)


def generate_ercp(n: int, seed: int, size: int, images_per_patient: int = 2, weights=None, thresholds=None,
                  marginals=None, progress=None):
    """ERCP frames, ``images_per_patient`` views of the same papilla per patient."""
    rule = ercp_rule(weights, thresholds, marginals)
    n_patients = max(1, -(-n // images_per_patient))
    patients, difficulty = [], []
    for p in range(n_patients):
        rng = np.random.default_rng([seed, 301, p])
        row = sample_attributes(rule.marginals, 1, rng)
        difficulty.append(rule.sample_classes(row, rng)[0])
        patients.append(row)
    patients = pd.concat(patients, ignore_index=True)
    p_difficult = np.atleast_1d(rule.probability(patients))
    images, masks, rows = [], [], []
    names = list(rule.marginals)
    for i in range(n):
        p = i // images_per_patient
        attrs = {k: patients.at[p, "attr." + k] for k in names}
        image, mask, box = render_ercp(attrs, np.random.default_rng([seed, 302, i]), size)
        if progress is not None:
            progress(1)
        images.append(image)
        masks.append(mask)
        x1, y1, x2, y2 = box
        cls = difficulty[p]
        rows.append({"image": f"ercp_{i:05d}.png", "patient": f"ercp_p{p:05d}",
                     "label": BINARY_LABELS[0] if cls == DIFFICULTY_CLASSES[0] else BINARY_LABELS[1],
                     "x1": x1, "y1": y1, "x2": x2, "y2": y2, "box_label": "papilla", "width": size, "height": size,
                     **{"attr." + k: v for k, v in attrs.items()}, "attr.difficulty": cls,
                     "label_probability": float(p_difficult[p])})
    return images, pd.DataFrame(rows), masks, rule
