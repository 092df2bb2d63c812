"""Safe image reading: every input becomes a contiguous RGB uint8 array ``(H, W, 3)`` or a typed error.

Accepted sources: a path (``str`` / ``PathLike``), encoded ``bytes``, a PIL image, or a numpy array
(uint8, uint16 (scaled by 257), bool, float in [0, 1] or [0, 255]; ``(H, W)``, ``(H, W, 1|3|4)``).
Handled with a clear :class:`InvalidImageError`: missing file, directory, zero bytes, non-image content,
truncated or corrupt files, decompression bombs (``max_pixels``), images below ``min_size``, NaN/inf,
wrong ndim or channel count. Greyscale, palette, RGBA (alpha dropped over black... see ``_to_rgb``),
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
        arr = _array_to_rgb(source)
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
        return _array_to_rgb(arr.astype(np.uint16))
    if mode == "F":
        return _array_to_rgb(np.asarray(im, dtype=np.float32))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA").convert("RGB")  # alpha dropped: endoscopy frames carry no transparency
    elif mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    arr = np.asarray(im, dtype=np.uint8)
    return np.array(arr, copy=True)  # a bare array: no reference to the PIL object or its metadata


def _array_to_rgb(arr: np.ndarray) -> np.ndarray:
    a = np.asarray(arr)
    if a.size == 0:
        raise InvalidImageError("empty array", source=a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    elif a.ndim == 3 and a.shape[2] == 3:
        pass
    else:
        raise InvalidImageError(f"expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {a.shape}",
                                source=arr, hint="channels-first arrays need .transpose(1, 2, 0)")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        return (a.astype(np.uint32) // 257).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise InvalidImageError(f"integer values outside [0, 255] (min {a.min()}, max {a.max()})", source=arr,
                                    hint="rescale to uint8, or pass uint16 data as dtype uint16")
        return a.astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InvalidImageError("array contains NaN or inf", source=arr, hint="clean the array first")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0:
            raise InvalidImageError(f"negative values (min {lo})", source=arr,
                                    hint="floats must lie in [0, 1] or [0, 255]")
        if hi <= 1.0:
            return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
        if hi <= 255.0:
            return np.clip(np.rint(a), 0, 255).astype(np.uint8)
        raise InvalidImageError(f"float values up to {hi} exceed 255", source=arr,
                                hint="floats must lie in [0, 1] or [0, 255]")
    raise InvalidImageError(f"unsupported dtype {a.dtype}", source=arr)
