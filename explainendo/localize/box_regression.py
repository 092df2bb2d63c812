"""``BoxRegressionLocalizer``: the ERCP paper's box-regression baseline (Kim et al., Sci Rep 2021) on the
ImageNet-pretrained EfficientNet-Lite0 encoder: global pooling, an MLP, one box per frame (centre and size,
trained with L1 + GIoU) and a presence score (trained with binary cross-entropy, so frames without a lesion
can return no box)."""

from __future__ import annotations

from ..errors import ConfigError
from ..training import Training
from .augment import BoxAugment
from .base import register_kind
from .box_localizer import BoxNetLocalizer
from .center_localizer import DetectorTraining


@register_kind
class BoxRegressionLocalizer(BoxNetLocalizer):
    """One box per frame. Parameters: ``encoder``, ``image_size`` (default 192), ``training`` (None:
    :class:`~explainendo.localize.DetectorTraining`), ``augment``, ``class_agnostic`` (always one class: the
    most common label; kept for the shared contract), ``hidden`` (MLP width), ``min_score`` (the presence
    score below which no box is returned; 0: always one box, as for the ampulla), ``seed``, ``tta`` (None,
    or ``"flip"``: the box and presence probability of the frame and of its horizontal mirror mapped back,
    averaged)."""

    kind = "box_regression_localizer"
    default_training = DetectorTraining()

    def __init__(self, encoder: str = "efficientnet_lite0", image_size: int = 192, training: Training | None = None,
                 augment: BoxAugment | None = None, class_agnostic: bool = True, hidden: int = 256,
                 min_score: float = 0.0, seed: int = 0, tta: str | None = None):
        self.encoder = encoder
        self.image_size = image_size
        self.training = training
        self.augment = augment
        self.class_agnostic = class_agnostic
        self.hidden = hidden
        self.min_score = min_score
        self.seed = seed
        self.tta = tta

    def _check_params(self) -> None:
        self._common_check()
        if self.class_agnostic is not True:
            raise ConfigError("BoxRegressionLocalizer regresses one box per frame: class_agnostic must be True",
                              hint="use CenterNetLocalizer for several classes")
        if not (isinstance(self.hidden, int) and self.hidden >= 8):
            raise ConfigError(f"BoxRegressionLocalizer(hidden={self.hidden!r}): an integer >= 8")

    def _build(self, n_classes: int, pretrained: bool):
        from .detector_net import BoxRegressionNet

        return BoxRegressionNet(hidden=self.hidden, pretrained=pretrained)

    def _loss(self, outputs, targets, n_classes: int, device):
        import torch
        from torch.nn import functional as F

        from .centernet import giou_loss

        cxcywh, presence = outputs
        s = float(self.image_size)
        has = torch.tensor([len(b) > 0 for b, _ in targets], device=device)
        # one target per frame: the largest box (the paper's single ampulla)
        tgt = torch.zeros((len(targets), 4), device=device)
        for i, (b, _) in enumerate(targets):
            if len(b):
                big = b[((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).argmax()] / s
                tgt[i] = torch.as_tensor([(big[0] + big[2]) / 2, (big[1] + big[3]) / 2, big[2] - big[0],
                                          big[3] - big[1]], device=device)
        loss = F.binary_cross_entropy_with_logits(presence, has.float())
        box = presence.sum() * 0.0
        if has.any():
            p, t = cxcywh[has], tgt[has]
            box = F.l1_loss(p, t) * 5 + giou_loss(_xyxy(p), _xyxy(t)).mean() * 2
        return loss + box, {"presence_loss": float(loss.detach()), "box_loss": float(box.detach())}

    def _decode(self, outputs, min_score: float):
        import torch

        cxcywh, presence = outputs
        boxes = _xyxy(cxcywh) * self.image_size
        scores = torch.sigmoid(presence)
        return [[(*map(float, b.tolist()), float(sc), 0)] if sc >= min_score else []
                for b, sc in zip(boxes, scores)]


    def _merge_flip(self, outputs, flipped):
        import torch

        (box, presence), (fbox, fpresence) = outputs, flipped
        back = torch.stack([1 - fbox[:, 0], fbox[:, 1], fbox[:, 2], fbox[:, 3]], dim=1)  # the centre mirrored
        p = (torch.sigmoid(presence) + torch.sigmoid(fpresence)) / 2
        return (box + back) / 2, torch.logit(p, eps=1e-6)


def _xyxy(cxcywh):
    import torch

    cx, cy, w, h = cxcywh.unbind(1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=1)
