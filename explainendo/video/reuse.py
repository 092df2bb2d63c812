"""Box reuse: skip the localizer on frames where the scene has not moved since the last localized frame.

On a live video the scope often rests on a lesion (the endoscopist looks at it, or has frozen the image): the
localizer would find the same box frame after frame. :class:`BoxReuse` (``VideoSession(model, reuse_box=...)``)
runs the localizer on a frame, keeps that frame's 24-px grey picture as the *reference*, and gives the following
frames the reference's boxes without localizing them while

    D(frame, reference) <= threshold     and     frames since the reference < every

``D`` is the freeze detector's measure (:func:`explainendo.video.freeze_difference`: the mean absolute difference of
the 24-px BT.601 grey frames, the largest 5% of the pixel differences left out), measured against the last
*localized* frame, so a slow drift, each step small, still triggers a new localization once it adds up. The
diagnosis (attribute heads, handcrafted features, fitter) runs on every frame, on the reused box; only the
localizer is skipped. A frame that moved (or changed size: ``D`` is then infinite) and, at the latest, every
``every``-th frame is localized again; an unreadable frame changes nothing.

The default ``threshold`` (1.0 grey level) comes from generated clips (:mod:`explainendo.synth.clips`, 12 clips at
192 px, seed 2): against the frame 5 frames back, a resting scope (tremor and sensor noise only) gave D = 0.35-2.3
(5th-95th percentile, median 0.7) and a frozen picture 0-0.9, while the scope closing in on the lesion gave
D = 3.4-17.7 (median 7.3); 1.0 keeps most resting frames and no moving one. ``every`` = 10 frames is 0.4 s at
25 fps: the longest a box is reused. ``benchmarks/video_speed.py`` measures the frames reused, the time saved and how
far the reused boxes lie from the ones the localizer would have found (IoU).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ..errors import ConfigError
from ..types import Box
from .freeze import trimmed_difference, working_grey

LOCATE, REUSE = "locate", "reuse"


class BoxReuse(BaseEstimator):
    """When to reuse the last localized frame's boxes (module docstring).

    * ``threshold``: largest ``D`` (grey levels, the freeze detector's measure) against the last localized frame
      at which its boxes are reused;
    * ``every``: the localizer runs at least once every ``every`` frames (1: on every frame, reuse off);
    * ``size``, ``trim``: the measure's working size and trimmed fraction (as :class:`~explainendo.video.FreezeDetector`).
    """

    def __init__(self, threshold: float = 1.0, every: int = 10, size: int | None = 24, trim: float = 0.05):
        self.threshold = threshold
        self.every = every
        self.size = size
        self.trim = trim

    def check_params(self) -> "BoxReuse":
        t = self.threshold
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not (math.isfinite(t) and t >= 0):
            raise ConfigError(f"BoxReuse(threshold={t!r}) must be a finite number >= 0 (grey levels)",
                              hint="e.g. threshold=1.0")
        if not isinstance(self.every, (int, np.integer)) or isinstance(self.every, bool) or self.every < 1:
            raise ConfigError(f"BoxReuse(every={self.every!r}) must be an integer >= 1 (frames)",
                              hint="e.g. every=10: the localizer runs at least every 10 frames")
        if self.size is not None and (not isinstance(self.size, (int, np.integer)) or self.size < 8):
            raise ConfigError(f"BoxReuse(size={self.size!r}) must be None or an integer >= 8 (pixels)")
        if not isinstance(self.trim, (int, float)) or not 0.0 <= self.trim < 0.5:
            raise ConfigError(f"BoxReuse(trim={self.trim!r}) must lie in [0, 0.5)")
        return self

    def tracker(self) -> "BoxTracker":
        """A fresh per-video state (the reference frame, its boxes, the frames since)."""
        return BoxTracker(self.check_params())


class BoxTracker:
    """The state of :class:`BoxReuse` over one video: ``decide(image)`` says whether a frame is localized or reuses
    the reference's boxes; ``located(boxes)`` records the boxes the localizer found on the last frame it was told to
    localize. ``n_located`` / ``n_reused`` count the decisions."""

    def __init__(self, policy: BoxReuse):
        self.policy = policy
        self.reference: np.ndarray | None = None
        self.boxes: list[Box] | None = None
        self.since = 0
        self.n_located = self.n_reused = 0
        self.last_difference = math.nan

    def decide(self, image: Any) -> str | None:
        """``"locate"`` or ``"reuse"`` for a readable frame (the frame becomes the reference when localized);
        None for an unreadable one (``image`` None), which changes nothing."""
        if image is None:
            return None
        grey = working_grey(image, self.policy.size)
        self.last_difference = math.nan
        if self.reference is not None and self.since + 1 < self.policy.every:
            self.last_difference = trimmed_difference(grey, self.reference, self.policy.trim)
            if self.last_difference <= self.policy.threshold:
                self.since += 1
                self.n_reused += 1
                return REUSE
        self.reference, self.since = grey, 0  # its boxes: located(), once the localizer has run on it
        self.n_located += 1
        return LOCATE

    def located(self, boxes: list[Box]) -> None:
        self.boxes = list(boxes)
