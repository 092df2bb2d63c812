"""``generate`` / ``make_phantoms`` and the in-memory :class:`PhantomSet`.

A phantom set is a pure function of ``(system, n, seed, size, options)``: the same call gives the same
images (and written files) byte for byte. Image ``i`` is rendered from its own generator seeded with
``(seed, system code, i)``, so a set of 10 is the first 10 images of a set of 1000.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..io.manifest import Manifest
from ..registry import Registry
from ..types import Box

#: system name -> generator ``f(n, seed, size, **options) -> (images, table, masks, rule)``
GENERATORS: Registry[Callable[..., tuple]] = Registry("phantom generator")


@dataclass
class PhantomSet:
    """Generated phantoms held in memory.

    ``images``: RGB uint8 arrays; ``table``: the manifest rows (one per image, box columns empty where the
    image has no lesion); ``masks``: frame-sized bool lesion masks (None where no lesion); ``rule``: the label
    rule (``causal_attributes``, ``describe()``, ``probability(...)``) or None; ``bayes_rate``: the exact best
    achievable accuracy of the label, or None where it is not defined.
    """

    system: str
    images: list[np.ndarray]
    table: pd.DataFrame
    masks: list[np.ndarray | None]
    rule: Any
    bayes_rate: float | None
    seed: int
    size: int
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def empirical_bayes_rate(self) -> float | None:
        """Accuracy of the Bayes classifier (``p >= 0.5``) on the labels actually drawn in this sample."""
        if self.rule is None or "label_probability" not in self.table:
            return None
        pred = np.where(self.table["label_probability"].to_numpy() >= 0.5, self.rule.labels[1], self.rule.labels[0])
        return float(np.mean(pred == self.table["label"].to_numpy()))

    def boxed_rows(self) -> np.ndarray:
        cols = ["x1", "y1", "x2", "y2"]
        if not all(c in self.table for c in cols):
            return np.zeros(0, dtype=int)
        return np.flatnonzero(self.table[cols].notna().all(axis=1).to_numpy())

    def to_samples(self, enlarge: float = 1.0):
        """The boxed lesions as :class:`explainendo.features.LesionSamples` (crops, boxes, frames, cropped masks)."""
        from ..features import LesionSamples

        idx = self.boxed_rows()
        frames = [self.images[i] for i in idx]
        boxes = [Box(*self.table.loc[i, ["x1", "y1", "x2", "y2"]].astype(float),
                     label=self.table.loc[i, "box_label"] if "box_label" in self.table else None) for i in idx]
        masks = [None if self.masks[i] is None else b.crop(self.masks[i], enlarge=enlarge)
                 for i, b in zip(idx, boxes)]
        table = self.table.iloc[idx].reset_index(drop=True)
        return LesionSamples.from_images(frames, boxes, enlarge=enlarge, table=table, masks=masks)

    def metadata(self) -> dict:
        from .._version import __version__

        return {"system": self.system, "n": len(self), "seed": int(self.seed), "size": int(self.size),
                "options": _plain(self.options),
                "rule": None if self.rule is None else self.rule.describe(),
                "rule_parameters": None if self.rule is None else _plain(self.rule.to_dict()),
                "bayes_rate": None if self.bayes_rate is None else round(float(self.bayes_rate), 6),
                "bayes_rate_empirical": (None if self.empirical_bayes_rate is None
                                         else round(self.empirical_bayes_rate, 6)),
                "explainendo_version": __version__,
                "note": "synthetic phantoms with known ground truth: they test the machinery, "
                        "they are not clinical evidence"}

    def write(self, out: str | os.PathLike, progress: Callable[[int], None] | None = None) -> Manifest:
        """Write ``<image>.png`` files, ``manifest.csv`` and ``phantoms.yaml`` into ``out``; returns the manifest."""
        import cv2
        import yaml

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name, image in zip(self.table["image"], self.images):
            ok = cv2.imwrite(str(out / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if not ok:
                raise ConfigError(f"could not write {out / name}", hint="check that the folder is writable")
            if progress is not None:
                progress(1)
        manifest = Manifest(self.table, out, name=str(out / "manifest.csv"))
        manifest.to_csv(out / "manifest.csv")
        (out / "phantoms.yaml").write_text(yaml.safe_dump(self.metadata(), sort_keys=False, width=100))
        return manifest


def _plain(obj):
    """YAML-safe copy (tuples -> lists, numpy scalars -> Python)."""
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, tuple) else "=".join(map(str, k)): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _check(system: str, n: int, seed: int, size: int) -> None:
    if system not in GENERATORS:
        GENERATORS.get(system)  # raises ConfigError naming the known systems
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be a positive integer, got {n!r}", hint="ask for at least one phantom")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(size, (int, np.integer)) or not 64 <= size <= 2048:
        raise ConfigError(f"size must be an integer from 64 to 2048 pixels, got {size!r}",
                          hint="256 to 512 looks most like endoscopy frames")


def generate(system: str, n: int, seed: int = 0, size: int = 256, progress: Callable[[int], None] | None = None,
             **options) -> PhantomSet:
    """``n`` phantoms of ``system`` (``gastric``, ``colon``, ``ercp``, ``eus``) in memory.

    ``options`` go to the system's generator (e.g. gastric ``images_per_patient``, ``weights``,
    ``intercept``, ``marginals``); see ``docs/phantoms.md``. ``progress(k)`` is called as images are drawn.
    """
    _ensure_registered()
    _check(system, n, seed, size)
    fn = GENERATORS.get(system)
    known = generator_options(system)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"bad option(s) {unknown} for the {system} generator",
                          hint=f"its options: {known} (see docs/phantoms.md)")
    images, table, masks, rule = fn(int(n), int(seed), int(size), progress=progress, **options)
    bayes = getattr(fn, "bayes_rate", None)
    bayes_rate = bayes(rule, options) if bayes else (None if rule is None else rule.bayes_rate())
    return PhantomSet(system=system, images=images, table=table, masks=masks, rule=rule, bayes_rate=bayes_rate,
                      seed=int(seed), size=int(size), options=dict(options))


def generator_options(system: str) -> list[str]:
    """The keyword options a system's generator accepts (``generate(system, n, **options)``)."""
    import inspect

    _ensure_registered()
    params = inspect.signature(GENERATORS.get(system)).parameters
    return [k for k in params if k not in ("n", "seed", "size", "progress")]


def make_phantoms(system: str, n: int, out: str | os.PathLike, seed: int = 0, size: int = 256,
                  **options) -> Manifest:
    """:func:`generate` then :meth:`PhantomSet.write` into ``out``."""
    return generate(system, n, seed=seed, size=size, **options).write(out)


_REGISTERED = False


def _ensure_registered() -> None:
    """Register the built-in generators on first use (their modules import cv2)."""
    global _REGISTERED
    if _REGISTERED:
        return
    from . import colon, ercp, eus, gastric

    for name, fn in (("gastric", gastric.generate_gastric), ("colon", colon.generate_colon),
                     ("ercp", ercp.generate_ercp), ("eus", eus.generate_eus)):
        if name not in GENERATORS:
            GENERATORS.register(name)(fn)
    _REGISTERED = True
