"""The ERCP system against its goals (issue 20) on the ERCP phantoms, five folds by patient, in one run:

1. the ampulla localizer: the soft mask (the paper's) against box regression (its baseline) and the whole frame,
   each fold's figures and their mean ± SD (mIoU, area precision / recall, centroid distance, success at IoU 0.3
   and at centroid distance 0.05), the soft mask's margin over box regression at IoU 0.3, and the paper's
   Fig. 3 (success plots with ± SD bands) as a PNG;
2. cannulation difficulty on the true boxes: the hybrid (papilla attribute heads + handcrafted features) and the
   sole CNN, binary against the phantoms' Bayes rate and four classes against the rule's own optimum, with the
   paper's Table 2 / 3 layout, and how often SHAP's top groups are the rule's attributes on the correct cases;
3. the per-frame time of ``ERCPAssistant`` (localize + classify + explain) on this machine.

    nice python benchmarks/ercp.py --quick                 # a few minutes: small phantoms, few epochs
    nice python benchmarks/ercp.py --n 1000 --out bench/ercp   # the measured run (docs/benchmarks.md)

Absolute times are for the machine printed at the top; every figure of one run comes from the same folds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def localizers(a):
    from explainendo.localize import BoxRegressionLocalizer, DetectorTraining, WholeFrame
    from explainendo.systems import ercp_localizer
    from explainendo.localize import UNetTraining

    return {"soft mask": ercp_localizer(a.seed, image_size=a.loc_size,
                                        training=UNetTraining(epochs=a.loc_epochs, batch_size=16)),
            "box regression": BoxRegressionLocalizer(image_size=a.loc_size, seed=a.seed,
                                                     training=DetectorTraining(epochs=a.loc_epochs, patience=None)),
            "whole frame": WholeFrame(remove_border=True)}


def difficulty_models(a, column: str):
    from explainendo.fit import FitterSelector
    from explainendo.predict import HeldOut
    from explainendo.systems import ercp_cnn, ercp_heads, ercp_predictor
    from explainendo.training import Training

    training = Training(epochs=a.epochs, batch_size=32, patience=4)
    heads = ercp_heads(a.seed, image_size=a.size_heads, training=training)
    hybrid = ercp_predictor(column, heads=heads, fitter=FitterSelector(cv=3, seed=a.seed), stacking=HeldOut(0.5),
                            seed=a.seed)
    return {"hybrid": hybrid, "CNN": ercp_cnn(column, seed=a.seed, image_size=a.size_heads, training=training)}


def bayes_decision_scores(rule) -> dict:
    """The rule's own optimal four-class decision (the most probable class of each attribute combination), scored
    exactly in expectation over the phantoms' attribute distribution: accuracy (the class Bayes rate), the recall
    and F1 of each class and their macro mean, from the expected confusion ``C[true, called] = sum_x P(x)
    P(true | x) [called = argmax_j P(j | x)]``."""
    import numpy as np

    k = len(rule.classes)
    confusion = np.zeros((k, k))
    for attributes, prob in rule._logistic._combinations():
        p = rule.class_probabilities(attributes)[0]
        confusion[:, int(np.argmax(p))] += prob * p
    truth, called = confusion.sum(axis=1), confusion.sum(axis=0)
    f1 = np.where(truth + called > 0, 2 * np.diag(confusion) / np.maximum(truth + called, 1e-300), 0.0)
    recall = np.where(truth > 0, np.diag(confusion) / np.maximum(truth, 1e-300), 0.0)
    return {"accuracy": float(np.trace(confusion)), "macro_f1": float(f1.mean()),
            "f1": dict(zip(rule.classes, map(float, f1))), "recall": dict(zip(rule.classes, map(float, recall)))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="phantom frames (two per patient)")
    ap.add_argument("--size", type=int, default=256, help="phantom side in pixels")
    ap.add_argument("--k", type=int, default=5, help="folds by patient")
    ap.add_argument("--loc-size", type=int, default=128)
    ap.add_argument("--loc-epochs", type=int, default=12)
    ap.add_argument("--size-heads", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=14)
    ap.add_argument("--parts", default="localize,difficulty,latency")
    ap.add_argument("--quick", action="store_true", help="small phantoms and few epochs (a smoke run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ercp"))
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.size, a.k, a.loc_size, a.loc_epochs, a.size_heads, a.epochs = 240, 128, 3, 64, 3, 64, 2

    from explainendo.bench import hybrid_findings, machine_description, run_header
    from explainendo.evaluate import cross_validate_localizer, cross_validate_predictor, plot_cv_success
    from explainendo.synth import generate

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    print(run_header(), flush=True)
    phantoms = generate("ercp", a.n, seed=a.seed, size=a.size)
    rule = phantoms.rule
    work = Path(tempfile.mkdtemp(prefix="explainendo-ercp-"))
    manifest = phantoms.write(work / "phantoms")
    print(f"{a.n} ERCP phantoms at {a.size} px, {manifest.df['patient'].nunique()} patients; binary Bayes rate "
          f"{rule.bayes_rate():.4f}, four-class optimum {rule.class_bayes_rate():.4f}; {a.k} folds by patient",
          flush=True)
    optimum = bayes_decision_scores(rule)
    print(f"the rule's own four-class decision: accuracy {optimum['accuracy']:.4f}, macro F1 {optimum['macro_f1']:.4f} "
          f"(recall " + ", ".join(f"{c} {v:.3f}" for c, v in optimum["recall"].items()) + ")", flush=True)
    report: dict = {"machine": machine_description(), "args": vars(a), "bayes_rate": rule.bayes_rate(),
                    "four_class_optimum": rule.class_bayes_rate(), "four_class_decision": optimum}
    parts = a.parts.split(",")

    if "localize" in parts:
        reps = {}
        for name, loc in localizers(a).items():
            t0 = time.perf_counter()
            reps[name] = cross_validate_localizer(loc, manifest, k=a.k, seed=a.seed)
            print(f"\n== localizer: {name} ({(time.perf_counter() - t0) / 60:.1f} min)\n{reps[name].to_markdown()}",
                  flush=True)
        s = {n: r.summary().set_index("metric") for n, r in reps.items()}
        margin = (reps["soft mask"].folds["success_iou_0.3"] - reps["box regression"].folds["success_iou_0.3"])
        print(f"\nsoft mask - box regression, success at IoU 0.3: {100 * margin.mean():+.1f} points "
              f"(SD {100 * margin.std(ddof=1):.1f} over the folds; goal >= +6.5); soft mask success@0.3 "
              f"{s['soft mask'].loc['success_iou_0.3', 'summary']} (goal >= 0.95), centroid@0.05 "
              f"{s['soft mask'].loc['success_centroid_0.05', 'summary']} (goal >= 0.95)", flush=True)
        plot_cv_success({n: r for n, r in reps.items()}, title="ERCP phantoms, ampulla").savefig(
            out / "success.png", dpi=90)
        report["localize"] = {n: {"folds": r.folds.to_dict(orient="records"),
                                  "summary": r.summary().to_dict(orient="records")} for n, r in reps.items()}
        report["localize"]["margin_iou_0.3"] = {"mean": float(margin.mean()), "sd": float(margin.std(ddof=1))}

    if "difficulty" in parts:
        report["difficulty"] = {}
        for column, what in (("label", "binary"), ("attr.difficulty", "four classes")):
            for name, model in difficulty_models(a, column).items():
                t0 = time.perf_counter()
                rep = cross_validate_predictor(model, manifest, k=a.k, seed=a.seed, keep_models=name == "hybrid",
                                               positive="difficult" if column == "label" else None)
                minutes = (time.perf_counter() - t0) / 60
                summary = rep.summary().set_index("metric")
                ceiling = rule.bayes_rate() if column == "label" else rule.class_bayes_rate()
                print(f"\n== difficulty, {what}: {name} ({minutes:.1f} min; accuracy "
                      f"{summary.loc['accuracy', 'summary']}, the rule's optimum {ceiling:.3f})\n{rep.to_markdown()}",
                      flush=True)
                entry = {"folds": rep.folds.to_dict(orient="records"),
                         "summary": rep.summary().to_dict(orient="records"), "minutes": minutes}
                if name == "hybrid" and column == "label":
                    found = []
                    for fold_model, test in zip(rep.models, rep.test_samples):
                        y = test.table["label"].astype(str).to_numpy()
                        called = fold_model.predict(test)
                        found.append(hybrid_findings(fold_model, test, y, called, "difficult",
                                                     rule=list(rule.causal_attributes)))
                    recovery = [f["rule"]["top_k_exact"] for f in found if "rule" in f]
                    entry["shap_rule_recovery"] = recovery
                    entry["dropped_groups"] = [f["dropped_groups"] for f in found]
                    print(f"SHAP's top {len(rule.causal_attributes)} groups = the rule's attributes "
                          f"{list(rule.causal_attributes)} on the correct cases, per fold: "
                          f"{', '.join(f'{v:.2f}' for v in recovery)} (goal >= 0.90)", flush=True)
                report["difficulty"][f"{what}/{name}"] = entry

    if "latency" in parts:
        from explainendo import ERCPAssistant

        train_rows = manifest.subset(manifest.df["patient"].isin(sorted(manifest.df["patient"].unique())[: a.n // 4]))
        model = ERCPAssistant(localizer=localizers(a)["soft mask"], predictor=difficulty_models(a, "label")["hybrid"],
                              four_class=difficulty_models(a, "attr.difficulty")["hybrid"], seed=a.seed).fit(train_rows)
        frames = [str(manifest.path(i)) for i in manifest.images()[-32:]]
        model.predict(frames[:2])  # warm-up
        t0 = time.perf_counter()
        results = model.predict(frames, keep_frames=True)
        predict_ms = 1000 * (time.perf_counter() - t0) / len(frames)
        t0 = time.perf_counter()
        for r in results[:8]:
            model.explain(r)
        explain_ms = 1000 * (time.perf_counter() - t0) / 8
        print(f"\nERCPAssistant per frame: localize + both difficulty tasks {predict_ms:.0f} ms (batched), "
              f"explain {explain_ms:.0f} ms; total {predict_ms + explain_ms:.0f} ms", flush=True)
        report["latency_ms"] = {"predict": predict_ms, "explain": explain_ms}

    (out / "results.json").write_text(json.dumps(report, indent=1, default=float))
    print(f"\nwrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
