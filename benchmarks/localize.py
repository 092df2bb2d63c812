"""Real-data localizer benchmark: YOLO vs the soft-mask U-Net (ERCP paper, Fig. 3 style) on group-wise
splits of Kvasir-SEG (image-wise: it has no patient ids), EDD2020 (lesion vs background, centre-wise: centre
AJ external) and DSOC cholangioscopy (video-wise).

Prints, per dataset and method: mAP50, mAP50-95, mIoU, mean centroid distance, success at IoU 0.3, success
at centroid distance 0.05, training seconds per epoch, and the machine. Writes a JSON with all figures and
learning curves, and success-plot PNGs, to ``--out``. Weights are not kept unless ``--keep-weights``.

    nice python benchmarks/localize.py --quick                 # minutes on 2 CPU cores
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
    from explainendo.evaluate.detection import localization_table, success_curve, summarize
    from explainendo.types import Box

    test = test.validate(strict=False)  # fills width/height; drops (and reports) unusable rows
    imgs = test.images()
    t0 = time.perf_counter()
    preds = loc.locate_batch([test.path(i) for i in imgs])
    secs = (time.perf_counter() - t0) / max(len(imgs), 1)
    strip = lambda bs: [Box(b.x1, b.y1, b.x2, b.y2, score=b.score) for b in bs]  # class-agnostic localization
    preds = [strip(p) for p in preds]
    gts = [strip(test.boxes_for(i)) for i in imgs]
    sizes = [(int(r["width"]), int(r["height"])) for _, r in test.image_table().set_index("image").loc[imgs].iterrows()]
    # AP from every box; localization figures from the top-scoring box per image (ERCP single-target)
    res = summarize(preds, gts, sizes, top_k=1)
    curve = success_curve(localization_table(preds, gts, sizes, top_k=1))
    return res, curve, secs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="kvasir,edd2020,dsoc")
    ap.add_argument("--methods", default="softmask,yolo", help="softmask, yolo, wholeframe (a no-training baseline)")
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
        a.max_train, a.max_test = a.max_train or 240, a.max_test or 100
    import torch

    import explainendo.evaluate.detection  # noqa: F401 - import everything before hours of training
    from explainendo.localize import SoftMaskLocalizer, UNetTraining, YoloLocalizer

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
                loc.fit(train, verbose=a.verbose) if method == "yolo" else loc.fit(train)
                fit_s = time.perf_counter() - t0
                loc.save(work / f"{ds}-{method}")  # outside the repo: an evaluation failure must not lose it
            params = loc.get_params()
            epochs = int(params.get("epochs", params.get("training__epochs", 0)))
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
                  f"{res['seconds_per_epoch']:.1f} s/epoch ({a.device})", flush=True)
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
