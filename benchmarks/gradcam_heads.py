"""Issue 24 item 1: do the heads' Grad-CAM maps show something? Heat in the lesion box and how the heads differ.

    cd benchmarks
    nice python gradcam_heads.py --train-only --save /tmp/heads96       # train once (96 px, 4 epochs)
    nice python gradcam_heads.py --model /tmp/heads96 --threads 1       # measure every CAM setting on it
    nice python gradcam_heads.py --quick                                # smoke run

Gastric phantoms (``--n`` images, 4 per patient), patients split 75 / 25 into train / held-out test. Without
``--model`` the seven gastric heads (:func:`~explainendo.systems.gastric_heads`, EfficientNet-Lite0 with its
ImageNet weights, ``--image-size`` px, ``--epochs`` epochs) train on the train lesions. Then, for every CAM
setting in ``--cams`` (``method@layer``: ``gradcam@last`` is the map the heads gave before issue 24), on the
test lesions cut ``--enlarge`` (1.5) x around their boxes (so the box is ~44% of the crop, as in
``benchmarks/trust.py``; the heads train on ``--train-enlarge`` crops, 1.0 = the box as the systems cut them):

* per crop head, the **heat ratio**: mean share of the map's heat inside the lesion box / mean box area share
  (``explain.metrics.box_agreement``; 1 = spread evenly, 2.25 = all heat in the box);
* **pointing game** (the map's peak in the box);
* **box AUC** (``explain.metrics.box_auc``: how well the map's values rank the box's pixels above the rest; 0.5 =
  no preference; unlike the heat ratio, unchanged when the map is sharpened by a monotone transform);
* how alike the heads' maps are: the **mean pairwise Pearson correlation** of the six crop heads' maps of each
  lesion, averaged over lesions (1 = one and the same map for every head);
* the map grid (the chosen stage's feature map size) and the milliseconds of ``gradcam`` for one crop and all seven
  heads right after ``predict_proba`` (the explanation path), median of ``--repeat``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from heads_phantoms import markdown  # noqa: E402  the benchmarks' one pipe-table writer
from trust import patient_split  # noqa: E402


def parse_cam(text: str):
    from explainendo.heads import HeadCAM

    method, _, layer = text.partition("@")
    layer = layer or "auto"
    return HeadCAM(method=method, layer=layer if layer in ("auto", "last") else int(layer))


def measure(heads, wide, one, cam, repeat: int) -> tuple[dict, pd.DataFrame]:
    from explainendo.explain.metrics import box_agreement, crop_coordinates

    heads.set_params(cam=cam)
    crop_heads = [s.name for s in heads.net_specs_ if s.input == "crop"]
    boxes = [crop_coordinates(b, b, f.shape, wide.enlarge) for b, f in zip(wide.boxes, wide.frames)]
    maps = heads.gradcam(wide, attributes=crop_heads)
    rows = []
    for name in crop_heads:
        agreement = box_agreement(maps[name], boxes)
        rows.append({"head": name, "heat": agreement["heat"].mean(), "area": agreement["area"].mean(),
                     "heat_ratio": agreement["heat"].mean() / agreement["area"].mean(),
                     "pointing": agreement["pointing"].mean(), "box_auc": agreement["auc"].mean()})
    correlations = []
    for i in range(len(wide)):
        flat = [maps[name][i].ravel() for name in crop_heads]
        pairs = [np.corrcoef(a, b)[0, 1] for a, b in itertools.combinations(flat, 2)
                 if a.std() > 0 and b.std() > 0]
        if pairs:
            correlations.append(float(np.mean(pairs)))
    times = []
    for _ in range(repeat):
        heads.predict_proba(one)
        start = time.perf_counter()
        heads.gradcam(one)
        times.append(1000 * (time.perf_counter() - start))
    table = pd.DataFrame(rows).set_index("head")
    grid = heads._cam_grid()
    summary = {"cam": f"{cam.method}@{cam.layer}", "stage": heads._cam_stage(), "grid": f"{grid[0]}x{grid[1]}",
               "heat_ratio_min": float(table["heat_ratio"].min()), "heat_ratio_mean": float(table["heat_ratio"].mean()),
               "pointing_mean": float(table["pointing"].mean()),
               "box_auc_min": float(table["box_auc"].min()), "box_auc_mean": float(table["box_auc"].mean()),
               "head_correlation": float(np.mean(correlations)) if correlations else float("nan"),
               "gradcam_ms": float(np.median(times))}
    return summary, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a saved AttributeHeads folder (default: train one)")
    parser.add_argument("--save", default=None, help="save the trained heads here")
    parser.add_argument("--n", type=int, default=320, help="phantom images (4 per patient)")
    parser.add_argument("--size", type=int, default=192, help="phantom frame size")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lesions", type=int, default=60, help="held-out lesions measured")
    parser.add_argument("--repeat", type=int, default=15, help="timing repeats (one crop, seven heads)")
    parser.add_argument("--cams", default="gradcam@last,gradcam++@last,layercam@last,layercam@7,gradcam@5,"
                        "gradcam++@5,layercam@5,gradcam@3,gradcam++@3,layercam@3,layercam@2",
                        help="comma list of method@layer (layer: last, auto or a stage index)")
    parser.add_argument("--train-enlarge", type=float, default=1.0,
                        help="the heads train on crops this many times their boxes (1.0: the box, the systems' default)")
    parser.add_argument("--enlarge", type=float, default=1.5,
                        help="the measured crops: this many times their boxes (1.5: the box ~44%% of the crop)")
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 48 images at 128 px, 64 px heads, 1 epoch")
    parser.add_argument("--out", default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.size, args.image_size, args.epochs, args.lesions, args.repeat = 48, 128, 64, 1, 8, 3

    import torch

    from explainendo.heads import AttributeHeads
    from explainendo.synth import generate
    from explainendo.systems import gastric_heads
    from explainendo.training import Training

    torch.set_num_threads(args.threads)
    phantoms = generate("gastric", args.n, seed=args.seed, size=args.size)
    samples = phantoms.to_samples(enlarge=args.train_enlarge)
    wide_all = phantoms.to_samples(enlarge=args.enlarge)
    train_i, test_i = patient_split(samples, args.seed)
    if args.model:
        heads = AttributeHeads.load(args.model)
    else:
        start = time.perf_counter()
        heads = gastric_heads(args.seed, pretrained="auto", image_size=args.image_size,
                              training=Training(epochs=args.epochs, batch_size=32, patience=2,
                                                num_threads=args.threads)).fit(samples.subset(train_i))
        print(f"trained {len(train_i)} lesions ({args.train_enlarge:g}x crops), {args.image_size} px, "
              f"{len(heads.history_)} epochs: "
              f"{time.perf_counter() - start:.0f} s")
        print(heads.evaluate(samples.subset(test_i)).round(3).to_string())
        if args.save:
            heads.save(args.save)
    if args.train_only:
        return
    test_i = test_i[: args.lesions]
    wide, one = wide_all.subset(test_i), samples.subset(test_i[:1])
    summaries, tables = [], {}
    for text in filter(None, args.cams.split(",")):
        summary, table = measure(heads, wide, one, parse_cam(text), args.repeat)
        summaries.append(summary)
        tables[summary["cam"]] = table
        print(f"\n### {summary['cam']} (stage {summary['stage']}, {summary['grid']} grid)\n")
        print(markdown(table))
    overview = pd.DataFrame(summaries).set_index("cam")
    print(f"\n### {len(wide)} held-out lesions, {args.enlarge:g}x crops, heads at {heads.image_size} px\n")
    print(markdown(overview))
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "summary": summaries,
                                              "per_head": {k: v.round(4).to_dict() for k, v in tables.items()}},
                                             indent=1, default=float))


if __name__ == "__main__":
    main()
