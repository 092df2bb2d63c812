"""``ERCPAssistant``: the ERCP system (Kim et al., Sci Rep 2021) on the engine.

Two tasks on a duodenoscope frame:

1. **locate the ampulla** (the major papilla): the paper's soft-mask U-Net. Each training box becomes a Gaussian
   soft mask (centre = the box centroid, SD = half its width / height); the network learns it with binary
   cross-entropy; the prediction, normalised to peak 1, is decoded to the box of the pixels above 0.6 connected
   to the peak (:class:`~explainendo.localize.SoftMaskLocalizer`, one box per frame, always). The paper's encoder
   is an ImageNet VGG; no VGG weights exist offline here, so the default encoder is the ImageNet
   EfficientNet-Lite0 (``ercp_localizer(encoder="vgg")`` trains the paper's VGG from random init).
2. **predict cannulation difficulty**: binary (``label``: easy / difficult = over 5 minutes, an additional
   technique, or failure) and, as the further task ``four_class``, the four classes (``attr.difficulty``: easy /
   over_5_min / additional_technique / failure). ``approach="hybrid"`` (default): the named papilla attributes
   (:data:`~explainendo.specs.ERCP_ATTRIBUTES`: size, protrusion, position, periampullary diverticulum, hooding
   fold) from attribute heads on one shared ImageNet EfficientNet-Lite0, plus the six handcrafted features of the
   ampulla crop, into an interpretable fitter chosen by patient-grouped CV, explained by grouped SHAP ("difficult:
   diverticulum yes +1.2, papilla size small +0.8"); ``approach="cnn"``: the paper's approach, one CNN per task on
   the crop (:class:`~explainendo.predict.CNNClassifier`; the paper's VGG19-BN / ResNet-50 / DenseNet-161
   weights do not exist offline: the ImageNet EfficientNet-Lite0 stands in), explained by Grad-CAM.

``predict`` returns per frame the ampulla box (``result.box``), the binary difficulty (``result.label``,
``result.probabilities``) and the four classes (``result.lesion.tasks["four_class"]``); ``ampulla_masks`` the
predicted soft masks at frame size; ``explain`` SHAP / Grad-CAM of either task with the soft mask as the
localizer's heatmap (``explanation.localizer_map``) and, as for every system, where the localizer looked
(``explanation.localizer_saliency``: EigenCAM of the U-Net's last decoder block by default); the card draws both.

Manifest columns for one's own data (docs/ercp.md): ``image``, ``patient``, the ampulla box ``x1, y1, x2, y2``
(``box_label`` optional), ``label`` (easy / difficult), ``attr.difficulty`` (the four classes, optional) and any
``attr.<papilla attribute>`` that was annotated (a head without labels is left out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..components import register_component
from ..engine import Diagnoser
from ..errors import ConfigError

POSITIVE = "difficult"
FOUR_CLASS = "four_class"
FOUR_CLASS_COLUMN = "attr.difficulty"
APPROACHES = ("hybrid", "cnn")


def ercp_localizer(seed: int = 0, **options):
    """The ampulla localizer: the soft-mask U-Net on the ImageNet EfficientNet-Lite0 encoder at 128 px, one box
    per frame (``multi=False``, ``min_score=0``), 8 epochs in batches of 16; ``options`` override."""
    from ..localize import SoftMaskLocalizer, UNetTraining

    settings = {"encoder": "efficientnet_lite0", "image_size": 128, "multi": False, "min_score": 0.0,
                "training": UNetTraining(epochs=8, batch_size=16), "seed": seed, **options}
    return SoftMaskLocalizer(**settings)


def ercp_heads(seed: int = 0, **options):
    """The five papilla attribute heads (:data:`~explainendo.specs.ERCP_ATTRIBUTES`) on one ImageNet
    EfficientNet-Lite0 at 128 px, 14 epochs in batches of 32 with early stopping; ``options`` override."""
    from ..heads import AttributeHeads
    from ..specs import ERCP_ATTRIBUTES
    from ..training import Training

    settings = {"specs": ERCP_ATTRIBUTES, "seed": seed, "backbone": "efficientnet_lite0", "pretrained": True,
                "image_size": 128, "training": Training(epochs=14, batch_size=32, patience=4), **options}
    return AttributeHeads(**settings)


def ercp_predictor(label_column: str = "label", heads: Any = None, handcrafted: Any = None, fitter: Any = None,
                   stacking: Any = None, group_selection: Any = "default", seed: int = 0):
    """The hybrid difficulty model for ``label_column`` (``label``: binary, ``difficult`` explained;
    ``attr.difficulty``: four classes): attribute heads (default :func:`ercp_heads`) and the handcrafted features
    into a fitter chosen by patient-grouped CV (:class:`~explainendo.fit.FitterSelector`), groups it does not need
    dropped with the attributes preferred, held-out stacking (the heads train once on half the patients)."""
    from ..fit import FitterSelector, GroupEliminator
    from ..handcrafted import HandcraftedFeatures
    from ..predict import ATTRIBUTE_GROUPS, HeldOut, HybridPredictor

    if isinstance(group_selection, str) and group_selection == "default":
        group_selection = GroupEliminator(seed=seed, prefer_keep=ATTRIBUTE_GROUPS)
    return HybridPredictor(sources=[ercp_heads(seed) if heads is None else heads,
                                    HandcraftedFeatures() if handcrafted is None else handcrafted],
                           fitter=FitterSelector(cv=5, seed=seed) if fitter is None else fitter,
                           group_selection=group_selection, stacking=HeldOut(0.5) if stacking is None else stacking,
                           positive_label=POSITIVE if label_column == "label" else None, seed=seed,
                           label_column=label_column)


def ercp_cnn(label_column: str = "label", seed: int = 0, **options):
    """The sole-CNN difficulty model for ``label_column``: the ImageNet EfficientNet-Lite0 at 128 px on the
    ampulla crop, with flips and the heads' augmentation, 14 epochs with early stopping; ``options`` go to its
    :class:`~explainendo.heads.AttributeHeads` network."""
    from ..heads import AttributeHeads
    from ..predict import CNNClassifier
    from ..training import Training

    settings = {"backbone": "efficientnet_lite0", "pretrained": True, "image_size": 128, "seed": seed,
                "training": Training(epochs=14, batch_size=32, patience=4), **options}
    return CNNClassifier(network=AttributeHeads(**settings), label_column=label_column)


@register_component("ercp_assistant")
class ERCPAssistant(Diagnoser):
    """The ERCP system (module docstring).

    ``localizer`` None: :func:`ercp_localizer`. ``predictor`` None: the binary difficulty model of ``approach``
    (``"hybrid"``: :func:`ercp_predictor`; ``"cnn"``: :func:`ercp_cnn`). ``four_class`` None: the four-class model of
    the same approach on ``attr.difficulty``, reported as the task ``four_class``; False: none; or a predictor
    (it learns its own ``label_column``). ``ood`` ``"default"``: the out-of-distribution flag of
    :func:`~explainendo.explain.ood.default_ood_detector` (None: none). The other parameters are the
    :class:`~explainendo.engine.Diagnoser`'s.
    """

    def __init__(self, localizer: Any = None, predictor: Any = None, four_class: Any = None,
                 approach: str = "hybrid", enlarge: float = 1.0, batch_size: int = 16, min_box_score: float = 0.0,
                 train_localizer: bool = True, seed: int = 0, ood: Any = "default"):
        super().__init__(localizer=localizer, predictor=predictor, enlarge=enlarge, batch_size=batch_size,
                         min_box_score=min_box_score, train_localizer=train_localizer, ood=ood)
        self.four_class = four_class
        self.approach = approach
        self.seed = seed

    def checked_parts(self):
        self._check_approach()
        return super().checked_parts()

    def _check_approach(self) -> None:
        if self.approach not in APPROACHES:
            raise ConfigError(f"ERCPAssistant(approach={self.approach!r})", hint=f"use one of {APPROACHES}")

    def _model(self, label_column: str):
        self._check_approach()
        if self.approach == "cnn":
            return ercp_cnn(label_column, seed=self.seed)
        return ercp_predictor(label_column, seed=self.seed)

    def _localizer(self):
        return ercp_localizer(self.seed) if self.localizer is None else self.localizer

    def _predictor(self):
        return self._model("label") if self.predictor is None else self.predictor

    def _tasks(self):
        if self.four_class is False:
            return {}
        return {FOUR_CLASS: self._model(FOUR_CLASS_COLUMN) if self.four_class is None else self.four_class}

    def data_specs(self) -> list:
        """The papilla attributes, and ``attr.difficulty`` (the four classes) when the four-class task learns it."""
        from ..specs import ERCP_DIFFICULTY_CLASSES, AttributeSpec

        specs = super().data_specs()
        if any(self.task_column(t) == FOUR_CLASS_COLUMN for t in self.checked_tasks().values()):
            specs.append(AttributeSpec("difficulty", ERCP_DIFFICULTY_CLASSES, description="cannulation difficulty"))
        return specs

    # ---- the localizer's view ------------------------------------------------------------------------
    def ampulla_masks(self, source) -> list[np.ndarray | None]:
        """The predicted soft mask of every frame of ``source`` (any input form of ``predict``), normalised to
        peak 1 and resized to the frame: float32 ``(H, W)`` in [0, 1]; None for a frame that cannot be read."""
        from ..io.sources import iter_frames

        self._check_fitted()
        localizer = self.localizer_
        if localizer is None or not hasattr(localizer, "predict_masks"):
            raise ConfigError(f"this model's localizer ({type(localizer).__name__}) predicts no soft mask",
                              hint="the soft-mask localizer (the default) does")
        out: list[np.ndarray | None] = []
        chunk: list[np.ndarray] = []
        slots: list[int] = []

        def flush():
            for slot, mask, image in zip(slots, localizer.predict_masks(chunk), chunk):
                out[slot] = _peak_normalised(mask, image.shape[:2])
            chunk.clear()
            slots.clear()

        for frame in iter_frames(source):
            out.append(None)
            if frame.ok:
                chunk.append(frame.image)
                slots.append(len(out) - 1)
            if len(chunk) >= self.batch_size:
                flush()
        if chunk:
            flush()
        return out

    def explain(self, result, lesion: int | None = None, *, box=None, table=None, class_index: int | None = None,
                gradcam: bool = True, task: str | None = None, group_values: str = "shap",
                localizer_saliency="eigencam"):
        """The engine's explanation (SHAP per group for the hybrid, Grad-CAM for the CNN; ``task="four_class"``
        for the four classes), with the ampulla soft mask of the frame as ``localizer_map`` (the localizer's output)
        beside the engine's ``localizer_saliency`` (where it looked; ``localizer_saliency=None``: none)."""
        exp = super().explain(result, lesion, box=box, table=table, class_index=class_index, gradcam=gradcam,
                              task=task, group_values=group_values,
                              localizer_saliency=localizer_saliency)
        if self.localizer_ is not None and hasattr(self.localizer_, "predict_masks"):
            exp.localizer_map = self.ampulla_masks([exp.frame])[0]
        return exp


def _peak_normalised(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = shape
    m = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    peak = float(m.max())
    return np.clip(m / peak if peak > 0 else m, 0.0, 1.0)
