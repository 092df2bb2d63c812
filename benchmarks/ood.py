"""The out-of-distribution flag (issue 24.6): how many unlike inputs ``OODDetector`` flags, and how many of its own.

    python benchmarks/ood.py            # every set below
    python benchmarks/ood.py --quick    # CI smoke run: few images per set

The detector (:class:`explainendo.explain.ood.OODDetector`, coverage 0.95, the settings a ``Diagnoser(ood=...)``
gets) is fitted on real endoscopy: the EDD2020 lesions (their crops, ``enlarge`` 1.2, and their frames) of the
training frames, and is asked about

1. **held-out in-distribution frames**: EDD2020 frames it was not fitted on, 5 folds by frame (EDD2020 has no
   patient ids: each frame is its own patient); every frame is held out once, scored by the detector fitted on
   the other four folds. Goal: <= 5% flagged. Also, as information (not a goal): each EDD2020 centre held out
   whole (leave one centre out), and Kvasir-SEG polyp frames (colon is among EDD2020's organs; another centre's
   scope);
2. **non-endoscopic inputs** (goal: >= 95% flagged): noise images (uniform, Gaussian, salt and pepper), natural
   photographs (every image of ``skimage.data`` that ships with scikit-image, and crops of them at several
   scales), and text rendered as an image (OpenCV fonts, dark on light and light on dark);
3. **frames of another organ or system** (goal: >= 90% flagged): DSOC cholangioscopy frames (bile duct, a
   cholangioscope; real) and EUS phantoms (ultrasound; the project's generator).

A frame counts as flagged when the frame check flags it (``Result.ood``); the lesion check (``Lesion.ood``) is
reported beside it, and "either" (flagged by one or the other). An input without a lesion box (noise, photos,
text, DSOC frames without one) is scored with a central box of half its size, as a localizer's best guess would
be somewhere. Every number comes from this one run; the header names the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENLARGE = 1.2
GOALS = {"in-distribution": ("<=", 0.05), "non-endoscopic": (">=", 0.95), "other organ / system": (">=", 0.90)}


# ---- input sets ------------------------------------------------------------------------------------------------
def central_box(image: np.ndarray):
    from explainendo.types import Box

    h, w = image.shape[:2]
    return Box(w / 4, h / 4, 3 * w / 4, 3 * h / 4)


def noise_images(n: int, seed: int, size: int = 256) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            img = rng.integers(0, 256, size=(size, size, 3))
        elif kind == 1:
            img = np.clip(rng.normal(rng.uniform(60, 200), rng.uniform(10, 80), size=(size, size, 3)), 0, 255)
        else:
            img = np.full((size, size, 3), rng.uniform(40, 220))
            salt = rng.random((size, size)) < rng.uniform(0.05, 0.3)
            img[salt] = rng.choice([0, 255], size=(int(salt.sum()), 1))
        out.append(img.astype(np.uint8))
    return out


def natural_images(n: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """Every ``skimage.data`` image that loads offline, then crops of them (scale 0.3-0.8 of the side) until
    ``n``."""
    import warnings

    import skimage.data as data

    names = ["astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass",
             "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina",
             "rocket", "text"]
    found, loaded = [], []
    for name in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = np.asarray(getattr(data, name)())
        except Exception:  # noqa: BLE001 - an image that needs a download is skipped (nothing downloads here)
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = img[..., :3]
        if img.dtype != np.uint8:
            img = (255 * (img.astype(float) / max(float(img.max()), 1.0))).astype(np.uint8)
        found.append(img)
        loaded.append(name)
    rng = np.random.default_rng(seed)
    out = list(found)
    while len(out) < n and found:
        img = found[int(rng.integers(len(found)))]
        h, w = img.shape[:2]
        s = rng.uniform(0.3, 0.8)
        ch, cw = max(16, int(h * s)), max(16, int(w * s))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        out.append(np.ascontiguousarray(img[y:y + ch, x:x + cw]))
    return out[:n], loaded


def text_images(n: int, seed: int, size: int = 256) -> list[np.ndarray]:
    import cv2

    rng = np.random.default_rng(seed)
    words = ["patient", "report", "endoscopy", "biopsy", "2026-12-07", "lorem ipsum", "ERCP", "stomach",
             "diagnosis", "follow-up", "12:34:56", "page 3 of 7"]
    fonts = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
             cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX]
    out = []
    for i in range(n):
        light = i % 2 == 0
        bg = rng.integers(200, 256, size=3) if light else rng.integers(0, 60, size=3)
        fg = rng.integers(0, 80, size=3) if light else rng.integers(180, 256, size=3)
        img = np.empty((size, size, 3), dtype=np.uint8)
        img[:] = bg
        for line in range(int(rng.integers(3, 9))):
            cv2.putText(img, str(rng.choice(words)), (int(rng.integers(2, 60)), 24 + 30 * line),
                        fonts[int(rng.integers(len(fonts)))], float(rng.uniform(0.5, 1.1)),
                        tuple(int(v) for v in fg), int(rng.integers(1, 3)), cv2.LINE_AA)
        out.append(img)
    return out


def manifest_inputs(manifest, limit: int | None, seed: int) -> tuple[list[np.ndarray], list]:
    """One (frame, box) per image of a manifest: its first box, else a central box; ``limit`` images drawn."""
    from explainendo.io.image import read_image
    from explainendo.types import Box

    images = list(dict.fromkeys(manifest.df["image"]))
    if limit is not None and len(images) > limit:
        images = [images[i] for i in np.sort(np.random.default_rng(seed).choice(len(images), limit, replace=False))]
    frames, boxes = [], []
    df = manifest.df
    for name in images:
        frame = read_image(manifest.path(name))
        rows = df[df["image"] == name]
        box = None
        if {"x1", "y1", "x2", "y2"} <= set(rows.columns):
            ok = rows[["x1", "y1", "x2", "y2"]].dropna()
            if len(ok):
                box = Box(*ok.iloc[0].to_numpy(dtype=float))
        frames.append(frame)
        boxes.append(box if box is not None else central_box(frame))
    return frames, boxes


def eus_inputs(n: int, seed: int) -> tuple[list[np.ndarray], list]:
    from explainendo.synth import generate
    from explainendo.types import Box

    ph = generate("eus", n, seed=seed)
    boxes = [Box(*row) for row in ph.table[["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)]
    return [np.asarray(im) for im in ph.images], boxes


# ---- scoring ---------------------------------------------------------------------------------------------------
def flags(detector, frames, boxes) -> dict[str, np.ndarray]:
    from explainendo.features import LesionSamples

    samples = LesionSamples.from_images(frames, boxes, enlarge=ENLARGE)
    _, lesion = detector.score_lesions(samples)
    frame = detector.score_frames(frames)[1]
    return {"frame": frame, "lesion": lesion, "either": frame | lesion}


def edd_samples(manifest):
    from explainendo.features import LesionSamples

    return LesionSamples.from_manifest(manifest, enlarge=ENLARGE)


def held_out_in_distribution(manifest, folds: int, seed: int) -> dict[str, np.ndarray]:
    """Every EDD2020 frame scored by a detector fitted on the other folds (frames, with all their lesions)."""
    from explainendo.explain.ood import OODDetector
    from explainendo.io.splits import group_kfold_indices

    samples = edd_samples(manifest)
    groups = samples.table["patient"].astype(str).to_numpy()
    out = {k: np.zeros(len(samples), dtype=bool) for k in ("frame", "lesion", "either")}
    for train, test in group_kfold_indices(groups, folds, seed=seed):
        det = OODDetector(coverage=0.95).fit(samples.subset(train))
        test_samples = samples.subset(test)
        _, lesion = det.score_lesions(test_samples)
        frame = det.score_frames(test_samples.frames)[1]
        out["frame"][test], out["lesion"][test], out["either"][test] = frame, lesion, frame | lesion
    # one row per frame for the frame flag (a frame with several lesions is one frame)
    first = ~samples.table.duplicated("image").to_numpy()
    return {"frame": out["frame"][first], "lesion": out["lesion"], "either": out["either"]}


def leave_one_centre_out(manifest) -> dict[str, dict[str, float]]:
    from explainendo.explain.ood import OODDetector

    samples = edd_samples(manifest)
    centres = samples.table["centre"].astype(str).to_numpy()
    rows = {}
    for centre in sorted(set(centres)):
        train, test = np.flatnonzero(centres != centre), np.flatnonzero(centres == centre)
        det = OODDetector(coverage=0.95).fit(samples.subset(train))
        t = samples.subset(test)
        _, lesion = det.score_lesions(t)
        first = ~t.table.duplicated("image").to_numpy()
        frame = det.score_frames([f for f, keep in zip(t.frames, first) if keep])[1]
        rows[centre] = {"frames": int(first.sum()), "frame": float(frame.mean()), "lesion": float(lesion.mean())}
    return rows


def rate_line(name: str, found: dict[str, np.ndarray], goal: tuple[str, float] | None) -> tuple[str, bool | None]:
    n = len(found["frame"])
    met = None
    text = (f"   {name:<34} n {n:>5}   frame {found['frame'].mean():6.3f}   lesion {found['lesion'].mean():6.3f}   "
            f"either {found['either'].mean():6.3f}")
    if goal is not None:
        op, value = goal
        rate = float(found["frame"].mean())
        met = rate <= value if op == "<=" else rate >= value
        text += f"   goal (frame) {op} {value:.2f}: {'met' if met else 'NOT met'}"
    return text, met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: few images per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    from explainendo.bench import run_header
    from explainendo.explain.ood import OODDetector
    from explainendo.io.loaders import load_dsoc, load_edd2020, load_kvasir_seg

    print(run_header())
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}".rstrip())
    start = time.perf_counter()
    edd = load_edd2020()
    if args.quick:
        keep = sorted(set(edd.df["image"]))[::6]
        edd = edd.subset(edd.df["image"].isin(keep))
    n_small = 12 if args.quick else None
    n_generated = 12 if args.quick else 150

    print(f"\nfitted on EDD2020: {edd.df['image'].nunique()} frames, {len(edd.df)} lesions (crops enlarge {ENLARGE}); "
          f"OODDetector(coverage=0.95): 18 image statistics of the crop and of the frame, Mahalanobis distance "
          f"(Ledoit-Wolf), threshold from patient-held-out scores")
    results: dict[str, bool | None] = {}
    print("\n1. in-distribution, held out (flagged share; lower is better)")
    line, met = rate_line(f"EDD2020, {args.folds} folds by frame", held_out_in_distribution(edd, args.folds, args.seed),
                          GOALS["in-distribution"])
    print(line)
    results["in-distribution"] = met
    print("   as information: each EDD2020 centre held out whole (a scope and population the detector never saw)")
    for centre, r in leave_one_centre_out(edd).items():
        print(f"      {centre:<6} {r['frames']:>4} frames   frame {r['frame']:.3f}   lesion {r['lesion']:.3f}")

    detector = OODDetector(coverage=0.95).fit(edd_samples(edd))
    kvasir_frames, kvasir_boxes = manifest_inputs(load_kvasir_seg(), n_small or 300, args.seed)
    line, _ = rate_line("Kvasir-SEG polyps (information)", flags(detector, kvasir_frames, kvasir_boxes), None)
    print(line)

    print("\n2. non-endoscopic inputs (flagged share; higher is better)")
    photos, loaded = natural_images(n_small or n_generated, args.seed)
    sets = {"noise (uniform, Gaussian, salt & pepper)": noise_images(n_generated, args.seed),
            f"natural photographs ({len(loaded)} skimage.data + crops)": photos,
            "text rendered as an image": text_images(n_generated, args.seed)}
    pooled = {k: [] for k in ("frame", "lesion", "either")}
    for name, images in sets.items():
        found = flags(detector, images, [central_box(im) for im in images])
        print(rate_line(name, found, None)[0])
        for k in pooled:
            pooled[k].append(found[k])
    line, met = rate_line("all non-endoscopic", {k: np.concatenate(v) for k, v in pooled.items()},
                          GOALS["non-endoscopic"])
    print(line)
    results["non-endoscopic"] = met
    print(f"   skimage.data images used: {', '.join(loaded)}")

    print("\n3. another organ or system (flagged share; higher is better)")
    dsoc_frames, dsoc_boxes = manifest_inputs(load_dsoc(), n_small or None, args.seed)
    eus_frames, eus_boxes = eus_inputs(n_generated, args.seed)
    pooled = {k: [] for k in ("frame", "lesion", "either")}
    for name, (frames, boxes) in {"DSOC cholangioscopy frames (real)": (dsoc_frames, dsoc_boxes),
                                  "EUS phantoms (ultrasound)": (eus_frames, eus_boxes)}.items():
        found = flags(detector, frames, boxes)
        print(rate_line(name, found, None)[0])
        for k in pooled:
            pooled[k].append(found[k])
    line, met = rate_line("all other organ / system", {k: np.concatenate(v) for k, v in pooled.items()},
                          GOALS["other organ / system"])
    print(line)
    results["other organ / system"] = met

    print(f"\ngoals (frame flag): " + "; ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in results.items())
          + f"   ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
