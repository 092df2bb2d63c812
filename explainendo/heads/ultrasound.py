"""Ultrasound augmentation: what changes between two EUS frames of the same cyst, and nothing that would not.

An EUS image is greyscale speckle in a fan below the transducer. Between frames and consoles the operator
changes the overall gain, the time-gain compensation (gain along depth) and the dynamic range (a monotone
grey-level curve); the probe tilts and slides a little, and the sector can be set narrower or shallower.
None of these change the diagnosis, so training may draw them. What it must not draw: a colour jitter (the
image has none), a vertical flip (depth is physical: posterior enhancement and acoustic shadows fall *below*
what casts them) or a blur (it would erase the speckle that carries the texture features).
"""

from __future__ import annotations

import math

from ..components import register_component
from ..errors import ConfigError
from .settings import Augment


@register_component("ultrasound_augment")
class UltrasoundAugment(Augment):
    """Training-time augmentation for ultrasound frames and crops, one random draw per image:

    * geometry: rotation within +-``rotation`` degrees, scale in [1 - ``scale``, 1 + ``scale``], a shift of up to
      ``shift`` of the side in x and y, and (``horizontal_flip``) a left-right flip with probability 1/2; pixels
      brought in from outside the image are black (as outside the fan), never mirrored speckle;
    * gain: the image times ``G = exp(U(-ln(1 + gain), ln(1 + gain)))``;
    * dynamic range: ``x -> x ** gamma_`` with ``gamma_ = exp(U(-ln(1 + gamma), ln(1 + gamma)))`` (monotone: the
      speckle's pattern is kept, its contrast changes);
    * time-gain compensation: the row at relative depth ``d`` in [0, 1] (0 = top, next to the transducer) times
      ``1 + t (d - 1/2)`` with ``t ~ U(-tgc, tgc)``;
    * sector crop, with probability ``sector``: everything outside a centred window of width ``w`` and the top
      ``h`` of the depth is set to black, ``w, h ~ U(sector_min, 1)`` (a narrower, shallower field).

    Crops get all of it; whole frames too but never flipped (``frames=True``). Test-time augmentation may use
    the left-right flip alone (``tta_flips``). The defaults are modest on purpose: the EUS benchmark's phantoms
    vary gain by about +-15% and position over the whole fan, which the position robustness test measures.
    """

    def __init__(self, horizontal_flip: bool = True, rotation: float = 10.0, scale: float = 0.1,
                 shift: float = 0.08, gain: float = 0.25, gamma: float = 0.25, tgc: float = 0.3,
                 sector: float = 0.3, sector_min: float = 0.7):
        self.horizontal_flip = horizontal_flip
        self.rotation = rotation
        self.scale = scale
        self.shift = shift
        self.gain = gain
        self.gamma = gamma
        self.tgc = tgc
        self.sector = sector
        self.sector_min = sector_min

    _RANGES = {"rotation": (0.0, 45.0), "scale": (0.0, 0.5), "shift": (0.0, 0.3), "gain": (0.0, 1.0),
               "gamma": (0.0, 1.0), "tgc": (0.0, 1.0), "sector": (0.0, 1.0), "sector_min": (0.2, 1.0)}

    def check_params(self) -> "UltrasoundAugment":
        if not isinstance(self.horizontal_flip, bool):
            raise ConfigError(f"UltrasoundAugment(horizontal_flip={self.horizontal_flip!r}): True or False")
        for name, (lo, hi) in self._RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise ConfigError(f"UltrasoundAugment({name}={value!r}) must be a number in [{lo}, {hi}]")
        return self

    @property
    def flips(self) -> bool:  # Augment's flag: whether training flips at all
        return self.horizontal_flip

    @property
    def tta_flips(self) -> tuple[tuple[int, ...], ...]:
        return ((-1,),) if self.horizontal_flip else ()

    def apply(self, x, generator, frames: bool = False):
        import torch
        import torch.nn.functional as F

        n, _, h, w = x.shape
        u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=generator)  # noqa: E731
        angle = u(-self.rotation, self.rotation) * math.pi / 180
        scale = u(1 - self.scale, 1 + self.scale)
        tx, ty = u(-self.shift, self.shift) * 2, u(-self.shift, self.shift) * 2  # affine_grid's [-1, 1] units
        flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        if frames or not self.horizontal_flip:
            flip = torch.ones(n)
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        log_gain, log_gamma = math.log1p(self.gain), math.log1p(self.gamma)
        gain = torch.exp(u(-log_gain, log_gain))[:, None, None, None]
        gamma = torch.exp(u(-log_gamma, log_gamma))[:, None, None, None]
        depth = (torch.arange(h, dtype=x.dtype) + 0.5) / h
        tgc = 1 + u(-self.tgc, self.tgc)[:, None, None, None] * (depth[None, None, :, None] - 0.5)
        x = (x.clamp(0, 1) ** gamma) * gain * tgc
        cut = torch.rand(n, generator=generator) < self.sector
        width, height = u(self.sector_min, 1.0), u(self.sector_min, 1.0)
        cols = ((torch.arange(w, dtype=x.dtype) + 0.5) / w - 0.5).abs()[None, :]  # distance from the centre line
        keep = (cols <= width[:, None] / 2)[:, None, :] & (depth[None, :] <= height[:, None])[:, :, None]
        keep = keep | ~cut[:, None, None]
        return (x * keep[:, None].to(x.dtype)).clamp(0, 1)
