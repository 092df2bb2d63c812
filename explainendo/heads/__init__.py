"""Deep attribute heads on one shared CNN backbone (issue 6).

``backbones``: named CNN backbones with local weights (EfficientNet-Lite0 ImageNet, ResNet-18/50).
``attribute_heads``: :class:`AttributeHeads`, one backbone forward feeding one small head per attribute,
trained supervised or semi-supervised, with Grad-CAM per head. ``settings``: its strategy objects
(:class:`Augment`, :class:`HeadLoss`, :class:`PseudoLabel`, :class:`HeadCAM`); ``ultrasound``: :class:`UltrasoundAugment`, the
EUS frames' augmentation. Torch is imported only when used.
"""

from .backbones import BACKBONES, create_backbone, imagenet_classifier, list_backbones
from .settings import Augment, HeadCAM, HeadLoss, PseudoLabel
from .ultrasound import UltrasoundAugment

__all__ = ["BACKBONES", "Augment", "AttributeHeads", "HeadCAM", "HeadLoss", "PseudoLabel", "UltrasoundAugment", "create_backbone",
           "imagenet_classifier", "list_backbones", "paste_on_frame"]


def __getattr__(name):
    if name in ("AttributeHeads", "paste_on_frame"):
        from . import attribute_heads
        return getattr(attribute_heads, name)
    raise AttributeError(name)
