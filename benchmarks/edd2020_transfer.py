"""Which hybrid settings transfer to an unseen centre on EDD2020: stacking x fold groups x colour constancy.

    python benchmarks/edd2020_transfer.py --out bench/transfer [--threads 2] [--epochs 10] [--image-size 128]
    python benchmarks/edd2020_transfer.py --quick      # 1 epoch at 64 px: checks that it runs

The grid of issue 17, in one run that trains each CNN once. EDD2020 neoplastic (HGD, cancer) vs Barrett's,
centre AJ external, the other five centres split patient-wise into train and an internal test (the
``explainendo bench edd2020`` split). Every CNN is the bench's: EfficientNet-Lite0 (ImageNet) crop
classifier with the bench's settings (``explainendo.bench.cnn_params``). The deep score the fitter learns
from comes from one of four stackings, each exactly what ``HybridPredictor`` does with it:

* ``oof_patient`` / ``oof_centre``: out-of-fold scores over 3 patient- / centre-grouped folds
  (``OutOfFold(3)`` with ``folds_by="patient"`` / ``"centre"``); the test lesions are scored by the CNN
  trained on every training lesion, which is also the sole-DL Lite0 baseline (same settings, same seed);
* ``held_out_patient`` / ``held_out_centre``: ``HeldOut(0.5)`` by patient / by centre groups: the CNN trains
  once on the other half, scores the fitter's half and the test lesions.

The handcrafted features are computed with each colour constancy (none, grey-world, shades-of-grey p=6,
max-RGB; illuminant from the whole frame, and shades-of-grey from the crop). The fitter is
``FitterSelector(cv=5)`` (LR / lasso LR / tree / SVM / xgboost, one-SE rule) with patient- or
centre-grouped CV, on the mean-imputed table, as in ``HybridPredictor``, with and without its group
selection (``GroupEliminator``, one-SE rule, scored with the chosen fitter, same fold groups). Prints and writes ``grid.csv`` (one row per configuration: internal and
external accuracy and AUC, McNemar p of each split's accuracy against the Lite0 CNN, the groups kept) and
``grid.md``, and ``per_group.csv``: each handcrafted group alone (LR on the training lesions), its internal
and external AUC (which features transfer).
The library's own run of the chosen configuration is ``explainendo bench edd2020 ...`` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explainendo.bench import BenchPreset, cnn_params, edd2020_split, machine_description  # noqa: E402

COLOUR = {"none": {"method": "none"}, "grey_world": {"method": "grey_world"},
          "shades_of_grey": {"method": "shades_of_grey"}, "max_rgb": {"method": "max_rgb"},
          "shades_of_grey_crop": {"method": "shades_of_grey", "reference": "crop"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench_output/edd2020_transfer"))
    parser.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="1 epoch at 64 px, two colour settings (minutes)")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.image_size = args.epochs or 1, args.image_size or 64
        for name in ("grey_world", "max_rgb", "shades_of_grey_crop"):
            COLOUR.pop(name)
    if not (args.data_root / "edd2020").is_dir():
        print(f"skipping: {args.data_root / 'edd2020'} not found")
        return

    from sklearn.base import clone

    from explainendo.errors import ManifestError
    from explainendo.evaluate import mcnemar_test
    from explainendo.features import LesionSamples
    from explainendo.fit import FitterSelector, GroupEliminator, make_fitter
    from explainendo.fit.group_selection import grouped_folds
    from explainendo.handcrafted import HandcraftedFeatures
    from explainendo.heads import AttributeHeads
    from explainendo.predict import CNNClassifier, HeldOut
    from explainendo.sources import DeepScoreFeatures
    from sklearn.metrics import roc_auc_score

    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine_description()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    train_m, tests_m = edd2020_split(args.data_root / "edd2020", args.seed)
    train = LesionSamples.from_manifest(train_m)
    tests = {name: LesionSamples.from_manifest(m) for name, m in tests_m.items()}
    positive = "neoplastic"
    y = (train.table["label"].astype(str) == positive).to_numpy().astype(int)
    y_test = {k: (s.table["label"].astype(str) == positive).to_numpy().astype(int) for k, s in tests.items()}
    groups = {"patient": train.table["patient"].astype(str).to_numpy(),
              "centre": train.table["centre"].astype(str).to_numpy()}
    preset = BenchPreset(seed=args.seed, num_threads=args.threads, epochs=args.epochs, image_size=args.image_size)
    source = DeepScoreFeatures(CNNClassifier(AttributeHeads(backbone="efficientnet_lite0", pretrained=True,
                                                            **cnn_params(preset))), positive=positive)
    column = f"deep.p_{positive}"
    labels = np.where(y == 1, positive, "other")

    def fit(rows):
        t0 = time.perf_counter()
        model = clone(source).fit(train.subset(rows))
        print(f"  CNN on {len(rows)} lesions: {time.perf_counter() - t0:.0f} s", flush=True)
        return model

    def score(model, samples):
        return model.transform(samples)[column].to_numpy()

    every = np.arange(len(train))
    deep: dict[str, dict] = {}  # stacking -> {"rows": fitter rows, "train": scores of those rows, split: scores}
    print("final CNN on every training lesion (also the sole-DL Lite0 baseline)", flush=True)
    final = fit(every)
    final_scores = {k: score(final, s) for k, s in tests.items()}
    for by in ("patient", "centre"):
        print(f"out-of-fold scores, 3 {by}-grouped folds", flush=True)
        oof = np.full(len(train), np.nan)
        for tr, te in grouped_folds(groups[by], 3, args.seed):
            oof[te] = score(fit(tr), train.subset(te))
        deep[f"oof_{by}"] = {"rows": every, "train": oof, **final_scores}
    for by in ("patient", "centre"):
        print(f"held-out stacking, half of the {by} groups", flush=True)
        try:
            source_rows, fitter_rows = HeldOut(0.5).rows(labels, groups[by], args.seed)
        except ManifestError as exc:  # e.g. too few centres holding both labels
            print(f"  held_out_{by} cannot be run: {exc}", flush=True)
            continue
        model = fit(source_rows)
        deep[f"held_out_{by}"] = {"rows": fitter_rows, "train": score(model, train.subset(fitter_rows)),
                                  **{k: score(model, s) for k, s in tests.items()}}

    print("handcrafted features", flush=True)
    hand = {}
    for name, params in COLOUR.items():
        extractor = HandcraftedFeatures(params={"colour_constancy": params})
        hand[name] = {"train": extractor.transform(train), **{k: extractor.transform(s) for k, s in tests.items()}}

    def evaluate(config: dict, X: pd.DataFrame, rows, tests_X: dict, by: str, eliminate: bool) -> dict:
        means = X.mean().fillna(0.0)
        filled = X.fillna(means)
        selector = FitterSelector(cv=5, seed=args.seed).fit(filled.to_numpy(float), y[rows], groups[by][rows])
        model, columns, kept = selector.best_estimator_, list(X.columns), "all"
        if eliminate:  # HybridPredictor's group selection: the chosen fitter, grouped-CV backward elimination
            by_group: dict = {}
            for c in X.columns:
                by_group.setdefault(c.split(".")[0], []).append(c)
            eliminator = GroupEliminator(estimator=clone(model), groups=by_group, cv=5, seed=args.seed).fit(
                filled, y[rows], groups[by][rows])
            columns = [c for c in X.columns if c.split(".")[0] in eliminator.kept_]
            model, kept = clone(model).fit(filled[columns].to_numpy(float), y[rows]), "+".join(eliminator.kept_)
        row = {**config, "group_selection": "one_se" if eliminate else "none", "fitter": selector.best_name_,
               "kept": kept}
        for split, Xt in tests_X.items():
            p = model.predict_proba(Xt[columns].fillna(means).to_numpy(float))[:, 1]
            pred = (p >= 0.5).astype(int)
            row[f"{split}_accuracy"] = float((pred == y_test[split]).mean())
            row[f"{split}_auc"] = float(roc_auc_score(y_test[split], p))
            cnn = (final_scores[split] >= 0.5).astype(int)
            row[f"{split}_mcnemar_p_vs_lite0"] = float(mcnemar_test(pred == y_test[split], cnn == y_test[split]).pvalue)
        return row

    rows = []
    for split in tests:
        cnn = (final_scores[split] >= 0.5).astype(int)
        rows.append({"stacking": "-", "colour": "-", "folds_by": "-", "model": "sole_dl_efficientnet_lite0",
                     f"{split}_accuracy": float((cnn == y_test[split]).mean()),
                     f"{split}_auc": float(roc_auc_score(y_test[split], final_scores[split]))})
    rows = [{k: v for r in rows for k, v in r.items()}]
    for colour, table in hand.items():
        for by in ("patient", "centre"):
            for eliminate in (False, True):
                rows.append(evaluate({"stacking": "-", "colour": colour, "folds_by": by, "model": "handcrafted_only"},
                                     table["train"], every, {k: table[k] for k in tests}, by, eliminate))
                for stacking, scores in deep.items():
                    fit_rows = scores["rows"]
                    X = table["train"].iloc[fit_rows].reset_index(drop=True).assign(**{column: scores["train"]})
                    tests_X = {k: table[k].assign(**{column: scores[k]}) for k in tests}
                    rows.append(evaluate({"stacking": stacking, "colour": colour, "folds_by": by, "model": "hybrid"},
                                         X, fit_rows, tests_X, by, eliminate))
    alone = []
    for colour, table in hand.items():
        for group in dict.fromkeys(c.split(".")[0] for c in table["train"].columns):
            cols = [c for c in table["train"].columns if c.split(".")[0] == group]
            means = table["train"][cols].mean().fillna(0.0)
            lr = make_fitter("logistic_regression", seed=args.seed).fit(
                table["train"][cols].fillna(means).to_numpy(float), y)
            alone.append({"colour": colour, "group": group, "columns": len(cols), **{
                f"{k}_auc": float(roc_auc_score(y_test[k], lr.predict_proba(
                    table[k][cols].fillna(means).to_numpy(float))[:, 1])) for k in tests}})
    alone = pd.DataFrame(alone)
    alone.to_csv(args.out / "per_group.csv", index=False)
    print(alone.round(3).to_string(index=False))
    grid = pd.DataFrame(rows)
    grid.to_csv(args.out / "grid.csv", index=False)
    shown = grid.copy()
    for c in shown.columns:
        if c.endswith("_accuracy"):
            shown[c] = (100 * shown[c]).round(1)
        elif c.endswith("_auc") or c.endswith("_p_vs_lite0"):
            shown[c] = shown[c].round(3)
    cells = shown.astype(object).where(shown.notna(), "")
    text = "\n".join(["| " + " | ".join(map(str, shown.columns)) + " |", "|" + "---|" * len(shown.columns)]
                     + ["| " + " | ".join(map(str, r)) + " |" for r in cells.itertuples(index=False)])
    (args.out / "grid.md").write_text(text + "\n")
    print(text)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
