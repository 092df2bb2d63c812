"""Safe image reading: every input becomes a contiguous RGB uint8 array ``(H, W, 3)`` or a typed error.

Accepted sources: a path (``str`` / ``PathLike``), encoded ``bytes``, a PIL image, or a numpy array
(the dtype and shape rules of :func:`as_rgb_uint8`, the one normaliser every part of the library uses).
Handled with a clear :class:`InvalidImageError`: missing file, directory, zero bytes, non-image content,
truncated or corrupt files, decompression bombs (``max_pixels``), images below ``min_size``, NaN/inf,
wrong ndim or channel count. Greyscale, palette, RGBA (alpha dropped),
16-bit and CMYK images are converted; EXIF orientation is applied. Metadata is never carried along:
the result is a bare array.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ..errors import InvalidImageError

DEFAULT_MAX_PIXELS = 100_000_000  # ~10k x 10k: far above any endoscope frame, far below a bomb
DEFAULT_MIN_SIZE = 8

ImageFile.LOAD_TRUNCATED_IMAGES = False  # truncated files must fail, not decode half-grey


def read_image(source: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS, min_size: int = DEFAULT_MIN_SIZE
               ) -> np.ndarray:
    """Read ``source`` into a contiguous RGB uint8 array ``(H, W, 3)``.

    ``max_pixels`` refuses decompression bombs before decoding; ``min_size`` refuses images whose
    shorter side is below it (tiny thumbnails carry no lesion detail).
    """
    if isinstance(source, np.ndarray):
        arr = as_rgb_uint8(source)
    elif isinstance(source, Image.Image):
        arr = _pil_to_rgb(source, source_name=source, max_pixels=max_pixels)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise InvalidImageError("zero bytes", source=data, hint="the image data is empty")
        arr = _decode(io.BytesIO(data), data, max_pixels)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InvalidImageError("file not found", source=path, hint="check the path")
        if path.is_dir():
            raise InvalidImageError("is a directory, not an image file", source=path,
                                    hint="pass an image file, or use a folder loader")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise InvalidImageError(f"cannot stat file ({exc.strerror})", source=path) from None
        if size == 0:
            raise InvalidImageError("zero bytes", source=path, hint="the file is empty; re-export it")
        try:
            with open(path, "rb") as fh:
                arr = _decode(fh, path, max_pixels)
        except PermissionError:
            raise InvalidImageError("permission denied", source=path) from None
    else:
        raise InvalidImageError(f"unsupported image source type {type(source).__name__}", source=source,
                                hint="pass a path, bytes, a PIL image or a numpy array")
    h, w = arr.shape[:2]
    if min(h, w) < min_size:
        raise InvalidImageError(f"image is {w}x{h}, smaller than the minimum side {min_size}",
                                source=source if not isinstance(source, np.ndarray) else arr,
                                hint="pass min_size= to accept smaller images")
    return np.ascontiguousarray(arr)


def read_image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` from the header only (after EXIF rotation), without decoding pixels."""
    try:
        with _pil_open(path) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # noqa: BLE001 - broken EXIF is ignored for size purposes
                orientation = 1
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidImageError(f"not a readable image ({exc.__class__.__name__})", source=path) from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _pil_open(fh) -> Image.Image:
    """Pillow's own ``Image.open``.

    Importing ultralytics replaces ``PIL.Image.open`` with a wrapper that, on a file Pillow cannot identify,
    tries to install and import ``pi-heif``: offline that raises ``ModuleNotFoundError`` instead of
    ``UnidentifiedImageError``, so one broken file would escape our typed error. Use the original.
    """
    opener = Image.open
    if getattr(opener, "__module__", "").startswith("ultralytics"):
        opener = getattr(opener, "__globals__", {}).get("_image_open", opener)
    return opener(fh)


def _decode(fh, source_name, max_pixels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            old = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                im = _pil_open(fh)
                w, h = im.size
                if w * h > max_pixels:
                    raise InvalidImageError(
                        f"{w}x{h} = {w * h} pixels exceeds max_pixels={max_pixels} (decompression bomb guard)",
                        source=source_name, hint="raise max_pixels if the image is genuine")
                im.load()
            finally:
                Image.MAX_IMAGE_PIXELS = old
    except InvalidImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"decompression bomb: {exc}", source=source_name,
                                hint="raise max_pixels if the image is genuine") from None
    except UnidentifiedImageError:
        raise InvalidImageError("not an image (unrecognised format)", source=source_name,
                                hint="expected JPEG, PNG, TIFF, BMP or another format Pillow reads") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImageError(f"corrupt or truncated image ({exc})", source=source_name,
                                hint="re-export the file") from None
    return _pil_to_rgb(im, source_name=source_name, max_pixels=max_pixels)


def _pil_to_rgb(im: Image.Image, source_name, max_pixels: int) -> np.ndarray:
    w, h = im.size
    if w * h > max_pixels:
        raise InvalidImageError(f"{w}x{h} exceeds max_pixels={max_pixels}", source=source_name)
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the image
        pass
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im)
        if arr.dtype != np.uint16 and mode == "I":
            arr = np.clip(arr, 0, 65535)
        return as_rgb_uint8(arr.astype(np.uint16))
    if mode == "F":
        return as_rgb_uint8(np.asarray(im, dtype=np.float32))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA").convert("RGB")  # alpha dropped: endoscopy frames carry no transparency
    elif mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    arr = np.asarray(im, dtype=np.uint8)
    return np.array(arr, copy=True)  # a bare array: no reference to the PIL object or its metadata


def as_rgb_uint8(image: Any, source: Any = None) -> np.ndarray:
    """The one RGB normaliser of the library: ``image`` as a contiguous ``(H, W, 3)`` uint8 array.

    Shapes: ``(H, W)`` and ``(H, W, 1)`` (grey) are repeated to three channels, ``(H, W, 3)`` is kept and
    ``(H, W, 4)`` loses its alpha channel; anything else is refused.

    Values, by dtype:

    * uint8: as is;
    * bool: False -> 0, True -> 255;
    * uint16: scaled by 255 / 65535 (``v / 257``) and rounded, so 65535 -> 255 and 257 k -> k;
    * other integers: read as 8-bit values; outside [0, 255] is refused;
    * floats: NaN or inf is refused; if every value lies in [0, 1] the scale is [0, 1] (times 255,
      rounded), else values in [0, 255] are the 8-bit scale (rounded); a negative value or one above 255
      is refused. (A float image whose maximum is at most 1 is always read as the [0, 1] scale.)

    Every refusal is an :class:`InvalidImageError` naming ``source`` (default: the array itself, shown by
    shape and dtype). Callers that want to skip a bad image catch that error.
    """
    rgb, full = rgb_and_full_scale(image, source)
    if rgb.dtype == np.uint8:
        return np.ascontiguousarray(rgb)
    if rgb.dtype == np.uint16:
        return ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)  # round(v / 257): never a tie
    return np.clip(np.rint(rgb.astype(np.float64) * (255.0 / full)), 0, 255).astype(np.uint8)


def rgb_and_full_scale(image: Any, source: Any = None) -> tuple[np.ndarray, float]:
    """The checks and the value rule of :func:`as_rgb_uint8` without rounding to 8 bits.

    Returns ``(rgb, full)``: ``rgb`` is ``(H, W, 3)`` (possibly a view) in uint8, uint16 or its float dtype,
    and ``full`` the value of full intensity in it (255, 65535, or 1.0 / 255.0 for floats by the rule
    above), so ``rgb / full`` is the image in [0, 1] at the input's own precision (what the handcrafted
    features work on). Raises what :func:`as_rgb_uint8` raises.
    """
    try:
        a = np.asarray(image)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise InvalidImageError(f"not an array ({exc})", source=source if source is not None else image,
                                hint="pass a numpy array (H, W) or (H, W, 1|3|4)") from None
    src = source if source is not None else a
    if a.size == 0:
        raise InvalidImageError(f"empty image (shape {a.shape})", source=src,
                                hint="check that the box or crop lies inside its frame")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    elif not (a.ndim == 3 and a.shape[2] == 3):
        raise InvalidImageError(f"expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {a.shape}",
                                source=src, hint="channels-first arrays need .transpose(1, 2, 0)")
    if a.dtype == np.uint8:
        return a, 255.0
    if a.dtype == np.uint16:
        return a, 65535.0
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255, 255.0
    if np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise InvalidImageError(f"integer values outside [0, 255] (min {a.min()}, max {a.max()})", source=src,
                                    hint="rescale to uint8, or pass uint16 data as dtype uint16")
        return a.astype(np.uint8), 255.0
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InvalidImageError("image contains NaN or inf", source=src, hint="clean the array first")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0:
            raise InvalidImageError(f"negative values (min {lo:g})", source=src,
                                    hint="floats must lie in [0, 1] or [0, 255]")
        if hi > 255.0:
            raise InvalidImageError(f"float values up to {hi:g} exceed 255", source=src,
                                    hint="floats must lie in [0, 1] or [0, 255]")
        return a, (1.0 if hi <= 1.0 else 255.0)
    raise InvalidImageError(f"unsupported dtype {a.dtype}", source=src,
                            hint="pass uint8, uint16, bool, integer or float pixels (paths go through read_image)")


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """The one network-input resize of the library: ``image`` stretched to ``size`` x ``size``, by area
    averaging (anti-aliased) when a side shrinks, bilinear when it only grows."""
    import cv2

    h, w = image.shape[:2]
    shrink = h > size or w > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def brightest_channel(image: np.ndarray) -> np.ndarray:
    """``image.max(axis=2)`` of an ``(H, W, C)`` array (a 2-D one as it is), as element-wise maxima of the channel
    planes: the same values, many times faster than numpy's reduction over a short last axis (issue 21)."""
    a = np.asarray(image)
    if a.ndim != 3:
        return a
    out = np.maximum(a[..., 0], a[..., 1]) if a.shape[2] > 1 else a[..., 0].copy()
    for c in range(2, a.shape[2]):
        np.maximum(out, a[..., c], out=out)
    return out


def largest_bright_region(brightness: np.ndarray, level: float, min_fraction: float = 0.1) -> np.ndarray | None:
    """The field of view of an endoscopic frame: the largest 4-connected region of ``brightness > level``
    (``brightness`` a 2-D array, e.g. the max over RGB) with its holes filled (a dark lumen or a dark pixel lies
    inside the view), as a boolean mask; None when that region covers less than ``min_fraction`` of the frame (a
    dark or borderless frame: the caller uses the whole frame). Taking the largest region keeps burnt-in text and
    markers in the black border out.

    Computed with OpenCV's connected components (the holes: the parts of the region's complement that touch no
    edge, 4-connected, as ``scipy.ndimage.binary_fill_holes``), the same mask as scipy's labelling, several times
    faster on a 640 x 480 frame; two regions tied for the largest go through scipy (the first in raster order)."""
    found = _largest_bright_component(brightness, level, min_fraction)
    if found is None:
        return None
    labels, largest = found
    region = labels == largest
    _, holes, stats, _ = cv2_components(~region)
    h, w = region.shape
    x, y, bw, bh = (stats[:, i] for i in range(4))
    enclosed = np.flatnonzero((x > 0) & (y > 0) & (x + bw < w) & (y + bh < h))
    enclosed = enclosed[enclosed > 0]
    if enclosed.size:
        region |= np.isin(holes, enclosed) if enclosed.size > 1 else holes == enclosed[0]
    return region


def largest_bright_box(brightness: np.ndarray, level: float, min_fraction: float = 0.1
                       ) -> tuple[int, int, int, int] | None:
    """``(x1, y1, x2, y2)`` (pixel edges) of :func:`largest_bright_region`'s mask, without building it (filling
    holes never moves the bounding box); None where that function gives None."""
    found = _largest_bright_component(brightness, level, min_fraction, need_labels=False)
    if found is None:
        return None
    x, y, w, h = found
    return int(x), int(y), int(x + w), int(y + h)


def cv2_components(mask: np.ndarray):
    """OpenCV's 4-connected components of a boolean mask: ``(n, labels, stats, centroids)``."""
    import cv2

    return cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4, ltype=cv2.CV_32S)


def _largest_bright_component(brightness: np.ndarray, level: float, min_fraction: float, need_labels: bool = True):
    """The largest 4-connected component of ``brightness > level``: ``(labels, its label)``, or with
    ``need_labels=False`` its bounding box ``(x, y, w, h)``; None when it is smaller than ``min_fraction`` of the
    frame or there is none. Two components tied for the largest: scipy's labelling decides (its first in raster
    order), so the choice is the one of the scipy implementation this replaced."""
    import cv2

    bright = np.asarray(brightness) > level
    n, labels, stats, _ = cv2_components(bright)
    if n <= 1:
        return None
    sizes = stats[1:, cv2.CC_STAT_AREA]
    top = int(sizes.max())
    if top < min_fraction * bright.size:
        return None
    winners = np.flatnonzero(sizes == top) + 1
    if winners.size > 1:
        from scipy import ndimage

        scipy_labels, _ = ndimage.label(bright)
        first = {int(scipy_labels[labels == k].flat[0]): int(k) for k in winners}  # raster-first pixel's scipy label
        winner = first[min(first)]
    else:
        winner = int(winners[0])
    if need_labels:
        return labels, winner
    return tuple(int(v) for v in stats[winner, :4])
