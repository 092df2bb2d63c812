import cv2
import numpy as np
from PIL import Image

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
