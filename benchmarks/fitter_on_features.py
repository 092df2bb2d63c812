"""Refit every fitter on the features a trained hybrid gave its fitter, without training a CNN again.

``explainendo bench`` writes ``features_<hybrid>_train.csv`` (the fitter's training rows: held-out or
out-of-fold features) and ``features_<hybrid>_<split>.csv`` (the test lesions' features). This reads them and,
per fitter, reports patient-grouped CV AUC, test accuracy and, where the phantom rule is known, how often
the rule's attributes are SHAP's top groups in the correctly diagnosed test lesions. ``--without`` drops
feature groups (e.g. ``--without lbp hog``) to see what a group adds.

On phantoms it also applies the generating rule itself to the heads' probabilities (``rule on heads``: the
rule's probability averaged over the attribute values, each weighted by the heads' probability of it, as
if the heads were independent and calibrated). No fitter that sees only the heads' outputs does much
better, so Bayes-optimal -> rule on heads is what the heads' errors cost, and rule on heads -> a fitter is
what learning the combination from a few hundred patients costs.

    python benchmarks/fitter_on_features.py /path/to/bench_out [--hybrid hybrid] [--split internal]
    python benchmarks/fitter_on_features.py --quick     # a smoke run on a small bench made for it (minutes)

``--quick`` without a folder first runs ``explainendo bench phantoms --quick --holdout 0.5 --sole-backbones ''
--save-models`` into a temporary folder (:func:`quick_bench_folder`) and explains 30 lesions per fitter.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FITTERS = ("sparse_logistic_regression", "logistic_regression", "decision_tree", "svm", "xgboost")
ID_COLUMNS = ("image", "patient", "video", "label", "label_probability")


def quick_bench_folder(folder: Path | None) -> Path:
    """``folder``, or (None) a small bench run in a temporary folder removed at exit: what
    ``explainendo bench phantoms --quick --holdout 0.5 --sole-backbones '' --save-models --out TMP`` writes (the
    hybrid alone, held-out stacking so that ``heads_tta.py`` can recompute the fitter's rows too)."""
    if folder is not None:
        return folder
    from explainendo.bench import BenchPreset, run_named_benchmark

    folder = Path(tempfile.mkdtemp(prefix="explainendo_quick_bench_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    start = time.perf_counter()
    run_named_benchmark("phantoms", folder, BenchPreset(quick=True, holdout=0.5, sole_backbones=()), save_models=True,
                        command="explainendo bench phantoms --quick --holdout 0.5 --sole-backbones '' --save-models")
    print(f"quick bench folder {folder} made in {time.perf_counter() - start:.0f} s")
    return folder


def load(folder: Path, hybrid: str, split: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    tables = []
    for part in ("train", split):
        path = folder / f"features_{hybrid}_{part}.csv"
        if not path.is_file():
            raise SystemExit(f"{path} not found: run `explainendo bench ... --out {folder}` first")
        tables.append(pd.read_csv(path))
    return tables[0], tables[1]


def feature_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table if c not in ID_COLUMNS and not c.startswith("attr.")]


def rule_on_heads(table: pd.DataFrame, rule) -> np.ndarray | None:
    """``p(positive)`` = sum over the causal attributes' value combinations of the rule's probability times
    the product of the heads' probabilities of those values; None if a causal head's columns are missing."""
    import itertools

    values = {}
    for attribute in rule.causal_attributes:
        columns = [c for c in table if c.startswith(f"{attribute}.p_")]
        if not columns:
            return None
        values[attribute] = [(c.split(".p_", 1)[1], table[c].fillna(table[c].mean()).to_numpy(float))
                             for c in columns]
    p = np.zeros(len(table))
    for combo in itertools.product(*values.values()):
        weight = np.prod([prob for _, prob in combo], axis=0)
        p += weight * rule.probability(dict(zip(values, (v for v, _ in combo))))
    return p


def calibrate_heads(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each head with ``attr.<name>`` labels on the fitter rows: temperature and bias fitted there
    (``explainendo.heads.calibration``), applied to both tables' ``<name>.p_<class>`` columns."""
    from explainendo.heads.calibration import apply_temperature_bias, fit_head_calibration

    train, test = train.copy(), test.copy()
    for label_column in [c for c in train if c.startswith("attr.")]:
        name = label_column[len("attr."):]
        columns = [c for c in train if c.startswith(f"{name}.p_")]
        if not columns:
            continue
        codes = {c.split(".p_", 1)[1]: i for i, c in enumerate(columns)}  # unknown or missing labels: -1
        y = train[label_column].astype(str).map(codes).fillna(-1).to_numpy(int)
        params = fit_head_calibration(train[columns].to_numpy(float), y)
        if params is None:
            continue
        print(f"calibrated {name}: temperature {params['temperature']:.3f}, log loss "
              f"{params['log_loss_before']:.4f} -> {params['log_loss_after']:.4f}")
        for table in (train, test):
            table[columns] = apply_temperature_bias(table[columns].to_numpy(float), params)
    return train, test


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, nargs="?", help="an `explainendo bench` output folder")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --explain 30, and without a folder a small bench made first")
    parser.add_argument("--hybrid", default="hybrid", help="the hybrid contender's name")
    parser.add_argument("--split", default="internal", help="the test split")
    parser.add_argument("--positive", default="neoplastic")
    parser.add_argument("--rule", nargs="*", default=None,
                        help="the generating rule's groups (default: the gastric phantom rule)")
    parser.add_argument("--without", nargs="*", default=[], help="feature groups to leave out")
    parser.add_argument("--explain", type=int, default=300, help="correct lesions explained per fitter")
    parser.add_argument("--select-groups", action="store_true",
                        help="per fitter, first drop the feature groups it does not need (GroupEliminator, one-SE)")
    parser.add_argument("--prefer-attributes", action="store_true",
                        help="with --select-groups: drop attribute-head groups last (GroupEliminator prefer_keep)")
    parser.add_argument("--calibrate", action="store_true",
                        help="first calibrate each attribute head's columns on the fitter rows' attribute labels "
                             "(what HybridPredictor(stacking=HeldOut(f, calibrate=True)) does; not location)")
    parser.add_argument("--fitters", nargs="*", default=list(FITTERS), choices=FITTERS, help="the fitters to refit")
    args = parser.parse_args(argv)
    if args.folder is None and not args.quick:
        parser.error("give an `explainendo bench` output folder (or --quick)")
    if args.quick:
        args.explain = min(args.explain, 30)
    args.folder = quick_bench_folder(args.folder)

    from explainendo.bench import shap_rule_recovery
    from explainendo.explain.grouped_shap import GroupedShapExplainer
    from explainendo.fit import FitterSelector, make_fitter
    from explainendo.synth.gastric import gastric_rule

    phantom_rule = gastric_rule()
    rule = args.rule if args.rule is not None else list(phantom_rule.causal_attributes)
    train, test = load(args.folder, args.hybrid, args.split)
    if args.calibrate:
        train, test = calibrate_heads(train, test)
    columns = [c for c in feature_columns(train) if c.split(".")[0] not in set(args.without)]
    groups: dict[str, list[str]] = {}
    for c in columns:
        groups.setdefault(c.split(".")[0], []).append(c)
    means = train[columns].mean()
    X, Xt = train[columns].fillna(means).to_numpy(float), test[columns].fillna(means).to_numpy(float)
    y, yt = (train["label"] == args.positive).to_numpy(int), (test["label"] == args.positive).to_numpy(int)
    print(f"{args.folder}: fitter rows {len(train)} lesions / {train['patient'].nunique()} patients; test "
          f"{len(test)} lesions; {len(columns)} columns in {len(groups)} groups"
          + (f" (without {', '.join(args.without)})" if args.without else ""))
    if "label_probability" in test:
        bayes = float(((test["label_probability"] > 0.5).astype(int) == yt).mean())
        print(f"Bayes-optimal accuracy on these test lesions: {bayes:.3f}")
    on_heads = rule_on_heads(test, phantom_rule) if args.rule is None else None
    if on_heads is not None:
        print(f"rule on heads (the generating rule applied to the heads' probabilities): accuracy "
              f"{float(((on_heads > 0.5).astype(int) == yt).mean()):.3f}")
    selector = FitterSelector(FITTERS, seed=0).fit(X, y, groups=train["patient"].astype(str).to_numpy())
    cv = selector.cv_results_.set_index("candidate")
    print(f"one-SE choice: {selector.best_name_}\n")
    print("| fitter | CV AUC | test accuracy | SHAP top-k = rule | top-3 inside rule | largest non-rule group |")
    print("|---|---|---|---|---|---|")
    # attribute heads' groups hold probability columns ("tone.p_reddened"); handcrafted ones do not
    attributes = [g for g, cols in groups.items() if any(".p_" in c for c in cols)] if args.prefer_attributes else []
    for name in args.fitters:
        keep = np.arange(len(columns))
        if args.select_groups:  # the groups this fitter needs, by grouped-CV elimination (one-SE)
            from explainendo.fit.group_selection import GroupEliminator

            found = GroupEliminator(make_fitter(name, seed=0), groups, seed=0, prefer_keep=attributes).fit(
                pd.DataFrame(X, columns=columns), y, train["patient"].astype(str).to_numpy())
            print(f"{name}: dropped {', '.join(found.dropped_) or 'nothing'}", flush=True)
            keep = np.array([i for i, c in enumerate(columns) if c.split(".")[0] in found.kept_])
        names = [columns[i] for i in keep]
        model = make_fitter(name, seed=0).fit(X[:, keep], y)
        pred = model.predict(Xt[:, keep])
        correct = np.flatnonzero(pred == yt)[:args.explain]
        rng = np.random.default_rng(0)
        background = X[np.sort(rng.choice(len(X), size=min(100, len(X)), replace=False))][:, keep]
        kept_groups = {g: cols for g, cols in groups.items() if cols[0] in names}
        shap = GroupedShapExplainer(model, background, names, kept_groups, seed=0).explain(Xt[correct][:, keep])
        found = shap_rule_recovery(shap.group_values.reindex(columns=list(groups), fill_value=0.0), rule)
        other = next((g for g in found["mean_abs_shap"] if g not in rule), "-")
        print(f"| {name} | {cv.loc[name, 'mean']:.3f} | {(pred == yt).mean():.3f} | {found['top_k_exact']:.3f} | "
              f"{found['top_3_inside']:.3f} | {other} {found['mean_abs_shap'].get(other, 0):.3f} |", flush=True)


if __name__ == "__main__":
    main()
