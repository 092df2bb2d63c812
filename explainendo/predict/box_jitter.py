"""Box jitter: the hybrid's fitter also learns from crops of boxes that are off, as a localizer's boxes are.

A hybrid trains on crops of the annotated boxes and predicts on crops of the localizer's boxes, which are a few
percent too small, too large or off centre. Features that read a fixed part of the crop (the EUS wall band, the
posterior band below the cyst) move with such errors, and a fitter that has only seen exact boxes can lean on
them: on EUS look-alike phantoms a regression on the EUS texture suite trained on exact boxes scored 0.775 on
boxes 15% too small and 0.906 on boxes 15% too large, 0.994 on exact ones (``benchmarks/eus_boxes.py``; docs/eus.md).
The remedy is the second stage's usual one in two-stage detection: train on jittered boxes. :class:`BoxJitter` adds ``copies``
copies of the fitter's training lesions, each cut from its frame about a box moved and resized at random, and
read by every fitted source (heads and handcrafted alike):

* size: width and height times ``exp(z * scale)``, one ``z ~ N(0, 1)`` per box (the aspect ratio kept);
* position: the centre moved by ``N(0, shift)`` times the box's width across and its height down;
* the box clipped to the frame; the crop enlarged about it as the real crops are.

The copies of a lesion keep its label and its patient (fold group), so the fitter's grouped CV and the group
selection never validate on a copy of a lesion they trained on, and their held-out folds score the real lesions
only (as for :mod:`~explainendo.predict.interventions`' copies). The column means that fill missing values and
the SHAP background come from the real rows only. The copies need the training frames (``LesionSamples`` built
with frames, as ``from_manifest`` does by default) and no crop-sized masks (a mask cut for one box does not fit
another); the copies are read by the sources that produced the fitter's features, so the stacking must keep the
fitter's lesions out of the supervised sources' training (``HeldOut``, ``InSample``), not ``OutOfFold``, whose
per-fold models are not kept.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..components import Settings, register_component
from ..errors import ConfigError, InvalidBoxError
from ..types import Box


@register_component("box_jitter")
class BoxJitter(Settings):
    """Training copies of the fitter's lesions cut about jittered boxes (module docstring).

    Parameters
    ----------
    scale : the SD of the log of the size factor (0.08: about 68% of the boxes within 8% of the true size); 0-0.5.
    shift : the SD of the centre's move, as a fraction of the box's width (across) and height (down); 0-0.5.
    copies : how many jittered copies of the fitter's lesions are added (an integer >= 1).
    seed : the draws' seed; None: the predictor's ``seed``.
    """

    def __init__(self, scale: float = 0.08, shift: float = 0.04, copies: int = 2, seed: int | None = None):
        self.scale = scale
        self.shift = shift
        self.copies = copies
        self.seed = seed

    def check_params(self) -> "BoxJitter":
        for name in ("scale", "shift"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(value)) or not 0.0 <= float(value) <= 0.5:
                raise ConfigError(f"BoxJitter({name}={value!r}): need a number in [0, 0.5]",
                                  hint="e.g. BoxJitter(scale=0.08, shift=0.04)")
        if self.scale == 0 and self.shift == 0:
            raise ConfigError("BoxJitter(scale=0, shift=0) would add exact copies of the training lesions",
                              hint="give a scale or a shift above 0, or leave box_jitter=None")
        if isinstance(self.copies, bool) or not isinstance(self.copies, (int, np.integer)) or self.copies < 1:
            raise ConfigError(f"BoxJitter(copies={self.copies!r}): need an integer >= 1", hint="e.g. BoxJitter(copies=2)")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))):
            raise ConfigError(f"BoxJitter(seed={self.seed!r}): need None (the predictor's seed) or an integer")
        return self

    def jittered(self, boxes: list[Box], frame_shapes: list[tuple[int, ...]], seed: int
                 ) -> tuple[list[list[Box]], int]:
        """``copies`` lists of boxes, one box per lesion of ``boxes`` (each clipped to its frame of shape
        ``frame_shapes[i]`` = (height, width, ...)), and how many draws left the frame altogether (those copies
        keep the true box). The draws depend on the seed alone, not on the boxes."""
        self.check_params()
        rng = np.random.default_rng(seed if self.seed is None else int(self.seed))
        out, off_frame = [], 0
        for _ in range(int(self.copies)):
            draws = rng.standard_normal((len(boxes), 3))
            copy = []
            for box, shape, z in zip(boxes, frame_shapes, draws):
                moved = self._move(box, shape, z)
                off_frame += moved is None
                copy.append(box if moved is None else moved)
            out.append(copy)
        return out, off_frame

    def _move(self, box: Box, shape: tuple[int, ...], z: np.ndarray) -> Box | None:
        dx, dy = float(z[1]) * float(self.shift) * box.width, float(z[2]) * float(self.shift) * box.height
        grown = box.enlarge(math.exp(float(z[0]) * float(self.scale)))  # about the centre; score and label kept
        moved = replace(grown, x1=grown.x1 + dx, y1=grown.y1 + dy, x2=grown.x2 + dx, y2=grown.y2 + dy)
        try:
            return moved.clip(int(shape[1]), int(shape[0]))
        except InvalidBoxError:  # moved off the frame altogether (only with a large shift)
            return None
