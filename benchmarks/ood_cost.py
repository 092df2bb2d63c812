"""What the default out-of-distribution flag costs (issue 24.6): GastricDiagnoser fitted and run with ``ood=None``
and with its default (``ood="default"``: :func:`explainendo.explain.ood.default_ood_detector`, the image statistics
plus two EfficientNet-Lite0 forwards at 160 px per frame, frame and lesion crop, batched per predict batch).

    python benchmarks/ood_cost.py            # 200 training + 200 held-out gastric phantoms at 192 px
    python benchmarks/ood_cost.py --quick    # smoke run: 40 + 40

Both models are fitted in this one process on the same phantoms with the same small predictor (handcrafted features
and logistic regression: the OOD cost does not depend on the predictor) and the ground-truth boxes (``WholeFrame``
localizer, so no localizer training either way; predict is given the held-out boxes too): the difference of the fit
times is what the detector adds
(crop and frame statistics, the embedding of every training crop and frame, the patient-fold calibration). Predict
times the held-out frames in batches of 16 (the Diagnoser's default), each model ``--repeats`` times alternately,
best time kept; the difference per frame is the flag's cost. The share of held-out phantoms flagged is printed too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def model(ood):
    from explainendo import GastricDiagnoser, HybridPredictor, InSample
    from explainendo.handcrafted import HandcraftedFeatures
    from explainendo.localize import WholeFrame

    predictor = HybridPredictor([HandcraftedFeatures()], fitter="logistic_regression", stacking=InSample(),
                                positive_label="neoplastic")
    return GastricDiagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, ood=ood)


def main(argv=None) -> None:
    from explainendo.bench import run_header
    from explainendo.synth import generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=200, help="training phantoms (and as many held out)")
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    n = 40 if args.quick else args.n
    print(run_header())
    with tempfile.TemporaryDirectory() as tmp:
        train = generate("gastric", n, seed=0, size=args.size).write(Path(tmp) / "train")
        test = generate("gastric", n, seed=1, size=args.size).write(Path(tmp) / "test")
        names = list(test.images())
        images = [str(test.path(name)) for name in names]
        boxes = [test.boxes_for(name) for name in names]  # the lesions the training crops are like
        fitted, fit_s = {}, {}
        for name, ood in (("ood=None", None), ("default", "default")):
            t0 = time.perf_counter()
            fitted[name] = model(ood).fit(train)
            fit_s[name] = time.perf_counter() - t0
        fitted["default"].predict(images[:16], boxes=boxes[:16])  # builds the embedding network once (as a loaded model does)
        predict_s = {name: float("inf") for name in fitted}
        for _ in range(args.repeats):
            for name, m in fitted.items():
                t0 = time.perf_counter()
                results = m.predict(images, boxes=boxes)
                predict_s[name] = min(predict_s[name], time.perf_counter() - t0)
        flagged = sum(bool(r.ood) for r in results) / len(results)
    n_train = len(train.images())
    print(f"GastricDiagnoser (WholeFrame, handcrafted + logistic regression), gastric phantoms {args.size} px: "
          f"{n_train} training frames, {len(images)} held out")
    print(f"{'':10s} {'fit s':>8s} {'fit ms/frame':>13s} {'predict s':>10s} {'predict ms/frame':>17s}")
    for name in fitted:
        print(f"{name:10s} {fit_s[name]:8.2f} {1000 * fit_s[name] / n_train:13.1f} {predict_s[name]:10.2f} "
              f"{1000 * predict_s[name] / len(images):17.1f}")
    print(f"added by the default OOD flag: fit {1000 * (fit_s['default'] - fit_s['ood=None']) / n_train:.1f} ms per "
          f"training frame, predict {1000 * (predict_s['default'] - predict_s['ood=None']) / len(images):.1f} ms per "
          f"frame; held-out phantoms flagged (frame or lesion) by the default: "
          f"{sum(bool(r.ood or any(les.ood for les in r.lesions)) for r in results) / len(results):.3f} "
          f"(frame check {flagged:.3f})")


if __name__ == "__main__":
    main()
