"""The extractor contract, its registry and the per-crop preparation every extractor shares.

An extractor is one small class per concept (pyradiomics style): it declares its parameters
(:class:`Param`), the columns it writes (``<group>.<name>``, fixed length and dtype float64 for given
params) and computes one row of values from a :class:`PreparedCrop`. Extractors are registered by name
(timm style, no import-time magic beyond the decorator) and listed with a glob::

    @register_extractor("hsi_saturation_entropy")
    class HSISaturationEntropy(Extractor): ...

    list_extractors("color*")  # ['color_moments', 'color_principal_component']

:class:`PreparedCrop` validates a crop once and caches the derived images (a colour subsample, a
grey working image) so the six extractors do not repeat work: that sharing is most of the speed-up over
running six independent functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar, Sequence

import cv2
import numpy as np

from ..io.image import rgb_and_full_scale
from ..registry import Registry
from ..types import Box

EXTRACTORS: Registry[type["Extractor"]] = Registry("handcrafted extractor")

#: ITU-R BT.601 luma weights, the usual RGB -> grey conversion (also OpenCV's and skimage's rgb2gray
#: up to rounding). Texture extractors (LBP, HOG) work on this grey image.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def register_extractor(name: str):
    """Class decorator: make an :class:`Extractor` subclass available under ``name``."""
    def decorator(cls: type["Extractor"]) -> type["Extractor"]:
        cls.name = name
        return EXTRACTORS.register(name)(cls)
    return decorator


def list_extractors(pattern: str = "*") -> list[str]:
    """Registered extractor names matching a glob (``"color*"``), sorted."""
    return EXTRACTORS.list(pattern)


def get_extractor(name: str) -> type["Extractor"]:
    """The extractor class registered as ``name`` (``ConfigError`` listing the known names otherwise)."""
    return EXTRACTORS.get(name)


class UndefinedFeature(Exception):
    """Raised by an extractor when its value truly does not exist for a crop (e.g. an empty mask).

    The batch runner turns it into NaN columns plus one logged warning naming the extractor and the
    crop (or a :class:`~explainendo.errors.FeatureExtractionError` with ``strict=True``).
    """


@dataclass(frozen=True)
class Param:
    """One parameter of an extractor: default, type, allowed range or choices, and what it means."""

    default: Any
    kind: type
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None

    def check(self, value: Any) -> str | None:
        """``None`` if ``value`` is acceptable, else what is wrong with it (for the error message)."""
        if self.kind is bool:
            ok = isinstance(value, bool)
        elif self.kind is int:
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        elif self.kind is float:
            ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            ok = ok and math.isfinite(float(value))
        else:
            ok = isinstance(value, self.kind)
        if not ok:
            return f"must be a {self.kind.__name__}, got {value!r} ({type(value).__name__})"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {list(self.choices)}, got {value!r}"
        if self.minimum is not None and value < self.minimum:
            return f"must be >= {self.minimum}, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"must be <= {self.maximum}, got {value!r}"
        return None


class Extractor:
    """Base class: one handcrafted feature group.

    Subclasses set ``params`` (name -> :class:`Param`), implement ``column_names`` (the part after the
    dot) and ``compute`` (one float64 vector, same length as the columns). ``name`` is set by
    :func:`register_extractor` and is also the column group.
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}

    def __init__(self, **params: Any):
        unknown = set(params) - set(self.params)
        if unknown:  # load_params reports this with the YAML path; this guards direct construction
            raise TypeError(f"{type(self).__name__}: unknown parameters {sorted(unknown)}")
        self.config = {key: params.get(key, spec.default) for key, spec in self.params.items()}

    def column_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def columns(self) -> list[str]:
        """Full column names, ``<group>.<name>``."""
        return [f"{self.name}.{c}" for c in self.column_names()]

    def compute(self, crop: "PreparedCrop") -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items())
        return f"{type(self).__name__}({args})"


def shannon_entropy_bits(counts: np.ndarray) -> float:
    """``H = -sum_i p_i log2 p_i`` with ``p_i = counts_i / sum(counts)`` and ``0 log 0 = 0``.

    An all-zero histogram carries no information: its entropy is defined as 0 here.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(max(0.0, -(p * np.log2(p)).sum()))  # max: -0.0 and 1-ulp negatives on one-bin input


class PreparedCrop:
    """A validated crop with lazily computed, shared derived images.

    * ``rgb`` / ``full_scale``: the crop as ``(H, W, 3)`` and its value of full intensity, by the dtype rule
      of :func:`explainendo.io.as_rgb_uint8` (the library's one rule) but at the crop's own precision
      (uint16 and float crops are not rounded to 8 bits).
    * ``channels`` / ``color_pixels``: ``(3, N)`` / ``(N, 3)`` float64 RGB in [0, 1], a regular grid
      subsample of the crop with at most ``max_color_pixels`` pixels (stride
      ``s = ceil(sqrt(H W / max_color_pixels))`` in both directions).
      Nearest sampling, not averaging, keeps the colour distribution unbiased (averaging would shrink the
      standard deviation and the entropy); a 224 x 224 crop at the default 16384 gives stride 2.
    * ``grey``: ``(h, w)`` float64 grey in [0, 1] (BT.601 luma) at the working resolution: crops whose longer
      side exceeds ``working_size`` are shrunk by area averaging (``cv2.INTER_AREA``, the anti-aliased
      choice) keeping their aspect ratio; smaller crops are used as they are, since upsampling adds no
      information. Fixing the scale makes LBP/HOG comparable across crop sizes and bounds their cost.
    """

    def __init__(self, crop: Any, box: Box | Sequence[float] | None = None, mask: np.ndarray | None = None,
                 working_size: int = 96, max_color_pixels: int = 16384):
        self.rgb, self.full_scale = rgb_and_full_scale(crop)
        self.box = box
        self.mask = mask
        self.working_size = working_size
        self.max_color_pixels = max_color_pixels

    @property
    def shape(self) -> tuple[int, int]:
        return self.rgb.shape[0], self.rgb.shape[1]

    @cached_property
    def channels(self) -> np.ndarray:
        """``(3, N)`` float64 RGB in [0, 1] of the colour subsample, channel-major (fast per-channel sums)."""
        h, w = self.shape
        step = max(1, math.ceil(math.sqrt(h * w / self.max_color_pixels)))
        sample = self.rgb[::step, ::step] if step > 1 else self.rgb
        # one numpy call converts and scales (call count, not arithmetic, is the cost at this size)
        # order="C": channel-major in memory, so per-channel reductions run over contiguous rows
        channels = np.divide(sample.transpose(2, 0, 1), self.full_scale, dtype=np.float64, order="C")
        return channels.reshape(3, -1)

    @property
    def color_pixels(self) -> np.ndarray:
        """The same subsample as ``(N, 3)`` pixels (a transposed view of :attr:`channels`)."""
        return self.channels.T

    @cached_property
    def working_rgb(self) -> np.ndarray:
        """``(h, w, 3)`` float64 RGB in [0, 1] at the working resolution (the grid :attr:`grey` lives on):
        crops whose longer side exceeds ``working_size`` are shrunk by area averaging."""
        rgb = self.rgb
        h, w = self.shape
        longest = max(h, w)
        if longest > self.working_size:
            factor = self.working_size / longest
            size = (max(1, round(w * factor)), max(1, round(h * factor)))
            # OpenCV resizes uint8, uint16 and float32; float64 and float16 go through float32
            source = rgb if rgb.dtype in (np.uint8, np.uint16, np.float32) else rgb.astype(np.float32)
            rgb = cv2.resize(np.ascontiguousarray(source), size, interpolation=cv2.INTER_AREA)
        return np.divide(rgb, self.full_scale, dtype=np.float64)

    @cached_property
    def grey(self) -> np.ndarray:
        rgb = self.working_rgb
        # element-wise, not a BLAS product: equal pixels must give bit-equal greys, or 1-ulp differences
        # would flip LBP bits on flat areas
        return LUMA_WEIGHTS[0] * rgb[:, :, 0] + LUMA_WEIGHTS[1] * rgb[:, :, 1] + LUMA_WEIGHTS[2] * rgb[:, :, 2]

    def field_of_view(self, level: float = 0.08, erode: int = 0) -> np.ndarray:
        """Boolean ``(h, w)`` mask on the working grid of the endoscope's field of view: the largest region
        whose brightest channel exceeds ``level`` (:func:`~explainendo.io.image.largest_bright_region`; the
        whole crop when that region is under 10% of it), shrunk by ``erode`` pixels (3 x 3 steps) so that
        measurements of edges and blur never see the border of the field itself. Cached per argument pair."""
        key = (float(level), int(erode))
        cache = self.__dict__.setdefault("_fov_cache", {})
        if key not in cache:
            if erode > 0:  # eroded from the level's own field (found once per level, whatever the erosions)
                mask = cv2.erode(self.field_of_view(level, 0).astype(np.uint8), np.ones((3, 3), np.uint8),
                                 iterations=int(erode), borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)
            else:
                from ..io.image import largest_bright_region

                region = largest_bright_region(self.brightest, level)
                mask = np.ones(self.grey.shape, bool) if region is None else region
            cache[key] = mask
        return cache[key]

    @cached_property
    def brightest(self) -> np.ndarray:
        """``(h, w)`` float64: the brightest channel ``max(R, G, B)`` of :attr:`working_rgb` (the field of view's
        and the highlights' measure), computed once per crop."""
        from ..io.image import brightest_channel

        return brightest_channel(self.working_rgb)

    @cached_property
    def darkest(self) -> np.ndarray:
        """``(h, w)`` float64: ``min(R, G, B)`` of :attr:`working_rgb`."""
        rgb = self.working_rgb
        return np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])

    def pixels_in(self, level: float = 0.08, erode: int = 0) -> np.ndarray:
        """``(N, 3)`` float64 RGB of :attr:`working_rgb` inside :meth:`field_of_view` (row-major order), cached per
        argument pair (``fluid_colour`` and ``exposure`` both read the un-eroded field's pixels)."""
        key = (float(level), int(erode))
        cache = self.__dict__.setdefault("_pixels_cache", {})
        if key not in cache:
            cache[key] = self.working_rgb[self.field_of_view(level, erode)]
        return cache[key]
