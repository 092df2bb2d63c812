"""Box-aware augmentation for the trained box localizers: :class:`BoxAugment`, a strategy object.

Works on images already resized once and cached as ``uint8`` arrays (so an epoch never re-decodes a JPEG):
each call draws a random flip / quarter turn, a scale-and-shift (zoom in or out around the frame, boxes
moved with it and clipped; a box mostly cut off is dropped) and a colour jitter within endoscopy's range
(brightness, contrast, saturation; hue barely, since colour is diagnostic). All draws come from the
generator the caller passes: the same seed gives the same epochs.
"""

from __future__ import annotations

import numpy as np

from ..components import Settings, register_component
from ..errors import ConfigError


@register_component("box_augment")
class BoxAugment(Settings):
    """``flip`` (horizontal and vertical, each p=0.5), ``rotate90`` (a random quarter turn: endoscopy has no
    up), ``scale`` (zoom range; 1 = none), ``translate`` (shift range as a fraction of the side),
    ``brightness`` / ``contrast`` / ``saturation`` (multiplicative jitter ranges, e.g. 0.2 = x0.8..1.2),
    ``hue`` (shift as a fraction of the colour circle), ``min_visible`` (a box keeps when at least this share
    of its area stays in the frame). ``BoxAugment.none()`` is the identity."""

    def __init__(self, flip: bool = True, rotate90: bool = True, scale: tuple[float, float] = (0.75, 1.25),
                 translate: float = 0.15, brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2,
                 hue: float = 0.02, min_visible: float = 0.4):
        self.flip = flip
        self.rotate90 = rotate90
        self.scale = scale
        self.translate = translate
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.min_visible = min_visible

    @classmethod
    def none(cls) -> "BoxAugment":
        return cls(flip=False, rotate90=False, scale=(1.0, 1.0), translate=0.0, brightness=0.0, contrast=0.0,
                   saturation=0.0, hue=0.0)

    def check_params(self) -> "BoxAugment":
        lo, hi = (tuple(self.scale) + (None, None))[:2] if isinstance(self.scale, (tuple, list)) else (None, None)
        if lo is None or hi is None or not 0 < lo <= hi:
            raise ConfigError(f"BoxAugment(scale={self.scale!r}): a (low, high) pair with 0 < low <= high")
        for key in ("translate", "brightness", "contrast", "saturation"):
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and 0 <= v < 1):
                raise ConfigError(f"BoxAugment({key}={v!r}): a number in [0, 1)")
        if not (isinstance(self.hue, (int, float)) and 0 <= self.hue <= 0.5):
            raise ConfigError(f"BoxAugment(hue={self.hue!r}): a number in [0, 0.5]")
        if not 0 < self.min_visible <= 1:
            raise ConfigError(f"BoxAugment(min_visible={self.min_visible!r}): a number in (0, 1]")
        return self

    # ---- geometry ----------------------------------------------------------------------------------------
    def geometric(self, image: np.ndarray, boxes: np.ndarray, classes: np.ndarray, rng: np.random.Generator):
        """One random geometric transform of a square ``(S, S, 3)`` image and its ``(K, 4)`` xyxy boxes;
        returns the new image, boxes and classes (dropped boxes removed)."""
        import cv2

        s = image.shape[0]
        boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
        classes = np.asarray(classes).reshape(-1)
        if self.flip and rng.random() < 0.5:
            image = image[:, ::-1]
            boxes[:, [0, 2]] = s - boxes[:, [2, 0]]
        if self.flip and rng.random() < 0.5:
            image = image[::-1]
            boxes[:, [1, 3]] = s - boxes[:, [3, 1]]
        if self.rotate90:
            k = int(rng.integers(4))
            for _ in range(k):  # counter-clockwise quarter turn: (x, y) -> (y, s - x)
                image = np.rot90(image)
                boxes = np.stack([boxes[:, 1], s - boxes[:, 2], boxes[:, 3], s - boxes[:, 0]], axis=1)
        lo, hi = self.scale
        z = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)
        tx, ty = (rng.uniform(-self.translate, self.translate, 2) * s) if self.translate else (0.0, 0.0)
        if z != 1.0 or tx or ty:
            c = s / 2
            m = np.array([[z, 0, c - z * c + tx], [0, z, c - z * c + ty]], dtype=np.float32)
            image = cv2.warpAffine(np.ascontiguousarray(image), m, (s, s), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            boxes = boxes * z + np.array([m[0, 2], m[1, 2], m[0, 2], m[1, 2]], dtype=np.float32)
            full = area * z * z
            boxes = boxes.clip(0, s)
            kept = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            keep = (kept >= self.min_visible * np.maximum(full, 1e-6)) & (boxes[:, 2] - boxes[:, 0] >= 2) & \
                   (boxes[:, 3] - boxes[:, 1] >= 2)
            boxes, classes = boxes[keep], classes[keep]
        return np.ascontiguousarray(image), boxes, classes

    # ---- colour (a batch of tensors in [-1, 1]) ---------------------------------------------------------
    def colour(self, x, rng: np.random.Generator):
        """Per-image brightness, contrast, saturation and hue jitter of a ``(N, 3, H, W)`` tensor in [-1, 1]."""
        import torch

        n = x.shape[0]
        if not (self.brightness or self.contrast or self.saturation or self.hue):
            return x
        x = (x + 1) / 2
        dev = x.device

        def draw(r):
            return torch.as_tensor(rng.uniform(1 - r, 1 + r, n), dtype=x.dtype, device=dev).view(n, 1, 1, 1)

        if self.brightness:
            x = x * draw(self.brightness)
        if self.contrast:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            x = (x - mean) * draw(self.contrast) + mean
        if self.saturation:
            grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
            x = (x - grey) * draw(self.saturation) + grey
        if self.hue:  # rotate the chroma plane in YIQ space
            angle = torch.as_tensor(rng.uniform(-self.hue, self.hue, n) * 2 * np.pi, dtype=x.dtype, device=dev)
            to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
                                  dtype=x.dtype, device=dev)
            from_yiq = torch.linalg.inv(to_yiq)
            yiq = torch.einsum("ij,njhw->nihw", to_yiq, x)
            cos, sin = torch.cos(angle).view(n, 1, 1), torch.sin(angle).view(n, 1, 1)
            i, q = yiq[:, 1], yiq[:, 2]
            yiq = torch.stack([yiq[:, 0], i * cos - q * sin, i * sin + q * cos], dim=1)
            x = torch.einsum("ij,njhw->nihw", from_yiq, yiq)
        return (x.clamp(0, 1) * 2 - 1)
