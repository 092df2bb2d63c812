"""Which fitter lets SHAP recover the phantom rule when handcrafted columns sit beside the attributes?

The hybrid's fitter sees a few strong attribute groups next to 38 correlated handcrafted columns, and often
only a few hundred patients. This measures, for each fitter candidate, on gastric phantoms with the
ground-truth attributes (``ColumnFeatures``, optionally with a share of them replaced at random to mimic
imperfect heads) plus ``HandcraftedFeatures``: held-out accuracy, patient-grouped CV AUC, and how often the
rule's four attributes are SHAP's top four groups in correctly diagnosed lesions.

    python benchmarks/fitter_sparsity.py --patients 84 280      # the figures in docs/benchmarks.md
    python benchmarks/fitter_sparsity.py --quick                # a smoke run: 24 / 20 patients, 128 px
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

FITTERS = ("sparse_logistic_regression", "logistic_regression", "decision_tree", "svm", "xgboost")


def corrupt(manifest, columns, share: float, seed: int) -> None:
    """Replace ``share`` of each attribute's values with a random class (per lesion, seeded)."""
    rng = np.random.default_rng(seed)
    for column in columns:
        classes = sorted(manifest.df[column].unique())
        hit = rng.random(len(manifest.df)) < share
        manifest.df.loc[hit, column] = rng.choice(classes, int(hit.sum()))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs="+", default=[84, 280],
                        help="training patients (4 views each)")
    parser.add_argument("--test-patients", type=int, default=120)
    parser.add_argument("--corrupt", type=float, default=0.0, help="share of attribute values randomised")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--explain", type=int, default=150, help="correct lesions explained per fitter")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --patients 24 --test-patients 20 --size 128 --explain 20")
    args = parser.parse_args(argv)
    if args.quick:
        args.patients, args.test_patients, args.size, args.explain = [24], 20, 128, 20

    from explainendo import synth
    from explainendo.bench import shap_rule_recovery
    from explainendo.features import LesionSamples
    from explainendo.fit import FitterSelector
    from explainendo.handcrafted import HandcraftedFeatures
    from explainendo.predict import HybridPredictor
    from explainendo.sources import ColumnFeatures
    from explainendo.synth.gastric import gastric_rule

    rule = gastric_rule().causal_attributes
    print(f"machine: {platform.machine()}, python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; attributes randomised: {args.corrupt:.0%}")
    with tempfile.TemporaryDirectory() as tmp:
        test = synth.generate("gastric", 4 * args.test_patients, seed=1, size=args.size).write(Path(tmp) / "test")
        columns = [c for c in test.df if c.startswith("attr.") and c not in ("attr.location", "attr.landmark")]
        corrupt(test, columns, args.corrupt, seed=11)
        samples = LesionSamples.from_manifest(test)
        y = samples.table["label"].astype(str).to_numpy()
        print("| training patients | fitter | CV AUC | accuracy | SHAP top-4 = rule | top-3 inside rule |")
        print("|---|---|---|---|---|---|")
        for patients in args.patients:
            train = synth.generate("gastric", 4 * patients, seed=0, size=args.size).write(
                Path(tmp) / f"train{patients}")
            corrupt(train, columns, args.corrupt, seed=10)
            train_samples = LesionSamples.from_manifest(train)
            selector = HybridPredictor([ColumnFeatures(columns), HandcraftedFeatures()],
                                       fitter=FitterSelector(candidates=FITTERS, seed=0), seed=0,
                                       positive_label="neoplastic").fit(train_samples)
            cv = selector.selection_.set_index("candidate")["mean"]
            for name in FITTERS:
                model = HybridPredictor([ColumnFeatures(columns), HandcraftedFeatures()], fitter=name, seed=0,
                                        positive_label="neoplastic").fit(train_samples)
                predicted = model.predict(samples)
                correct = np.flatnonzero(predicted == y)
                # SHAP on the first --explain correct lesions (kernel SHAP for the SVM is slow)
                shap = model.shap_values(samples.subset(correct[:args.explain]),
                                         class_index=model.classes_.index("neoplastic")).group_values
                found = shap_rule_recovery(shap, rule)
                chosen = " (chosen)" if name == selector.fitter_name_ else ""
                print(f"| {patients} | {name}{chosen} | {cv[name]:.3f} | {len(correct) / len(y):.3f} | "
                      f"{found['top_k_exact']:.3f} | {found['top_3_inside']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
