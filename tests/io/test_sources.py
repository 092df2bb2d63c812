import cv2
import numpy as np
import pytest
from PIL import Image

from explainendo.errors import ConfigError
from explainendo.io import Capture
from explainendo.io.sources import is_single_image, iter_frames


def test_batch_with_broken_items_keeps_every_good_one(tmp_path):
    good = []
    for i in range(6):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(np.full((20, 20, 3), i * 10, np.uint8)).save(p)
        good.append(p)
    (tmp_path / "broken.png").write_bytes(b"garbage")
    items = [good[0], tmp_path / "broken.png", np.zeros((20, 20, 3), np.uint8), tmp_path / "missing.png",
             *good[1:], np.full((20, 20), np.nan)]
    frames = list(iter_frames(items))
    assert len(frames) == len(items) == 10
    bad = [f for f in frames if not f.ok]
    assert [f.name for f in bad] == [str(tmp_path / "broken.png"), str(tmp_path / "missing.png"), "array[9]"]
    assert "not found" in bad[1].error and "NaN" in bad[2].error
    assert [f.index for f in frames] == list(range(10))
    assert all(f.image.shape == (20, 20, 3) for f in frames if f.ok)


def test_folder_generator_stack_and_video(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), i, np.uint8)).save(tmp_path / f"{i}.png")
    assert [f.image[0, 0, 0] for f in iter_frames(tmp_path)] == [0, 1, 2]
    gen = (np.full((16, 16, 3), v, np.uint8) for v in (5, 6))
    assert [f.image[0, 0, 0] for f in iter_frames(gen)] == [5, 6]
    assert len(list(iter_frames(np.zeros((4, 16, 16, 3), np.uint8)))) == 4
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (32, 24))
    for v in (10, 120, 240):
        writer.write(np.full((24, 32, 3), v, np.uint8))
    writer.release()
    frames = list(iter_frames(video))
    assert [f.name for f in frames] == [f"{video}#0", f"{video}#1", f"{video}#2"]
    assert abs(int(frames[1].image.mean()) - 120) < 6 and frames[0].image.shape == (24, 32, 3)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not list(iter_frames(empty))[0].ok
    assert is_single_image(tmp_path / "0.png") and not is_single_image(tmp_path) and not is_single_image(video)


def _damaged_mp4(folder, n=60, fps=25):
    """An mp4 (mp4v) of n frames whose bytes at 30% of the file are overwritten: the decoder loses a few frames in
    the middle and recovers at the next key frame."""
    path = folder / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (64, 64))
    for i in range(n):
        frame = np.full((64, 64, 3), (i * 4) % 255, np.uint8)
        frame[10:30, i % 40:(i % 40) + 10] = 255
        writer.write(frame)
    writer.release()
    data = bytearray(path.read_bytes())
    k = int(len(data) * 0.3)
    data[k:k + 400] = bytes((b * 7 + 3) % 256 for b in range(400))
    damaged = folder / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    return path, damaged


def test_a_damaged_frame_in_the_middle_of_a_video_is_reported_and_the_frames_after_it_are_read(tmp_path):
    clean, damaged = _damaged_mp4(tmp_path)
    assert len(list(iter_frames(clean))) == 60 and all(f.ok for f in iter_frames(clean))
    frames = list(iter_frames(damaged))
    assert len(frames) == 60 and [f.index for f in frames] == list(range(60))
    bad = [f for f in frames if not f.ok]
    assert 1 <= len(bad) <= 10 and all(10 < f.index < 50 for f in bad)  # in the middle, not at the end
    assert "could not be decoded" in bad[0].error and "damaged.mp4" in bad[0].error
    assert sum(f.ok for f in frames[bad[-1].index + 1:]) == 60 - bad[-1].index - 1  # everything after it is read
    assert frames[-1].timestamp == pytest.approx(59 / 25)


def test_a_capture_reads_a_live_source_with_clock_timestamps(tmp_path):
    clean, _ = _damaged_mp4(tmp_path)
    ticks = iter(np.arange(100.0, 200.0, 0.04))  # a fake monotonic clock: 40 ms per read
    frames = list(iter_frames(Capture(str(clean), max_frames=12, clock=lambda: next(ticks))))
    assert len(frames) == 12 and all(f.ok for f in frames)
    assert [f.name for f in frames[:2]] == [f"capture:{clean}#0", f"capture:{clean}#1"]
    assert [round(f.timestamp, 6) for f in frames[:3]] == [0.0, 0.04, 0.08]
    assert len(list(iter_frames(Capture(str(clean))))) == 60  # to its end without max_frames


def test_an_absent_device_is_one_error_frame_and_bad_settings_are_config_errors():
    for source in (Capture(63), 63):  # a bare index is a capture device
        frames = list(iter_frames(source))
        assert len(frames) == 1 and not frames[0].ok and "cannot open the capture device" in frames[0].error
    assert not is_single_image(0)
    for bad in (dict(source=-1), dict(source=True), dict(source=""), dict(source=0, max_frames=0),
                dict(source=0, max_failures=0), dict(source=0, clock=3)):
        with pytest.raises(ConfigError, match="Capture"):
            Capture(**bad)
