"""A live-video session: every frame diagnosed, the full explanation once per freeze (ENDOANGEL-ED's use).

ENDOANGEL-ED diagnosed every frame of the live video and, when the endoscopist froze the image to look at a lesion,
ran its full explanation (SHAP per feature group, Grad-CAM of the attribute heads) on the frozen picture.
:class:`VideoSession` wires the engine to the video pieces::

    frame -> Diagnoser (fast: boxes, class probabilities, the named features)  -> Result
          -> FreezeDetector.update                                           -> FreezeState
          -> LabelSmoother.update(result.probabilities)                      -> SmoothedLabel
          -> on the frame that confirms a freeze (FreezeState.started): Diagnoser.explain(result)
    = VideoFrame

* **Once per freeze.** The explanation runs only on the frame where a frozen span is confirmed (``started``: once per
  span, ``min_frames - 1`` frames after its first frame; the picture is the same). That frame's ``explained`` is
  True; every later frame of the span carries the same :class:`~explainendo.types.Explanation` (so an overlay can
  keep showing it) until the span ends. An explanation that fails (e.g. no lesion on the frozen picture) is reported
  in ``explain_error``, never retried silently on another frame.
* **Unreadable frames** (a broken frame of a file, ``None`` in an iterator) give a ``Result`` with ``error`` set and
  the stream goes on; they change neither the freeze detector's run nor the smoothed label.
* **Flat memory.** Nothing of past frames is kept: the session holds the freeze detector's 24-px grey anchor, the
  smoother's averages and the current span's explanation. A :class:`VideoFrame`'s pixels (``image``,
  ``result.frame``, and the explanation's ``frame`` and ``crop``) are released when the next frame is requested:
  draw, copy or save a card before that. In the default mode the engine reads ``model.batch_size`` frames at a time.
* **Real time** (``realtime=True``): the session keeps up with the video by skipping frames instead of lagging
  behind. Frame ``t`` (timestamp ``ts_t``) is *stale* when, at the moment it is read, the next frame is already
  due: ``now - t_0 >= (ts_t - ts_0) + (ts_t - ts_{t-1})``, with ``now`` from ``clock`` and ``t_0`` / ``ts_0`` the
  clock and the timestamp of the first frame. A stale frame is not diagnosed (``skipped``: no prediction, the label
  and the boxes of the last diagnosed frame stay on screen, ``held``); the freeze detector still sees every frame
  (it costs well under a millisecond). The frame that confirms a freeze is always diagnosed and explained (the reason
  for the session); the lag it costs is caught up by skipping the frames after it. A session faster than the video
  does not wait: a file is processed as fast as the model goes. Frames need timestamps (a video file has them;
  give ``fps`` for arrays and iterators).
* **Box reuse** (``reuse_box=True`` or a :class:`~explainendo.video.BoxReuse`): the localizer is skipped on a frame
  whose picture differs from the last *localized* frame by at most ``threshold`` (the freeze detector's measure
  ``D``), at most ``every - 1`` frames in a row; such a frame is diagnosed on the last localized frame's boxes
  (``box_reused=True``). The engine still reads ``batch_size`` frames at a time: the session localizes the frames of
  a batch that need it in one call, then diagnoses the whole batch on the given boxes. ``n_box_reused`` in
  :class:`VideoSummary` counts them (:mod:`explainendo.video.reuse`).

Per-video decision: :class:`VideoSummary` (or :func:`summarize`) collects one small row per frame (no pixels) and
gives :func:`~explainendo.evaluate.video.video_decisions`' vote / mean / frozen-frames decisions and the freeze spans.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import ConfigError, EvaluationError, ExplainendoError
from ..types import Explanation, Result
from .freeze import FrameSpan, FreezeDetector, FreezeState
from .smoothing import LabelSmoother, SmoothedLabel

log = logging.getLogger(__name__)

#: ``Result.message`` of a frame skipped in real-time mode
SKIPPED_MESSAGE = "skipped to keep up with the video (real time)"


def _number_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ---- one frame ------------------------------------------------------------------------------------------------
@dataclass
class VideoFrame:
    """What :meth:`VideoSession.run` yields for one frame of the video.

    ``result``: the engine's :class:`~explainendo.types.Result` (a skipped frame: a Result without lesions whose
    ``message`` says so). ``freeze``: the :class:`~explainendo.video.FreezeState`. ``smoothed``: the
    :class:`~explainendo.video.SmoothedLabel` after this frame (a skipped frame keeps the last one).
    ``explanation``: the current frozen span's explanation (from the frame that ran it to the end of the span; None
    elsewhere); ``explained``: True on the one frame where it ran; ``explain_error``: why it could not run.
    ``skipped`` (real-time mode): not diagnosed, to keep up; ``held`` is then the last diagnosed frame's result (what
    a live screen still shows). ``image``: this frame's RGB pixels, released when the next frame is requested.
    ``box_reused`` (``reuse_box``): diagnosed on the last localized frame's boxes, the localizer skipped.
    """

    result: Result
    freeze: FreezeState
    smoothed: SmoothedLabel
    explanation: Explanation | None = None
    explained: bool = False
    explain_error: str | None = None
    skipped: bool = False
    held: Result | None = None
    image: np.ndarray | None = None
    box_reused: bool = False

    # ---- views ----------------------------------------------------------------------------------------------
    @property
    def index(self) -> int:
        return int(self.result.frame_index)

    @property
    def timestamp(self) -> float | None:
        return self.result.timestamp

    @property
    def frozen(self) -> bool:
        return bool(self.freeze.frozen)

    @property
    def error(self) -> str | None:
        return self.result.error

    @property
    def label(self) -> str | None:
        """The smoothed label (what the screen shows)."""
        return self.smoothed.label

    @property
    def shown(self) -> Result | None:
        """The result whose boxes and features the screen shows: this frame's, or the held one when skipped."""
        return self.held if self.skipped else self.result

    @property
    def status(self) -> str:
        """ok | no_lesion | error | skipped."""
        if self.skipped:
            return "skipped"
        if self.result.error:
            return "error"
        return "no_lesion" if self.result.no_lesion or not self.result.lesions else "ok"

    def sentences(self, top: int | None = 3) -> list[str]:
        """The explanation's top group sentences ("tone: reddened (0.83), +0.21"); empty without one."""
        return [] if self.explanation is None else self.explanation.sentences(top)

    def release(self) -> None:
        """Drop this frame's pixels (the session calls it when the next frame is requested)."""
        self.image = None
        self.result.frame = None
        if self.explanation is not None:
            self.explanation.frame = None
            self.explanation.crop = None
            self.explanation.result.frame = None

    # ---- records --------------------------------------------------------------------------------------------
    def to_dict(self, top: int | None = 3) -> dict:
        """JSON-safe record (no pixels, no NaN): index, timestamp, status, the frame's own label, probability and
        class probabilities, the smoothed label and probabilities, the primary box, the freeze, the explanation's
        ``top`` group sentences (None when this frame carries none) and the errors."""
        r = self.result
        return {"index": self.index, "timestamp": _number_or_none(self.timestamp), "image": r.image,
                "status": self.status, "label": r.label, "probability": _number_or_none(r.probability),
                "probabilities": {str(k): _number_or_none(v) for k, v in r.probabilities.items()},
                "smoothed_label": self.smoothed.label,
                "smoothed_probabilities": {str(k): _number_or_none(v) for k, v in self.smoothed.probabilities.items()},
                "box": None if r.box is None else {k: (_number_or_none(v) if isinstance(v, float) else v)
                                                   for k, v in r.box.to_dict().items()},
                "frozen": self.frozen, "freeze_started": bool(self.freeze.started),
                "freeze_start": self.freeze.start_index, "explained": self.explained,
                "explanation": self.sentences(top) if self.explanation is not None else None,
                "explanation_error": self.explain_error, "skipped": self.skipped, "box_reused": self.box_reused,
                "error": r.error}

    def to_row(self, classes: Iterable[str], top: int | None = 3) -> dict:
        """One flat CSV row: :meth:`to_dict` with a ``p_<class>`` and ``smoothed_p_<class>`` column per class,
        the box as ``x1 .. y2`` and the sentences joined by `` | ``; missing values are empty strings."""
        d = self.to_dict(top)
        blank = lambda v: "" if v is None else v  # noqa: E731
        row = {k: blank(d[k]) for k in ("index", "timestamp", "image", "status", "label", "probability")}
        for c in classes:
            row[f"p_{c}"] = blank(d["probabilities"].get(str(c)))
        row["smoothed_label"] = blank(d["smoothed_label"])
        for c in classes:
            row[f"smoothed_p_{c}"] = blank(d["smoothed_probabilities"].get(str(c)))
        box = d["box"] or {}
        row.update({k: blank(box.get(k)) for k in ("x1", "y1", "x2", "y2")})
        row.update(frozen=d["frozen"], freeze_started=d["freeze_started"], explained=d["explained"],
                   explanation=" | ".join(d["explanation"] or []), explanation_error=blank(d["explanation_error"]),
                   skipped=d["skipped"], box_reused=d["box_reused"], error=blank(d["error"]))
        return row


# ---- the session ----------------------------------------------------------------------------------------------
class VideoSession:
    """Diagnose a video frame by frame and explain each freeze once (module docstring).

    Parameters (stored as given; checked when :meth:`run` starts):

    * ``model``: a fitted :class:`~explainendo.engine.Diagnoser` (``explainendo.load(folder)``).
    * ``freeze``: a :class:`~explainendo.video.FreezeDetector` (None: its defaults); a fresh copy runs per video.
    * ``smoother``: a :class:`~explainendo.video.LabelSmoother` (None: its defaults); a fresh copy per video.
    * ``explain_on_freeze``: run the full explanation on the frame that confirms each freeze.
    * ``realtime``: skip stale frames to keep up with the video's timestamps instead of lagging.
    * ``fps``: frame rate for frames without a timestamp (arrays, iterators); video files carry their own.
    * ``clock``: seconds, monotonic (default :func:`time.perf_counter`); read once as each frame arrives in
      real-time mode (inject a fake one to test).
    * ``reuse_box``: None / False (the localizer runs on every frame), True (:class:`~explainendo.video.BoxReuse`
      with its defaults) or a ``BoxReuse``: skip the localizer where the scene has not moved (module docstring).
    """

    def __init__(self, model: Any, freeze: FreezeDetector | None = None, smoother: LabelSmoother | None = None,
                 explain_on_freeze: bool = True, realtime: bool = False, fps: float | None = None,
                 clock: Callable[[], float] | None = None, reuse_box: Any = None):
        self.model = model
        self.freeze = freeze
        self.smoother = smoother
        self.explain_on_freeze = explain_on_freeze
        self.realtime = realtime
        self.fps = fps
        self.clock = clock
        self.reuse_box = reuse_box

    # ---- parameters ----------------------------------------------------------------------------------------
    def check_params(self) -> "VideoSession":
        from sklearn.base import clone

        from ..engine import Diagnoser

        if not isinstance(self.model, Diagnoser):
            raise ConfigError(f"VideoSession(model=...) must be a Diagnoser, got {type(self.model).__name__}",
                              hint="model = explainendo.load('models/gastric')")
        self.model._check_fitted()
        self.model.check_table(None)  # a model that reads per-image table columns cannot run on a video
        if self.freeze is not None and not isinstance(self.freeze, FreezeDetector):
            raise ConfigError(f"VideoSession(freeze=...) must be a FreezeDetector or None, got "
                              f"{type(self.freeze).__name__}")
        if self.smoother is not None and not isinstance(self.smoother, LabelSmoother):
            raise ConfigError(f"VideoSession(smoother=...) must be a LabelSmoother or None, got "
                              f"{type(self.smoother).__name__}")
        for name in ("explain_on_freeze", "realtime"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"VideoSession({name}={getattr(self, name)!r}) must be True or False")
        if self.fps is not None and (not isinstance(self.fps, (int, float)) or isinstance(self.fps, bool)
                                     or not (math.isfinite(self.fps) and self.fps > 0)):
            raise ConfigError(f"VideoSession(fps={self.fps!r}) must be None or a positive number (frames per second)")
        if self.clock is not None and not callable(self.clock):
            raise ConfigError("VideoSession(clock=...) must be a function returning seconds",
                              hint="e.g. time.perf_counter")
        clone(self.freeze or FreezeDetector()).check_params()
        clone(self.smoother or LabelSmoother()).check_params()
        self._box_reuse()
        return self

    def _box_reuse(self):
        """The :class:`~explainendo.video.BoxReuse` in force (checked), or None."""
        from .reuse import BoxReuse

        value = self.reuse_box
        if value is None or value is False or (isinstance(value, np.bool_) and not value):
            return None
        if value is True or isinstance(value, np.bool_):
            return BoxReuse().check_params()
        if not isinstance(value, BoxReuse):
            raise ConfigError(f"VideoSession(reuse_box={value!r}) must be None, True, False or a BoxReuse",
                              hint="e.g. reuse_box=BoxReuse(threshold=1.0, every=10)")
        return value.check_params()

    @property
    def classes(self) -> list[str]:
        """The model's classes (the columns of the per-frame records)."""
        return [str(c) for c in self.model.classes_]

    # ---- running -------------------------------------------------------------------------------------------
    def run(self, source: Any) -> Iterator[VideoFrame]:
        """Yield one :class:`VideoFrame` per frame of ``source`` (a video path, a ``(T, H, W, 3)`` array, a list or
        iterator of frames), in order. Parameters are checked at once; frames are read as they are consumed."""
        from sklearn.base import clone

        self.check_params()
        detector = clone(self.freeze or FreezeDetector()).reset()
        smoother = clone(self.smoother or LabelSmoother()).reset()
        reuse = self._box_reuse()
        tracker = None if reuse is None else reuse.tracker()
        if self.realtime:
            frames = self._realtime(source, detector, tracker)
        elif tracker is not None:
            frames = self._batched_reusing(source, detector, tracker)
        else:
            frames = self._batched(source, detector)
        return self._run(frames, smoother)

    def _run(self, frames: Iterator[tuple[Result, np.ndarray | None, FreezeState, bool, bool]],
             smoother: LabelSmoother) -> Iterator[VideoFrame]:
        smoothed = SmoothedLabel(None, {})
        explanation, span_start = None, None
        held: Result | None = None
        previous: VideoFrame | None = None
        try:
            for result, image, state, skipped, reused in frames:
                if previous is not None:
                    previous.release()  # the consumer has moved on: the last frame's pixels go
                if not skipped:
                    smoothed = smoother.update(result.probabilities or None)
                if not state.frozen or state.start_index != span_start:  # outside the span that was explained
                    explanation, span_start = None, None
                frame = VideoFrame(result=result, freeze=state, smoothed=smoothed, skipped=skipped,
                                   held=held if skipped else None, image=image, box_reused=reused)
                if state.started and self.explain_on_freeze:
                    explanation, frame.explain_error = self._explain(result)
                    span_start, frame.explained = state.start_index, explanation is not None
                frame.explanation = explanation
                if not skipped and not result.error:
                    held = result
                previous = frame
                yield frame
        finally:
            if previous is not None:
                previous.release()

    def _explain(self, result: Result) -> tuple[Explanation | None, str | None]:
        if result.error:
            return None, f"the frozen frame is unreadable: {result.error}"
        if result.no_lesion or not result.lesions:
            return None, "no lesion found on the frozen frame, nothing to explain"
        try:  # the overlay draws the attribute panel and the heads' Grad-CAM, not where the localizer looked: that map
            # (one more localizer pass, ~50 ms in torch at 128 px on 2 cores) is left out of a live freeze's explanation
            return self.model.explain(result, localizer_saliency=None), None
        except ExplainendoError as exc:
            log.warning("frame %s: the explanation failed: %s", result.frame_index, exc)
            return None, str(exc)

    def _timestamp(self, timestamp: float | None, index: int) -> float | None:
        if timestamp is None and self.fps is not None:
            return index / float(self.fps)
        return timestamp

    def _batched(self, source: Any, detector: FreezeDetector):
        """Every frame through the engine's stream (``batch_size`` frames at a time)."""
        for result in self.model.predict(source, stream=True, keep_frames=True):
            result.timestamp = self._timestamp(result.timestamp, result.frame_index)
            image = result.frame
            state = detector.update(image, timestamp=result.timestamp, index=result.frame_index)
            yield result, image, state, False, False

    def _batched_reusing(self, source: Any, detector: FreezeDetector, tracker):
        """:meth:`_batched` with box reuse: per batch of ``batch_size`` frames, the tracker says which frames are
        localized (one localizer call for those) and which reuse the last localized frame's boxes; the batch is
        then diagnosed on the given boxes in one engine call."""
        from ..io.sources import iter_frames

        chunk = []
        for frame in iter_frames(source):
            chunk.append(frame)
            if len(chunk) >= self.model.batch_size:
                yield from self._reusing_chunk(chunk, detector, tracker)
                chunk = []
        if chunk:
            yield from self._reusing_chunk(chunk, detector, tracker)

    def _reusing_chunk(self, chunk, detector: FreezeDetector, tracker):
        from ..io.sources import Frame
        from .reuse import LOCATE, REUSE

        plan = [tracker.decide(frame.image if frame.ok else None) for frame in chunk]
        to_locate = [frame for frame, step in zip(chunk, plan) if step == LOCATE]
        located = iter(self.model._locate(to_locate) if to_locate else ())
        boxes = []
        for step in plan:
            if step == LOCATE:
                tracker.located(next(located))
            boxes.append(None if step is None else list(tracker.boxes))
        # copies: iter_frames renumbers the Frames it is given
        copies = [Frame(f.name, f.image, f.error, 0, f.timestamp) for f in chunk]
        for frame, step, result in zip(chunk, plan, self.model.predict(copies, boxes=boxes, keep_frames=True)):
            result.frame_index = frame.index
            result.timestamp = self._timestamp(frame.timestamp, frame.index)
            image = result.frame
            state = detector.update(image, timestamp=result.timestamp, index=result.frame_index)
            yield result, image, state, False, step == REUSE

    def _realtime(self, source: Any, detector: FreezeDetector, tracker=None):
        """Frame by frame; stale frames are skipped (module docstring: the rule)."""
        from ..io.sources import Frame, iter_frames

        clock = self.clock or time.perf_counter
        start = None  # (clock, timestamp) of the first frame
        last_timestamp = None
        for frame in iter_frames(source):
            timestamp = self._timestamp(frame.timestamp, frame.index)
            if timestamp is None:
                raise ConfigError(f"frame {frame.index} ({frame.name}) has no timestamp, and real-time mode compares "
                                  "the processing time with the frames' timestamps",
                                  hint="pass VideoSession(..., fps=25) for arrays and iterators")
            now = float(clock())
            if start is None:
                start = (now, timestamp)
            period = timestamp - last_timestamp if last_timestamp is not None else None
            last_timestamp = timestamp
            image = frame.image if frame.ok else None
            state = detector.update(image, timestamp=timestamp, index=frame.index)
            stale = period is not None and period > 0 and now - start[0] >= (timestamp - start[1]) + period
            if frame.ok and stale and not state.started:
                result = Result(image=frame.name, frame_index=frame.index, timestamp=timestamp,
                                message=SKIPPED_MESSAGE)
                yield result, image, state, True, False
                continue
            # one frame through the engine; a copy, as iter_frames renumbers the Frames it is given
            one = Frame(frame.name, frame.image, frame.error, 0, timestamp)
            step = None if tracker is None else tracker.decide(image)
            boxes = None
            if step == "locate":
                tracker.located(self.model._locate([one])[0])
            if step is not None:
                boxes = [list(tracker.boxes)]
            result = self.model.predict([one], boxes=boxes, keep_frames=True)[0]
            result.frame_index, result.timestamp = frame.index, timestamp
            yield result, image, state, False, step == "reuse"


# ---- the per-video decision -------------------------------------------------------------------------------------
@dataclass
class FreezeReport:
    """One frozen span of a video as the session saw it: ``span`` (half-open frame indices), its first frame's
    ``start_time`` (seconds), the frame that ``explained`` it (None: not explained) and the ``sentences`` or the
    ``error`` of that explanation."""

    span: FrameSpan
    start_time: float | None = None
    end_time: float | None = None
    explained_at: int | None = None
    sentences: tuple[str, ...] = ()
    error: str | None = None


class VideoSummary:
    """Collects one small row per :class:`VideoFrame` (no pixels) for the per-video decision and the freeze spans.

    ``video``: the video's name in the frames table; ``classes``: the model's classes (default: those of the first
    diagnosed frame); ``truth``: the video's true label, if known (for :func:`~explainendo.evaluate.video_metrics`).
    """

    def __init__(self, video: Any = "video", classes: Iterable[str] | None = None, truth: Any = None,
                 top: int | None = 3):
        self.video = video
        self.classes = None if classes is None else [str(c) for c in classes]
        self.truth = truth
        self.top = top
        self._rows: list[dict] = []
        self._freezes: list[FreezeReport] = []
        self._open: FreezeReport | None = None
        self.n_frames = self.n_errors = self.n_skipped = self.n_no_lesion = self.n_explained = 0
        self.n_box_reused = 0

    def add(self, frame: VideoFrame) -> VideoFrame:
        """Record one frame (returns it, so ``for f in map(summary.add, session.run(video))`` works)."""
        r = frame.result
        if self.classes is None and r.probabilities:
            self.classes = [str(c) for c in r.probabilities]
        row = {"video": self.video, "frame_index": frame.index, "timestamp": frame.timestamp, "label": r.label,
               "frozen": frame.frozen, "skipped": frame.skipped, "error": r.error is not None}
        row.update({f"p_{c}": float(r.probabilities.get(c, np.nan)) if r.probabilities else np.nan
                    for c in (self.classes or [])})
        self._rows.append(row)
        self.n_frames += 1
        self.n_errors += r.error is not None
        self.n_skipped += frame.skipped
        self.n_no_lesion += frame.status == "no_lesion"
        self.n_explained += frame.explained
        self.n_box_reused += bool(getattr(frame, "box_reused", False))
        self._track_freeze(frame)
        return frame

    def _track_freeze(self, frame: VideoFrame) -> None:
        state = frame.freeze
        if state.frozen:
            if self._open is None or self._open.span.start != state.start_index:
                self._close()
                merged = self._freezes and self._freezes[-1].span.start == state.start_index  # merge_gap continued it
                self._open = (self._freezes.pop() if merged else
                              FreezeReport(FrameSpan(state.start_index, state.index + 1), start_time=state.start_time))
            self._open.span = FrameSpan(self._open.span.start, state.index + 1)
            self._open.end_time = frame.timestamp
            if frame.explained:
                self._open.explained_at = frame.index
                self._open.sentences = tuple(frame.sentences(self.top))
            if frame.explain_error:
                self._open.error = frame.explain_error
        elif self._open is not None:
            self._close()

    def _close(self) -> None:
        if self._open is not None:
            self._freezes.append(self._open)
            self._open = None

    @property
    def freezes(self) -> list[FreezeReport]:
        """Every frozen span so far, in order (a span still open ends at the last frame seen)."""
        return self._freezes + ([self._open] if self._open is not None else [])

    @property
    def spans(self) -> list[FrameSpan]:
        return [f.span for f in self.freezes]

    @property
    def frames(self):
        """The frames table of :mod:`explainendo.evaluate.video`: ``video, frame_index, timestamp, label,
        p_<class>`` (NaN without a prediction: no lesion, unreadable, skipped), ``frozen`` [, ``truth``]."""
        import pandas as pd

        table = pd.DataFrame(self._rows)
        if self.classes:
            for c in self.classes:  # rows recorded before the classes were known
                if f"p_{c}" not in table:
                    table[f"p_{c}"] = np.nan
        if self.truth is not None:
            table["truth"] = self.truth
        return table

    def decisions(self, fallback: str | None = "mean"):
        """One row of :func:`~explainendo.evaluate.video.video_decisions` (vote, mean, frozen frames)."""
        from ..evaluate.video import video_decisions

        if not self._rows:
            raise EvaluationError("no frame was recorded", hint="summary.add(frame) for every frame of the video")
        if not self.classes:
            raise EvaluationError("no frame of the video was diagnosed, so there is no decision to take",
                                  hint="check the video (every frame unreadable?) and the model's localizer")
        return video_decisions(self.frames, fallback=fallback)

    def decision(self, method: str = "frozen", fallback: str | None = "mean") -> str | None:
        """The video's label by ``method`` (vote | mean | frozen); None when no frame was diagnosed."""
        row = self.decisions(fallback).iloc[0]
        value = row[method]
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)

    def lines(self) -> list[str]:
        """The report a command line prints: counts, the three decisions, each freeze with its explanation."""
        out = [f"{self.n_frames} frames: {self.n_frames - self.n_errors - self.n_skipped - self.n_no_lesion} "
               f"diagnosed, {self.n_no_lesion} without a lesion, {self.n_errors} unreadable, {self.n_skipped} "
               f"skipped to keep up; {len(self.freezes)} freeze(s), {self.n_explained} explained"]
        if self.n_box_reused:
            out.append(f"localizer skipped on {self.n_box_reused} of {self.n_frames} frames (box reused: the scene "
                       "had not moved)")
        try:
            row = self.decisions().iloc[0]
        except EvaluationError as exc:
            out.append(f"no per-video decision: {exc}")
        else:
            for method in ("frozen", "mean", "vote"):
                label = row[method]
                p = row.get(f"{method}_p_{label}", np.nan) if isinstance(label, str) else np.nan
                extra = f" ({row['frozen_from']})" if method == "frozen" else ""
                out.append(f"decision by {method}: {label if isinstance(label, str) else 'none'}"
                           + (f" (p={p:.3f})" if np.isfinite(p) else "") + extra)
        for f in self.freezes:
            when = (f" ({f.start_time:.2f}-{f.end_time:.2f} s)" if f.start_time is not None and f.end_time is not None
                    else "")
            out.append(f"freeze frames {f.span.start}-{f.span.end - 1}{when}"
                       + (f", explained at frame {f.explained_at}" if f.explained_at is not None else "")
                       + (f": explanation failed: {f.error}" if f.error else ""))
            out.extend(f"    {s}" for s in f.sentences)
        return out


def summarize(frames: Iterable[VideoFrame], video: Any = "video", classes: Iterable[str] | None = None,
              truth: Any = None) -> VideoSummary:
    """A :class:`VideoSummary` of every frame of ``frames`` (e.g. ``session.run(video)``, consumed as it goes)."""
    summary = VideoSummary(video=video, classes=classes, truth=truth)
    for frame in frames:
        summary.add(frame)
    return summary
