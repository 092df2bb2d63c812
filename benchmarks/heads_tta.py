"""Test-time augmentation of the attribute heads inside a trained hybrid, measured on its own benchmark.

Reads a folder written by ``explainendo bench phantoms ... --save-models``: the phantoms, the saved hybrid
and its fitter's training rows (``features_hybrid_train.csv``). The split is rebuilt as the bench built it.
For ``tta`` off and on, the heads' features are recomputed, the fitter is refit (with its selection) on the
same held-out rows (``HybridPredictor.refit_fitter``), and the report gives the heads' per-attribute accuracy
and AUC on the test lesions, the hybrid's test accuracy against the Bayes-optimal accuracy of the same
lesions, and how often SHAP's top groups are the generating rule.

    python benchmarks/heads_tta.py /path/to/bench_out [--threads 2]
    python benchmarks/heads_tta.py --quick     # smoke run on a small held-out bench made for it (minutes)

The folder must come from a run with ``--holdout`` (``HeldOut`` stacking). ``--quick`` without a folder first
runs ``explainendo bench phantoms --quick --holdout 0.5 --sole-backbones '' --save-models`` into a temporary
folder (``fitter_on_features.quick_bench_folder``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, nargs="?",
                        help="an `explainendo bench phantoms --holdout F --save-models` output folder")
    parser.add_argument("--quick", action="store_true", help="without a folder: a small bench made first")
    parser.add_argument("--hybrid", default="hybrid", help="the hybrid contender's name")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.folder is None and not args.quick:
        parser.error("give an `explainendo bench phantoms --holdout F --save-models` output folder (or --quick)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fitter_on_features import quick_bench_folder

    args.folder = quick_bench_folder(args.folder)

    import explainendo
    from explainendo.bench import machine_description, shap_rule_recovery
    from explainendo.features import LesionSamples
    from explainendo.io import Manifest, train_val_test_split
    from explainendo.synth.gastric import gastric_rule

    meta = json.loads((args.folder / "results.json").read_text())["meta"]
    manifest = Manifest.read_csv(args.folder / "phantoms" / "manifest.csv")
    manifest.df["video"] = manifest.df["patient"]
    split = train_val_test_split(manifest, val=0.0, test=0.3, seed=int(meta["seed"]))  # as the bench split
    model = explainendo.load(args.folder / "models" / args.hybrid)
    if model.stacking_.get("mode") != "held_out":
        raise SystemExit(f"{args.folder}: the fitter's rows are {model.stacking_.get('mode')} features, which the "
                         "saved heads cannot recompute; run the bench with --holdout (HeldOut stacking)")
    heads = next(s for s in model.sources_ if getattr(s, "name", "") == "attributes")
    heads.set_params(training__num_threads=args.threads)
    train = LesionSamples.from_manifest(split["train"])
    rows = pd.read_csv(args.folder / f"features_{args.hybrid}_train.csv")["image"]  # the fitter's rows
    fit_rows = train.subset(np.flatnonzero(train.table["image"].isin(set(rows)).to_numpy()))
    test = LesionSamples.from_manifest(split["test"])
    y = (test.table["label"] == "neoplastic").to_numpy()
    bayes = float(((test.table["label_probability"] > 0.5) == y).mean())
    rule = list(gastric_rule().causal_attributes)
    print(f"{args.folder}: {machine_description()}; fitter rows {len(fit_rows)} lesions, test {len(test)}; "
          f"Bayes-optimal accuracy on these test lesions {bayes:.3f}")
    saved = pd.read_csv(args.folder / f"features_{args.hybrid}_train.csv")
    for tta in (False, True):
        start = time.perf_counter()
        heads.set_params(tta=tta)
        model.refit_fitter(fit_rows)
        if not tta:  # the recomputed rows are the ones the benchmarked fitter was trained on
            columns = model.feature_columns_
            drift = np.nanmax(np.abs(model.training_features_[columns].to_numpy(float)
                                     - saved.set_index("image").loc[fit_rows.table["image"], columns].to_numpy(float)))
            print(f"largest difference from the saved training features: {drift:.2e}")
        positive = model.classes_.index("neoplastic")
        pred = model.predict_proba(test)[:, positive] >= 0.5
        correct = np.flatnonzero(pred == y)
        found = shap_rule_recovery(model.shap_values(test.subset(correct), class_index=positive).group_values, rule)
        heads_table = heads.evaluate(test)
        seconds = time.perf_counter() - start
        print(f"\n### tta={tta}: fitter {model.fitter_name_}, accuracy {(pred == y).mean():.3f}, "
              f"SHAP top-4 = rule {found['top_k_exact']:.3f} (top-3 inside {found['top_3_inside']:.3f}); "
              f"{seconds:.0f} s\n")
        print("| attribute | AUC | accuracy |\n|---|---|---|")
        for name, r in heads_table.iterrows():
            print(f"| {name} | {r['auc']:.3f} | {r['accuracy']:.3f} |")
        print("mean |SHAP|: " + ", ".join(f"{g} {v:.3f}" for g, v in list(found["mean_abs_shap"].items())[:8]),
              flush=True)


if __name__ == "__main__":
    main()
