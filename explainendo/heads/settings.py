"""The attribute heads' strategy objects: how crops are augmented, how the heads' losses are weighted, and
how unlabelled lesions are used. Each is a small component (clones, YAML, saved with the heads), so
``AttributeHeads`` takes one object per idea instead of a flag per setting; the optimisation settings are
:class:`explainendo.training.Training`, shared with every other trained network.
"""

from __future__ import annotations

from ..components import Settings, register_component
from ..errors import ConfigError


@register_component("augment")
class Augment(Settings):
    """Training-time augmentation of the crops (and frames): rotation +-20 deg, shear +-10 deg, scale 0.9-1.1,
    a mild colour jitter (no hue shift, so the tone attribute survives) and, with ``flips``, random horizontal
    and vertical flips of the crops (frames are never flipped: the left and right walls are landmarks). Turn
    ``flips`` off for data where the side the light comes from is a cue."""

    def __init__(self, flips: bool = True):
        self.flips = flips

    def check_params(self) -> "Augment":
        if not isinstance(self.flips, bool):
            raise ConfigError(f"Augment(flips={self.flips!r}): True or False")
        return self

    @property
    def tta_flips(self) -> tuple[tuple[int, ...], ...]:
        """The flips (tensor dims of NCHW) test-time augmentation may average over: those training showed the
        network (both axes with ``flips``, none without)."""
        return ((-1,), (-2,), (-1, -2)) if self.flips else ()

    def apply(self, x, generator, frames: bool = False):
        """Augment one batch: float (N, 3, H, W) in [0, 1], one random draw per image from ``generator``;
        ``frames``: the batch holds whole frames (never flipped). A new augmentation overrides this alone."""
        from .attribute_heads import augment_batch

        return augment_batch(x, generator, flips=self.flips and not frames)


@register_component("head_loss")
class HeadLoss(Settings):
    """How the heads' cross-entropies are weighted. ``class_weight``: ``"balanced"`` (w_c = n / (k n_c) per
    head, scikit-learn's formula) or None. ``balance_heads``: scale each head's loss by log 2 / log k, so a
    26-class head (chance loss log 26) does not outweigh the binary heads (chance loss log 2)."""

    def __init__(self, class_weight: str | None = "balanced", balance_heads: bool = False):
        self.class_weight = class_weight
        self.balance_heads = balance_heads

    def check_params(self) -> "HeadLoss":
        if self.class_weight not in (None, "balanced"):
            raise ConfigError(f"HeadLoss(class_weight={self.class_weight!r})", hint="use 'balanced' or None")
        if not isinstance(self.balance_heads, bool):
            raise ConfigError(f"HeadLoss(balance_heads={self.balance_heads!r}): True or False")
        return self


@register_component("pseudo_label")
class PseudoLabel(Settings):
    """Self-training with confidence-thresholded pseudo-labels (Lee, ICML-W 2013; the threshold as in FixMatch):
    train on the labelled lesions, label the unlabelled crops per head where the top probability is at least
    ``threshold``, then train on both (a head without a confident pseudo-label is masked for that crop)."""

    def __init__(self, threshold: float = 0.9):
        self.threshold = threshold

    def check_params(self) -> "PseudoLabel":
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) \
                or not 0 <= self.threshold <= 1:
            raise ConfigError(f"PseudoLabel(threshold={self.threshold!r}): a probability in [0, 1]")
        return self


@register_component("head_cam")
class HeadCAM(Settings):
    """How the heads' class activation maps are made: ``method`` (a name of
    :data:`explainendo.explain.gradcam.CAM_METHODS`: ``"gradcam"``, ``"gradcam++"``, ``"layercam"``) on the output
    of the backbone stage ``layer``: ``"last"`` (the last feature map, 3x3 at 96 px and 4x4 at 128 px on
    EfficientNet-Lite0), ``"auto"`` (the deepest stage whose map is at least ``AUTO_MIN_GRID`` cells a side at the
    heads' input size: stage 3, stride 8, 12x12 at 96 px and 16x16 at 128 px on EfficientNet-Lite0) or a stage
    index (``.stages``, stem first). A setting of the explanation only: it changes no weight and no probability,
    and can be set on fitted heads (``set_params(cam=...)``).

    The default is Grad-CAM on the last map, the cheapest: an earlier stage's map is back-propagated through the
    stages after it, whose depthwise convolutions are slow to differentiate on a CPU. On gastric phantoms
    ``HeadCAM("layercam", "auto")`` puts more heat on the lesion box (1.62-1.68x its area share against
    1.24-1.27x, the heads' maps as distinct) but costs 25-60 times the default's time for seven heads on 2 CPU
    cores (docs/benchmarks.md, "Grad-CAM that shows something"): a setting for a report, not for the video path."""

    #: "auto": the deepest stage whose feature map has at least this many cells on its shorter side
    AUTO_MIN_GRID = 12

    def __init__(self, method: str = "gradcam", layer: str | int = "last"):
        self.method = method
        self.layer = layer

    def check_params(self) -> "HeadCAM":
        from ..explain.gradcam import CAM_METHODS

        if not isinstance(self.method, str) or self.method not in CAM_METHODS:
            raise ConfigError(f"HeadCAM(method={self.method!r})", hint=f"use one of {CAM_METHODS.list()}")
        if self.layer not in ("auto", "last") and (isinstance(self.layer, bool) or not isinstance(self.layer, int)
                                                   or self.layer < 0):
            raise ConfigError(f"HeadCAM(layer={self.layer!r})",
                              hint="use 'auto', 'last' or a stage index (0 = the stem)")
        return self

    def resolve(self, grids: list[tuple[int, int]]) -> int:
        """The stage index, given each stage's feature-map size (h, w) at the input size."""
        last = len(grids) - 1
        if self.layer == "last":
            return last
        if self.layer == "auto":  # a tiny input whose maps are all smaller: the deepest of the largest maps
            least = min(self.AUTO_MIN_GRID, max(min(h, w) for h, w in grids))
            return [i for i, (h, w) in enumerate(grids) if min(h, w) >= least][-1]
        if self.layer > last:
            raise ConfigError(f"HeadCAM(layer={self.layer}): the backbone has stages 0-{last}",
                              hint="use 'auto', 'last' or a stage index in range")
        return int(self.layer)


#: the semi-supervised methods by name (``semi_supervised="pseudo_label"`` is ``PseudoLabel()``)
SEMI_SUPERVISED = {"pseudo_label": PseudoLabel}


def semi_supervised_method(value) -> PseudoLabel | None:
    """``None``, a :class:`PseudoLabel`, or its name; anything else is a ConfigError (before training)."""
    if value is None:
        return None
    if isinstance(value, str) and value in SEMI_SUPERVISED:
        return SEMI_SUPERVISED[value]()
    if isinstance(value, PseudoLabel):
        return value.check_params()
    raise ConfigError(f"semi_supervised={value!r} is not supported",
                      hint=f"use None, PseudoLabel(threshold=...) or one of {sorted(SEMI_SUPERVISED)}")
