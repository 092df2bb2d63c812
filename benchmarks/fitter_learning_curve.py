"""How many patients does the hybrid's fitter need to reach what its heads allow? A learning curve on saved features.

Pools the fitter's training rows and the test rows that ``explainendo bench phantoms`` wrote
(``features_<hybrid>_train.csv``, ``features_<hybrid>_<split>.csv``; all from the same trained heads, none
seen by them), then, ``--repeats`` times per size, draws that many patients at random to fit on and scores on
every other patient's lesions:

* ``lasso all``: the sparse LR on every feature group; ``lasso rule``: the sparse LR on the rule's attribute
  groups only; ``xgboost all``;
* ``rule on heads``: the generating rule applied to the heads' probabilities (no fitting: what the heads
  allow, see ``fitter_on_features.py``) and ``Bayes``: the rule's own probability (what the labels allow),
  on the same scored lesions.

One train/test split can be lucky or unlucky by several points (a few hundred patients each side); the
mean over random draws separates what the fitter costs from what the split costs.

    python benchmarks/fitter_learning_curve.py /path/to/bench_out [--patients 100 200 300] [--repeats 10]
    python benchmarks/fitter_learning_curve.py --quick   # smoke run: 5 and 10 patients, 2 draws, on a small bench
                                                         # made for it (fitter_on_features.quick_bench_folder)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from fitter_on_features import feature_columns, load, quick_bench_folder, rule_on_heads


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, nargs="?", help="an `explainendo bench phantoms` output folder")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --patients 5 10 --repeats 2, and without a folder a small bench made first")
    parser.add_argument("--hybrid", default="hybrid")
    parser.add_argument("--split", default="internal")
    parser.add_argument("--patients", type=int, nargs="+", default=[100, 200, 300])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.folder is None and not args.quick:
        parser.error("give an `explainendo bench phantoms` output folder (or --quick)")
    if args.quick:
        args.patients, args.repeats = [5, 10], 2
    args.folder = quick_bench_folder(args.folder)

    from explainendo.fit import make_fitter
    from explainendo.synth.gastric import gastric_rule

    rule = gastric_rule()
    pool = pd.concat(load(args.folder, args.hybrid, args.split), ignore_index=True)
    y = (pool["label"] == "neoplastic").to_numpy(int)
    columns = feature_columns(pool)
    rule_columns = [c for c in columns if c.split(".")[0] in set(rule.causal_attributes)]
    filled = pool[columns].fillna(pool[columns].mean())
    on_heads = (rule_on_heads(pool, rule) > 0.5).astype(int)
    bayes = (pool["label_probability"] > 0.5).astype(int).to_numpy()
    patients = pool["patient"].unique()
    print(f"{args.folder}: {len(pool)} lesions of {len(patients)} patients pooled; {args.repeats} draws per size\n")
    models = {"lasso all": ("sparse_logistic_regression", columns), "lasso rule": ("sparse_logistic_regression",
              rule_columns), "xgboost all": ("xgboost", columns)}
    print("| fitter patients | " + " | ".join(models) + " | rule on heads | Bayes |")
    print("|---:|" + "---:|" * (len(models) + 2))
    rng = np.random.default_rng(args.seed)
    for n in args.patients:
        if n >= len(patients):
            raise SystemExit(f"--patients {n}: only {len(patients)} patients in the pool")
        scores: dict[str, list[float]] = {k: [] for k in [*models, "rule on heads", "Bayes"]}
        for _ in range(args.repeats):
            fit = pool["patient"].isin(rng.choice(patients, n, replace=False)).to_numpy()
            for key, (name, cols) in models.items():
                X = filled[cols].to_numpy(float)
                model = make_fitter(name, seed=0).fit(X[fit], y[fit])
                scores[key].append(float((model.predict(X[~fit]) == y[~fit]).mean()))
            scores["rule on heads"].append(float((on_heads[~fit] == y[~fit]).mean()))
            scores["Bayes"].append(float((bayes[~fit] == y[~fit]).mean()))
        print(f"| {n} | " + " | ".join(f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in scores.values()) + " |",
              flush=True)


if __name__ == "__main__":
    main()
