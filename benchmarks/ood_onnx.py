"""What the default OOD flag costs per frame in torch and in onnxruntime: ``OODDetector.score`` of one predict batch
(16 frames and their 16 lesion crops: the image statistics plus one batched EfficientNet-Lite0 forward at 160 px
over the 32 inputs), the same detector loaded from one model folder with ``runtime="torch"`` and ``runtime="onnx"``
(after ``explainendo export MODEL --onnx``).

    python benchmarks/ood_onnx.py            # 100 training phantoms at 192 px, 16 held out, 10 repeats
    python benchmarks/ood_onnx.py --quick    # smoke run: 40 training phantoms, 3 repeats

The model is benchmarks/ood_cost.py's (WholeFrame localizer, handcrafted features and logistic regression: its only
network is the detector's embedding), fitted, saved and exported here; both loaded detectors run in this one
process, with the same thread count (one per core the process may use), each warmed once (the torch one builds its
backbone then) and timed alternately ``--repeats`` times; the median is kept. The embedding alone (``_embed_both``)
is timed the same way, and the largest relative difference of the two runtimes' scores is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ood_cost import model  # noqa: E402  (the same small system as the OOD cost benchmark)

BATCH = 16


def _ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - t0)


def main(argv=None) -> None:
    import numpy as np

    import explainendo
    from explainendo.bench import run_header
    from explainendo.features import LesionSamples
    from explainendo.io.image import read_image
    from explainendo.runtime import export_onnx
    from explainendo.synth import generate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--n", type=int, default=100, help="training phantoms")
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args(argv)
    n, repeats = (40, 3) if args.quick else (args.n, args.repeats)
    print(run_header())
    with tempfile.TemporaryDirectory() as tmp:
        train = generate("gastric", n, seed=0, size=args.size).write(Path(tmp) / "train")
        test = generate("gastric", BATCH, seed=1, size=args.size).write(Path(tmp) / "test")
        folder = model("default").fit(train).save(Path(tmp) / "model")
        export_onnx(folder)
        detectors = {"torch": explainendo.load(folder).ood_, "onnx": explainendo.load(folder, runtime="onnx").ood_}
        names = list(test.images())[:BATCH]
        frames = [read_image(test.path(name)) for name in names]
    samples = LesionSamples.from_images(frames, [test.boxes_for(name)[0] for name in names])
    scores = {name: d.score(samples, None, frames) for name, d in detectors.items()}  # warm-up (builds torch's net)
    assert "_embedding_network" not in detectors["onnx"].__dict__
    diff = max(float(np.max(np.abs(a[0] - b[0]) / np.abs(b[0])))
               for a, b in zip(scores["onnx"], scores["torch"]))
    score_ms = {name: [] for name in detectors}
    embed_ms = {name: [] for name in detectors}
    crops = list(samples.crops)
    for _ in range(repeats):
        for name, d in detectors.items():
            score_ms[name].append(_ms(lambda: d.score(samples, None, frames)))
            embed_ms[name].append(_ms(lambda: d._embed_both(crops, frames)))
    print(f"OODDetector(embedding='efficientnet_lite0', embedding_size=160) of {n} gastric phantoms ({args.size} px); "
          f"score() of {BATCH} frames + {BATCH} crops, median of {repeats}")
    print(f"{'runtime':8s} {'score ms/frame':>15s} {'embedding ms/frame':>19s}")
    per = {name: statistics.median(score_ms[name]) / BATCH for name in detectors}
    for name in detectors:
        print(f"{name:8s} {per[name]:15.1f} {statistics.median(embed_ms[name]) / BATCH:19.1f}")
    print(f"onnx / torch: {per['onnx'] / per['torch']:.2f} (score); largest relative score difference {diff:.1e}")


if __name__ == "__main__":
    main()
