"""Tiny self-drawn lesions for the heads tests: the attributes are visible in the pixels.

Each frame (48x48) is a pinkish mucosa; the lesion box holds a disc. ``bleeding`` = a red disc,
``tone`` = the disc tinted red / pale / unchanged, ``landmark`` = a bright band at the top (two landmark
classes, mapped to two locations). Seeded, so the same fixture gives the same pixels.
"""

import numpy as np
import pandas as pd

from explainendo.features import LesionSamples
from explainendo.specs import AttributeSpec
from explainendo.types import Box

TINY_SPECS = (
    AttributeSpec("bleeding", ("no", "yes")),
    AttributeSpec("tone", ("unchanged", "reddened", "pale")),
    AttributeSpec("landmark", ("antrum_greater_curvature", "fundus"), input="frame"),
)


def draw_samples(n: int, seed: int) -> LesionSamples:
    rng = np.random.default_rng(seed)
    frames, boxes, rows = [], [], []
    yy, xx = np.mgrid[:48, :48]
    for i in range(n):
        bleeding = int(rng.integers(2))
        tone = int(rng.integers(3))
        landmark = int(rng.integers(2))
        frame = np.full((48, 48, 3), (170, 110, 100), dtype=float) + rng.normal(0, 6, (48, 48, 3))
        if landmark:
            frame[:8] += 70
        cx, cy, r = rng.uniform(18, 30), rng.uniform(20, 30), rng.uniform(6, 9)
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2
        colour = {0: (170, 110, 100), 1: (215, 70, 60), 2: (215, 190, 180)}[tone]
        frame[disc] = np.array(colour) + rng.normal(0, 6, (disc.sum(), 3))
        if bleeding:
            spot = (xx - cx) ** 2 + (yy - cy) ** 2 < (r / 2.5) ** 2
            frame[spot] = (120, 0, 0)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        boxes.append(Box(cx - r - 2, cy - r - 2, cx + r + 2, cy + r + 2))
        rows.append({"image": f"img{i}.png", "patient": f"p{i // 2}", "label": ["a", "b"][bleeding],
                     "attr.bleeding": ["no", "yes"][bleeding],
                     "attr.tone": ["unchanged", "reddened", "pale"][tone],
                     "attr.landmark": ["antrum_greater_curvature", "fundus"][landmark]})
    return LesionSamples.from_images(frames, boxes, table=pd.DataFrame(rows))
