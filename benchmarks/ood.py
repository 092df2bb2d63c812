"""The out-of-distribution flag (issue 24.6): how many unlike inputs ``OODDetector`` flags, and how many of its own.

    python benchmarks/ood.py            # every set below
    python benchmarks/ood.py --quick    # CI smoke run: few images per set

Two detectors (:class:`explainendo.explain.ood.OODDetector`, coverage 0.95) are compared on the same sets in the
same run: **statistics** (the default a ``Diagnoser(ood=OODDetector())`` gets: 18 image statistics of the crop and
of the frame) and **statistics + embedding** (``embedding="efficientnet_lite0"``: the same statistics followed by
the pooled ImageNet features of the input resized to ``EMBEDDING["embedding_size"]`` px, projected on the first
``EMBEDDING["embedding_components"]`` principal axes of the training rows). Each is fitted on real endoscopy:
the EDD2020 lesions (their crops, ``enlarge`` 1.2, and their frames) of the training frames, and is asked about

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
be somewhere. Every number comes from this one run; the header names the machine. The run embeds each image array
once (a memo on the array: the network is deterministic, so refitting on another fold only repeats the same
forward passes); "ms per frame" times one frame at a time (its frame check and one lesion) with no memo.
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
EMBEDDING = {"embedding": "efficientnet_lite0", "embedding_size": 160, "embedding_components": 16}
#: the detectors compared: name -> OODDetector parameters (besides coverage 0.95)
DETECTORS = {"statistics": {}, "statistics + embedding": EMBEDDING}


def memoise_embeddings() -> None:
    """Embed each image array once per run (keyed by the array object, kept alive so its id is not reused)."""
    import explainendo.explain.ood as ood

    plain, memo = ood.embed_images, {}

    def embed(images, network, size=128, **kwargs):
        images = list(images)
        missing = [im for im in images if (id(im), size) not in memo]
        if missing:
            for im, row in zip(missing, plain(missing, network, size, **kwargs)):
                memo[(id(im), size)] = (im, row)
        return np.stack([memo[(id(im), size)][1] for im in images]) if images else plain(images, network, size)

    embed.__wrapped__ = plain
    ood.embed_images = embed


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


def held_out_in_distribution(manifest, folds: int, seed: int, params: dict) -> dict[str, np.ndarray]:
    """Every EDD2020 frame scored by a detector fitted on the other folds (frames, with all their lesions)."""
    from explainendo.explain.ood import OODDetector
    from explainendo.io.splits import group_kfold_indices

    samples = edd_samples(manifest)
    groups = samples.table["patient"].astype(str).to_numpy()
    out = {k: np.zeros(len(samples), dtype=bool) for k in ("frame", "lesion", "either")}
    for train, test in group_kfold_indices(groups, folds, seed=seed):
        det = OODDetector(coverage=0.95, **params).fit(samples.subset(train))
        test_samples = samples.subset(test)
        _, lesion = det.score_lesions(test_samples)
        frame = det.score_frames(test_samples.frames)[1]
        out["frame"][test], out["lesion"][test], out["either"][test] = frame, lesion, frame | lesion
    # one row per frame for the frame flag (a frame with several lesions is one frame)
    first = ~samples.table.duplicated("image").to_numpy()
    return {"frame": out["frame"][first], "lesion": out["lesion"], "either": out["either"]}


def leave_one_centre_out(manifest, params: dict) -> dict[str, dict[str, float]]:
    from explainendo.explain.ood import OODDetector

    samples = edd_samples(manifest)
    centres = samples.table["centre"].astype(str).to_numpy()
    rows = {}
    for centre in sorted(set(centres)):
        train, test = np.flatnonzero(centres != centre), np.flatnonzero(centres == centre)
        det = OODDetector(coverage=0.95, **params).fit(samples.subset(train))
        t = samples.subset(test)
        _, lesion = det.score_lesions(t)
        first = ~t.table.duplicated("image").to_numpy()
        frame = det.score_frames([f for f, keep in zip(t.frames, first) if keep])[1]
        rows[centre] = {"frames": int(first.sum()), "frame": float(frame.mean()), "lesion": float(lesion.mean())}
    return rows


def ms_per_frame(detector, frames, boxes) -> float:
    """Median ms to score one frame and one lesion of it, one frame at a time (as a video is), no memo."""
    import explainendo.explain.ood as ood
    from explainendo.features import LesionSamples

    memoised, ood.embed_images = ood.embed_images, getattr(ood.embed_images, "__wrapped__", ood.embed_images)
    try:
        times = []
        for k, (frame, box) in enumerate(zip(frames, boxes)):
            frame = np.array(frame)  # a new array: nothing cached
            start = time.perf_counter()
            detector.score_frames([frame])
            detector.score_lesions(LesionSamples.from_images([frame], [box], enlarge=ENLARGE))
            if k:  # the first call builds the network
                times.append(1000 * (time.perf_counter() - start))
        return float(np.median(times))
    finally:
        ood.embed_images = memoised


def rate_line(name: str, found: dict[str, np.ndarray], goal: tuple[str, float] | None) -> tuple[str, bool | None]:
    n = len(found["frame"])
    met = None
    text = (f"   {name:<58} n {n:>5}   frame {found['frame'].mean():6.3f}   lesion {found['lesion'].mean():6.3f}   "
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
    memoise_embeddings()
    edd = load_edd2020()
    if args.quick:
        keep = sorted(set(edd.df["image"]))[::6]
        edd = edd.subset(edd.df["image"].isin(keep))
    n_small = 12 if args.quick else None
    n_generated = 12 if args.quick else 150

    print(f"\nfitted on EDD2020: {edd.df['image'].nunique()} frames, {len(edd.df)} lesions (crops enlarge {ENLARGE}); "
          f"OODDetector(coverage=0.95): Mahalanobis distance (Ledoit-Wolf), threshold from patient-held-out scores "
          f"(the frame space on distinct frames)")
    for name, params in DETECTORS.items():
        print(f"   {name}: OODDetector({', '.join(f'{k}={v!r}' for k, v in {'coverage': 0.95, **params}.items())})")
    results: dict[str, dict[str, bool | None]] = {name: {} for name in DETECTORS}

    def report(label, per_detector, goal_key=None):
        for name, found in per_detector.items():
            line, met = rate_line(f"{label} [{name}]", found, GOALS.get(goal_key))
            print(line)
            if goal_key:
                results[name][goal_key] = met

    def report_sets(sets, pooled_label, goal_key):
        """Each set's flagged shares per detector, then all the sets pooled (the goal's figure)."""
        pooled = {name: {k: [] for k in ("frame", "lesion", "either")} for name in detectors}
        for label, (frames, boxes) in sets.items():
            found = {n: flags(d, frames, boxes) for n, d in detectors.items()}
            report(label, found)
            for n in detectors:
                for k in pooled[n]:
                    pooled[n][k].append(found[n][k])
        report(pooled_label, {n: {k: np.concatenate(v) for k, v in p.items()} for n, p in pooled.items()}, goal_key)

    print("\n1. in-distribution, held out (flagged share; lower is better)")
    report(f"EDD2020, {args.folds} folds by frame",
           {name: held_out_in_distribution(edd, args.folds, args.seed, params) for name, params in DETECTORS.items()},
           "in-distribution")
    print("   as information: each EDD2020 centre held out whole (a scope and population the detector never saw)")
    for name, params in DETECTORS.items():
        rows = leave_one_centre_out(edd, params)
        print(f"      [{name}] " + "   ".join(f"{c} ({r['frames']} frames) frame {r['frame']:.3f} lesion "
                                             f"{r['lesion']:.3f}" for c, r in rows.items()))

    detectors = {name: OODDetector(coverage=0.95, **params).fit(edd_samples(edd)) for name, params in DETECTORS.items()}
    kvasir_frames, kvasir_boxes = manifest_inputs(load_kvasir_seg(), n_small or 300, args.seed)
    report("Kvasir-SEG polyps (information)", {n: flags(d, kvasir_frames, kvasir_boxes) for n, d in detectors.items()})

    print("\n2. non-endoscopic inputs (flagged share; higher is better)")
    photos, loaded = natural_images(n_small or n_generated, args.seed)
    sets = {"noise (uniform, Gaussian, salt & pepper)": noise_images(n_generated, args.seed),
            f"natural photographs ({len(loaded)} skimage.data + crops)": photos,
            "text rendered as an image": text_images(n_generated, args.seed)}
    report_sets({label: (images, [central_box(im) for im in images]) for label, images in sets.items()},
                "all non-endoscopic", "non-endoscopic")
    print(f"   skimage.data images used: {', '.join(loaded)}")

    print("\n3. another organ or system (flagged share; higher is better)")
    dsoc_frames, dsoc_boxes = manifest_inputs(load_dsoc(), n_small or None, args.seed)
    eus_frames, eus_boxes = eus_inputs(n_generated, args.seed)
    report_sets({"DSOC cholangioscopy frames (real)": (dsoc_frames, dsoc_boxes),
                 "EUS phantoms (ultrasound)": (eus_frames, eus_boxes)}, "all other organ / system", "other organ / system")

    n_timed = 6 if args.quick else 30
    print(f"\n4. time to score one frame and one lesion of it (median of {n_timed - 1} Kvasir-SEG frames, one at a time)")
    for name, det in detectors.items():
        print(f"   {name:<58} {ms_per_frame(det, kvasir_frames[:n_timed], kvasir_boxes[:n_timed]):7.1f} ms per frame")

    print("\ngoals (frame flag):")
    for name, goals in results.items():
        print(f"   {name:<24} " + "; ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in goals.items()))
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
