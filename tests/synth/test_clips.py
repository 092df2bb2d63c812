"""Generated clips: deterministic for a seed, frozen spans where the phases say, live frames never identical."""

import cv2
import numpy as np
import pytest

from explainendo.errors import ConfigError
from explainendo.io import iter_frames
from explainendo.synth.clips import generate_clips, make_clip
from explainendo.video import FrameSpan, spans_from_mask


def _image(size=64):
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 1.5)


def _clip(**kw):
    opts = dict(seed=1, size=32, approach_frames=6, hold_frames=4, frozen_frames=[8, 5], resume_frames=6)
    return make_clip(_image(), (30, 30, 50, 50), **{**opts, **kw})


def test_a_clip_is_deterministic_for_a_seed():
    a, b, c = _clip(), _clip(), _clip(seed=2)
    assert np.array_equal(a.frames, b.frames) and a.frozen_spans == b.frozen_spans
    assert not np.array_equal(a.frames, c.frames)
    x, y = generate_clips(2, seed=3, size=32, source_size=64), generate_clips(2, seed=3, size=32, source_size=64)
    assert all(np.array_equal(p.frames, q.frames) and p.meta == q.meta for p, q in zip(x, y))
    assert [clip.meta["system"] for clip in x] == ["gastric", "ercp"]
    assert not np.array_equal(x[0].frames[:5], generate_clips(1, seed=4, size=32, source_size=64)[0].frames[:5])


def test_spans_phases_and_frames_agree():
    clip = _clip()
    assert len(clip) == 6 + 4 + 8 + 4 + 5 + 6 and clip.frames.shape == (33, 32, 32, 3)
    assert clip.frozen_spans == [FrameSpan(10, 18), FrameSpan(22, 27)]
    assert spans_from_mask([p == "frozen" for p in clip.phases]) == clip.frozen_spans
    assert clip.frozen.sum() == 13 and clip.timestamps[25] == pytest.approx(1.0)
    for span in clip.frozen_spans:  # a frozen span repeats its first frame exactly
        assert all(np.array_equal(clip.frames[span.start], clip.frames[i]) for i in range(span.start, span.end))
    live = [i for i, p in enumerate(clip.phases) if p != "frozen"]
    assert all(not np.array_equal(clip.frames[i], clip.frames[i - 1]) for i in live[1:])
    assert not np.array_equal(clip.frames[9], clip.frames[10])  # the freeze's first frame is a new live frame
    assert generate_clips(1, seed=0, size=32, source_size=64, design={"freezes": {0: 1.0}})[0].frozen_spans == []


def test_clock_and_compression_make_a_freeze_imperfect():
    clock = _clip(size=64, fps=10.0, frozen_frames=15, clock=True)  # 1.5 s frozen: the seconds digit changes
    span = clock.frozen_spans[0]
    changed = np.any(clock.frames[span.start:span.end] != clock.frames[span.start], axis=(0, 3))
    rows, cols = np.nonzero(changed)
    assert rows.size and rows.min() >= 48 and cols.min() >= 20  # only the lower right corner changes
    jpeg = _clip(size=64, compression=(85, 95))
    span = jpeg.frozen_spans[0]
    diffs = [np.abs(jpeg.frames[i].astype(int) - jpeg.frames[span.start]).mean() for i in range(span.start, span.end)]
    assert 0 < max(diffs) < 3  # compression noise, not a new picture


def test_write_mp4_and_read_back(tmp_path):
    clip = _clip()
    path = clip.write(tmp_path / "clip.mp4")
    frames = list(iter_frames(path))
    assert len(frames) == len(clip) and frames[0].image.shape == (32, 32, 3)
    assert frames[-1].timestamp == pytest.approx(clip.timestamps[-1])


def test_bad_designs():
    with pytest.raises(ConfigError, match="at least 2 frames"):
        _clip(frozen_frames=1)
    with pytest.raises(ConfigError, match="zoom"):
        _clip(zoom=0.5)
    with pytest.raises(ConfigError, match="unknown entries"):
        generate_clips(1, design={"speed": 2})
