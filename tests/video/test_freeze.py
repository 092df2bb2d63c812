"""FreezeDetector: known spans found to within a frame or two, no false freeze on live noise, the online states."""

import math

import cv2
import numpy as np
import pytest
from sklearn.base import clone

from explainendo.errors import ConfigError
from explainendo.io import Frame
from explainendo.synth.clips import make_clip
from explainendo.video import (FrameSpan, FreezeDetector, detect_freezes, difference_trace, freeze_difference,
                               frozen_mask, spans_from_mask)


def _texture(size=64, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 2.0)


def _close(found, truth, tol=2):
    return len(found) == len(truth) and all(abs(f.start - t.start) <= tol and abs(f.end - t.end) <= tol
                                            for f, t in zip(found, truth))


def test_the_measure_by_hand():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    b[0, 0] = 100  # one pixel of 16 changes by 100 grey levels
    assert freeze_difference(a, b, size=None, trim=0.0) == pytest.approx(100 / 16)
    assert freeze_difference(a, b, size=None, trim=0.1) == 0.0  # int(16 * 0.1) = 1 largest difference dropped
    c = a + 3
    assert freeze_difference(a, c, size=None, trim=0.1) == pytest.approx(3.0)
    # area averaging to the working size: a 2-px checkerboard shift averages out at half the size
    board = (np.indices((8, 8)).sum(axis=0) % 2 * 200).astype(np.uint8)
    assert freeze_difference(board, 200 - board, size=None, trim=0.0) == pytest.approx(200.0)
    assert freeze_difference(board, 200 - board, size=4, trim=0.0) == pytest.approx(0.0)
    assert freeze_difference(np.zeros((8, 8), np.uint8), np.zeros((6, 8), np.uint8)) == math.inf


@pytest.mark.parametrize("clock", [False, True])
def test_known_spans_on_a_tiny_clip(clock):
    clip = make_clip(_texture(), (20, 20, 44, 44), seed=3, size=32, approach_frames=10, hold_frames=8,
                     frozen_frames=[15, 12], resume_frames=12, clock=clock)
    assert clip.frozen_spans == [FrameSpan(18, 33), FrameSpan(41, 53)]
    assert _close(detect_freezes(clip.frames), clip.frozen_spans)


def test_known_spans_with_a_clock_and_recompression():
    clip = make_clip(_texture(128, seed=1), (40, 40, 90, 90), seed=0, size=128, approach_frames=10,
                     hold_frames=8, frozen_frames=[15, 12], resume_frames=12, clock=True, compression=(85, 95))
    assert not np.array_equal(clip.frames[20], clip.frames[21])  # frozen, but not pixel-identical
    assert _close(detect_freezes(clip.frames), clip.frozen_spans)


def test_no_false_freeze_on_a_live_clip_with_only_noise():
    base = _texture(32).astype(float)
    rng = np.random.default_rng(0)
    for sigma in (1.0, 2.0):  # a perfectly still scope: sensor noise is all that changes
        frames = [np.clip(np.rint(base + rng.normal(0, sigma, base.shape)), 0, 255).astype(np.uint8)
                  for _ in range(60)]
        assert detect_freezes(frames) == []
    live = make_clip(_texture(), seed=5, size=32, approach_frames=10, hold_frames=0, frozen_frames=0,
                     resume_frames=50)
    assert live.frozen_spans == [] and detect_freezes(live.frames) == []


def test_online_states_say_when_a_freeze_starts_and_ends():
    live = [_texture(24, seed=s) for s in range(4)]
    still = _texture(24, seed=9)
    frames = live[:2] + [still] * 6 + live[2:]  # frames 2..7 frozen
    det = FreezeDetector(min_frames=4)
    states = [det.update(f, timestamp=i / 25) for i, f in enumerate(frames)]
    assert [s.frozen for s in states] == [False] * 5 + [True] * 3 + [False] * 2
    started = [s.index for s in states if s.started]
    assert started == [5]  # confirmed on the 4th frame of the span (min_frames), once
    assert states[5].start_index == 2 and states[5].start_time == pytest.approx(2 / 25)
    assert states[5].span == FrameSpan(2, 6)
    assert states[8].ended and states[8].span == FrameSpan(2, 8) and not states[9].ended
    assert math.isnan(states[0].difference) and states[3].difference == 0.0
    # a run one frame shorter than min_frames is no freeze
    assert detect_freezes(live[:2] + [still] * 3 + live[2:], FreezeDetector(min_frames=4)) == []
    # reset() starts a new video: indices from 0, nothing remembered
    det.reset()
    assert det.update(still).index == 0 and not det.update(still).frozen


def test_frames_timestamps_unreadable_frames_and_min_seconds():
    still, other = _texture(24, seed=1), _texture(24, seed=2)
    frames = [Frame("v#0", other, index=0, timestamp=0.0)]
    frames += [Frame(f"v#{i}", still, index=i, timestamp=i * 0.1) for i in range(1, 5)]
    frames += [Frame("v#5", None, error="cannot decode", index=5, timestamp=0.5)]
    frames += [Frame(f"v#{i}", still, index=i, timestamp=i * 0.1) for i in range(6, 12)]
    frames += [Frame("v#12", other, index=12, timestamp=1.2)]
    assert detect_freezes(frames, FreezeDetector(min_frames=3)) == [FrameSpan(1, 12)]  # the broken frame breaks nothing
    # min_seconds: the run from t=0.1 must cover 0.6 s, so it is confirmed at frame 7, not 3
    det = FreezeDetector(min_frames=2, min_seconds=0.6)
    states = [det.update(f) for f in frames]
    assert [s.index for s in states if s.started] == [7]
    with pytest.raises(ConfigError, match="timestamp"):
        FreezeDetector(min_seconds=0.5).update(still)
    assert detect_freezes([other] + [still] * 20, FreezeDetector(min_frames=2, min_seconds=0.5), fps=10) == \
        [FrameSpan(1, 21)]


def test_a_clock_in_a_corner_does_not_break_a_freeze():
    still = _texture(48, seed=4)
    frames = [_texture(48, seed=7)]
    for i in range(20):
        f = still.copy()
        f[40:46, 36:46] = 255 if i % 2 else 0  # a digit flipping in the lower right corner: 2.6% of the frame
        frames.append(f)
    assert detect_freezes(frames) == [FrameSpan(1, 21)]
    assert detect_freezes(frames, FreezeDetector(trim=0.0)) == []  # without the trim the corner breaks it


def test_parameters_estimator_style():
    det = FreezeDetector(threshold=0.5, min_frames=3)
    assert det.get_params()["threshold"] == 0.5 and clone(det).get_params() == det.get_params()
    assert not hasattr(det, "frozen_")  # __init__ only stores
    for bad in ({"threshold": -1}, {"min_frames": 1}, {"size": 4}, {"trim": 0.6}, {"merge_gap": -1},
                {"min_seconds": float("nan")}):
        with pytest.raises(ConfigError):
            FreezeDetector(**bad).reset()
    given = FreezeDetector()
    detect_freezes([_texture(24)] * 10, given)
    assert not hasattr(given, "frozen_")  # detect_freezes runs a copy


def test_masks_and_traces():
    spans = [FrameSpan(2, 5), FrameSpan(7, 8)]
    mask = frozen_mask(spans, 10)
    assert mask.tolist() == [False, False, True, True, True, False, False, True, False, False]
    assert spans_from_mask(mask) == spans and spans_from_mask([]) == []
    trace = difference_trace([_texture(24, seed=1)] * 3 + [_texture(24, seed=2)])
    assert math.isnan(trace[0]) and trace[1] == trace[2] == 0.0 and trace[3] > 1.0
