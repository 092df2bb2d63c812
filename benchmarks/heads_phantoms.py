"""Proof for issue 6 on gastric phantoms: per-head AUC, pretrained vs random init, semi-supervised vs
supervised at 15% labels, and whether Grad-CAM heat sits on the lesion.

    nice python benchmarks/heads_phantoms.py            # the figures in docs/benchmarks.md (## heads)
    nice python benchmarks/heads_phantoms.py --quick    # a smoke run (minutes)

Patients are split 60/15/25 into train / validation / held-out test (no patient in two parts); every
model in a run sees the same rows. Prints markdown tables and writes a JSON next to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd


def patient_split(samples, seed: int, fractions=(0.6, 0.15)):
    patients = np.array(sorted(samples.table["patient"].unique()))
    rng = np.random.default_rng(seed)
    rng.shuffle(patients)
    n_train = int(round(fractions[0] * len(patients)))
    n_val = int(round(fractions[1] * len(patients)))
    parts = patients[:n_train], patients[n_train:n_train + n_val], patients[n_train + n_val:]
    index = [np.flatnonzero(samples.table["patient"].isin(p).to_numpy()) for p in parts]
    assert not set(parts[0]) & set(parts[2]) and not set(parts[1]) & set(parts[2])
    return index


def markdown(frame: pd.DataFrame) -> str:
    """A pipe table (no tabulate dependency)."""
    frame = frame.round(3)
    head = "| " + " | ".join([frame.index.name or ""] + [str(c) for c in frame.columns]) + " |"
    rule = "|" + "---|" * (len(frame.columns) + 1)
    body = ["| " + " | ".join([str(i)] + [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]) + " |"
            for i, row in zip(frame.index, frame.itertuples(index=False))]
    return "\n".join([head, rule, *body])


def without_labels(samples):
    from explainendo.features import LesionSamples

    table = samples.table.drop(columns=[c for c in samples.table if c.startswith("attr.")])
    return LesionSamples(samples.crops, samples.boxes, samples.frames, samples.masks, table, samples.enlarge)


def heat_shares(model, samples, inside_masks) -> pd.DataFrame:
    """Per crop head: mean share of Grad-CAM heat inside ``inside_masks`` vs their mean area share."""
    maps = model.gradcam(samples, attributes=[a for a in model.trained_attributes_ if a != "landmark"])
    rows = []
    for name, cams in maps.items():
        heat, area = [], []
        for cam, inside in zip(cams, inside_masks):
            if inside is None or not np.isfinite(cam).all() or cam.sum() <= 0:
                continue
            heat.append(float(cam[inside].sum() / cam.sum()))
            area.append(float(inside.mean()))
        rows.append({"attribute": name, "n": len(heat), "heat_inside": np.mean(heat), "area_share": np.mean(area),
                     "ratio": np.mean(heat) / np.mean(area)})
    return pd.DataFrame(rows).set_index("attribute")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400, help="phantom images (4 per patient)")
    parser.add_argument("--size", type=int, default=192, help="phantom frame size")
    parser.add_argument("--image-size", type=int, default=96, help="network input side")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is faster on a busy 2-core box)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny run: 96 images, 2 epochs")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: pretrain,semi,cam")
    parser.add_argument("--init", default="both", choices=["both", "pretrained", "random"],
                        help="which backbone init(s) to train in the pretrain part (run two processes in parallel)")
    parser.add_argument("--patience", type=int, default=2, help="early-stopping patience (epochs)")
    parser.add_argument("--enlarge", type=float, default=1.0, help="crop = box enlarged by this factor")
    parser.add_argument("--crop-only", action="store_true", help="train the six crop heads only (no landmark)")
    parser.add_argument("--balance-heads", action="store_true", help="HeadLoss(balance_heads=True)")
    parser.add_argument("--no-flips", action="store_true",
                        help="Augment(flips=False): no crop flips (the phantoms' light comes from the upper left)")
    parser.add_argument("--verbose", action="store_true", help="print every epoch's record after each fit")
    parser.add_argument("--out", default="benchmarks/results/heads_phantoms.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.epochs = 96, 2
    skip = set(filter(None, args.skip.split(",")))

    import torch

    from explainendo.heads import Augment, AttributeHeads, HeadLoss
    from explainendo.training import Training
    from explainendo.specs import GASTRIC_ATTRIBUTES
    from explainendo.synth import generate

    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {args.threads}, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    phantoms = generate("gastric", args.n, seed=args.seed, size=args.size)
    samples = phantoms.to_samples(enlarge=args.enlarge)
    wide = phantoms.to_samples(enlarge=1.5)
    train_i, val_i, test_i = patient_split(samples, args.seed)
    train, val, test = samples.subset(train_i), samples.subset(val_i), samples.subset(test_i)
    print(f"phantoms: {len(samples)} lesions, {samples.table['patient'].nunique()} patients; "
          f"train {len(train)} / validation {len(val)} / test {len(test)} lesions (split by patient)")
    specs = [s for s in GASTRIC_ATTRIBUTES if s.input == "crop"] if args.crop_only else GASTRIC_ATTRIBUTES
    common = dict(specs=specs, image_size=args.image_size, seed=args.seed,
                  training=Training(epochs=args.epochs, batch_size=32, lr=2e-3, patience=args.patience,
                                    num_threads=args.threads),
                  loss=HeadLoss(balance_heads=args.balance_heads), augment=Augment(flips=not args.no_flips))
    results: dict = {"args": vars(args), "n_train": len(train), "n_val": len(val), "n_test": len(test)}

    models = {}
    if "pretrain" not in skip:
        tables = {}
        inits = {"both": (True, False), "pretrained": (True,), "random": (False,)}[args.init]
        for pretrained in inits:
            label = "pretrained" if pretrained else "random init"
            start = time.perf_counter()
            model = AttributeHeads(pretrained=pretrained, **common).fit(train, validation=val)
            seconds = time.perf_counter() - start
            tables[label] = model.evaluate(test)
            models[label] = model
            results[f"fit_seconds_{label}"] = seconds
            print(f"\n### {label}: fit {seconds:.0f} s, {len(model.history_)} epochs\n")
            if args.verbose:
                print("\n".join(str(record) for record in model.history_))
            print(markdown(tables[label]))
        both = pd.concat({k: v[["auc", "macro_f1"]] for k, v in tables.items()}, axis=1)
        both.columns = [f"{a} {b}" for a, b in both.columns]
        results["per_head"] = {k: v.round(4).to_dict() for k, v in tables.items()}
        print("\n### per-head AUC / macro-F1 on held-out patients\n")
        print(markdown(both))

    if "semi" not in skip:
        rng = np.random.default_rng(args.seed + 1)
        patients = np.array(sorted(train.table["patient"].unique()))
        labelled_patients = rng.choice(patients, size=max(2, int(round(0.15 * len(patients)))), replace=False)
        mask = train.table["patient"].isin(labelled_patients).to_numpy()
        labelled, unlabelled = train.subset(np.flatnonzero(mask)), without_labels(train.subset(np.flatnonzero(~mask)))
        val_small = val.subset(np.arange(0, len(val), 2))  # a labelled validation set as small as the labels
        rows = {}
        for method in (None, "pseudo_label"):
            start = time.perf_counter()
            # crop heads only: the 15% experiment is about lesion attributes (and halves the CPU time)
            crop_specs = [spec for spec in GASTRIC_ATTRIBUTES if spec.input == "crop"]
            model = AttributeHeads(pretrained=True, semi_supervised=method, **{**common, "specs": crop_specs}).fit(
                labelled, unlabeled=unlabelled if method else None, validation=val_small)
            report = model.evaluate(test)
            rows[method or "supervised"] = report["macro_f1"]
            results[f"semi_fit_seconds_{method or 'supervised'}"] = time.perf_counter() - start
            if method:
                results["pseudo_label_counts"] = model.pseudo_label_counts_
        table = pd.DataFrame(rows)
        table.loc["mean (all heads)"] = table.mean()
        print(f"\n### 15% labelled ({len(labelled)} labelled crops, {len(unlabelled)} unlabelled): macro-F1 "
              "on the held-out test patients\n")
        print(markdown(table))
        print("pseudo-labels kept per head:", results.get("pseudo_label_counts"))
        results["semi"] = table.round(4).to_dict()

    if "cam" not in skip and models:
        model = next(iter(models.values()))
        test_wide = wide.subset(test_i)
        masks = [None if m is None else m.astype(bool) for m in test.masks]
        by_mask = heat_shares(model, test, masks)
        box_masks = []
        for box, crop in zip(test_wide.boxes, test_wide.crops):
            frame_h, frame_w = test_wide.frames[0].shape[:2]
            outer = box.enlarge(1.5).clip(frame_w, frame_h)
            inside = np.zeros(crop.shape[:2], dtype=bool)
            rows_, cols_ = box.pixel_slice(frame_w, frame_h)
            r0, c0 = int(np.floor(outer.y1)), int(np.floor(outer.x1))
            inside[rows_.start - r0:rows_.stop - r0, cols_.start - c0:cols_.stop - c0] = True
            box_masks.append(inside)
        by_box = heat_shares(model, test_wide, box_masks)
        print(f"\n### Grad-CAM heat inside the lesion ({next(iter(models))} model, test crops, predicted class)\n")
        print("lesion mask inside the 1.0x crop:\n")
        print(markdown(by_mask))
        print("\nlesion box inside the 1.5x crop:\n")
        print(markdown(by_box))
        results["cam_mask"] = by_mask.round(4).to_dict()
        results["cam_box"] = by_box.round(4).to_dict()

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=float))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
