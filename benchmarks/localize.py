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


def miss_report(loc, test, nms=(0.3, 0.45)) -> dict:
    """Where the top box misses (issue 19): success at IoU 0.3 counts, per true box, the image's top-scored box
    only, so an image with several polyps loses all but one of them whatever the model does. Figures (class-
    agnostic, IoU 0.3): ``ceiling_top1`` (images with a box / true boxes: the most the top-1 figure can reach);
    ``success_image`` (images whose top box hits one of their true boxes); ``success_top_n`` (per true box, the
    image's ``n`` best boxes, ``n`` its number of true boxes); ``first_hit_rank`` (per true box, the rank of the
    first box that hits it: 1, 2, 3, 4+, none); per score threshold ``t``: ``recall_at_<t>`` (per true box, any
    box scored >= t) and ``false_per_image_at_<t>`` (boxes scored >= t hitting no true box); for CenterNet,
    ``success_top1_nms_<iou>`` and ``success_image_nms_<iou>`` (top-1 again with another class-wise NMS IoU)."""
    from explainendo.evaluate.detection import iou
    from explainendo.io import read_image

    images = test.images()
    frames = [read_image(test.path(i)) for i in images]
    gts = [test.boxes_for(i) for i in images]

    def hits(p, g):
        return iou(p, g) >= 0.3

    def figures(preds) -> dict:
        preds = [sorted(p, key=lambda b: -b.score) for p in preds]
        n_gt = sum(len(g) for g in gts)
        top1 = sum(bool(p) and hits(p[0], b) for p, g in zip(preds, gts) for b in g)
        image_hit = [bool(p) and any(hits(p[0], b) for b in g) for p, g in zip(preds, gts) if g]
        top_n = sum(any(hits(q, b) for q in p[:len(g)]) for p, g in zip(preds, gts) for b in g)
        ranks = {"1": 0, "2": 0, "3": 0, "4+": 0, "none": 0}
        for p, g in zip(preds, gts):
            for b in g:
                r = next((k + 1 for k, q in enumerate(p) if hits(q, b)), None)
                ranks["none" if r is None else str(r) if r <= 3 else "4+"] += 1
        out = {"true_boxes": n_gt, "images_with_box": len(image_hit),
               "ceiling_top1": len(image_hit) / max(n_gt, 1), "success_top1": top1 / max(n_gt, 1),
               "success_image": float(np.mean(image_hit)) if image_hit else float("nan"),
               "success_top_n": top_n / max(n_gt, 1), "first_hit_rank": ranks}
        for t in (0.1, 0.2, 0.3, 0.5):
            kept = [[q for q in p if q.score >= t] for p in preds]
            out[f"recall_at_{t}"] = sum(any(hits(q, b) for q in k) for k, g in zip(kept, gts) for b in g) / max(n_gt, 1)
            out[f"false_per_image_at_{t}"] = float(np.mean([sum(not any(hits(q, b) for b in g) for q in k)
                                                            for k, g in zip(kept, gts)]))
        return out

    report = figures(loc._locate_arrays(frames))
    if hasattr(loc, "nms_iou"):
        old = loc.nms_iou
        try:
            for v in nms:
                loc.set_params(nms_iou=v)
                f = figures(loc._locate_arrays(frames))
                report[f"success_top1_nms_{v}"] = f["success_top1"]
                report[f"success_image_nms_{v}"] = f["success_image"]
        finally:
            loc.set_params(nms_iou=old)
    return report


def print_misses(name: str, m: dict) -> None:
    print(f"  {name} misses (IoU 0.3): top-1 {m['success_top1']:.3f} of a ceiling {m['ceiling_top1']:.3f} "
          f"({m['images_with_box']} images, {m['true_boxes']} true boxes); per image {m['success_image']:.3f}; "
          f"top-n (n = true boxes of the image) {m['success_top_n']:.3f}; first hit at rank {m['first_hit_rank']}; "
          + "; ".join(f"score >= {t}: recall {m[f'recall_at_{t}']:.3f}, {m[f'false_per_image_at_{t}']:.2f} false/image"
                      for t in (0.1, 0.2, 0.3, 0.5))
          + "".join(f"; NMS {k[17:]}: top-1 {v:.3f}, per image {m['success_image_nms_' + k[17:]]:.3f}"
                    for k, v in m.items() if k.startswith("success_top1_nms_")), flush=True)


def print_epochs(loc) -> None:
    """With ``--verbose``: one line per epoch for a box localizer (the progress bar does not show in a log
    file), wrapping its validation scoring on this instance only."""
    scores, t0, count = loc._val_scores, time.perf_counter(), [0]

    def verbose_scores(net, imgs, targets):
        out = scores(net, imgs, targets)
        count[0] += 1
        print(f"  epoch {count[0]}: val mAP50 {out['val_mAP50']:.3f}, val mIoU {out['val_mIoU']:.3f}, "
              f"{(time.perf_counter() - t0) / 60:.1f} min", flush=True)
        return out

    loc._val_scores = verbose_scores


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
    ap.add_argument("--det-stride", type=int, default=8, help="output stride of the centernet localizer (4 or 8)")
    ap.add_argument("--det-tta", default="none", choices=("none", "flip", "both"),
                    help="test-time augmentation of centernet / boxreg: none, flip (horizontal), or both "
                         "(each evaluated; the weights are saved with tta=None)")
    ap.add_argument("--misses", action="store_true", help="centernet / boxreg: where the top box misses "
                    "(per image, top-n, rank of the first hit, score thresholds, NMS settings)")
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
                                          out_stride=a.det_stride, training=training, seed=a.seed)
                       if method == "centernet" else
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
                    if a.verbose:
                        print_epochs(loc)
                    loc.fit(*validation_split(train, by, a.seed))
                    loc.__dict__.pop("_val_scores", None)
                else:
                    loc.fit(train)
                fit_s = time.perf_counter() - t0
                loc.save(work / f"{ds}-{method}")  # outside the repo: an evaluation failure must not lose it
            if a.keep_weights and not a.evaluate_saved:  # before the evaluation: a failure there must not lose it
                loc.save(out / f"{ds}-{method}")
            params = loc.get_params()
            history = getattr(loc, "history_", [])
            epochs = len(history) if history else int(params.get("epochs", params.get("training__epochs", 0)))
            image_size = params.get("imgsz", params.get("image_size"))
            box = method in ("centernet", "boxreg")
            variants = {"none": [None], "flip": ["flip"], "both": [None, "flip"]}[a.det_tta] if box else [None]
            for tta in variants:
                name = method + ("+flip" if tta else "")
                if box:
                    loc.set_params(tta=tta)
                res, curve, pred_s = evaluate(loc, test)
                res.update(dataset=ds, method=name, split=how, train_images=int(train.df["image"].nunique()),
                           test_images=int(test.df["image"].nunique()), epochs=epochs, fit_seconds=fit_s,
                           seconds_per_epoch=fit_s / epochs if epochs else float("nan"),
                           predict_seconds_per_image=pred_s, device=a.device, image_size=image_size, tta=tta,
                           out_stride=params.get("out_stride"), history=getattr(loc, "history_", []))
                results.append(res)
                curves[f"{ds}/{name}"] = curve
                print(f"{ds:8s} {name:8s} mAP50 {res['mAP50']:.3f}  mAP50-95 {res['mAP50_95']:.3f}  "
                      f"mIoU {res['mIoU']:.3f}  centroid {res['centroid_distance_mean']:.3f}  "
                      f"success@IoU0.3 {res['success_iou_0.3']:.3f} (per image {res['image_success_iou_0.3']:.3f})  success@d0.05 {res['success_centroid_0.05']:.3f}  "
                      f"{res['seconds_per_epoch']:.1f} s/epoch x {epochs}, {fit_s / 60:.1f} min ({a.device})  "
                      f"{res['ms_per_image']:.1f} ms/frame batched, {res['latency_ms']:.1f} ms one frame", flush=True)
                if box and a.misses:
                    try:
                        res["misses"] = miss_report(loc, test)
                        print_misses(name, res["misses"])
                    except Exception as exc:  # noqa: BLE001 - an analysis failure must not lose the figures
                        print("miss analysis failed:", exc)
        try:
            from explainendo.evaluate.detection import plot_success

            fig = plot_success({k.split("/", 1)[1]: c for k, c in curves.items() if k.startswith(f"{ds}/")}, title=ds)
            fig.savefig(out / f"success-{ds}.png", dpi=90)
        except Exception as exc:  # noqa: BLE001 - a plot failure must not lose the figures
            print("plot failed:", exc)
    (out / "results.json").write_text(json.dumps({"machine": machine(), "args": vars(a), "results": results},
                                                 indent=1, default=float))
    print(f"\nwrote {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
