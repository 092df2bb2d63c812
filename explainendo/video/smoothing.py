"""Temporal smoothing of per-frame class probabilities, so the label shown on a live video does not flicker.

A per-frame classifier answers every frame on its own: on a lesion near the decision boundary the label jumps
between classes several times a second, which an endoscopist cannot read. :class:`LabelSmoother` keeps an
exponential moving average (EMA) of the probabilities and changes the displayed label only with hysteresis.

EMA, for each class ``c`` (``p_t`` the frame's probabilities, ``s`` the smoothed ones; the first predicted frame
starts it, ``s_0 = p_0``)::

    s_t(c) = alpha * p_t(c) + (1 - alpha) * s_{t-1}(c)

``alpha`` is the weight of the newest frame: the EMA's time constant is about ``1 / alpha`` frames (alpha 0.3 at
25 fps: ~0.13 s). Hysteresis: the displayed label ``L`` starts as ``argmax s_0`` and changes to the challenger
``c`` (the class with the highest ``s_t`` other than ``L``) only when either

* ``s_t(c) > s_t(L) + margin`` (a clear lead), or
* ``c`` has led ``L`` (``s_t(c) > s_t(L)``, and ``s_t(c) >= threshold`` when a threshold is set) on ``patience``
  consecutive predicted frames (a small but lasting lead).

Frames without a prediction (no lesion found, an unreadable frame: ``None``, an empty dict or all NaN) are handled
by ``missing``: ``"hold"`` keeps ``s`` and ``L`` as they are; ``"decay"`` moves ``s`` towards the uniform
distribution, ``s(c) <- (1 - alpha) s(c) + alpha / k`` (``k`` classes), which keeps the order of the classes,
so ``L`` stays, but shrinks the lead a new frame must overcome. Either way such a frame neither counts towards nor
breaks a challenger's ``patience``. After ``max_missing`` consecutive frames without a prediction the smoother
forgets everything (the lesion has left the view): the label is None until the next prediction starts a new EMA.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, NamedTuple

from sklearn.base import BaseEstimator

from ..errors import ConfigError


class SmoothedLabel(NamedTuple):
    """What :meth:`LabelSmoother.update` returns: the displayed ``label`` (None before any prediction) and the
    smoothed ``probabilities`` (class -> value; empty before any prediction)."""

    label: str | None
    probabilities: dict[str, float]


def _is_missing(probabilities: Mapping[str, float] | None) -> bool:
    if not probabilities:
        return True
    values = [float(v) for v in probabilities.values()]
    finite = [math.isfinite(v) for v in values]
    if any(finite) and not all(finite):
        raise ConfigError(f"class probabilities {dict(probabilities)} mix numbers and NaN",
                          hint="a frame without a prediction passes None (or all NaN)")
    return not any(finite)


class LabelSmoother(BaseEstimator):
    """EMA of class probabilities with a hysteresis on the displayed label (formulas: module docstring).

    Parameters (stored as given; checked on the first :meth:`update` or :meth:`reset`): ``alpha`` in (0, 1],
    ``margin`` >= 0, ``patience`` (frames, >= 1; None: only the margin switches), ``threshold`` (None or a
    probability the challenger must also reach to count a frame of ``patience``), ``missing`` (``"hold"`` or
    ``"decay"``), ``max_missing`` (None or frames >= 1). ``alpha=1, margin=0, patience=None`` shows the raw argmax.

    The classes are those of the first prediction, in its order (ties go to the earlier class); every later
    prediction must name the same classes. State between frames lives in attributes ending in ``_``.
    """

    def __init__(self, alpha: float = 0.3, margin: float = 0.1, patience: int | None = 10,
                 threshold: float | None = None, missing: str = "hold", max_missing: int | None = None):
        self.alpha = alpha
        self.margin = margin
        self.patience = patience
        self.threshold = threshold
        self.missing = missing
        self.max_missing = max_missing

    def check_params(self) -> "LabelSmoother":
        def number(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if not (number(self.alpha) and 0.0 < self.alpha <= 1.0):
            raise ConfigError(f"LabelSmoother(alpha={self.alpha!r}) must lie in (0, 1]",
                              hint="the newest frame's weight; e.g. 0.3")
        if not (number(self.margin) and self.margin >= 0):
            raise ConfigError(f"LabelSmoother(margin={self.margin!r}) must be a number >= 0")
        for name in ("patience", "max_missing"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ConfigError(f"LabelSmoother({name}={v!r}) must be None or an integer >= 1 (frames)")
        if self.threshold is not None and not (number(self.threshold) and 0.0 <= self.threshold <= 1.0):
            raise ConfigError(f"LabelSmoother(threshold={self.threshold!r}) must be None or a probability")
        if self.missing not in ("hold", "decay"):
            raise ConfigError(f"LabelSmoother(missing={self.missing!r}) must be 'hold' or 'decay'")
        return self

    def reset(self) -> "LabelSmoother":
        """Forget every frame (call between videos)."""
        self.check_params()
        self.classes_: list[str] | None = None
        self.smoothed_: dict[str, float] = {}
        self.label_: str | None = None
        self.challenger_: str | None = None
        self.lead_frames_ = 0       # consecutive predicted frames the challenger has led
        self.missing_frames_ = 0    # consecutive frames without a prediction
        self.switches_ = 0          # label changes since the last reset (the first label is not one)
        return self

    def update(self, probabilities: Mapping[str, float] | None) -> SmoothedLabel:
        """Take the next frame's class probabilities (None / empty / all NaN: no prediction); returns
        ``SmoothedLabel(label, smoothed probabilities)``."""
        if not hasattr(self, "smoothed_"):
            self.reset()
        if _is_missing(probabilities):
            return self._missing()
        self.missing_frames_ = 0
        p = {str(k): float(v) for k, v in probabilities.items()}
        if self.classes_ is None:
            self.classes_ = list(p)
            self.smoothed_ = dict(p)
            self.label_ = self._top(self.classes_)
            return self._out()
        if set(p) != set(self.classes_):
            raise ConfigError(f"this frame's classes {sorted(p)} differ from the first frame's {sorted(self.classes_)}",
                              hint="pass every class's probability on every frame, or reset() between videos")
        a = self.alpha
        self.smoothed_ = {c: a * p[c] + (1.0 - a) * self.smoothed_[c] for c in self.classes_}
        self._hysteresis()
        return self._out()

    # ---- helpers -------------------------------------------------------------------------------------------------
    def _top(self, classes: list[str]) -> str:
        return max(classes, key=lambda c: (self.smoothed_[c], -self.classes_.index(c)))

    def _hysteresis(self) -> None:
        current = self.label_
        challenger = self._top([c for c in self.classes_ if c != current]) if len(self.classes_) > 1 else None
        if challenger is None:
            return
        s_new, s_cur = self.smoothed_[challenger], self.smoothed_[current]
        if s_new > s_cur + self.margin:
            self._switch(challenger)
            return
        leads = s_new > s_cur and (self.threshold is None or s_new >= self.threshold)
        if not leads:
            self.challenger_, self.lead_frames_ = None, 0
            return
        self.lead_frames_ = self.lead_frames_ + 1 if challenger == self.challenger_ else 1
        self.challenger_ = challenger
        if self.patience is not None and self.lead_frames_ >= self.patience:
            self._switch(challenger)

    def _switch(self, label: str) -> None:
        self.label_ = label
        self.challenger_, self.lead_frames_ = None, 0
        self.switches_ += 1

    def _missing(self) -> SmoothedLabel:
        self.missing_frames_ += 1
        if self.max_missing is not None and self.missing_frames_ >= self.max_missing:
            switches = self.switches_
            self.reset()
            self.switches_ = switches
            return self._out()
        if self.missing == "decay" and self.classes_:
            k = len(self.classes_)
            a = self.alpha
            self.smoothed_ = {c: (1.0 - a) * v + a / k for c, v in self.smoothed_.items()}
        return self._out()

    def _out(self) -> SmoothedLabel:
        return SmoothedLabel(self.label_, dict(self.smoothed_))


def smooth_sequence(probabilities: Iterable[Mapping[str, float] | None],
                    smoother: LabelSmoother | None = None) -> list[SmoothedLabel]:
    """Smooth a whole sequence with a fresh copy of ``smoother`` (default :class:`LabelSmoother()`; the one passed
    is not changed): one :class:`SmoothedLabel` per frame."""
    from sklearn.base import clone

    s = (LabelSmoother() if smoother is None else clone(smoother)).reset()
    return [s.update(p) for p in probabilities]
