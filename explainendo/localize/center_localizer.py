"""``CenterNetLocalizer``: an anchor-free detector (centre heatmap + box distances, TTFNet style) on the
ImageNet-pretrained EfficientNet-Lite0 encoder, with a small feature pyramid; several boxes per frame, each
with a score and a class. The coding is in :mod:`.centernet`, the network in :mod:`.detector_net`, the
cached, augmented training in :mod:`.box_localizer`.
"""

from __future__ import annotations

from ..components import register_component
from ..errors import ConfigError
from ..training import Training
from .augment import BoxAugment
from .base import register_kind
from .box_localizer import BoxNetLocalizer
from .detector_net import OUT_STRIDES


@register_component("detector_training")
class DetectorTraining(Training):
    """:class:`~explainendo.training.Training` with the detector's defaults: 30 epochs of AdamW (lr 2e-3,
    weight decay 1e-4) in batches of 16, one-cycle schedule, early stopping after 6 epochs without a better
    validation mAP50 (when a validation manifest is given). In YAML: ``training: {kind: detector_training}``."""

    def __init__(self, epochs: int = 30, batch_size: int = 16, lr: float = 2e-3, weight_decay: float = 1e-4,
                 schedule: str = "onecycle", patience: int | None = 6, device: str = "cpu",
                 num_threads: int | None = None):
        super().__init__(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, schedule=schedule,
                         patience=patience, device=device, num_threads=num_threads)


@register_kind
class CenterNetLocalizer(BoxNetLocalizer):
    """Centre-heatmap detector. Parameters: ``encoder``, ``image_size`` (default 192), ``training`` (None:
    :class:`DetectorTraining`), ``augment`` (a :class:`~explainendo.localize.augment.BoxAugment`; None: the
    default), ``class_agnostic``, ``out_stride`` (4 or 8: the output map's cell in input pixels), ``width``
    (pyramid channels), ``min_score`` (default 0.1), ``max_boxes`` per frame, ``nms_iou`` (class-wise NMS),
    ``box_weight`` (GIoU loss weight against the heatmap loss), ``seed``, ``tta`` (None, or ``"flip"``: the
    heatmap probabilities and box distances of the frame and its horizontal mirror, mapped back, averaged before
    the peaks are read).

    ``locate`` returns the boxes best first; ``feature_layer`` is the pyramid output module (Grad-CAM target).
    """

    kind = "centernet_localizer"
    default_training = DetectorTraining()

    def __init__(self, encoder: str = "efficientnet_lite0", image_size: int = 192, training: Training | None = None,
                 augment: BoxAugment | None = None, class_agnostic: bool = False, out_stride: int = 8,
                 width: int = 64, min_score: float = 0.1, max_boxes: int = 20, nms_iou: float = 0.6,
                 box_weight: float = 5.0, seed: int = 0, tta: str | None = None):
        self.encoder = encoder
        self.image_size = image_size
        self.training = training
        self.augment = augment
        self.class_agnostic = class_agnostic
        self.out_stride = out_stride
        self.width = width
        self.min_score = min_score
        self.max_boxes = max_boxes
        self.nms_iou = nms_iou
        self.box_weight = box_weight
        self.seed = seed
        self.tta = tta

    def _check_params(self) -> None:
        self._common_check()
        if self.out_stride not in OUT_STRIDES:
            raise ConfigError(f"CenterNetLocalizer(out_stride={self.out_stride!r})", hint=f"use one of {OUT_STRIDES}")
        if not (isinstance(self.width, int) and self.width >= 8):
            raise ConfigError(f"CenterNetLocalizer(width={self.width!r}): an integer >= 8")
        if not (isinstance(self.max_boxes, int) and self.max_boxes >= 1):
            raise ConfigError(f"CenterNetLocalizer(max_boxes={self.max_boxes!r}): a positive integer")
        if not 0 < self.nms_iou <= 1:
            raise ConfigError(f"CenterNetLocalizer(nms_iou={self.nms_iou!r}): a number in (0, 1]")
        if not self.box_weight > 0:
            raise ConfigError(f"CenterNetLocalizer(box_weight={self.box_weight!r}): a positive number")

    def _build(self, n_classes: int, pretrained: bool):
        from .detector_net import CenterNetNet

        return CenterNetNet(n_classes, width=self.width, out_stride=self.out_stride, pretrained=pretrained)

    def _loss(self, outputs, targets, n_classes: int, device):
        import numpy as np
        import torch

        from .centernet import centernet_loss, encode_targets

        heat_logits, ltrb = outputs
        grid = tuple(heat_logits.shape[-2:])
        enc = [encode_targets(b, c, n_classes, grid, self.out_stride) for b, c in targets]
        heat, box, weight = (torch.from_numpy(np.stack(parts)).to(device) for parts in zip(*enc))
        return centernet_loss(heat_logits, ltrb, heat, box, weight, self.out_stride, box_weight=self.box_weight)

    def _decode(self, outputs, min_score: float):
        from .centernet import decode

        heat_logits, ltrb = outputs
        return decode(heat_logits, ltrb, self.out_stride, min_score=min_score, max_boxes=self.max_boxes,
                      nms_iou=self.nms_iou)

    def _merge_flip(self, outputs, flipped):
        from .centernet import merge_flip

        return merge_flip(*outputs, *flipped)
