"""VideoSession on a real tiny gastric model: frame index and timestamp from an mp4, the full explanation exactly
once per frozen span, unreadable frames reported mid-stream, flat memory, the real-time mode's skipping (with an
injected clock) and the per-video decision."""

import json

import numpy as np
import pytest

from explainendo.errors import ConfigError, EvaluationError
from explainendo.video import FreezeDetector, LabelSmoother, VideoSession, VideoSummary, summarize


class CountingExplain:
    """Wraps a model's explain to count its calls (the model stays real)."""

    def __init__(self, model):
        self.explain, self.calls = model.explain, []

    def __call__(self, result, *args, **kwargs):
        self.calls.append(result.frame_index)
        return self.explain(result, *args, **kwargs)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_frame_index_timestamp_and_flat_memory_on_an_mp4(video_model, clip_mp4, clip):
    frames = []
    for frame in VideoSession(video_model, explain_on_freeze=False).run(clip_mp4):
        assert frame.image is not None and frame.image.shape == (64, 64, 3)
        assert all(f.image is None and f.result.frame is None for f in frames)  # past frames hold no pixels
        frames.append(frame)
    assert [f.index for f in frames] == list(range(len(clip)))
    assert [f.timestamp for f in frames] == pytest.approx([i / clip.fps for i in range(len(clip))])
    assert frames[7].result.image == f"{clip_mp4}#7"
    assert all(f.status == "ok" and f.label in ("neoplastic", "non_neoplastic") for f in frames)
    assert frames[-1].image is None  # released once the stream ended
    record = frames[5].to_dict()
    json.dumps(record, allow_nan=False)
    assert record["index"] == 5 and record["timestamp"] == pytest.approx(0.2) and record["explanation"] is None
    assert set(record["smoothed_probabilities"]) == {"neoplastic", "non_neoplastic"}


def test_the_explanation_runs_exactly_once_per_frozen_span(video_model, clip, monkeypatch):
    counter = CountingExplain(video_model)
    monkeypatch.setattr(video_model, "explain", counter)
    detector = FreezeDetector()
    session = VideoSession(video_model, freeze=detector, fps=clip.fps)
    summary = VideoSummary("clip", classes=session.classes, truth="neoplastic")
    frames = [summary.add(f) for f in session.run(clip.frames)]
    assert not hasattr(detector, "next_index_")  # the session ran a copy: the detector passed is unchanged
    assert summary.spans == clip.frozen_spans  # exact pixel copies: found exactly
    started = [f.index for f in frames if f.freeze.started]
    assert counter.calls == started == [s.start + detector.min_frames - 1 for s in clip.frozen_spans]
    assert [f.index for f in frames if f.explained] == started
    for span in clip.frozen_spans:  # the span's explanation stays on its later frames, and only there
        first = frames[span.start + detector.min_frames - 1].explanation
        assert first is not None and first.group_shap
        assert first.localizer_saliency is None  # the overlay does not draw it: no localizer pass spent on it
        assert all(frames[i].explanation is first for i in range(span.start + detector.min_frames - 1, span.end))
        assert frames[span.end].explanation is None and frames[span.start].explanation is None
    assert frames[started[0]].to_dict()["explanation"] == frames[started[0]].sentences(3)
    assert len(frames[started[0]].sentences(3)) == 3
    assert [f.explained_at for f in summary.freezes] == started
    row = summary.decisions().iloc[0]
    assert row["n_frames"] == len(clip) and row["n_frozen"] == int(clip.frozen.sum()) - 2 * (detector.min_frames - 1)
    assert row["frozen_from"] == "frozen frames" and summary.decision("frozen") in ("neoplastic", "non_neoplastic")
    assert any(line.startswith("decision by frozen") for line in summary.lines())

    counter.calls.clear()
    quiet = list(VideoSession(video_model, explain_on_freeze=False, fps=clip.fps).run(clip.frames))
    assert counter.calls == [] and all(f.explanation is None for f in quiet)
    assert sum(f.freeze.started for f in quiet) == 2


def test_an_unreadable_frame_mid_stream_is_reported_and_the_stream_goes_on(video_model, clip):
    live = list(clip.frames[:14])

    def stream():
        for i, image in enumerate(live):
            if i == 5:
                yield None                                   # a frame the grabber lost
            elif i == 9:
                yield np.zeros((64, 64, 7), np.float32)       # a broken array
            else:
                yield image

    smoother = LabelSmoother(alpha=1.0, margin=0.0, patience=None)
    frames = [(f.to_dict(), f.smoothed, f.status) for f in
              VideoSession(video_model, smoother=smoother, fps=25.0).run(stream())]
    assert len(frames) == 14 and [d["index"] for d, _, _ in frames] == list(range(14))
    statuses = [s for _, _, s in frames]
    assert statuses[5] == statuses[9] == "error" and statuses.count("ok") == 12
    assert frames[5][0]["error"] and frames[9][0]["error"] and frames[5][0]["label"] is None
    assert frames[5][1] == frames[4][1]  # the smoothed label holds over the unreadable frame
    assert frames[6][0]["timestamp"] == pytest.approx(6 / 25.0)
    for record, _, _ in frames:
        json.dumps(record, allow_nan=False)
    # the same in real-time mode (a clock that never moves: nothing is stale)
    realtime = [f.status for f in VideoSession(video_model, realtime=True, fps=25.0, clock=FakeClock(),
                                               explain_on_freeze=False).run(stream())]
    assert realtime == statuses


def test_realtime_skips_stale_frames_by_the_timestamps(video_model, clip):
    clock = FakeClock()
    live = clip.frames[:12]  # no freeze in the first 12 frames
    session = VideoSession(video_model, realtime=True, fps=10.0, clock=clock, explain_on_freeze=False)
    frames, processed = [], []
    last = last_smoothed = None
    for frame in session.run(live):
        frames.append(frame.to_dict())
        if frame.skipped:  # the screen keeps the last diagnosis
            assert frame.held is last and frame.shown is last and frame.status == "skipped"
            assert frame.smoothed == last_smoothed
        else:
            processed.append(frame.index)
            last = frame.result
            clock.now += 0.23  # the model takes 0.23 s a frame; the video gives one every 0.1 s
        last_smoothed = frame.smoothed
    # frame t is skipped when, as it is read, the next one is due already: now >= ts_t + 0.1
    assert processed == [0, 2, 4, 6, 9, 11]
    assert [d["skipped"] for d in frames].count(True) == 6
    assert all(d["probabilities"] == {} and d["label"] is None for d in frames if d["skipped"])


def test_realtime_always_explains_a_freeze(video_model, clip):
    clock = FakeClock()
    summary = VideoSummary()
    for frame in VideoSession(video_model, realtime=True, fps=clip.fps, clock=clock).run(clip.frames):
        summary.add(frame)
        if not frame.skipped:
            clock.now += 1.0  # far slower than the video
        if frame.freeze.started:
            assert not frame.skipped and frame.explained and frame.explanation is not None
    assert summary.n_explained == 2 and summary.spans == clip.frozen_spans
    assert summary.n_skipped >= len(clip) - 6  # the first frame, the two freezes and a catch-up frame or so


def test_parameters_are_checked_when_the_run_starts(video_model, clip):
    session = VideoSession("model.pt")
    assert session.model == "model.pt"  # __init__ only stores
    with pytest.raises(ConfigError, match="must be a Diagnoser"):
        session.run(clip.frames)
    with pytest.raises(ConfigError, match="fps"):
        VideoSession(video_model, fps=0).run(clip.frames)
    with pytest.raises(ConfigError, match="freeze"):
        VideoSession(video_model, freeze=LabelSmoother()).run(clip.frames)
    with pytest.raises(ConfigError, match="no timestamp"):  # real time needs timestamps
        next(VideoSession(video_model, realtime=True).run(clip.frames))
    broken = summarize(VideoSession(video_model, fps=25.0).run([None, None]))
    assert broken.n_frames == broken.n_errors == 2
    with pytest.raises(EvaluationError, match="no frame of the video was diagnosed"):
        broken.decisions()
    assert broken.lines()[1].startswith("no per-video decision")
