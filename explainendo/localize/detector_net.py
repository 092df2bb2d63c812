"""Networks of the box localizers, on the ImageNet-pretrained EfficientNet-Lite0 encoder of :mod:`.unet`.

- :class:`CenterNetNet`: a small feature pyramid (strides 8/16/32, top-down, ``width`` channels) and two heads
  at stride ``out_stride`` (8, or 4 with one more upsampling): per-class centre logits and four box
  distances (input pixels, softplus). ``features`` is the pyramid's output, the map saliency methods read.
- :class:`BoxRegressionNet`: global average pooling of the last encoder stage, an MLP and five outputs:
  the box (centre and size as fractions of the side, sigmoid) and a lesion-presence logit.

Both take images scaled to [-1, 1] (what the Lite0 weights expect).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .unet import LiteEncoder

OUT_STRIDES = (4, 8)


def _conv_bn(cin: int, cout: int, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class CenterNetNet(nn.Module):
    def __init__(self, n_classes: int = 1, width: int = 64, out_stride: int = 8, pretrained: bool = True):
        super().__init__()
        self.encoder = LiteEncoder(pretrained=pretrained)
        ch, red = self.encoder.channels, self.encoder.reductions
        self.levels = [red.index(r) for r in (out_stride, *(r for r in (8, 16, 32) if r > out_stride))]
        self.lateral = nn.ModuleList([nn.Conv2d(ch[i], width, 1) for i in self.levels])
        self.smooth = nn.ModuleList([_conv_bn(width, width) for _ in self.levels[:-1]])
        self.features = _conv_bn(width, width)  # the localizer's feature map (Grad-CAM target layer)
        self.heat = nn.Sequential(_conv_bn(width, width), nn.Conv2d(width, n_classes, 1))
        self.box = nn.Sequential(_conv_bn(width, width), nn.Conv2d(width, 4, 1))
        nn.init.constant_(self.heat[-1].bias, -math.log((1 - 0.1) / 0.1))  # prior 0.1, as in CenterNet
        nn.init.constant_(self.box[-1].bias, 2.0)
        self.stride = out_stride
        self.box_scale = 16.0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(centre logits (N, C, H/s, W/s), box distances (N, 4, H/s, W/s))``."""
        feats = self.encoder(x)
        y = self.lateral[-1](feats[self.levels[-1]])
        for k in range(len(self.levels) - 2, -1, -1):
            skip = self.lateral[k](feats[self.levels[k]])
            y = self.smooth[k](skip + F.interpolate(y, size=skip.shape[-2:], mode="nearest"))
        f = self.features(y)
        return self.heat(f), F.softplus(self.box(f)) * self.box_scale


class BoxRegressionNet(nn.Module):
    def __init__(self, hidden: int = 256, pretrained: bool = True):
        super().__init__()
        self.encoder = LiteEncoder(pretrained=pretrained)
        self.features = nn.Identity()  # the last encoder stage (Grad-CAM target)
        self.mlp = nn.Sequential(nn.Linear(self.encoder.channels[-1], hidden), nn.ReLU(inplace=True),
                                 nn.Dropout(0.1), nn.Linear(hidden, 5))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(boxes (N, 4) cx, cy, w, h as fractions of the side, presence logits (N,))``."""
        f = self.features(self.encoder(x)[-1])
        out = self.mlp(f.mean(dim=(2, 3)))
        return torch.sigmoid(out[:, :4]), out[:, 4]
