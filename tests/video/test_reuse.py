"""Box reuse (explainendo.video.reuse): the localizer is skipped on a static clip (at most every `every` frames it
runs) and runs again on a moving one; the results on reused boxes match a fresh localization where nothing moved."""

import numpy as np
import pytest

from explainendo.errors import ConfigError
from explainendo.video import BoxReuse, VideoSession, summarize


class CountingLocalizer:
    """Wraps a model's localizer to count the frames it localizes (the localizer stays real)."""

    def __init__(self, model, monkeypatch):
        self.frames = 0
        self.locate_batch = model.localizer_.locate_batch
        monkeypatch.setattr(model.localizer_, "locate_batch", self)

    def __call__(self, images, *args, **kwargs):
        images = list(images)
        self.frames += len(images)
        return self.locate_batch(images, *args, **kwargs)


def _moving(clip, n=30):
    """n frames that pan across the clip's first frame: every frame moved."""
    base = clip.frames[0]
    return np.stack([np.roll(base, 3 * i, axis=1) for i in range(n)])


@pytest.mark.parametrize("realtime", [False, True])
def test_a_static_clip_skips_the_localizer_and_a_moving_one_does_not(video_model, clip, monkeypatch, realtime):
    counter = CountingLocalizer(video_model, monkeypatch)
    static = np.repeat(clip.frames[20:21], 30, axis=0)  # a frozen picture: nothing moves
    session = VideoSession(video_model, reuse_box=BoxReuse(every=10), explain_on_freeze=False, fps=1e-3,
                           realtime=realtime)  # fps 1e-3: no frame is ever stale, real time diagnoses all
    frames = list(session.run(static))
    assert counter.frames == 3  # frames 0, 10, 20: at least every 10 frames
    assert [f.index for f in frames if not f.box_reused] == [0, 10, 20]
    assert all(f.status == "ok" and f.result.box == frames[0].result.box for f in frames)
    plain = list(VideoSession(video_model, explain_on_freeze=False, fps=25).run(static))
    for a, b in zip(frames, plain):  # the reused box is the box: the same diagnosis
        assert a.result.probabilities == pytest.approx(b.result.probabilities, abs=1e-9)

    counter.frames = 0
    moving = list(VideoSession(video_model, reuse_box=True, explain_on_freeze=False, fps=1e-3,
                               realtime=realtime).run(_moving(clip)))
    assert counter.frames == 30 and not any(f.box_reused for f in moving)


def test_reuse_is_counted_reported_and_optional(video_model, clip, monkeypatch):
    counter = CountingLocalizer(video_model, monkeypatch)
    summary = summarize(VideoSession(video_model, reuse_box=True, explain_on_freeze=False, fps=clip.fps)
                        .run(clip.frames))
    reused = summary.n_box_reused
    assert 0 < reused < len(clip) and counter.frames == len(clip) - reused
    assert any("localizer skipped on" in line for line in summary.lines())
    counter.frames = 0
    off = summarize(VideoSession(video_model, explain_on_freeze=False, fps=clip.fps).run(clip.frames))
    assert off.n_box_reused == 0 and counter.frames == len(clip)
    assert not any("localizer skipped" in line for line in off.lines())
    frame = next(iter(VideoSession(video_model, reuse_box=True, fps=clip.fps).run(clip.frames)))
    assert frame.to_dict()["box_reused"] is False and "box_reused" in frame.to_row(["a"])


def test_bad_reuse_settings_are_config_errors(video_model):
    for bad in (BoxReuse(threshold=-1), BoxReuse(every=0), "yes"):
        with pytest.raises(ConfigError, match="reuse_box|BoxReuse"):
            VideoSession(video_model, reuse_box=bad).check_params()
