"""Real-data localizer benchmark: every localizer (the CenterNet-style detector, the box-regression baseline,
the soft-mask U-Net of the ERCP paper, YOLO, the whole-frame baseline) with the same metrics (ERCP paper,
Fig. 3 style) on group-wise splits of Kvasir-SEG (image-wise: it has no patient ids), EDD2020 (lesion vs
background, centre-wise: centre AJ external) and DSOC cholangioscopy (video-wise). The trained box
localizers hold out 10% of the training groups for validation (early stopping on mAP50).

Prints, per dataset and method: mAP50, mAP50-95, mIoU, mean centroid distance, success at IoU 0.3, success
at centroid distance 0.05, training seconds per epoch, and the machine. Writes a JSON with all figures and
learning curves, and success-plot PNGs, to ``--out``. Weights are not kept unless ``--keep-weights``.

    nice python benchmarks/localize.py --quick                 # minutes on 2 CPU cores
    python benchmarks/localize.py --methods centernet,boxreg,softmask,wholeframe   # the issue-19 comparison
    python benchmarks/localize.py --evaluate SAVED_FOLDER --manifest other_centre.csv   # a saved localizer
    python benchmarks/localize.py --device cuda --yolo-epochs 100 --soft-epochs 40   # the goals, on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
_CANDIDATES = [os.environ.get("EXPLAINENDO_DATA", ""), REPO.parent / "shared" / "data",
               REPO.parents[1] / "shared" / "data", REPO / "shared" / "data"]
DATA = next((Path(c) for c in _CANDIDATES if c and Path(c).is_dir()), Path(REPO.parent / "shared" / "data"))


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} cores ({torch.get_num_threads()} torch threads), {gpu}"


def splits(name: str, seed: int):
    """(train, test) manifests per dataset, split by group (never by frame)."""
    from explainendo.io import edd2020_centre_split, load_dsoc, load_edd2020, load_kvasir_seg, train_val_test_split

    if name == "kvasir":
        m = load_kvasir_seg(DATA / "kvasir-seg-256")
        s = train_val_test_split(m, val=0.0, test=0.2, by="patient", stratify=None, seed=seed)
        return s["train"], s["test"], "image-wise 80/20 (Kvasir-SEG has no patient ids)"
    if name == "edd2020":
        m = load_edd2020(DATA / "edd2020")
        s = edd2020_centre_split(m, internal_test=0.25, seed=seed)
        return s["train"], s["external_test"], "centre-wise: train on 4 centres, test on the external centre"
    if name == "dsoc":
        m = load_dsoc(DATA / "dsoc-cholangioscopy")
        s = train_val_test_split(m, val=0.0, test=0.25, by="video", stratify=None, seed=seed)
        return s["train"], s["test"], "video-wise 75/25"
    raise SystemExit(f"unknown dataset {name}")


def subsample(m, n: int | None, seed: int, by: str = "patient"):
    """At most ``n`` images, whole groups kept together (for CPU budgets)."""
    if not n or m.df["image"].nunique() <= n:
        return m
    rng = np.random.default_rng(seed)
    imgs = m.image_table()
    groups = list(dict.fromkeys(imgs[by]))
    rng.shuffle(groups)
    keep, count = [], 0
    per_group = imgs.groupby(by).size()
    for g in groups:
        if count >= n:
            break
        keep.append(g)
        count += int(per_group[g])
    return m.select_groups(keep, by=by)


def evaluate(loc, test) -> tuple[dict, object, float]:
    from explainendo.evaluate.detection import evaluate_localizer

    from explainendo.io import read_image

    res, curve = evaluate_localizer(loc, test)  # AP from every box; localization from the top box per image
    # a live stream's latency: one decoded frame at a time (the first call warms up)
    frames = [read_image(test.path(i)) for i in test.images()[:21]]
    loc.locate(frames[0])
    t0 = time.perf_counter()
    for f in frames[1:]:
        loc.locate(f)
    res["latency_ms"] = 1000 * (time.perf_counter() - t0) / max(len(frames) - 1, 1)
    return res, curve, res["ms_per_image"] / 1000


def validation_split(train, by: str, seed: int):
    """(fit, val) of ``train``: 10% of its groups held out for early stopping."""
    from explainendo.io import train_val_test_split

    s = train_val_test_split(train, val=0.1, test=0.0, by=by, stratify=None, seed=seed)
    return s["train"], s["val"]


def evaluate_saved(folder: str, manifest: str, root: str | None) -> int:
    """One saved localizer on one manifest (another centre's polyps): the figures, printed and as JSON."""
    from explainendo.evaluate.detection import evaluate_localizer
    from explainendo.io import load_dataset
    from explainendo.localize import Localizer

    loc = Localizer.load(folder)
    res, _ = evaluate_localizer(loc, load_dataset(manifest, root))
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"{loc.kind} from {folder} on {manifest}: " + "  ".join(
        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()))
    for name, err in loc.errors_:
        print(f"unreadable: {name}: {err}")
    print(json.dumps(res, default=float))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="kvasir,edd2020,dsoc")
    ap.add_argument("--methods", default="centernet,boxreg,softmask,wholeframe",
                    help="centernet, boxreg, softmask, yolo, wholeframe (a no-training baseline)")
    ap.add_argument("--det-epochs", type=int, default=30, help="epochs of the centernet / boxreg localizers")
    ap.add_argument("--det-size", type=int, default=160, help="input side of the centernet / boxreg localizers")
    ap.add_argument("--patience", type=int, default=6, help="early stopping of centernet / boxreg (val mAP50)")
    ap.add_argument("--evaluate", default="", help="a saved localizer folder: evaluate it on --manifest, no training")
    ap.add_argument("--manifest", default="", help="with --evaluate: a dataset name or manifest CSV")
    ap.add_argument("--root", default=None, help="with --evaluate: the dataset / manifest image folder")
    ap.add_argument("--quick", action="store_true", help="small budgets for a 2-core CPU")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--yolo-epochs", type=int, default=100)
    ap.add_argument("--yolo-imgsz", type=int, default=320)
    ap.add_argument("--yolo-batch", type=int, default=16)
    ap.add_argument("--soft-epochs", type=int, default=40)
    ap.add_argument("--soft-size", type=int, default=224)
    ap.add_argument("--encoder", default="efficientnet_lite0")
    ap.add_argument("--max-train", type=int, default=0, help="at most this many training images (0: all)")
    ap.add_argument("--max-test", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "localize"))
    ap.add_argument("--keep-weights", action="store_true")
    ap.add_argument("--verbose", action="store_true", help="print per-epoch training figures")
    ap.add_argument("--evaluate-saved", default="", help="evaluate the models saved in this work folder "
                    "by an earlier run (<dataset>-<method>/) instead of training")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: torch's default; 1 is several times faster on a shared, loaded box)")
    a = ap.parse_args(argv)
    if a.quick:
        a.yolo_epochs, a.yolo_imgsz, a.soft_epochs, a.soft_size = min(a.yolo_epochs, 5), 192, min(a.soft_epochs, 6), 96
        a.det_epochs, a.det_size = min(a.det_epochs, 4), 128
        a.max_train, a.max_test = a.max_train or 240, a.max_test or 100
    if a.evaluate:
        if not a.manifest:
            raise SystemExit("--evaluate needs --manifest (a dataset name or a manifest CSV)")
        return evaluate_saved(a.evaluate, a.manifest, a.root)
    import torch

    import explainendo.evaluate.detection  # noqa: F401 - import everything before hours of training
    from explainendo.localize import (BoxRegressionLocalizer, CenterNetLocalizer, DetectorTraining,
                                      SoftMaskLocalizer, UNetTraining, YoloLocalizer)

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="explainendo-bench-"))
    print(f"machine: {machine()}; python {platform.python_version()}, torch {torch.__version__}; "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    results, curves = [], {}
    for ds in a.datasets.split(","):
        train, test, how = splits(ds, a.seed)
        by = "video" if ds == "dsoc" else "patient"
        train, test = subsample(train, a.max_train, a.seed, by), subsample(test, a.max_test, a.seed + 1, by)
        print(f"\n== {ds}: {how}; train {train.df['image'].nunique()} images, test {test.df['image'].nunique()}",
              flush=True)
        for method in a.methods.split(","):
            if method == "wholeframe":  # trivial baseline: the field of view as the box
                from explainendo.localize import WholeFrame

                loc = WholeFrame(remove_border=True)
            elif method in ("centernet", "boxreg"):
                training = DetectorTraining(epochs=a.det_epochs, patience=a.patience, device=a.device,
                                            num_threads=a.threads or None)
                loc = (CenterNetLocalizer(image_size=a.det_size, class_agnostic=True, min_score=0.01,
                                          training=training, seed=a.seed) if method == "centernet" else
                       BoxRegressionLocalizer(image_size=a.det_size, training=training, seed=a.seed))
            elif method == "yolo":
                loc = YoloLocalizer("yolov8n.yaml", imgsz=a.yolo_imgsz, epochs=a.yolo_epochs, batch=a.yolo_batch,
                                    conf=0.001, single_class=True, seed=a.seed, device=a.device,
                                    workdir=str(work / f"yolo-{ds}"))
            else:
                # EDD2020 and DSOC frames can hold several lesions: one box per separate peak there
                loc = SoftMaskLocalizer(a.encoder, image_size=a.soft_size, multi=ds != "kvasir", seed=a.seed,
                                        training=UNetTraining(epochs=a.soft_epochs, lr=1e-3, batch_size=16,
                                                              device=a.device))
            t0 = time.perf_counter()
            if method == "wholeframe":
                loc.fit(train)
                fit_s = 0.0
            elif a.evaluate_saved:  # re-evaluate models an earlier run saved (same split, same seed)
                from explainendo.localize import Localizer

                loc = Localizer.load(Path(a.evaluate_saved) / f"{ds}-{method}")
                fit_s = float("nan")
            else:
                if method == "yolo":
                    loc.fit(train, verbose=a.verbose)
                elif method in ("centernet", "boxreg"):
                    loc.fit(*validation_split(train, by, a.seed))
                else:
                    loc.fit(train)
                fit_s = time.perf_counter() - t0
                loc.save(work / f"{ds}-{method}")  # outside the repo: an evaluation failure must not lose it
            params = loc.get_params()
            history = getattr(loc, "history_", [])
            epochs = len(history) if history else int(params.get("epochs", params.get("training__epochs", 0)))
            image_size = params.get("imgsz", params.get("image_size"))
            res, curve, pred_s = evaluate(loc, test)
            res.update(dataset=ds, method=method, split=how, train_images=int(train.df["image"].nunique()),
                       test_images=int(test.df["image"].nunique()), epochs=epochs, fit_seconds=fit_s,
                       seconds_per_epoch=fit_s / epochs if epochs else float("nan"), predict_seconds_per_image=pred_s, device=a.device,
                       image_size=image_size,
                       history=getattr(loc, "history_", []))
            results.append(res)
            curves[f"{ds}/{method}"] = curve
            print(f"{ds:8s} {method:8s} mAP50 {res['mAP50']:.3f}  mAP50-95 {res['mAP50_95']:.3f}  "
                  f"mIoU {res['mIoU']:.3f}  centroid {res['centroid_distance_mean']:.3f}  "
                  f"success@IoU0.3 {res['success_iou_0.3']:.3f}  success@d0.05 {res['success_centroid_0.05']:.3f}  "
                  f"{res['seconds_per_epoch']:.1f} s/epoch x {epochs}, {fit_s / 60:.1f} min ({a.device})  "
                  f"{res['ms_per_image']:.1f} ms/frame batched, {res['latency_ms']:.1f} ms one frame", flush=True)
            if a.keep_weights:
                loc.save(out / f"{ds}-{method}")
        try:
            from explainendo.evaluate.detection import plot_success

            fig = plot_success({m: curves[f"{ds}/{m}"] for m in a.methods.split(",")}, title=ds)
            fig.savefig(out / f"success-{ds}.png", dpi=90)
        except Exception as exc:  # noqa: BLE001 - a plot failure must not lose the figures
            print("plot failed:", exc)
    (out / "results.json").write_text(json.dumps({"machine": machine(), "args": vars(a), "results": results},
                                                 indent=1, default=float))
    print(f"\nwrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
