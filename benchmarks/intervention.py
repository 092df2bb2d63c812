"""Attribute intervention on gastric phantoms (issue 24, item 5; ``HybridPredictor.intervene``, the method behind
``Diagnoser.intervene`` and ``explainendo explain --set``): how much of the gap between the model and an oracle
closes when a clinician corrects the attributes the model is least sure of (Koh et al., ICML 2020, Fig. 4).

    nice python benchmarks/intervention.py            # 400 phantoms at 192 px, 96-px heads, 8 epochs
    nice python benchmarks/intervention.py --quick    # a smoke run (a few minutes on 2 cores)
    nice python benchmarks/intervention.py --interventions 0.25,2   # fitter trained with RandomInterventions

Patients are split 75 / 25 into train / held-out test (one fold of ``group_kfold_indices``). A gastric hybrid
(``gastric_predictor``: the seven attribute heads, EfficientNet-Lite0 with ImageNet weights when present, and the
handcrafted features; ``--sources heads`` for the heads alone, a concept bottleneck as in Koh et al.) with a
logistic-regression fitter and ``HeldOut(0.5)`` stacking learns from the train lesions (the manifest's boxes);
``--group-selection default`` adds the preset's ``GroupEliminator`` (an attribute it drops cannot be corrected
into the diagnosis). On each held-out lesion the correctable attributes (``correctable_attributes()``: six crop
heads and ``location`` from the landmark head) are ordered by reliability, the head's largest class probability,
lowest first, and the k least reliable are set to the phantom's true value (``attr.<name>``) for k = 0 .. 7. A
random order per lesion (seeded) is the control. Reported, each with its 95% Wilson interval:

* accuracy per k (k = 0 is the model as trained), and how many of the k corrections changed the head's call;
* the oracle: a logistic regression on the true attributes (``ColumnFeatures``), trained on the same lesions;
  and the phantoms' Bayes rate (the best any classifier can do from the attributes);
* the share of the model-to-oracle gap closed with every attribute corrected, (acc(7) - acc(0)) / (oracle - acc(0))
  (goal: >= 0.5), and the same against the Bayes rate.

``--interventions p,copies`` (repeatable) trains the fitter with intervention training
(:class:`~explainendo.predict.RandomInterventions`: ``copies`` extra copies of the fitter's rows, each attribute set
to its truth with probability ``p``). The first setting is the hybrid's own (``fit``); the hybrid without
interventions and any further setting are the same fitted heads with the fitter refitted
(``set_params(interventions=...).refit_fitter`` on the fitter's own lesions, the features it was trained on), so
the settings are compared on the same heads, lesion for lesion. Each setting gets its curves and its gap closed.

Prints the machine first (``explainendo.bench.run_header``) and writes a JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


from heads_phantoms import markdown  # noqa: E402  the benchmarks' one pipe-table writer


def accuracy_cell(correct: np.ndarray) -> dict:
    from explainendo.evaluate import wilson_interval

    low, high = wilson_interval(int(correct.sum()), len(correct))
    return {"accuracy": float(correct.mean()), "ci_low": float(low), "ci_high": float(high)}


def interventions_setting(text: str):
    """``"p,copies"`` -> ``RandomInterventions(p, copies, seed=None)`` (the predictor's seed)."""
    from explainendo.predict import RandomInterventions

    try:
        p, copies = text.split(",")
        return RandomInterventions(p=float(p), copies=int(copies)).check_params()
    except ValueError:
        raise argparse.ArgumentTypeError(f"--interventions {text!r}: expected p,copies such as 0.25,2") from None


def setting_name(interventions) -> str:
    return "none" if interventions is None else f"random p={interventions.p:g} copies={interventions.copies}"


def build_hybrid(args):
    from explainendo.predict import HeldOut, HybridPredictor
    from explainendo.systems import gastric_heads, gastric_predictor
    from explainendo.training import Training

    heads = gastric_heads(args.seed, pretrained="auto", image_size=args.image_size,
                          training=Training(epochs=args.epochs, batch_size=32, patience=2, num_threads=args.threads))
    first = args.interventions[0] if args.interventions else None
    if args.sources == "heads":
        return HybridPredictor([heads], fitter="logistic_regression", stacking=HeldOut(0.5), seed=args.seed,
                               interventions=first)
    return gastric_predictor(heads=heads, fitter="logistic_regression", stacking=HeldOut(0.5), seed=args.seed,
                             group_selection="default" if args.group_selection == "default" else None,
                             interventions=first)


def intervention_curve(hybrid, features: pd.DataFrame, truth: pd.DataFrame, labels: np.ndarray, order: str,
                       seed: int) -> tuple[list[dict], list[float]]:
    """Accuracy per k when each lesion's k first attributes (``order``: ``"reliability"``, least reliable first, or
    ``"random"``) are set to their true values; and the mean number of the k corrections that changed the head's
    most probable class."""
    attributes = hybrid.correctable_attributes()
    rng = np.random.default_rng(seed)
    heads = [{a: features.iloc[i][[f"{a}.p_{c}" for c in classes]].to_numpy(dtype=float)
              for a, classes in attributes.items()} for i in range(len(features))]
    rankings = []
    for probs in heads:  # a head without a finite output (an unusable crop) counts as the least reliable
        sureness = {a: float(p.max()) if np.isfinite(p).all() else -np.inf for a, p in probs.items()}
        rankings.append(sorted(sureness, key=sureness.get) if order == "reliability"
                        else [str(a) for a in rng.permutation(list(attributes))])
    rows, changed = [], []
    classes = np.asarray(hybrid.classes_, dtype=object)
    for k in range(len(attributes) + 1):
        predicted, flips = [], 0
        for i in range(len(features)):
            corrections = {a: str(truth.at[i, a]) for a in rankings[i][:k]}
            if corrections:
                with warnings.catch_warnings():  # an attribute the fitter dropped: reported once in main
                    warnings.simplefilter("ignore", UserWarning)
                    proba, _ = hybrid.intervene(features.iloc[[i]], corrections)
                flips += sum(not np.isfinite(heads[i][a]).all() or attributes[a][int(np.argmax(heads[i][a]))] != v
                             for a, v in corrections.items())
            else:
                proba = hybrid.predict_proba_features(features.iloc[[i]])
            predicted.append(classes[int(np.argmax(proba[0]))])
        rows.append({"k": k, **accuracy_cell(np.asarray(predicted) == labels)})
        changed.append(flips / len(features))
    return rows, changed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=400, help="phantom images (4 per patient)")
    parser.add_argument("--size", type=int, default=192, help="phantom frame size")
    parser.add_argument("--image-size", type=int, default=96, help="the heads' input side")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--sources", default="gastric", choices=["gastric", "heads"],
                        help="gastric: heads + handcrafted (the preset); heads: the attribute heads alone")
    parser.add_argument("--group-selection", default="none", choices=["none", "default"],
                        help="none: the fitter sees every group; default: the preset's GroupEliminator")
    parser.add_argument("--interventions", type=interventions_setting, action="append", default=[],
                        metavar="P,COPIES", help="train the fitter with RandomInterventions(p, copies) (repeatable; "
                                                 "the hybrid without them is measured on the same heads too)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is faster on a busy 2-core box)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 96 images at 128 px, 64-px heads, 2 epochs")
    parser.add_argument("--out", default=None,
                        help="JSON report (default benchmarks/results/intervention[_quick].json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.size, args.image_size, args.epochs = 96, 128, 64, 2
    out = Path(args.out or f"benchmarks/results/intervention{'_quick' if args.quick else ''}.json")

    import torch

    from explainendo.bench import run_header
    from explainendo.io.splits import group_kfold_indices
    from explainendo.predict import HybridPredictor
    from explainendo.sources import ColumnFeatures
    from explainendo.synth import generate

    torch.set_num_threads(args.threads)
    print(run_header())
    start = time.perf_counter()
    phantoms = generate("gastric", args.n, seed=args.seed, size=args.size)
    samples = phantoms.to_samples()
    train_i, test_i = group_kfold_indices(samples.table["patient"].astype(str).to_numpy(), 4, seed=args.seed)[0]
    train, test = samples.subset(train_i), samples.subset(test_i)
    print(f"phantoms: {len(samples)} lesions, {samples.table['patient'].nunique()} patients, Bayes rate "
          f"{phantoms.bayes_rate:.3f}; train {len(train)} / held-out {len(test)} lesions (split by patient)")

    t0 = time.perf_counter()
    hybrid = build_hybrid(args).fit(train)
    fit_seconds = time.perf_counter() - t0
    attributes = hybrid.correctable_attributes()
    unused = [a for a in attributes if not set(hybrid.fitter_columns_) & {f"{a}.p_{c}" for c in attributes[a]}]
    print(f"{hybrid.describe()}, sources {[s['name'] for s in hybrid.sources_used_]}, trained in "
          f"{fit_seconds:.0f} s; correctable attributes {list(attributes)}; dropped groups "
          f"{hybrid.dropped_groups_ or 'none'}" + (f" (attributes the fitter does not use: {unused})"
                                                    if unused else ""))
    variants = {setting_name(hybrid.interventions): hybrid}
    if args.interventions:  # the same heads, the fitter refitted on its own lesions (module docstring)
        fitter_lesions = train.subset(hybrid.training_rows_)
        for setting in [None] + list(args.interventions[1:]):
            t0 = time.perf_counter()
            variant = copy.deepcopy(hybrid).set_params(interventions=setting).refit_fitter(fitter_lesions)
            variants[setting_name(setting)] = variant
            print(f"refitted the fitter with interventions {setting_name(setting)} in {time.perf_counter() - t0:.0f} s")
    for name, variant in variants.items():
        if variant.interventions_:
            facts = variant.interventions_
            print(f"interventions {name}: {facts['rows']} fitter rows + {facts['rows_added']} copies; values set "
                  f"to the truth per attribute {facts['values_set']}")

    truth = pd.DataFrame({a: test.table[f"attr.{a}"].astype(str).to_numpy() for a in attributes})
    labels = test.table["label"].astype(str).to_numpy()
    features = hybrid.features(test)

    oracle_columns = [f"attr.{a}" for a in attributes]
    oracle = HybridPredictor([ColumnFeatures(oracle_columns, name="truth")], fitter="logistic_regression",
                             seed=args.seed).fit(train)
    oracle_acc = accuracy_cell(oracle.predict(test) == labels)

    report = {}
    for name, variant in variants.items():
        curves, changed = {}, {}
        for order in ("reliability", "random"):
            curves[order], changed[order] = intervention_curve(variant, features, truth, labels, order, args.seed)
        table = pd.DataFrame({
            "k": [r["k"] for r in curves["reliability"]],
            "accuracy (least reliable first)": [r["accuracy"] for r in curves["reliability"]],
            "95% CI": [f"{r['ci_low']:.3f}-{r['ci_high']:.3f}" for r in curves["reliability"]],
            "head calls changed": changed["reliability"],
            "accuracy (random order)": [r["accuracy"] for r in curves["random"]],
        }).set_index("k")
        print(f"\n### interventions {name}: accuracy on {len(test)} held-out lesions as the k least reliable "
              f"attributes are set to the truth\n")
        print(markdown(table))
        model_acc, full = curves["reliability"][0]["accuracy"], curves["reliability"][-1]["accuracy"]
        gaps = {}
        for target_name, target in (("oracle", oracle_acc["accuracy"]), ("Bayes rate", phantoms.bayes_rate)):
            gap = target - model_acc
            gaps[target_name] = float((full - model_acc) / gap) if gap > 0 else float("nan")
        print(f"\nmodel {model_acc:.3f}; every attribute corrected {full:.3f}; oracle (LR on the true attributes) "
              f"{oracle_acc['accuracy']:.3f} [{oracle_acc['ci_low']:.3f}, {oracle_acc['ci_high']:.3f}]; Bayes rate "
              f"{phantoms.bayes_rate:.3f}")
        for target_name, share in gaps.items():
            note = "" if np.isfinite(share) else " (undefined: the model is not below it)"
            print(f"share of the model-to-{target_name} gap closed with every attribute corrected: {share:.2f}{note} "
                  f"(goal >= 0.5)")
        report[name] = {"curves": curves, "head_calls_changed": changed, "gap_closed": gaps,
                        "model_accuracy": model_acc, "all_corrected_accuracy": full,
                        "interventions": variant.interventions_}
    if len(report) > 1:
        summary = pd.DataFrame({"interventions": list(report),
                                "model (k=0)": [r["model_accuracy"] for r in report.values()],
                                "every attribute corrected": [r["all_corrected_accuracy"] for r in report.values()],
                                "gap to oracle closed": [r["gap_closed"]["oracle"] for r in report.values()],
                                "gap to Bayes closed": [r["gap_closed"]["Bayes rate"] for r in report.values()],
                                }).set_index("interventions")
        print("\n### the settings on the same heads\n")
        print(markdown(summary))
    first = report[setting_name(hybrid.interventions)]
    seconds = time.perf_counter() - start
    print(f"\n{seconds:.0f} s in all")

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "header": run_header(), "n_train": len(train), "n_test": len(test),
                               "bayes_rate": phantoms.bayes_rate, "fitter": hybrid.describe(),
                               "dropped_groups": hybrid.dropped_groups_, "unused_attributes": unused,
                               "curves": first["curves"], "head_calls_changed": first["head_calls_changed"],
                               "oracle": oracle_acc, "gap_closed": first["gap_closed"], "settings": report,
                               "fit_seconds": fit_seconds, "seconds": seconds},
                              indent=1, default=lambda v: v.get_params() if hasattr(v, "get_params") else float(v)))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
