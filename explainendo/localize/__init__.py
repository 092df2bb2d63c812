"""Lesion localizers behind one contract: ``YoloLocalizer`` (ultralytics), ``SoftMaskLocalizer`` (the ERCP
paper's Gaussian soft-mask U-Net) and ``WholeFrame`` (frame-level systems), plus the box <-> soft-mask
conversions."""

from .base import Localizer
from .soft_mask_localizer import SoftMaskLocalizer
from .softmask import boxes_to_soft_mask, soft_mask_to_boxes
from .whole_frame import WholeFrame, field_of_view_box
from .yolo import YoloLocalizer

__all__ = ["Localizer", "YoloLocalizer", "SoftMaskLocalizer", "WholeFrame", "boxes_to_soft_mask",
           "soft_mask_to_boxes", "field_of_view_box"]
