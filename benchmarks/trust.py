"""Trust metrics of a gastric model's explanations (issue 24, item 3; ``explainendo.explain.metrics``).

    nice python benchmarks/trust.py                 # trains a small GastricDiagnoser on 400 phantoms
    nice python benchmarks/trust.py --model DIR     # a saved gastric model folder instead (explainendo.load)
    nice python benchmarks/trust.py --quick         # a smoke run (a minute or two)

Patients are split 75 / 25 into train / held-out test. Without ``--model`` the benchmark trains a
``GastricDiagnoser`` on the train lesions (the manifest's boxes; the whole-frame localizer, so no localizer is
trained): the seven gastric heads (EfficientNet-Lite0, ImageNet weights when present, ``--image-size`` px,
``--epochs``), the handcrafted features and a logistic-regression fitter (``HeldOut(0.5)`` stacking, no group
selection). On ``--lesions`` held-out lesions it reports, per crop head:

* **pointing game** and **heat in the lesion box** against the box's area share, on crops enlarged 1.5x so the
  box is a part of what the map covers (a random map's pointing game is about the area share);
* **deletion / insertion AUC** (RISE; ``--steps`` steps, mean-colour baseline) of the head's probability of the
  class it predicts, on the crop the head reads, for the Grad-CAM map and for a seeded uniform random map
  (deletion: lower is better; insertion: higher);
* the **sanity check**: Spearman correlation of each lesion's Grad-CAM with the trained model's as the head and then
  the backbone's stages are re-initialised from the top (goal: < 0.5 once randomised);

and for the fitter: the same check for the grouped SHAP values with the coefficients re-drawn, and **grouped
deletion** (each group's columns set to the SHAP background's mean: Spearman of the output drops with the
group SHAP values, per lesion and over all). Prints markdown tables and writes a JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd


from heads_phantoms import markdown  # noqa: E402  the benchmarks' one pipe-table writer


def patient_split(samples, seed: int, test_fraction: float = 0.25):
    patients = np.array(sorted(samples.table["patient"].unique()))
    rng = np.random.default_rng(seed)
    rng.shuffle(patients)
    test = set(patients[: max(1, int(round(test_fraction * len(patients))))])
    is_test = samples.table["patient"].isin(test).to_numpy()
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def train_model(train, args):
    from explainendo.localize import WholeFrame
    from explainendo.predict import HeldOut
    from explainendo.systems import GastricDiagnoser, gastric_heads, gastric_predictor
    from explainendo.training import Training

    heads = gastric_heads(args.seed, pretrained="auto", image_size=args.image_size,
                          training=Training(epochs=args.epochs, batch_size=32, patience=2, num_threads=args.threads))
    predictor = gastric_predictor(heads=heads, fitter="logistic_regression", stacking=HeldOut(0.5),
                                  group_selection=None, seed=args.seed)
    model = GastricDiagnoser(localizer=WholeFrame(), predictor=predictor, train_localizer=False, seed=args.seed)
    return model.fit(train)


def head_rows(heads, test, wide, args) -> tuple[pd.DataFrame, dict]:
    """Localisation, deletion / insertion and the sanity check per crop head."""
    from explainendo.explain.metrics import (DeletionInsertion, HeadScore, box_agreement, crop_coordinates,
                                             heads_sanity_check)

    crop_heads = [s.name for s in heads.net_specs_ if s.input == "crop"]
    boxes = [crop_coordinates(b, b, f.shape, wide.enlarge) for b, f in zip(wide.boxes, wide.frames)]
    wide_maps = heads.gradcam(wide, attributes=crop_heads)
    maps = heads.gradcam(test, attributes=crop_heads)  # each lesion's predicted class, on the crop the head reads
    proba = heads.predict_proba(test)
    rng = np.random.default_rng(args.seed)
    rows, sanity = [], {}
    for name in crop_heads:
        t0 = time.perf_counter()
        cam_box = box_agreement(wide_maps[name], boxes, tolerance=args.tolerance)
        noise = [rng.random(m.shape) for m in wide_maps[name]]
        random_box = box_agreement(noise, boxes, tolerance=args.tolerance)
        curves = {"gradcam": [], "random": []}
        for i, (crop, cam) in enumerate(zip(test.crops, maps[name])):
            metric = DeletionInsertion(HeadScore(heads, name, int(proba[name][i].argmax())), steps=args.steps,
                                       seed=args.seed + i)
            curves["gradcam"].append(metric(crop, cam))
            curves["random"].append(metric(crop, rng.random(crop.shape[:2])))
        check = heads_sanity_check(heads, test, name, seed=args.seed)
        table = check.to_frame()
        sanity[name] = table
        randomised = table["spearman_mean"].iloc[1:]
        rows.append({
            "head": name, "n": len(test),
            "pointing": cam_box["pointing"].mean(), "pointing_random": random_box["pointing"].mean(),
            "heat": cam_box["heat"].mean(), "area": cam_box["area"].mean(),
            "heat_ratio": cam_box["heat"].mean() / cam_box["area"].mean(),
            "deletion": np.mean([c.deletion_auc for c in curves["gradcam"]]),
            "deletion_random": np.mean([c.deletion_auc for c in curves["random"]]),
            "insertion": np.mean([c.insertion_auc for c in curves["gradcam"]]),
            "insertion_random": np.mean([c.insertion_auc for c in curves["random"]]),
            "rho_head_randomised": float(table["spearman_mean"].iloc[1]),
            "rho_all_randomised": float(table["spearman_mean"].iloc[-1]),
            "rho_max_randomised": float(randomised.max()),
            "seconds": time.perf_counter() - t0})
        print(f"  {name}: scored in {rows[-1]['seconds']:.0f} s ({len(rows)} of {len(crop_heads)} heads)", flush=True)
    return pd.DataFrame(rows).set_index("head"), sanity


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="a saved gastric model folder (default: train one)")
    parser.add_argument("--n", type=int, default=400, help="phantom images (4 per patient)")
    parser.add_argument("--size", type=int, default=192, help="phantom frame size")
    parser.add_argument("--image-size", type=int, default=96, help="the heads' input side (96: a 3x3 Grad-CAM grid)")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--lesions", type=int, default=40, help="held-out lesions scored")
    parser.add_argument("--steps", type=int, default=20, help="deletion / insertion steps")
    parser.add_argument("--tolerance", type=float, default=0.0, help="pointing-game tolerance in pixels")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is faster on a busy 2-core box)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 48 images at 128 px, 64 px heads, 1 epoch")
    parser.add_argument("--out", default="benchmarks/results/trust.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.size, args.image_size, args.epochs, args.lesions, args.steps = 48, 128, 64, 1, 6, 8

    import torch

    import explainendo
    from explainendo.bench import run_header
    from explainendo.explain.metrics import fitter_sanity_check, hybrid_grouped_deletion
    from explainendo.heads import AttributeHeads
    from explainendo.synth import generate

    torch.set_num_threads(args.threads)
    print(run_header())
    start = time.perf_counter()
    phantoms = generate("gastric", args.n, seed=args.seed, size=args.size)
    samples, wide_all = phantoms.to_samples(), phantoms.to_samples(enlarge=1.5)
    train_i, test_i = patient_split(samples, args.seed)
    if args.model:
        model = explainendo.load(args.model)
        print(f"model: {args.model}")
    else:
        model = train_model(samples.subset(train_i), args)
        print(f"trained on {len(train_i)} lesions in {time.perf_counter() - start:.0f} s")
    hybrid = model.predictor_
    heads = [s for s in getattr(hybrid, "sources_", []) if isinstance(s, AttributeHeads)]
    if not heads:
        raise SystemExit(f"the model's predictor ({hybrid.describe()}) has no attribute heads to explain")
    pick = test_i[: args.lesions]
    test, wide = samples.subset(pick), wide_all.subset(pick)
    print(f"phantoms: {len(samples)} lesions; scored {len(test)} held-out lesions; fitter {hybrid.describe()}")

    per_head, sanity = head_rows(heads[0], test, wide, args)
    print("\n### per head (Grad-CAM vs a random map)\n")
    print(markdown(per_head.round(3)))
    for name, table in sanity.items():
        print(f"\n### sanity check, {name}: Spearman with the trained map, cumulative randomisation from the top\n")
        print(markdown(table[["randomised", "spearman_mean", "spearman_median", "ssim_mean", "n_undefined"]].round(3)))

    linear = hasattr(hybrid.fitter_.steps[-1][1] if hasattr(hybrid.fitter_, "steps") else hybrid.fitter_, "coef_")
    features = hybrid.features(test)
    if linear:
        fitter_check = fitter_sanity_check(hybrid, features, method="coefficients", repeats=5, seed=args.seed)
    else:
        fitter_check = fitter_sanity_check(hybrid, features, method="labels", X=features, y=test.table["label"],
                                           repeats=5, seed=args.seed)
    print(f"\n### fitter sanity check ({fitter_check.method})\n")
    print(markdown(fitter_check.to_frame()[["randomised", "spearman_mean", "spearman_median", "n_undefined"]].round(3)))
    deletion = hybrid_grouped_deletion(hybrid, features)
    summary = deletion.to_dict()
    print(f"\n### grouped deletion ({len(summary['groups'])} groups, background mean)\n")
    print(f"Spearman(drop, group SHAP): overall {summary['overall_spearman']:.3f}, per lesion mean "
          f"{summary['mean_spearman']:.3f} (median {summary['median_spearman']:.3f}); the top group agrees in "
          f"{(deletion.to_frame()['top_drop'] == deletion.to_frame()['top_shap']).mean():.0%} of lesions")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "header": run_header(), "args": vars(args), "per_head": per_head.reset_index().to_dict(orient="records"),
        "sanity": {k: v.reset_index().to_dict(orient="records") for k, v in sanity.items()},
        "fitter_sanity": fitter_check.to_dict(),
        "grouped_deletion": {k: summary[k] for k in ("overall_spearman", "mean_spearman", "median_spearman",
                                                     "lesions", "groups")}}, indent=2, default=float))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
