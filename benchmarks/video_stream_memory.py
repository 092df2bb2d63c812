"""Memory while a diagnoser streams a long video: flat with ``stream=True``, growing when every frame is kept.

    python benchmarks/video_stream_memory.py            # a generated 2,000-frame video (256 x 256, 25 fps)
    python benchmarks/video_stream_memory.py --quick    # 400 frames

A Diagnoser (whole-frame localizer, hybrid predictor on the six handcrafted features, trained on 48 gastric
phantoms) reads the video frame by frame. The script prints the process's resident memory (RSS, psutil)
every 10% of the frames for three ways of consuming the results, measured in the same run:

* ``predict(video, stream=True)``, each result dropped after use: memory must stay flat;
* ``predict(video)``: the list of results (no pixels) grows by a few kilobytes per frame;
* ``predict(video, keep_frames=True)``: every frame's pixels are kept, ~196 KB per frame at 256 x 256.

Goal: with ``stream=True`` the RSS after the last frame is within 5% of the RSS after the first 10%.
Nothing is asserted: the figures are printed with the machine named.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import tempfile
import time
from pathlib import Path


def make_video(path: Path, frames: int, size: int = 256, fps: float = 25.0, seed: int = 0) -> Path:
    """``frames`` frames cycling through 40 gastric phantoms, each shifted by a frame-dependent offset."""
    import cv2
    import numpy as np

    from explainendo.synth import generate

    images = [np.asarray(im) for im in generate("gastric", 40, seed=seed, size=size).images]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    for i in range(frames):
        frame = np.roll(images[i % len(images)], shift=(i % 7, i % 5), axis=(0, 1))
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return path


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def consume(model, video: Path, frames: int, how: str) -> list[tuple[int, float]]:
    gc.collect()
    marks = {int(frames * k / 10) for k in range(1, 11)}
    trace = []
    if how == "stream":
        for i, result in enumerate(model.predict(video, stream=True), 1):
            del result
            if i in marks:
                trace.append((i, rss_mb()))
        return trace
    results = model.predict(video, keep_frames=(how == "keep_frames"))
    trace.append((len(results), rss_mb()))
    del results
    gc.collect()
    return trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 frames instead of 2,000")
    parser.add_argument("--frames", type=int, default=None)
    args = parser.parse_args()
    frames = args.frames or (400 if args.quick else 2000)

    from explainendo import Diagnoser, HybridPredictor, InSample
    from explainendo.handcrafted import HandcraftedFeatures
    from explainendo.localize import WholeFrame
    from explainendo.synth import make_phantoms

    root = Path(tempfile.mkdtemp(prefix="explainendo-video-"))
    train = make_phantoms("gastric", 48, root / "train", seed=1, size=128)
    model = Diagnoser(localizer=WholeFrame(remove_border=False),
                      predictor=HybridPredictor([HandcraftedFeatures()], fitter="logistic_regression",
                                                stacking=InSample(), positive_label="neoplastic")).fit(train)
    video = make_video(root / "video.mp4", frames)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}; "
          f"video: {frames} frames, 256 x 256, {video.stat().st_size / 2**20:.1f} MB on disk")
    print(f"RSS after training: {rss_mb():.0f} MB")
    start = time.perf_counter()
    stream = consume(model, video, frames, "stream")
    seconds = time.perf_counter() - start
    print(f"stream=True ({frames / seconds:.0f} frames/s): " + ", ".join(f"{i}: {m:.0f} MB" for i, m in stream))
    first, last = stream[0][1], stream[-1][1]
    print(f"  RSS after the last frame / after the first 10%: {last / first:.3f} (goal <= 1.05)")
    listed = consume(model, video, frames, "list")
    print(f"predict(video) list of {listed[0][0]} results: {listed[0][1]:.0f} MB")
    kept = consume(model, video, frames, "keep_frames")
    print(f"predict(video, keep_frames=True): {kept[0][1]:.0f} MB "
          f"({(kept[0][1] - last):.0f} MB more than streaming; the frames themselves are "
          f"{frames * 256 * 256 * 3 / 2**20:.0f} MB)")


if __name__ == "__main__":
    main()
