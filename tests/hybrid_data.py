"""Tiny labelled lesion images for the hybrid tests (independent of explainendo.synth).

Each image is 64x64: a pinkish mucosa with one elliptical lesion whose tone (unchanged / reddened / pale)
and surface (smooth / rough) are drawn at random; ``size_mm`` is a measurement the user would supply.
The label follows a known rule, flipped with probability ``noise``, so the Bayes accuracy is
``1 - noise``: neoplastic  <=>  tone == reddened and surface == rough, or size_mm > 25.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from explainendo.io import Manifest

TONES = {"unchanged": (205, 120, 110), "reddened": (200, 45, 40), "pale": (235, 205, 200)}


def make_tiny_phantoms(folder: Path, n: int = 120, seed: int = 0, noise: float = 0.05) -> Manifest:
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    yy, xx = np.mgrid[:64, :64]
    for i in range(n):
        tone = rng.choice(list(TONES))
        surface = rng.choice(["smooth", "rough"])
        size_mm = float(rng.uniform(3, 35))
        img = np.clip(np.array([215, 140, 130]) + rng.normal(0, 6, (64, 64, 3)), 0, 255)
        cx, cy = rng.uniform(20, 44, 2)
        rx, ry = rng.uniform(8, 16, 2)
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        lesion = np.array(TONES[tone], dtype=float) + rng.normal(0, 30 if surface == "rough" else 3, (64, 64, 3))
        img[inside] = np.clip(lesion[inside], 0, 255)
        name = f"img_{i:03d}.png"
        Image.fromarray(img.astype(np.uint8)).save(folder / name)
        neoplastic = (tone == "reddened" and surface == "rough") or size_mm > 25
        if rng.random() < noise:
            neoplastic = not neoplastic
        ys, xs = np.nonzero(inside)
        rows.append({"image": name, "patient": f"p{i // 2:03d}", "label": "neoplastic" if neoplastic else
                     "non_neoplastic", "x1": xs.min(), "y1": ys.min(), "x2": xs.max() + 1.0, "y2": ys.max() + 1.0,
                     "attr.tone": tone, "attr.surface": surface, "size_mm": size_mm})
    m = Manifest(pd.DataFrame(rows), folder, name="tiny")
    m.to_csv(folder / "manifest.csv")
    return m
