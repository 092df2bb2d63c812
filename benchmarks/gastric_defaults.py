"""``GastricDiagnoser()`` exactly as it ships, end to end on gastric phantoms: accuracy on the manifest's
boxes and from pixels (through the default soft-mask localizer), and the run times per 1,000 images.

Trains ``GastricDiagnoser(seed=S)`` with no parameter changed on a patient-wise 75% of ``--n`` phantom
images (256 px, several views per patient), then on the other 25%: the paper's table from pixels and on
the boxes (``explainendo.commands.evaluate_saved_model``), the localizer's hit rate and IoU, and the time to
train, to diagnose from pixels, and to explain (SHAP + Grad-CAM), each per 1,000 images on this machine.

    python benchmarks/gastric_defaults.py --n 1000          # the defaults, untouched (about 25 min, 2 cores)
    python benchmarks/gastric_defaults.py --quick           # CI smoke run: 1-epoch networks, NOT the defaults
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="phantom images in all (train 75%% / test 25%%)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--explain", type=int, default=20, help="test images explained (timing)")
    parser.add_argument("--quick", action="store_true",
                        help="CI smoke run: 120 images, 1-epoch networks at 64 px (then the figures are not the defaults')")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()

    import explainendo
    from explainendo import GastricDiagnoser
    from explainendo.bench import machine_description
    from explainendo.commands import evaluate_saved_model
    from explainendo.io.splits import train_val_test_split
    from explainendo.synth import generate

    n = 120 if args.quick else args.n
    work = Path(args.out or tempfile.mkdtemp(prefix="gastric_defaults_"))
    phantoms = generate("gastric", n, seed=args.seed, size=256)
    manifest = phantoms.write(work / "phantoms")
    split = train_val_test_split(manifest, val=0.0, test=0.25, seed=args.seed)
    train, test = split["train"], split["test"]
    model = GastricDiagnoser(seed=args.seed)
    if args.quick:
        from explainendo.localize import UNetTraining
        from explainendo.systems.gastric import gastric_heads, gastric_localizer, gastric_predictor
        from explainendo.training import Training

        model.set_params(localizer=gastric_localizer(args.seed, image_size=64, training=UNetTraining(epochs=1)),
                         predictor=gastric_predictor(heads=gastric_heads(args.seed, image_size=64,
                                                                         training=Training(epochs=1)),
                                                     seed=args.seed))
    print(f"explainendo {explainendo.__version__}; {machine_description()}")
    print(f"GastricDiagnoser(seed={args.seed}){' with 1-epoch networks (--quick: not the defaults)' if args.quick else ''}"
          f": {len(train)} training lesions / {train.df['patient'].nunique()} patients, "
          f"{len(test)} test lesions / {test.df['patient'].nunique()} patients; Bayes rate {phantoms.bayes_rate:.3f}")
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    localizer_s = sum(float(e.get("seconds", 0)) for e in getattr(model.localizer_, "history_", []))
    print(f"training: {fit_s:.0f} s ({localizer_s:.0f} s of it the localizer's epochs) = "
          f"{1000 * fit_s / len(train) / 60:.1f} min per 1,000 training images")
    print(f"predictor: {model.predictor_.describe()}")

    start = time.perf_counter()
    result = evaluate_saved_model(model, test)
    eval_s = time.perf_counter() - start
    images = len(result["predictions_pixels"])
    for key in ("boxes", "pixels"):
        if result[key] is not None:
            print(result[key].to_markdown())
    print(f"localizer: a lesion found in {images - result['images_without_lesion']} of {images} test images, "
          f"mean IoU {result['mean_iou']:.2f}")
    print(f"diagnosis from pixels and on boxes: {eval_s:.0f} s for {images} images "
          f"= {1000 * eval_s / images / 60:.1f} min per 1,000 images (both passes)")

    paths = [str(test.path(name)) for name in test.df.drop_duplicates("image")["image"][: args.explain]]
    start = time.perf_counter()
    explained = 0
    for diagnosis in model.predict(paths, stream=True, keep_frames=True):
        if diagnosis.ok and not diagnosis.no_lesion:
            model.explain(diagnosis)
            explained += 1
    explain_s = time.perf_counter() - start
    if explained:
        print(f"explanation (diagnosis + SHAP + Grad-CAM): {explain_s / explained:.2f} s per image "
              f"= {1000 * explain_s / explained / 60:.1f} min per 1,000 images ({explained} images)")
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()
