"""Lesion localizers behind one contract: ``CenterNetLocalizer`` (an anchor-free detector on the pretrained
encoder), ``BoxRegressionLocalizer`` (the ERCP paper's box-regression baseline), ``SoftMaskLocalizer`` (the ERCP paper's Gaussian soft-mask U-Net),
``YoloLocalizer`` (ultralytics), ``WholeFrame`` (frame-level systems), plus the box <-> soft-mask
conversions. Loaded on first use (PEP 562), so ``explainendo --help`` stays light."""

import importlib

_LAZY = {
    "Localizer": "base", "register_kind": "base", "SoftMaskLocalizer": "soft_mask_localizer",
    "UNetTraining": "soft_mask_localizer",
    "boxes_to_soft_mask": "softmask", "soft_mask_to_boxes": "softmask", "WholeFrame": "whole_frame",
    "field_of_view_box": "whole_frame", "YoloLocalizer": "yolo", "CenterNetLocalizer": "center_localizer",
    "DetectorTraining": "center_localizer", "BoxRegressionLocalizer": "box_regression", "BoxAugment": "augment",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

