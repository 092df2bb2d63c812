"""Freeze detection: when did the endoscopist freeze the image?

To look closely at a lesion the endoscopist presses *freeze*: the processor then shows the same frame until the
button is pressed again. ENDOANGEL-ED runs its full explanation at that moment. In a recorded or live video a
frozen span is a run of frames that repeat one picture, while live frames always change a little (sensor noise,
hand tremor, breathing, peristalsis). A freeze is not always pixel-identical: the recorder's compression
re-encodes the repeated picture with slightly different artefacts, and the processor may print a running clock
or timer in a corner of an otherwise frozen screen.

The measure. For two frames ``a`` and ``b``, with ``G`` the frame's luma (ITU-R BT.601 grey, as
``cv2.COLOR_RGB2GRAY``) area-averaged to at most ``size`` (default 24) pixels on its longer side::

    D(a, b) = 1/|K| * sum_{p in K} |G_a(p) - G_b(p)|          (grey levels, 0-255)

where ``K`` is the ``1 - trim`` fraction of the pixels with the *smallest* differences: the largest ``trim``
(default 5%) of the differences are dropped, so a clock, a timer or a text overlay that changes in a corner of a
frozen screen does not count, while a camera motion or sensor noise, which change the whole picture, do. The
area averaging is a low-pass filter: compression noise (8 x 8 blocks, edges) and sensor noise are fine-grained
and average out, while even a sub-pixel tremor of the scope shifts the coarse picture and survives. It also makes
the measure independent of the video's resolution (the same field of view gives the same ``G``) and cheap (a
24 x 24 grey image per frame). On a large frame the sensor noise averages out entirely, so motion carries the
signal: a perfectly still scope over perfectly still mucosa would read as frozen (on screen it would look
frozen too). A wide black surround of the field of view dilutes ``D`` by its share of the frame; crop it first
when it covers much of the frame.

The decision. A frame is *still* when ``D <= threshold`` (default 0.3 grey level). A run starts at frame
``j - 1`` when frame ``j`` is still against frame ``j - 1``; later frames stay in the run while they are still
against the run's first frame (the *anchor*), so a slow drift, whose consecutive differences are each small,
breaks the run once it has moved the picture. The run is a freeze once it holds ``min_frames`` frames (and, when
``min_seconds`` is set, covers that many seconds); the freeze ends at the first frame that is not still against
the anchor. The span is reported from the anchor, the first frozen frame (the picture the endoscopist chose),
even though the detector can only confirm it ``min_frames - 1`` frames later.

Spans are half-open frame-index ranges, ``FrameSpan(start, end)`` = frames ``start .. end - 1`` as in
``range(start, end)``. Defaults and their measured precision / recall on generated clips:
``docs/video.md``, ``benchmarks/freeze.py``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, NamedTuple, Sequence

import numpy as np
from sklearn.base import BaseEstimator

from ..errors import ConfigError


class FrameSpan(NamedTuple):
    """Frames ``start .. end - 1`` of a video (half-open, as ``range(start, end)``)."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class FreezeState:
    """What :meth:`FreezeDetector.update` says of one frame.

    ``frozen``: the frame belongs to a confirmed frozen span. ``started``: this is the frame at which the span was
    confirmed (True once per span: the moment to run the full explanation; the picture is the span's first frame,
    ``start_index``). ``ended``: this frame is the first live frame after a span (``frozen`` is False). While
    ``frozen`` or ``ended``, ``start_index`` / ``start_time`` give the span's first frame; else they are None.
    ``difference``: the measure ``D`` this frame was judged by (against the anchor, or the previous frame when no
    run is open); NaN for the first frame and for an unreadable one.
    """

    index: int
    timestamp: float | None
    frozen: bool
    started: bool = False
    ended: bool = False
    start_index: int | None = None
    start_time: float | None = None
    difference: float = math.nan

    @property
    def span(self) -> FrameSpan | None:
        """The span so far (frozen: up to and including this frame) or the span that just ended; else None."""
        if self.frozen:
            return FrameSpan(self.start_index, self.index + 1)
        if self.ended:
            return FrameSpan(self.start_index, self.index)
        return None


# ---- the measure ------------------------------------------------------------------------------------------------
def working_grey(image: Any, size: int | None = 24) -> np.ndarray:
    """``G``: the frame's luma (BT.601) as float32, area-averaged to at most ``size`` pixels on its longer side."""
    import cv2

    arr = np.asarray(image)
    if arr.dtype == np.uint8 and arr.ndim == 2:
        grey = arr
    else:
        from ..io.image import as_rgb_uint8

        grey = cv2.cvtColor(as_rgb_uint8(arr), cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    if size is not None and max(h, w) > size:
        scale = size / max(h, w)
        grey = cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return grey.astype(np.float32)


def trimmed_difference(grey_a: np.ndarray, grey_b: np.ndarray, trim: float = 0.05) -> float:
    """``D`` of two working grey images: the mean absolute difference without the largest ``trim`` fraction."""
    if grey_a.shape != grey_b.shape:
        return math.inf  # the resolution changed: a cut, never a freeze
    d = np.abs(grey_a - grey_b).ravel()
    keep = d.size - int(d.size * trim)
    if keep < d.size:
        d = np.partition(d, keep - 1)[:keep]
    return float(d.mean())


def freeze_difference(a: Any, b: Any, *, size: int | None = 24, trim: float = 0.05) -> float:
    """``D(a, b)`` of two frames (RGB or grey arrays; see the module docstring for the formula)."""
    return trimmed_difference(working_grey(a, size), working_grey(b, size), trim)


# ---- the online detector -------------------------------------------------------------------------------------------
class FreezeDetector(BaseEstimator):
    """Online freeze detector: feed it frames in order, it says for each whether the image is frozen.

    Parameters (stored as given; checked on the first :meth:`update` or :meth:`reset`):

    * ``threshold``: largest ``D`` (grey levels) at which a frame counts as still against the anchor. On generated
      clips of 128 and 256 px (:mod:`explainendo.synth.clips`, seed 0) frozen frames, recompressed and with a
      clock, stayed at D <= 0.22 against their anchor, while live frames reached D >= 0.37 within 8 frames of
      any anchor; 0.3 lies between (``docs/video.md``). Calibrate it on your recordings with
      :func:`difference_trace`.
    * ``min_frames``: frames a run must hold (its first frame included) to be a freeze; at least 2. Shorter still
      runs (a scope resting for a moment, a dropped and repeated frame) are not freezes. The default 8 is a third
      of a second at 25 fps; a freeze to look at a lesion lasts seconds.
    * ``min_seconds``: optionally also the duration the run must cover (frame-rate independent), measured by the
      timestamps as ``t_now - t_start``; a frame without a timestamp is then an error.
    * ``size``: the longer side of the working grey image (None: the full frame).
    * ``trim``: the fraction of largest pixel differences ignored (a clock or overlay), in [0, 0.5).
    * ``merge_gap``: a freeze confirmed on a run that starts at most this many frames after the previous freeze
      ended continues that freeze (same ``start_index``, no second ``started``); None: never. The default 0 merges
      only a run starting on the very frame that ended the freeze: a video codec re-encoding the frozen picture at
      a key frame makes one jump, after which the picture is still again.

    ``update(frame, timestamp=None)`` takes an RGB (or grey) array or an :class:`~explainendo.io.Frame` (its
    ``index`` and ``timestamp`` are used); an unreadable frame (None, or a ``Frame`` with ``error``) changes
    nothing: a run neither grows nor breaks on it, and its state repeats the current ``frozen``. Frame indices
    count from 0 at the last :meth:`reset` unless the frames carry their own. State between frames lives in
    attributes ending in ``_``; :meth:`reset` clears them for a new video.
    """

    def __init__(self, threshold: float = 0.3, min_frames: int = 8, min_seconds: float | None = None,
                 size: int | None = 24, trim: float = 0.05, merge_gap: int | None = 0):
        self.threshold = threshold
        self.min_frames = min_frames
        self.min_seconds = min_seconds
        self.size = size
        self.trim = trim
        self.merge_gap = merge_gap

    # ---- parameters and state ---------------------------------------------------------------------------------
    def check_params(self) -> "FreezeDetector":
        t = self.threshold
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not (math.isfinite(t) and t >= 0):
            raise ConfigError(f"FreezeDetector(threshold={t!r}) must be a finite number >= 0 (grey levels)",
                              hint="e.g. threshold=0.3")
        if not isinstance(self.min_frames, (int, np.integer)) or isinstance(self.min_frames, bool) \
                or self.min_frames < 2:
            raise ConfigError(f"FreezeDetector(min_frames={self.min_frames!r}) must be an integer >= 2",
                              hint="a freeze repeats a frame at least once; e.g. min_frames=5")
        s = self.min_seconds
        if s is not None and (not isinstance(s, (int, float)) or isinstance(s, bool)
                              or not (math.isfinite(s) and s >= 0)):
            raise ConfigError(f"FreezeDetector(min_seconds={s!r}) must be None or a number >= 0")
        if self.size is not None and (not isinstance(self.size, (int, np.integer)) or self.size < 8):
            raise ConfigError(f"FreezeDetector(size={self.size!r}) must be None or an integer >= 8 (pixels)",
                              hint="e.g. size=24")
        if self.merge_gap is not None and (not isinstance(self.merge_gap, (int, np.integer))
                                           or isinstance(self.merge_gap, bool) or self.merge_gap < 0):
            raise ConfigError(f"FreezeDetector(merge_gap={self.merge_gap!r}) must be None or an integer >= 0")
        if not isinstance(self.trim, (int, float)) or not 0.0 <= self.trim < 0.5:
            raise ConfigError(f"FreezeDetector(trim={self.trim!r}) must lie in [0, 0.5)",
                              hint="the share of pixels a clock or overlay may cover, e.g. 0.05")
        return self

    def reset(self) -> "FreezeDetector":
        """Forget every frame seen (call between videos)."""
        self.check_params()
        self.previous_ = None       # working grey image of the last readable frame
        self.previous_index_ = -1
        self.previous_time_ = None
        self.anchor_ = None         # working grey image of the open run's first frame (None: no run)
        self.run_start_ = None      # (index, timestamp) of the run's first frame
        self.run_length_ = 0        # readable frames in the run, its first included
        self.frozen_ = False
        self.last_freeze_ = None    # (start index, start time, end index) of the last freeze that ended
        self.next_index_ = 0
        return self

    # ---- one frame ---------------------------------------------------------------------------------------------
    def update(self, frame: Any, timestamp: float | None = None, index: int | None = None) -> FreezeState:
        """Judge the next frame of the stream (see the class docstring)."""
        if not hasattr(self, "next_index_"):
            self.reset()
        image = frame
        if hasattr(frame, "image") and hasattr(frame, "error"):  # an io.Frame
            image = None if frame.error is not None else frame.image
            index = frame.index if index is None else index
            timestamp = frame.timestamp if timestamp is None else timestamp
        index = self.next_index_ if index is None else int(index)
        self.next_index_ = index + 1
        if image is None:
            return self._state(index, timestamp, math.nan)
        if self.min_seconds is not None and timestamp is None:
            raise ConfigError(f"frame {index} has no timestamp, but FreezeDetector(min_seconds={self.min_seconds}) "
                              "measures a freeze's duration by the timestamps",
                              hint="pass update(frame, timestamp=...) (detect_freezes: fps=...) or use min_frames")
        grey = working_grey(image, self.size)
        was_frozen = self.frozen_
        if self.anchor_ is not None:
            difference = trimmed_difference(grey, self.anchor_, self.trim)
            if difference <= self.threshold:
                self.run_length_ += 1
            else:  # the run (and any freeze) ends here
                ended_start = self.run_start_
                self._close_run()
                if was_frozen:
                    self.last_freeze_ = (ended_start[0], ended_start[1], index)
                    self._remember(grey, index, timestamp)
                    return FreezeState(index, timestamp, False, ended=True, start_index=ended_start[0],
                                       start_time=ended_start[1], difference=difference)
                difference = self._maybe_open_run(grey, index, timestamp)
        elif self.previous_ is not None:
            difference = self._maybe_open_run(grey, index, timestamp)
        else:
            difference = math.nan
        started = False
        if self.anchor_ is not None and not self.frozen_ and self._long_enough(timestamp):
            self.frozen_ = started = True
            last = self.last_freeze_
            if last is not None and self.merge_gap is not None and self.run_start_[0] - last[2] <= self.merge_gap:
                self.run_start_ = (last[0], last[1])  # the same freeze, after a one-frame jump
                started = False
        self._remember(grey, index, timestamp)
        return self._state(index, timestamp, difference, started)

    # ---- helpers ---------------------------------------------------------------------------------------------------
    def _maybe_open_run(self, grey: np.ndarray, index: int, timestamp: float | None) -> float:
        """Compare with the previous frame; a still frame opens a run anchored there."""
        if self.previous_ is None:
            return math.nan
        difference = trimmed_difference(grey, self.previous_, self.trim)
        if difference <= self.threshold:
            self.anchor_ = self.previous_
            self.run_start_ = (self.previous_index_, self.previous_time_)
            self.run_length_ = 2
        return difference

    def _long_enough(self, timestamp: float | None) -> bool:
        if self.run_length_ < self.min_frames:
            return False
        if self.min_seconds is None:
            return True
        start_time = self.run_start_[1]
        return start_time is not None and timestamp is not None and timestamp - start_time >= self.min_seconds

    def _close_run(self) -> None:
        self.anchor_ = None
        self.run_start_ = None
        self.run_length_ = 0
        self.frozen_ = False

    def _remember(self, grey: np.ndarray, index: int, timestamp: float | None) -> None:
        self.previous_, self.previous_index_, self.previous_time_ = grey, index, timestamp

    def _state(self, index: int, timestamp: float | None, difference: float, started: bool = False) -> FreezeState:
        if self.frozen_:
            return FreezeState(index, timestamp, True, started=started, start_index=self.run_start_[0],
                               start_time=self.run_start_[1], difference=difference)
        return FreezeState(index, timestamp, False, difference=difference)


# ---- whole videos ----------------------------------------------------------------------------------------------
def _frames(source: Any, fps: float | None) -> Iterator[tuple[Any, float | None, int]]:
    """``(image or Frame, timestamp, index)`` for every frame of ``source``."""
    if isinstance(source, (str, os.PathLike)):
        from ..io.sources import iter_frames

        for frame in iter_frames(source):
            yield frame, frame.timestamp, frame.index
        return
    for i, item in enumerate(source):  # a (T, H, W[, 3]) array, a list of arrays or of io.Frame
        if hasattr(item, "image") and hasattr(item, "error"):
            yield item, item.timestamp if item.timestamp is not None else (None if fps is None else i / fps), i
        else:
            yield item, None if fps is None else i / fps, i


def detect_freezes(frames_or_video: Any, detector: FreezeDetector | None = None, *,
                   fps: float | None = None) -> list[FrameSpan]:
    """The frozen spans of a whole video: a path (read with :func:`~explainendo.io.iter_frames`), a ``(T, H, W, 3)``
    array, or an iterable of arrays or :class:`~explainendo.io.Frame`.

    Runs a fresh copy of ``detector`` (default :class:`FreezeDetector()`; the one passed is not changed) over the
    frames; a span still open at the last frame ends there. ``fps`` gives arrays their timestamps (needed only with
    ``min_seconds``). Returns ``FrameSpan(start, end)`` (half-open) in order.
    """
    from sklearn.base import clone

    det = (FreezeDetector() if detector is None else clone(detector)).reset()
    spans: list[FrameSpan] = []
    state = None

    def add(span: FrameSpan) -> None:
        if spans and spans[-1].start == span.start:  # a freeze continued after merge_gap: one span
            spans[-1] = span
        else:
            spans.append(span)

    for item, timestamp, index in _frames(frames_or_video, fps):
        state = det.update(item, timestamp=timestamp, index=index)
        if state.ended:
            add(state.span)
    if state is not None and state.frozen:
        add(state.span)
    return spans


def difference_trace(frames_or_video: Any, *, size: int | None = 24, trim: float = 0.05,
                     fps: float | None = None) -> np.ndarray:
    """``D`` of every frame against the previous one (NaN for the first and after an unreadable frame), to
    calibrate ``threshold`` on a recording: frozen stretches sit near 0, live ones above; the threshold goes
    between (a freeze is judged against its first frame, so live drift over ``min_frames`` frames helps too)."""
    out, previous = [], None
    for item, _, _ in _frames(frames_or_video, fps):
        image = item.image if hasattr(item, "image") and hasattr(item, "error") else item
        if image is None or getattr(item, "error", None) is not None:
            out.append(math.nan)
            previous = None
            continue
        grey = working_grey(image, size)
        out.append(math.nan if previous is None else trimmed_difference(grey, previous, trim))
        previous = grey
    return np.asarray(out, dtype=float)


def frozen_mask(spans: Iterable[Sequence[int]], n_frames: int) -> np.ndarray:
    """Boolean per-frame mask of half-open ``(start, end)`` spans over ``n_frames`` frames."""
    mask = np.zeros(int(n_frames), dtype=bool)
    for start, end in spans:
        mask[max(int(start), 0):max(min(int(end), mask.size), 0)] = True
    return mask


def spans_from_mask(mask: Sequence[bool]) -> list[FrameSpan]:
    """The runs of True in a per-frame mask, as half-open :class:`FrameSpan` (inverse of :func:`frozen_mask`)."""
    m = np.asarray(mask, dtype=bool).astype(np.int8)
    edges = np.diff(np.concatenate([[0], m, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [FrameSpan(int(s), int(e)) for s, e in zip(starts, ends)]
