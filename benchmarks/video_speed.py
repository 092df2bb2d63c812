"""The per-frame path of a GastricDiagnoser, timed: batching, onnxruntime against torch, box reuse, the explanation
on a frozen frame, the hybrid's explanation against two CNNs with Grad-CAM, and the memory of a long stream.

    python benchmarks/video_speed.py                      # trains a GastricDiagnoser at its default sizes briefly
    python benchmarks/video_speed.py --model models/gastric   # any saved gastric model folder (exported copy made)
    python benchmarks/video_speed.py --quick              # CI smoke run: tiny networks, few frames (not the goal's)

The model (unless ``--model``): ``GastricDiagnoser(seed=0)`` with its default networks and sizes (the soft-mask
U-Net on the ImageNet EfficientNet-Lite0 encoder at 128 px, the seven attribute heads on one ImageNet
EfficientNet-Lite0 at 128 px, the six handcrafted features, the fitter chosen by CV), trained for ``--epochs`` epochs
on ``--n`` gastric phantoms: the networks' sizes, not their training, set the time per frame. Frames are 256 x 256
(the phantoms' size in ``benchmarks/gastric_defaults.py``); the clip is :func:`explainendo.synth.clips.make_clip`
(approach, rest, freeze, resume). Everything below is measured in ONE run on this machine, every ratio from that
run; times are medians of ``--repeats`` passes after a warm-up pass.

1. ``predict`` per frame, batch 1 and ``batch_size`` 16, with the networks in torch and in onnxruntime
   (``explainendo.load(folder, runtime="onnx")`` after ``explainendo export MODEL --onnx``), and where the time goes
   (localizer, heads, handcrafted features, fitter, the OOD flag) at batch 16;
2. ``VideoSession`` on the clip (every frame diagnosed, no explanation), without and with box reuse, torch and
   onnxruntime: frames per second, frames whose box was reused, and how far a reused box lies from the box the
   localizer finds on that frame (IoU) and whether the label changed;
3. the explanation of one frozen frame (``Diagnoser.explain``: SHAP per group + Grad-CAM of every head), split
   into SHAP and Grad-CAM;
4. the same crop explained by the hybrid (features + fitter + SHAP + Grad-CAM), by a pretrained
   EfficientNet-Lite0 classifier with Grad-CAM and by a ResNet-50 (random init: the time is the architecture's) with
   Grad-CAM, both ``CNNClassifier`` at 224 px trained one epoch for the purpose and exported like the hybrid's
   networks; each in torch and in onnxruntime (Grad-CAM: the feature map from the graph, the gradient in torch);
5. peak memory (RSS) of a streamed ``VideoSession`` (onnxruntime, box reuse, an explanation per freeze) over
   1,000 and 10,000 generated frames, each in a fresh process (the peak: ``VmHWM`` of /proc/self/status, else
   ``resource.getrusage``; psutil for the RSS after the first 10% of the frames and at the end).

Goals (the video issue): GastricDiagnoser >= 25 frames per second on 2 cores at its default sizes; the
explanation of a frozen frame <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FRAME_SIZE = 256


# ---- the model -----------------------------------------------------------------------------------------------------
def train_model(work: Path, n: int, epochs: int, quick: bool, seed: int = 0) -> Path:
    """A GastricDiagnoser at its default sizes (``quick``: tiny networks), trained briefly, saved in work/model."""
    from explainendo import GastricDiagnoser
    from explainendo.io.splits import train_val_test_split
    from explainendo.localize import UNetTraining
    from explainendo.synth import generate
    from explainendo.systems.gastric import gastric_heads, gastric_localizer, gastric_predictor
    from explainendo.training import Training

    phantoms = generate("gastric", n, seed=seed, size=FRAME_SIZE, images_per_patient=2)
    manifest = phantoms.write(work / "phantoms")
    train = train_val_test_split(manifest, val=0.0, test=0.25, seed=seed)["train"]
    if quick:
        localizer = gastric_localizer(seed, encoder="vgg", image_size=64, base_channels=8,
                                      training=UNetTraining(epochs=epochs, batch_size=16))
        heads = gastric_heads(seed, image_size=64, training=Training(epochs=epochs, batch_size=32))
    else:  # the default networks and sizes; only the number of epochs is cut
        localizer = gastric_localizer(seed, training=UNetTraining(epochs=epochs, batch_size=16))
        heads = gastric_heads(seed, training=Training(epochs=epochs, batch_size=32, patience=None))
    model = GastricDiagnoser(localizer=localizer, predictor=gastric_predictor(heads=heads, seed=seed), seed=seed)
    start = time.perf_counter()
    model.fit(train)
    print(f"trained on {len(train)} phantoms ({epochs} epoch(s) per network) in {time.perf_counter() - start:.0f} s")
    return model.save(work / "model")


def describe(model) -> str:
    loc, heads = model.localizer_, model.predictor_.sources_[0]
    return (f"localizer {type(loc).__name__}({getattr(loc, 'encoder', '?')}, {getattr(loc, 'image_size', '?')} px), "
            f"heads {heads.backbone} at {heads.image_size} px ({len(heads.trained_attributes_)} heads), "
            f"{model.predictor_.describe()}, batch_size {model.batch_size}")


# ---- frames ----------------------------------------------------------------------------------------------------------
def phantom_frames(n: int, seed: int = 11):
    import numpy as np

    from explainendo.synth import generate

    return [np.asarray(im) for im in generate("gastric", n, seed=seed, size=FRAME_SIZE).images]


def the_clip(seed: int = 5, quick: bool = False):
    from explainendo.synth import generate
    from explainendo.synth.clips import make_clip

    phantom = generate("gastric", 1, seed=seed, size=FRAME_SIZE)
    box = phantom.table.loc[0, ["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)
    lengths = (dict(approach_frames=8, hold_frames=6, frozen_frames=[10], resume_frames=8) if quick else
               dict(approach_frames=30, hold_frames=20, frozen_frames=[25, 25], resume_frames=20))
    return make_clip(phantom.images[0], box, seed=seed, size=FRAME_SIZE, fps=25.0, **lengths)


# ---- timing helpers --------------------------------------------------------------------------------------------------
def median_seconds(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_frame_predict(model, frames, batch_size: int, repeats: int) -> float:
    """Median ms per frame of ``model.predict(frames)`` with ``batch_size`` frames per engine batch."""
    model.batch_size = batch_size
    return 1000 * median_seconds(lambda: model.predict(frames), repeats) / len(frames)


def stage_breakdown(model, frames, repeats: int) -> dict[str, float]:
    """ms per frame of each stage at one engine batch of ``len(frames)`` frames."""
    from explainendo.features import LesionSamples

    boxes = [max(b, key=lambda x: x.score) for b in model.localizer_.locate_batch(frames)]
    samples = LesionSamples.from_images(frames, boxes, enlarge=model.enlarge)
    heads, handcrafted = model.predictor_.sources_[:2]
    features = model.predictor_.features(samples)
    n = len(frames)
    times = {"localizer": 1000 * median_seconds(lambda: model.localizer_.locate_batch(frames), repeats) / n,
             "crops": 1000 * median_seconds(lambda: LesionSamples.from_images(frames, boxes), repeats) / n,
             "heads": 1000 * median_seconds(lambda: heads.transform(samples), repeats) / n,
             "handcrafted": 1000 * median_seconds(lambda: handcrafted.transform(samples), repeats) / n,
             "fitter": 1000 * median_seconds(lambda: model.predictor_.predict_proba_features(features), repeats) / n}
    ood = getattr(model, "ood_", None)
    if ood is not None:  # the default OOD flag: statistics + one embedding pass over the batch's crops and frames
        times["ood"] = 1000 * median_seconds(lambda: ood.score(samples, features, frames), repeats) / n
    return times


def run_session(model, frames, reuse: bool):
    from explainendo.video import VideoSession

    session = VideoSession(model, explain_on_freeze=False, fps=25.0, reuse_box=reuse)
    start = time.perf_counter()
    out = [(f.result.box, f.result.label, f.box_reused) for f in session.run(frames)]
    return time.perf_counter() - start, out


def iou(a, b) -> float:
    if a is None or b is None:
        return float("nan")
    return a.iou(b)


# ---- the CNN comparison --------------------------------------------------------------------------------------------
def cnn_contenders(backbone: str, pretrained, samples, folder: Path, size: int = 224):
    """A CNNClassifier (``backbone`` at ``size`` px, one epoch on ``samples``) saved as a model folder, exported to
    ONNX and loaded twice: (torch predictor, onnxruntime predictor)."""
    import warnings

    import explainendo
    from explainendo import CNNClassifier, Diagnoser
    from explainendo.heads import AttributeHeads
    from explainendo.runtime import export_onnx
    from explainendo.training import Training

    network = AttributeHeads(backbone=backbone, pretrained=pretrained, image_size=size,
                             training=Training(epochs=1, batch_size=16, patience=None))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Diagnoser(predictor=CNNClassifier(network=network)).fit(samples).save(folder)
    export_onnx(folder)
    return explainendo.load(folder).predictor_, explainendo.load(folder, runtime="onnx").predictor_


# ---- memory of a long stream (a child process per length) ------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident memory: ``VmHWM`` of /proc/self/status (the peak of this program's own memory;
    ``getrusage``'s ``ru_maxrss`` would also count the parent's pages that the child had mapped before ``exec``),
    else ``resource.getrusage``."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(model_dir: str, frames: int, quick: bool) -> dict:
    """Stream ``frames`` generated frames through VideoSession (onnxruntime, box reuse, explanation per freeze)."""
    import psutil

    import explainendo
    from explainendo.video import VideoSession

    clip = the_clip(quick=quick)
    model = explainendo.load(model_dir, runtime="onnx")

    def generated():
        for i in range(frames):
            yield clip.frames[i % len(clip.frames)]

    process = psutil.Process()
    mark = max(1, frames // 10)
    early = None
    explained = reused = 0
    start = time.perf_counter()
    for k, frame in enumerate(VideoSession(model, fps=25.0, reuse_box=True).run(generated()), 1):
        explained += frame.explained
        reused += frame.box_reused
        if k == mark:
            early = process.memory_info().rss
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "peak_mb": peak_rss_mb(), "rss_10pct_mb": early / 2**20,
            "rss_end_mb": process.memory_info().rss / 2**20, "explained": explained, "reused": reused}


def measure_rss(model_dir: Path, frames: int, quick: bool) -> dict:
    command = [sys.executable, __file__, "--rss-child", str(frames), "--model", str(model_dir)] + \
        (["--quick"] if quick else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- main --------------------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="a saved gastric model folder (default: train one)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny networks, few frames")
    parser.add_argument("--n", type=int, default=320, help="phantoms to train the model on")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per network when training the model")
    parser.add_argument("--frames", type=int, default=48, help="frames per predict pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss-frames", default="1000,10000", help="stream lengths for the memory test")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temporary one)")
    parser.add_argument("--rss-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child is not None:
        print(json.dumps(rss_child(str(args.model), args.rss_child, args.quick)))
        return

    import numpy as np

    import explainendo
    from explainendo.bench import run_header
    from explainendo.runtime import export_onnx

    print(run_header())
    print(f"load average at the start (1 / 5 / 15 min): {' / '.join(f'{v:.1f}' for v in os.getloadavg())} "
          f"(other processes share the cores when it is above 0)")
    work = Path(args.out or tempfile.mkdtemp(prefix="video_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    n_frames, repeats = (16, 1) if args.quick else (args.frames, args.repeats)
    rss_lengths = [100, 400] if args.quick else [int(v) for v in args.rss_frames.split(",") if v]
    if args.model is None:
        model_dir = train_model(work, 96 if args.quick else args.n, 1 if args.quick else args.epochs, args.quick)
        folder = model_dir
    else:
        model_dir = args.model
        folder = work / "model"  # an exported copy: the folder given is not changed
    start = time.perf_counter()
    exported = export_onnx(model_dir, None if folder == model_dir else folder)
    print(f"ONNX export ({time.perf_counter() - start:.0f} s): " + "; ".join(
        f"{e.path} {e.bytes / 2**20:.1f} MB, largest difference from torch {e.max_abs_diff:.1e}" for e in exported))
    torch_model = explainendo.load(folder)
    onnx_model = explainendo.load(folder, runtime="onnx")
    print(f"model: {describe(torch_model)}; frames {FRAME_SIZE} x {FRAME_SIZE}")

    # 1. predict per frame
    frames = phantom_frames(n_frames)
    print(f"\n1. predict, ms per frame (median of {repeats} passes over {len(frames)} frames; fps in brackets)")
    table = {}
    for name, model in (("torch", torch_model), ("onnxruntime", onnx_model)):
        for batch in (1, 16):
            table[name, batch] = per_frame_predict(model, frames, batch, repeats)
    for name in ("torch", "onnxruntime"):
        print(f"   {name:<12} batch 1: {table[name, 1]:6.1f} ms ({1000 / table[name, 1]:5.1f} fps)   "
              f"batch 16: {table[name, 16]:6.1f} ms ({1000 / table[name, 16]:5.1f} fps)")
    print(f"   onnxruntime / torch time: batch 1 {table['onnxruntime', 1] / table['torch', 1]:.2f}, "
          f"batch 16 {table['onnxruntime', 16] / table['torch', 16]:.2f}; batch 16 / batch 1 (onnxruntime) "
          f"{table['onnxruntime', 16] / table['onnxruntime', 1]:.2f}")
    for name, model in (("torch", torch_model), ("onnxruntime", onnx_model)):
        stages = stage_breakdown(model, frames[:16], repeats)
        print(f"   where the time goes at batch 16, {name}: " +
              ", ".join(f"{k} {v:.1f} ms" for k, v in stages.items()))
    onnx_model.batch_size = torch_model.batch_size = 16

    # 2. the session on the clip
    clip = the_clip(quick=args.quick)
    print(f"\n2. VideoSession on a generated clip ({len(clip)} frames, {FRAME_SIZE} px, {len(clip.frozen_spans)} "
          f"freeze(s); no explanation)")
    runs = {}
    for name, model in (("torch", torch_model), ("onnxruntime", onnx_model)):
        for reuse in (False, True):
            run_session(model, clip.frames[:16], reuse)  # warm-up
            runs[name, reuse] = run_session(model, clip.frames, reuse)
    fresh = runs["onnxruntime", False][1]
    for name in ("torch", "onnxruntime"):
        for reuse in (False, True):
            seconds, out = runs[name, reuse]
            line = f"   {name:<12} reuse_box={str(reuse):<5}: {len(clip) / seconds:5.1f} fps ({1000 * seconds / len(clip):5.1f} ms/frame)"
            if reuse:
                reused = [i for i, (_, _, r) in enumerate(out) if r]
                ious = [iou(out[i][0], fresh[i][0]) for i in reused]
                same = np.mean([out[i][1] == fresh[i][1] for i in reused]) if reused else float("nan")
                line += (f", {len(reused)} of {len(clip)} frames reused a box (IoU with the localizer's own box: "
                         f"mean {np.nanmean(ious) if reused else float('nan'):.3f}, min "
                         f"{np.nanmin(ious) if reused else float('nan'):.3f}; same label {same:.3f})")
            print(line)
    base = runs["torch", False][0]
    print(f"   speed-up against torch without reuse: onnxruntime {base / runs['onnxruntime', False][0]:.2f}x, "
          f"torch + reuse {base / runs['torch', True][0]:.2f}x, onnxruntime + reuse "
          f"{base / runs['onnxruntime', True][0]:.2f}x")

    # 3. the explanation of a frozen frame
    frozen = clip.frames[clip.frozen_spans[0].start]
    result = onnx_model.predict(frozen, keep_frames=True)[0]
    lesion_samples = None
    if result.no_lesion:
        print("\n3. no lesion found on the frozen frame: explanation not timed")
    else:
        from explainendo.explain.gradcam import source_gradcams
        from explainendo.features import LesionSamples

        # as VideoSession explains a freeze: without the localizer's saliency map (the overlay does not draw it)
        explain_s = median_seconds(lambda: onnx_model.explain(result, localizer_saliency=None), repeats + 2)
        shap_s = median_seconds(lambda: onnx_model.explain(result, gradcam=False, localizer_saliency=None),
                                repeats + 2)
        saliency_s = median_seconds(lambda: onnx_model.explain(result), repeats + 2)
        lesion_samples = LesionSamples.from_images([frozen], [result.box], enlarge=onnx_model.enlarge)
        cam_s = median_seconds(lambda: source_gradcams(onnx_model.predictor_.sources_, lesion_samples), repeats + 2)
        print(f"\n3. explanation of a frozen frame (Diagnoser.explain, median of {repeats + 2}): {1000 * explain_s:.0f} ms "
              f"(without Grad-CAM {1000 * shap_s:.0f} ms; Grad-CAM of every head alone {1000 * cam_s:.0f} ms; with the "
              f"localizer's EigenCAM, Diagnoser.explain's default outside a video session, {1000 * saliency_s:.0f} ms); "
              f"goal <= 100 ms")

    # 4. hybrid vs CNNs with Grad-CAM on the same crop
    if lesion_samples is not None:
        from explainendo.features import LesionSamples
        from explainendo.synth import generate
        from explainendo.types import Box

        phantoms = generate("gastric", 16, seed=21, size=FRAME_SIZE)
        boxes = [Box(*row) for row in phantoms.table[["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)]
        train = LesionSamples.from_images([np.asarray(im) for im in phantoms.images], boxes,
                                          table=phantoms.table.reset_index(drop=True))
        def hybrid_explained(hybrid):
            features = hybrid.features(lesion_samples)
            hybrid.predict_proba_features(features)
            hybrid.explain(lesion_samples, features=features)

        contenders = {"hybrid: heads + handcrafted + fitter + SHAP + Grad-CAM":
                      [lambda m=m: hybrid_explained(m.predictor_) for m in (torch_model, onnx_model)]}
        for label, backbone, pretrained in (("EfficientNet-Lite0 ImageNet 224 px: probabilities + Grad-CAM",
                                             "efficientnet_lite0", True),
                                            ("ResNet-50 (random init) 224 px: probabilities + Grad-CAM",
                                             "resnet50", False)):
            pair = cnn_contenders(backbone, pretrained, train, work / f"cnn_{backbone}")
            contenders[label] = [lambda c=c: c.explain(lesion_samples) for c in pair]
        times = {k: [median_seconds(fn, repeats + 2) for fn in fns] for k, fns in contenders.items()}
        first = next(iter(times.values()))
        print(f"\n4. one crop explained, ms (median of {repeats + 2}; in brackets: the time over the hybrid's in the "
              f"same runtime)")
        print(f"   {'':<64} {'torch':>15} {'onnxruntime':>17}")
        for k, (t, o) in times.items():
            print(f"   {k:<64} {1000 * t:6.0f} ({t / first[0]:5.2f}x) {1000 * o:8.0f} ({o / first[1]:5.2f}x)")

    # 5. memory of a long stream
    print(f"\n5. streamed VideoSession (onnxruntime, box reuse, explanation per freeze), each length in a fresh process")
    found = [measure_rss(folder, n, args.quick) for n in rss_lengths]
    for r in found:
        print(f"   {r['frames']:>6} frames: {r['frames'] / r['seconds']:5.1f} fps, peak RSS {r['peak_mb']:.0f} MB, RSS after "
              f"10% {r['rss_10pct_mb']:.0f} MB, at the end {r['rss_end_mb']:.0f} MB ({r['explained']} freezes explained, "
              f"{r['reused']} boxes reused)")
    if len(found) >= 2:
        print(f"   peak RSS {found[-1]['frames']} / {found[0]['frames']} frames: "
              f"{found[-1]['peak_mb'] / found[0]['peak_mb']:.3f}")
    print(f"\nload average at the end (1 / 5 / 15 min): {' / '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()
