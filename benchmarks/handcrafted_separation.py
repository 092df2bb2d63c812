"""Does each handcrafted feature see the attribute it is meant to see? AUCs on the gastric phantoms.

For every feature group and every phantom attribute (bleeding, elevation, depression, boundary, surface,
tone as reddened-vs-rest and pale-vs-rest) it reports

* the cross-validated AUC of a logistic regression on that group's columns alone (5 folds grouped by
  patient, standardised inside the fold, out-of-fold probabilities), and
* the best single-column AUC of the group, ``max(AUC, 1 - AUC)`` (direction-free), with its column.

Expected pairings (marked ``*``): colour features (color_moments, color_principal_component) vs tone;
texture (lbp, hog) vs surface; hsi_saturation_entropy vs tone and bleeding; aspect_ratio vs nothing in
particular. Phantoms are synthetic with known ground truth: this tests the machinery, not clinical value.

    python benchmarks/handcrafted_separation.py            # 600 phantoms
    python benchmarks/handcrafted_separation.py --quick    # 160 phantoms
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from explainendo.handcrafted import HandcraftedFeatures
from explainendo.synth import generate

TARGETS = {  # name -> (attribute column, positive class)
    "bleeding": ("attr.bleeding", "yes"),
    "elevation": ("attr.elevation", "yes"),
    "depression": ("attr.depression", "yes"),
    "boundary clear": ("attr.boundary", "clear"),
    "surface rough": ("attr.surface", "rough"),
    "tone reddened": ("attr.tone", "reddened"),
    "tone pale": ("attr.tone", "pale"),
}
EXPECTED = {
    "color_moments": {"tone reddened", "tone pale"},
    "color_principal_component": {"tone reddened", "tone pale"},
    "hsi_saturation_entropy": {"tone reddened", "tone pale", "bleeding"},
    "lbp": {"surface rough"},
    "hog": {"surface rough"},
    "aspect_ratio": set(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="160 phantoms instead of 600")
    parser.add_argument("--n", type=int, default=None, help="number of phantom images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.n or (160 if args.quick else 600)

    started = time.perf_counter()
    samples = generate("gastric", n, seed=args.seed).to_samples()
    generated = time.perf_counter() - started
    source = HandcraftedFeatures()
    started = time.perf_counter()
    features = source.transform(samples)
    extracted = time.perf_counter() - started
    groups = samples.table["patient"].to_numpy()
    print(f"# handcrafted separation on gastric phantoms: {len(samples)} lesions from {n} images "
          f"(seed {args.seed}), {len(set(groups))} patients; generated in {generated:.1f} s, "
          f"features in {extracted:.1f} s; {platform.machine()} {platform.processor() or ''}".rstrip())
    print()
    header = "| feature group | " + " | ".join(TARGETS) + " |"
    print("Cross-validated AUC of the group's columns alone (logistic regression, 5 folds by patient); "
          "`*` = the attribute the feature is meant to see.")
    print()
    print(header)
    print("|" + "---|" * (len(TARGETS) + 1))
    best_rows = []
    for group, columns in source.groups.items():
        cells, best_cells = [], []
        x = features[columns].to_numpy()
        for target, (column, positive) in TARGETS.items():
            y = (samples.table[column] == positive).to_numpy().astype(int)
            mark = "*" if target in EXPECTED[group] else ""
            if y.min() == y.max():
                cells.append("n/a")
                continue
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
            folds = GroupKFold(n_splits=5)
            proba = cross_val_predict(model, x, y, cv=folds, groups=groups, method="predict_proba")[:, 1]
            cells.append(f"{roc_auc_score(y, proba):.2f}{mark}")
            single = [(max(a, 1 - a), c) for c in columns
                      if np.ptp(features[c].to_numpy()) > 0
                      for a in [roc_auc_score(y, features[c].to_numpy())]]
            if mark and single:
                auc, best = max(single)
                best_cells.append(f"{target}: {auc:.2f} ({best.split('.', 1)[1]})")
        print(f"| {group} | " + " | ".join(cells) + " |")
        if best_cells:
            best_rows.append(f"- {group}: " + "; ".join(best_cells))
    print()
    print("Best single column for the expected attribute, max(AUC, 1 - AUC):")
    print()
    print("\n".join(best_rows))
    prevalence = {t: float((samples.table[c] == p).mean()) for t, (c, p) in TARGETS.items()}
    print()
    print("Prevalence: " + ", ".join(f"{t} {v:.2f}" for t, v in prevalence.items()))


if __name__ == "__main__":
    main()
