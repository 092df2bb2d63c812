"""Hybrid engine benchmark: accuracy against the Bayes rate with oracle features, and the engine's costs.

Measures, on phantoms with the oracle source (ground-truth attributes through ``ColumnFeatures``), so
that the numbers are the engine's own and not the heads' or the localizer's:

* accuracy of ``fitter=FitterSelector()`` vs the Bayes rate, and the CV table of the candidates;
* fit time (selection over 4 fitters x 5 folds), predict throughput (images / s, boxes given),
  explain latency per fitter (tree / linear / kernel SHAP), bundle save and load time and size.

    python benchmarks/hybrid.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def phantoms(folder: Path, n: int, seed: int):
    """Gastric phantoms from explainendo.synth when present, else the tests' tiny phantoms."""
    try:
        from explainendo import synth

        ps = synth.generate("gastric", n, seed=seed, size=96, images_per_patient=1)
        manifest = ps.write(folder)
        columns = [c for c in manifest.df.columns if c.startswith("attr.") and c != "attr.location"]
        return manifest, columns, float(ps.bayes_rate), "explainendo.synth gastric (96 px, 1 image per patient)"
    except ImportError:
        sys.path.insert(0, str(ROOT / "tests"))
        from hybrid_data import make_tiny_phantoms

        return (make_tiny_phantoms(folder, n=n, seed=seed), ["attr.tone", "attr.surface", "size_mm"], 0.95,
                "tests/hybrid_data tiny phantoms (64 px)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    args = parser.parse_args()
    n_train, n_test = (160, 80) if args.quick else (600, 300)

    import explainendo
    from explainendo.engine import Diagnoser
    from explainendo.features import LesionSamples
    from explainendo.fit import FitterSelector
    from explainendo.predict import HybridPredictor
    from explainendo.sources import ColumnFeatures

    def labels_of(proba, classes):
        return np.asarray(classes, dtype=object)[proba.argmax(1)]

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, columns, bayes, kind = phantoms(tmp / "train", n_train, 0)
        test, _, _, _ = phantoms(tmp / "test", n_test, 1)
        print(f"data: {kind}; {n_train} train / {n_test} test images; oracle columns {columns}")
        t = time.perf_counter()
        model = Diagnoser(predictor=HybridPredictor([ColumnFeatures(columns)], fitter=FitterSelector(seed=0),
                                                    seed=0)).fit(train)
        fit_s = time.perf_counter() - t
        hybrid = model.predictor_
        samples = LesionSamples.from_manifest(test)
        truth = samples.table["label"].astype(str).to_numpy()
        proba = hybrid.predict_proba(samples)
        predicted = labels_of(proba, hybrid.classes_)
        acc = float((predicted == truth).mean())
        print(f"oracle hybrid: fitter {hybrid.fitter_name_}, accuracy {acc:.3f} vs Bayes rate {bayes:.3f} "
              f"(ratio {acc / bayes:.3f}); fit with selection {fit_s:.1f} s")
        print(hybrid.selection_[["candidate", "mean", "std"]].to_string(index=False))
        try:
            from explainendo.bench import shap_rule_recovery
            from explainendo.synth.gastric import gastric_rule
            causal = gastric_rule().causal_attributes
            correct = np.flatnonzero(predicted == truth)
            shap = hybrid.shap_values(samples.subset(correct), class_index=hybrid.classes_.index("neoplastic"))
            found = shap_rule_recovery(shap.group_values, causal)
            print(f"SHAP recovers the rule {found['attributes']} in correctly diagnosed cases: top-{len(causal)} "
                  f"groups exactly the rule {found['top_k_exact']:.3f}, "
                  f"top-3 inside the rule {found['top_3_inside']:.3f}")
        except ImportError:
            pass

        paths = [test.path(i) for i in test.images()]
        boxes = [test.boxes_for(i) for i in test.images()]
        t = time.perf_counter()
        results = model.predict(paths, boxes=boxes, table=test.df)
        pred_s = time.perf_counter() - t
        print(f"predict: {len(results) / pred_s:.1f} images/s ({len(results)} images, boxes given)")

        for fitter in ("xgboost", "decision_tree", "logistic_regression", "svm"):
            m = Diagnoser(predictor=HybridPredictor([ColumnFeatures(columns)], fitter=fitter, seed=0)).fit(train)
            m.explain(paths[0], box=boxes[0], table=test.df)  # build the explainer once
            reps = 3 if args.quick else 10
            t = time.perf_counter()
            for p, b in zip(paths[:reps], boxes[:reps]):
                m.explain(p, box=b, table=test.df)
            per = (time.perf_counter() - t) / reps
            explainer = m.predictor_.shap_explainer().explainer_name
            print(f"explain ({fitter:>19}, {explainer} SHAP): {1000 * per:.0f} ms / image")

        try:  # the same engine on image features: handcrafted only (no training on labels, so no OOF)
            from explainendo.handcrafted import HandcraftedFeatures

            t = time.perf_counter()
            hc = HybridPredictor([HandcraftedFeatures()], fitter=FitterSelector(seed=0), seed=0,
                                 positive_label="neoplastic").fit(LesionSamples.from_manifest(train))
            hc_fit = time.perf_counter() - t
            hc_acc = float((hc.predict(samples) == truth).mean())
            print(f"handcrafted-only hybrid: fitter {hc.fitter_name_}, accuracy {hc_acc:.3f} "
                  f"(Bayes {bayes:.3f}); fit {hc_fit:.1f} s for {n_train} lesions")
        except ImportError:
            pass

        t = time.perf_counter()
        model.save(tmp / "bundle")
        save_s = time.perf_counter() - t
        t = time.perf_counter()
        loaded = explainendo.load(tmp / "bundle")
        load_s = time.perf_counter() - t
        size = sum(f.stat().st_size for f in (tmp / "bundle").rglob("*") if f.is_file())
        same = np.array_equal(loaded.predictor_.predict_proba(samples), proba)
        print(f"bundle: save {1000 * save_s:.0f} ms (the first save imports skops), load {1000 * load_s:.0f} ms, {size / 1024:.0f} KiB, "
              f"identical predictions after load: {same}")


if __name__ == "__main__":
    main()
