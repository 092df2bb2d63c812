"""A 2,000-frame generated video streams through a Diagnoser: every frame answered in order with its index
and timestamp, no frame kept on the results (peak memory is printed by benchmarks/video_stream_memory.py)."""

import gc
import weakref

import cv2
import numpy as np

from explainendo import Diagnoser
from explainendo.localize import WholeFrame

from test_components import Majority
from hybrid_data import make_tiny_phantoms

FRAMES, FPS = 2000, 25.0


def _video(path, frames=FRAMES, size=32):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (size, size))
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    for i in range(frames):
        writer.write(np.roll(base, i % size, axis=1))
    writer.release()
    return path


def test_a_long_video_streams_frame_by_frame_without_keeping_frames(tmp_path):
    train = make_tiny_phantoms(tmp_path / "train", n=20, seed=0)
    model = Diagnoser(localizer=WholeFrame(remove_border=False), predictor=Majority(), batch_size=32).fit(train)
    video = _video(tmp_path / "long.mp4")
    stream = model.predict(video, stream=True)
    assert not isinstance(stream, list)  # an iterator: frames are decoded as they are consumed
    count, last_index, last_time, alive = 0, -1, -1.0, []
    for result in stream:
        assert result.ok and result.frame is None and result.frame_index == last_index + 1
        assert result.timestamp is not None and result.timestamp > last_time
        assert result.image == f"{video}#{result.frame_index}"
        last_index, last_time = result.frame_index, result.timestamp
        if count % 400 == 0:
            alive.append(weakref.ref(result))
        count += 1
    gc.collect()
    assert count == FRAMES and abs(last_time - (FRAMES - 1) / FPS) < 1e-6
    assert all(ref() is None for ref in alive)  # nothing in the engine holds on to earlier results
    kept = model.predict(video, keep_frames=True)[:3]
    assert all(r.frame is not None and r.frame.shape == (32, 32, 3) for r in kept)
