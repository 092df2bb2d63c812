"""Tiny phantom images with one bright elliptical 'lesion' each, written with a manifest (test helper)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from explainendo.io import Manifest


def draw_phantom(rng: np.random.Generator, size: int = 96) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    img = np.zeros((size, size, 3), dtype=np.uint8)
    img[:] = (90, 40, 35)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    w, h = rng.uniform(0.2, 0.4) * size, rng.uniform(0.2, 0.4) * size
    cx, cy = rng.uniform(w / 2 + 2, size - w / 2 - 2), rng.uniform(h / 2 + 2, size - h / 2 - 2)
    cv2.ellipse(img, (int(round(cx)), int(round(cy))), (int(w / 2), int(h / 2)), 0, 0, 360, (230, 200, 80), -1)
    return img, (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def write_phantoms(folder: Path, n: int = 12, size: int = 96, seed: int = 0, label: str = "polyp") -> Manifest:
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        img, (x1, y1, x2, y2) = draw_phantom(rng, size)
        name = f"images/p{i:03d}.png"
        cv2.imwrite(str(folder / name), img[..., ::-1])
        rows.append({"image": name, "patient": f"case{i // 2}", "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                     "box_label": label})
    return Manifest(pd.DataFrame(rows), folder, name="phantoms")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def phantom_set(tmp_path_factory):
    """(train manifest, test manifest) of small phantoms."""
    root = tmp_path_factory.mktemp("phantoms")
    return write_phantoms(root / "train", n=8, size=64, seed=0), write_phantoms(root / "test", n=4, size=64, seed=1)


@pytest.fixture
def as_if_saved_on_a_gpu(monkeypatch):
    """Rewrite a saved localizer's ``device`` to ``cuda`` (components carry no checksum) and hide CUDA, as on
    a CPU-only machine."""
    import torch
    import yaml

    def rewrite(folder: Path) -> None:
        path = Path(folder) / "component.yaml"
        meta = yaml.safe_load(path.read_text())
        params = meta["params"]
        (params["training"] if isinstance(params.get("training"), dict) else params)["device"] = "cuda"
        path.write_text(yaml.safe_dump(meta, sort_keys=False))
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    return rewrite


def write_multi_phantoms(folder: Path, n: int = 24, size: int = 96, seed: int = 0, labels=("polyp", "ulcer"),
                         per_image=(1, 2)) -> Manifest:
    """Phantoms with ``per_image`` (min, max) separate lesions each: a bright yellow ellipse is a polyp, a
    white one an ulcer. One row per box."""
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    colours = {"polyp": (230, 200, 80), "ulcer": (250, 250, 250)}
    rows = []
    for i in range(n):
        img = np.clip(np.full((size, size, 3), (90, 40, 35), float) + rng.normal(0, 6, (size, size, 3)), 0, 255)
        img = img.astype(np.uint8)
        k = int(rng.integers(per_image[0], per_image[1] + 1))
        # one lesion per quadrant row: never touching
        slots = rng.permutation(4)[:k]
        name = f"images/m{i:03d}.png"
        for slot in slots:
            qx, qy = (slot % 2) * size / 2, (slot // 2) * size / 2
            w, h = rng.uniform(0.22, 0.36) * size, rng.uniform(0.22, 0.36) * size
            cx = qx + rng.uniform(w / 2 + 2, size / 2 - w / 2 - 2)
            cy = qy + rng.uniform(h / 2 + 2, size / 2 - h / 2 - 2)
            label = labels[int(rng.integers(len(labels)))]
            cv2.ellipse(img, (int(round(cx)), int(round(cy))), (int(w / 2), int(h / 2)), 0, 0, 360,
                        colours[label], -1)
            rows.append({"image": name, "patient": f"case{i // 2}", "x1": cx - w / 2, "y1": cy - h / 2,
                         "x2": cx + w / 2, "y2": cy + h / 2, "box_label": label})
        cv2.imwrite(str(folder / name), img[..., ::-1])
    return Manifest(pd.DataFrame(rows), folder, name="multi-phantoms")


@pytest.fixture(scope="session")
def phantom_writer():
    """The phantom writers, for tests that need their own sets: ``.single(folder, ...)``, ``.multi(folder, ...)``."""
    class Writers:
        single = staticmethod(write_phantoms)
        multi = staticmethod(write_multi_phantoms)

    return Writers
