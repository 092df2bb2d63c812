"""The colonoscopy system against its goals (issue 21), in one run:

1. ``phantoms``: colon phantoms split by video (train on 70% of the videos, all but the last quarter of each
   training video's frames; set 1 = the held-back last frames of the training videos, set 2 = the other videos),
   the three approaches (hybrid, cnn, detector) on the same frames, the paper's confusion matrices with Background
   at IoU 0.45 / 0.50 / 0.55, per-class metrics, and how often the hybrid's SHAP names the true degradation
   (the top frame-quality group is the one of ``attr.artifact``) on the correctly classified unclear frames;
2. ``real``: Kvasir-SEG polyps (tumor, with boxes) and CP-CHILD frames (half normal; the other half made
   unclear by :func:`explainendo.synth.colon.degrade`: **derived** unclear frames, no real ones exist here),
   split 70 / 30 with every image its own group (the sets share no image and no source frame), reported per
   source; and how far a source-only cue (the shape of the field-of-view mask) tells Kvasir-SEG from CP-CHILD;
3. ``speed``: frames per second of ``ColonFrameDetector`` on a 640 x 480 stream and the time of one explanation,
   with the networks in torch and in onnxruntime (a copy of the model folder exported to ONNX), for
   ``predict(stream=True)`` at batch 1 and at the model's batch size and for ``VideoSession`` without and with box
   reuse; wall-clock frames per second and CPU milliseconds per frame (the steadier figure on a shared machine),
   the load average before and after, the ratios from the same run.

    nice python benchmarks/colon.py --quick                       # a smoke run, a few minutes
    nice python benchmarks/colon.py --out bench/colon             # the measured run (docs/benchmarks.md)
    nice python benchmarks/colon.py --parts speed --speed-models bench/colon/phantoms_hybrid_model   # speed only

Absolute times are for the machine printed at the top. The tumor localizer is trained once per part and shared
by the hybrid and the CNN (they differ only in the frame classifier).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CLASSES = ["normal", "unclear", "tumor"]


def log(text: str) -> None:
    print(text, flush=True)


def models(a, localizer):
    """The three approaches; the hybrid and the CNN share the trained tumor localizer."""
    from explainendo import ColonFrameDetector
    from explainendo.localize import DetectorTraining
    from explainendo.systems import colon_cnn, colon_localizer, colon_predictor
    from explainendo.systems.colon import colon_fitter
    from explainendo.training import Training

    def cnn():
        return colon_cnn(a.seed, image_size=a.cnn_size, training=Training(epochs=a.cnn_epochs, batch_size=32,
                                                                          patience=4))

    detector = colon_localizer(a.seed, image_size=a.loc_size, class_agnostic=False,
                               training=DetectorTraining(epochs=a.loc_epochs))
    return {"hybrid": ColonFrameDetector(localizer=localizer, train_localizer=False, seed=a.seed,
                                         predictor=colon_predictor(cnn=cnn(), fitter=colon_fitter(cv=3, seed=a.seed),
                                                                   seed=a.seed)),
            "cnn": ColonFrameDetector(localizer=localizer, train_localizer=False, approach="cnn", predictor=cnn(),
                                      seed=a.seed),
            "detector": ColonFrameDetector(localizer=detector, approach="detector", seed=a.seed)}


def tumor_localizer(a, manifest):
    from explainendo.localize import DetectorTraining
    from explainendo.systems import colon_localizer

    t0 = time.perf_counter()
    loc = colon_localizer(a.seed, image_size=a.loc_size, training=DetectorTraining(epochs=a.loc_epochs)).fit(manifest)
    log(f"tumor localizer trained in {(time.perf_counter() - t0) / 60:.1f} min")
    return loc


def shap_names_degradation(model, manifest, frames: pd.DataFrame) -> dict:
    """On the correctly classified unclear frames with a known ``attr.artifact``: is the frame-quality group with
    the largest SHAP towards 'unclear' the one that names the degradation? (``rate``; ``rate_all_groups``: is it
    the largest of *all* groups, the colour groups and ``deep`` included; ``top_groups``: which quality group came
    first, per degradation.)"""
    from explainendo.systems.colon import ARTIFACT_GROUPS, QUALITY_GROUPS

    if "attr.artifact" not in manifest.df.columns:
        return {}
    artifact = manifest.df.groupby("image", sort=False)["attr.artifact"].first()
    rows = frames[(frames["truth"] == "unclear") & (frames["called"] == "unclear")]
    hits, hits_all, per_type, tops = [], [], {}, {}
    for image in rows["image"]:
        kind = artifact.get(image)
        if not isinstance(kind, str) or kind not in ARTIFACT_GROUPS:
            continue
        exp = model.explain(str(manifest.path(image)))
        quality = {g: v for g, v in exp.group_shap.items() if g in QUALITY_GROUPS}
        top = max(quality, key=quality.get)
        hit = top == ARTIFACT_GROUPS[kind]
        hits.append(hit)
        hits_all.append(max(exp.group_shap, key=exp.group_shap.get) == ARTIFACT_GROUPS[kind])
        per_type.setdefault(kind, []).append(hit)
        tops.setdefault(kind, {}).setdefault(top, 0)
        tops[kind][top] += 1
    return {"n": len(hits), "rate": float(np.mean(hits)) if hits else float("nan"),
            "rate_all_groups": float(np.mean(hits_all)) if hits_all else float("nan"),
            "per_type": {k: {"n": len(v), "rate": float(np.mean(v))} for k, v in per_type.items()},
            "top_groups": tops}


def run_models(a, name: str, train, test, out: Path) -> dict:
    localizer = tumor_localizer(a, train)
    report = {}
    for approach, model in models(a, localizer).items():
        if approach not in a.approaches.split(","):
            continue
        t0 = time.perf_counter()
        model.fit(train)
        minutes = (time.perf_counter() - t0) / 60
        reports = model.evaluate(test)
        entry = {"fit_minutes": minutes, "reports": {k: r.to_dict() for k, r in reports.items()}}
        log(f"\n== {name}: {approach} (trained in {minutes:.1f} min)")
        for key, rep in reports.items():
            log(rep.to_markdown())
            log(f"accuracy {rep.accuracy(0.5):.4f}, unclear recall {rep.recall('unclear', 0.5):.4f}, tumor recall "
                f"{rep.recall('tumor', 0.5):.4f} at IoU 0.50 ({key})")
        model.save(out / f"{name}_{approach}_model")
        if approach == "hybrid":
            found = shap_names_degradation(model, test, reports["all"].frames)
            entry["shap_degradation"] = found
            log(f"hybrid SHAP names the true degradation on {found.get('rate', float('nan')):.3f} of "
                f"{found.get('n', 0)} correctly classified unclear frames (goal >= 0.90); per type: "
                f"{json.dumps(found.get('per_type', {}))}; top quality group per type: "
                f"{json.dumps(found.get('top_groups', {}))}; the true group is the top of all groups (colour and "
                f"deep included) on {found.get('rate_all_groups', float('nan')):.3f}")
        report[approach] = entry
    return report


def phantom_sets(a, work: Path):
    from explainendo.synth import generate

    phantoms = generate("colon", a.n, seed=a.seed, size=a.size, frames_per_video=a.frames_per_video)
    manifest = phantoms.write(work / "colon_phantoms")
    df = manifest.df
    videos = sorted(df["video"].unique())
    rng = np.random.default_rng(a.seed)
    train_videos = set(rng.choice(videos, int(round(0.7 * len(videos))), replace=False))
    late = df["frame"] >= int(a.frames_per_video * 0.75)
    in_train = df["video"].isin(train_videos)
    train = manifest.subset(in_train & ~late)
    test = manifest.subset(~(in_train & ~late))  # set 1: late frames of training videos; set 2: other videos
    log(f"{a.n} colon phantoms at {a.size} px in {len(videos)} videos; training {train.df['image'].nunique()} frames "
        f"of {len(train_videos)} videos; test {test.df['image'].nunique()} frames (set 1: the last quarter of the "
        f"training videos, set 2: {len(videos) - len(train_videos)} other videos)")
    return train, test


def real_sets(a, work: Path, data: Path):
    """Kvasir-SEG tumors + CP-CHILD normals + CP-CHILD frames degraded into unclear ones, under one root."""
    import cv2

    from explainendo.io import load_cp_child, load_kvasir_seg
    from explainendo.io.image import read_image
    from explainendo.io.manifest import Manifest
    from explainendo.synth.colon import ARTIFACTS, degrade

    root = work / "real"
    root.mkdir(parents=True)
    (root / "kvasir").symlink_to(data / "kvasir-seg-256", target_is_directory=True)
    (root / "cpchild").symlink_to(data / "cp-child-normal-256", target_is_directory=True)
    kv = load_kvasir_seg(data / "kvasir-seg-256").df.copy()
    kv["image"] = "kvasir/" + kv["image"]
    kv["label"], kv["box_label"], kv["source"] = "tumor", "tumor", "kvasir-seg"
    cp = load_cp_child(data / "cp-child-normal-256").df.copy()
    rng = np.random.default_rng(a.seed)
    order = rng.permutation(len(cp))
    if a.quick:
        kv = kv[kv["patient"].isin(kv["patient"].drop_duplicates().sample(120, random_state=a.seed))]
        order = order[:240]
    normal = cp.iloc[order[: len(order) // 2]].copy()
    normal["image"] = "cpchild/" + normal["image"]
    normal["source"] = "cp-child"
    rows = []
    (root / "unclear").mkdir()
    for k, i in enumerate(order[len(order) // 2:]):
        src = cp.iloc[i]
        kind = ARTIFACTS[k % len(ARTIFACTS)]
        image = degrade(read_image(data / "cp-child-normal-256" / src["image"]), kind,
                        np.random.default_rng([a.seed, 21, int(i)]))
        name = f"unclear/{Path(src['image']).stem}_{kind}.png"
        cv2.imwrite(str(root / name), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        rows.append({"image": name, "patient": src["patient"], "label": "unclear", "attr.artifact": kind,
                     "source": "cp-child degraded"})
    df = pd.concat([kv, normal, pd.DataFrame(rows)], ignore_index=True)
    manifest = Manifest(df, root, name="kvasir+cp-child")
    groups = df["patient"].astype(str) + "|" + df["source"].str.split(" ").str[0]
    uniq = groups.unique()
    test_groups = set(rng.choice(uniq, int(round(0.3 * len(uniq))), replace=False))
    is_test = groups.isin(test_groups)
    log(f"real frames: {kv['image'].nunique()} Kvasir-SEG tumors, {len(normal)} CP-CHILD normals, {len(rows)} "
        f"CP-CHILD frames degraded into unclear (derived, not real unclear frames); 70/30 split by image group")
    return manifest.subset(~is_test), manifest.subset(is_test), manifest


def source_cue(manifest) -> dict:
    """How well the field-of-view mask's shape alone (16 x 16) tells Kvasir-SEG from CP-CHILD (5-fold CV)."""
    import cv2
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from explainendo.io.image import largest_bright_region, read_image

    X, y = [], []
    for image, rows in manifest.iter_images():
        frame = read_image(manifest.path(image))
        mask = largest_bright_region(frame.max(axis=2), 20)
        mask = np.ones(frame.shape[:2], bool) if mask is None else mask
        X.append(cv2.resize(mask.astype(np.float32), (16, 16), interpolation=cv2.INTER_AREA).ravel())
        y.append(str(rows["source"].iloc[0]).startswith("kvasir"))
    scores = cross_val_score(LogisticRegression(max_iter=2000), np.array(X), np.array(y), cv=5)
    majority = max(np.mean(y), 1 - np.mean(y))
    return {"accuracy": float(scores.mean()), "sd": float(scores.std(ddof=1)), "majority": float(majority)}


def _timed(run) -> tuple[float, float, object]:
    """``(wall seconds, CPU seconds of this process, what run returned)``: on a shared machine the CPU time per
    frame is the steadier figure (other jobs stretch the wall clock, not the work)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = run()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def speed_frames(a) -> list:
    """The speed part's stream: colon phantom videos (16 frames each, the scope moving between frames) at 256 px,
    resized to 640 x 480 like a colonoscope's frames."""
    import cv2

    from explainendo.synth import generate

    return [cv2.resize(f, (640, 480)) for f in generate("colon", a.speed_frames, seed=a.seed + 7, size=256).images]


def handcrafted_threads(model, frames) -> dict:
    """The hybrid's handcrafted features of ``frames`` (their field of view), one thread against two:
    ``{threads: (wall ms per frame, CPU ms per frame)}``; {} for a model without them."""
    from explainendo.features import LesionSamples
    from explainendo.handcrafted import HandcraftedFeatures
    from explainendo.handcrafted.runner import build_extractors, run_extractors

    source = next((s for s in getattr(model.predictor_, "sources_", []) if isinstance(s, HandcraftedFeatures)), None)
    if source is None:
        return {}
    params = source.resolved_params()
    samples = LesionSamples.from_images(frames, [b[0] for b in model.localizer_.locate_batch(frames)])
    out = {}
    for threads in (1, 2):
        run = lambda: run_extractors(build_extractors(params), params["preprocess"], samples.crops,  # noqa: E731
                                     colour=params["colour_constancy"], frames=samples.frames, threads=threads)
        run()
        wall, cpu, _ = _timed(run)
        out[threads] = (1000 * wall / len(frames), 1000 * cpu / len(frames))
    return out


def speed(a, model_dir: Path, work: Path) -> dict:
    """Frames per second of a saved ``ColonFrameDetector`` on the 640 x 480 stream, in torch and in onnxruntime
    (a copy of the folder exported with :func:`explainendo.runtime.export_onnx`, loaded with ``runtime="onnx"``):
    ``predict(stream=True)`` at batch 1 and at the model's batch size, ``VideoSession`` without and with box reuse;
    then one explanation per runtime. Every figure of one model comes from this one run (the ratios too)."""
    import os

    import explainendo
    from explainendo.runtime import export_onnx
    from explainendo.video import VideoSession

    frames = speed_frames(a)
    n = len(frames)
    onnx_dir = work / f"{model_dir.name}_onnx"
    t0 = time.perf_counter()
    exported = export_onnx(model_dir, onnx_dir)
    log(f"\n== speed ({model_dir.name}): {n} frames of 640 x 480; exported {len(exported)} network(s) to ONNX in "
        f"{time.perf_counter() - t0:.0f} s (largest difference from torch "
        f"{max((e.max_abs_diff for e in exported), default=float('nan')):.1e}); load average (1 / 5 / 15 min) "
        f"{' / '.join(f'{v:.1f}' for v in os.getloadavg())}")
    out: dict = {"frames": n, "load_before": list(os.getloadavg())}
    labels = {}
    for runtime, folder in (("torch", model_dir), ("onnx", onnx_dir)):
        model = explainendo.load(folder, runtime=runtime)
        batch = model.batch_size
        model.predict(frames[:4])  # warm-up
        rows = {}
        for name, size in (("stream, batch 1", 1), (f"stream, batch {batch}", batch)):
            model.batch_size = size
            wall, cpu, results = _timed(lambda: list(model.predict(iter(frames), stream=True)))
            rows[name] = (wall, cpu)
            labels.setdefault(runtime, [r.label for r in results])
        model.batch_size = batch
        for reuse in (False, True):
            session = VideoSession(model, explain_on_freeze=False, fps=25.0, reuse_box=reuse)
            wall, cpu, run = _timed(lambda: [f.box_reused for f in session.run(frames)])
            rows[f"VideoSession{' + box reuse' if reuse else ''}"] = (wall, cpu)
        result = model.predict(frames[0], keep_frames=True)[0]
        model.explain(result)  # warm-up: the SHAP explainer is built on the first call
        wall, cpu, _ = _timed(lambda: model.explain(result))
        out[runtime] = {"fps": {k: n / w for k, (w, c) in rows.items()},
                        "cpu_ms_per_frame": {k: 1000 * c / n for k, (w, c) in rows.items()},
                        "explain_seconds": wall, "explain_cpu_seconds": cpu,
                        "box_reused": int(sum(run))}
        for k, (w, c) in rows.items():
            log(f"   {runtime:<5} {k:<26}: {n / w:5.1f} frames/s ({1000 * w / n:6.1f} ms/frame wall, "
                f"{1000 * c / n:6.1f} ms CPU)")
        log(f"   {runtime:<5} one explanation: {wall:.3f} s ({cpu:.3f} s CPU); box reused on {int(sum(run))} of {n}")
    hand = handcrafted_threads(model, frames[:16])
    if hand:
        out["handcrafted_ms_per_frame"] = hand
        log("   the frame-quality + colour features alone, 16 frames: " + "; ".join(
            f"{t} thread(s) {w:.1f} ms/frame wall, {c:.1f} ms CPU" for t, (w, c) in hand.items())
            + " (EXPLAINENDO_HANDCRAFTED_THREADS)")
    same = float(np.mean([x == y for x, y in zip(labels["torch"], labels["onnx"])]))
    best = max(out["onnx"]["fps"].values())
    for key in out["torch"]["fps"]:
        log(f"   onnxruntime / torch, {key}: {out['onnx']['fps'][key] / out['torch']['fps'][key]:.2f}x")
    log(f"   explanation onnxruntime / torch: {out['onnx']['explain_seconds'] / out['torch']['explain_seconds']:.2f}x; "
        f"same frame label in both runtimes on {same:.3f} of the frames; fastest path {best:.1f} frames/s (goal >= 25: "
        f"{'met' if best >= 25 else 'not met'}); load average after {os.getloadavg()[0]:.1f}")
    out.update({"same_label": same, "best_fps": best, "load_after": list(os.getloadavg())})
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="phantoms,real,speed")
    ap.add_argument("--approaches", default="hybrid,cnn,detector", help="which of the three to train and test")
    ap.add_argument("--n", type=int, default=1200, help="colon phantom frames")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames-per-video", type=int, default=16)
    ap.add_argument("--loc-size", type=int, default=192)
    ap.add_argument("--loc-epochs", type=int, default=20)
    ap.add_argument("--cnn-size", type=int, default=160)
    ap.add_argument("--cnn-epochs", type=int, default=12)
    ap.add_argument("--speed-frames", type=int, default=120)
    ap.add_argument("--speed-models", default="",
                    help="speed: saved ColonFrameDetector folders (comma-separated) instead of --out's phantoms models")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--quick", action="store_true", help="small sets and few epochs (a smoke run)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "colon"))
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.size, a.loc_size, a.loc_epochs, a.cnn_size, a.cnn_epochs, a.speed_frames = 240, 128, 96, 3, 64, 2, 24

    from explainendo.bench import machine_description, run_header

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    log(run_header())
    work = Path(tempfile.mkdtemp(prefix="explainendo-colon-"))
    parts = a.parts.split(",")
    report: dict = {"machine": machine_description(), "args": vars(a)}
    if "phantoms" in parts:
        train, test = phantom_sets(a, work)
        report["phantoms"] = run_models(a, "phantoms", train, test, out)
    if "real" in parts:
        train, test, everything = real_sets(a, work, Path(a.data))
        cue = source_cue(everything)
        log(f"source-only cue: the field-of-view mask alone tells Kvasir-SEG from CP-CHILD with accuracy "
            f"{cue['accuracy']:.3f} ± {cue['sd']:.3f} (5-fold CV; majority class {cue['majority']:.3f})")
        report["real"] = {"source_cue": cue, **run_models(a, "real", train, test, out)}
    if "speed" in parts:
        report["speed"] = {}
        dirs = ([Path(d) for d in a.speed_models.split(",")] if a.speed_models else
                [out / f"phantoms_{approach}_model" for approach in a.approaches.split(",")])
        for model_dir in dirs:
            if not model_dir.is_dir():
                log(f"speed: no {model_dir} (run --parts phantoms first, or name saved models with --speed-models)")
                continue
            report["speed"][model_dir.name] = speed(a, model_dir, work)
    (out / "colon.json").write_text(json.dumps(report, indent=2, default=str))
    log(f"wrote {out / 'colon.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
