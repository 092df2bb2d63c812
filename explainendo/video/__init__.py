"""Video in real time: freeze detection, temporal smoothing, the live session and its overlay.

* :class:`FreezeDetector` (``freeze.py``): finds the spans where the endoscopist froze the image (consecutive
  near-identical frames), online (``update(frame, timestamp) -> FreezeState``) or in one go
  (:func:`detect_freezes`).
* :class:`LabelSmoother` (``smoothing.py``): an exponential moving average of the class probabilities with
  hysteresis, so the displayed label does not flicker from frame to frame.
* :class:`VideoSession` (``session.py``): a diagnoser on a video, every frame diagnosed, the full explanation once
  per freeze, optionally in real time (skipping frames to keep up); :class:`VideoSummary` / :func:`summarize`: the
  per-video decision and the freeze spans.
* :class:`Overlay`, :class:`OverlayWriter` (``overlay.py``): the box, the smoothed label, the attribute panel on the
  left, the freeze marker and the explanation drawn on each frame; the annotated mp4.
* :class:`BoxReuse` (``reuse.py``): skip the localizer on frames where the scene has not moved since the last
  localized frame (``VideoSession(model, reuse_box=True)``).
* ``explainendo video MODEL IN.mp4 --out OUT.mp4`` (``cli.py``): all of it from the command line.

What each measures and why its defaults are what they are: ``docs/video.md``. Per-video decisions and video-level
metrics live in :mod:`explainendo.evaluate.video`; generated clips with known frozen spans in
:mod:`explainendo.synth.clips`. Names load on first use (PEP 562), so importing the package costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

#: public name -> submodule that defines it
_EXPORTS = {
    **dict.fromkeys(["FrameSpan", "FreezeDetector", "FreezeState", "detect_freezes", "difference_trace",
                     "freeze_difference", "frozen_mask", "spans_from_mask"], "freeze"),
    **dict.fromkeys(["LabelSmoother", "SmoothedLabel", "smooth_sequence"], "smoothing"),
    **dict.fromkeys(["FreezeReport", "VideoFrame", "VideoSession", "VideoSummary", "summarize"], "session"),
    **dict.fromkeys(["Overlay", "OverlayWriter", "attribute_rows", "top_gradcam"], "overlay"),
    **dict.fromkeys(["BoxReuse", "BoxTracker"], "reuse"),
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from .freeze import (FrameSpan, FreezeDetector, FreezeState, detect_freezes, difference_trace, freeze_difference,
                         frozen_mask, spans_from_mask)
    from .overlay import Overlay, OverlayWriter, attribute_rows, top_gradcam
    from .reuse import BoxReuse, BoxTracker
    from .session import FreezeReport, VideoFrame, VideoSession, VideoSummary, summarize
    from .smoothing import LabelSmoother, SmoothedLabel, smooth_sequence
