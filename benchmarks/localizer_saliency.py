"""Where the localizer looked (issue 24, item 2; ``explainendo.explain.localizer_saliency``): EigenCAM against
D-RISE on gastric phantoms, per localizer.

    nice python benchmarks/localizer_saliency.py            # 240 phantoms at 256 px, two localizers, 40 frames
    nice python benchmarks/localizer_saliency.py --quick    # a CI smoke run (a minute or two on 2 cores)

Trains briefly (``--epochs``) a ``CenterNetLocalizer`` (the pretrained EfficientNet-Lite0 pyramid) and the gastric
preset's ``SoftMaskLocalizer`` (U-Net on EfficientNet-Lite0, ``gastric_localizer``) on the train patients' phantom
boxes (patients split 75 / 25). On ``--frames`` held-out frames it explains each localizer's top box (the
annotated box when the localizer found none) with EigenCAM and with D-RISE (``--masks`` masks, grid 16, p 0.5,
mean-colour fill) and reports, against the *annotated* lesion box (:func:`explainendo.explain.metrics.box_agreement`):
the pointing game, the share of the map's heat in the box, the box's share of the frame (what a map without
preference for the box scores) and their ratio, and the milliseconds per frame of each method (median over the
frames after one warm-up frame: wall clock, and CPU time of the process summed over its threads, which a machine
shared with other jobs inflates less). Prints markdown tables and writes a JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heads_phantoms import markdown  # noqa: E402  the benchmarks' one pipe-table writer


def split(manifest, seed: int):
    patients = np.array(sorted(manifest.df["patient"].unique()))
    rng = np.random.default_rng(seed)
    rng.shuffle(patients)
    test = list(patients[: max(1, len(patients) // 4)])
    return manifest.select_groups([p for p in patients if p not in test], by="patient"), \
        manifest.select_groups(test, by="patient")


def localizers(args):
    from explainendo.localize import CenterNetLocalizer, DetectorTraining, UNetTraining
    from explainendo.systems.gastric import gastric_localizer

    return {
        "centernet": CenterNetLocalizer(image_size=args.image_size, seed=args.seed,
                                        training=DetectorTraining(epochs=args.epochs, num_threads=args.threads)),
        "softmask": gastric_localizer(args.seed, image_size=args.image_size,
                                      training=UNetTraining(epochs=args.epochs, batch_size=16,
                                                            num_threads=args.threads)),
    }


def measure(localizer, frames, truths, methods) -> tuple[pd.DataFrame, dict]:
    from explainendo.explain.metrics import box_agreement

    rows, seconds, cpu = [], {name: [] for name in methods}, {name: [] for name in methods}
    targets, ious = [], []
    for frame, truth in zip(frames, truths):
        found = localizer.locate(frame)
        target = found[0] if found else truth
        targets.append(target)
        ious.append(float(found[0].iou(truth)) if found else 0.0)
    for name, method in methods.items():
        method.maps(localizer, frames[:1], targets[:1])  # warm-up (first forward pass, thread pools)
        maps = []
        for frame, target in zip(frames, targets):
            start, start_cpu = time.perf_counter(), time.process_time()
            maps.append(method.maps(localizer, [frame], [target])[0])
            seconds[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
        scores = box_agreement(maps, truths)
        rows.append({"method": name, "pointing": float(np.nanmean(scores["pointing"])),
                     "heat": float(np.nanmean(scores["heat"])), "area": float(scores["area"].mean()),
                     "ratio": float(np.nanmean(scores["heat"]) / scores["area"].mean()),
                     "flat": int(scores["heat"].isna().sum()),
                     "ms_per_frame": 1000 * float(np.median(seconds[name])),
                     "cpu_ms_per_frame": 1000 * float(np.median(cpu[name]))})
    table = pd.DataFrame(rows).set_index("method")
    return table, {"top_box_mIoU": float(np.mean(ious)), "found": int(sum(i > 0 for i in ious))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=240, help="gastric phantoms")
    ap.add_argument("--size", type=int, default=256, help="phantom side in pixels")
    ap.add_argument("--image-size", type=int, default=128, help="the localizers' network input side")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--frames", type=int, default=40, help="held-out frames explained")
    ap.add_argument("--masks", type=int, default=250, help="D-RISE masks per frame")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a smoke run: 40 phantoms, 1 epoch, 4 frames, 16 masks")
    ap.add_argument("--out", default="benchmarks/results/localizer_saliency.json")
    args = ap.parse_args()
    if args.quick:
        args.n, args.size, args.image_size, args.epochs, args.frames, args.masks = 40, 128, 64, 1, 4, 16

    from explainendo.bench import run_header
    from explainendo.explain.localizer_saliency import DRise, EigenCAM
    from explainendo.synth import generate
    from explainendo.torch_threads import torch_threads

    print(run_header())
    print(f"command: {' '.join(sys.argv)}")
    work = Path(tempfile.mkdtemp(prefix="localizer_saliency_"))
    manifest = generate("gastric", args.n, seed=args.seed, size=args.size).write(work / "phantoms")
    train, test = split(manifest, args.seed)
    from explainendo.io import read_image

    images = test.images()[: args.frames]
    frames = [read_image(test.path(i)) for i in images]
    truths = [test.boxes_for(i)[0] for i in images]
    methods = {"EigenCAM": EigenCAM(), f"D-RISE ({args.masks} masks)": DRise(n_masks=args.masks, seed=args.seed)}
    report = {"header": run_header(), "args": vars(args), "localizers": {}}
    for name, localizer in localizers(args).items():
        start = time.perf_counter()
        with torch_threads(args.threads):
            localizer.fit(train)
            fit_s = time.perf_counter() - start
            table, facts = measure(localizer, frames, truths, methods)
        print(f"\n## {name}: trained {args.epochs} epochs in {fit_s:.0f} s on {len(train.images())} frames; "
              f"top box mIoU {facts['top_box_mIoU']:.3f} on {len(frames)} held-out frames ({facts['found']} found)")
        print(markdown(table))
        report["localizers"][name] = {"fit_seconds": fit_s, **facts, "table": table.reset_index().to_dict("records")}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
