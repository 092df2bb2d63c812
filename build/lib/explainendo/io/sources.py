"""One way to turn "images" into frames, for every ``predict`` / ``locate`` in the library.

``images`` may be a path to an image, a folder (its images, sorted), a video file (its frames), an array,
a PIL image, bytes, or a list / tuple / generator of any of these. :func:`iter_frames` yields one
:class:`Frame` per image, reading lazily; a broken item yields a ``Frame`` with ``error`` set instead of
stopping the batch, so a run over 1,000 images with 3 broken ones gives 997 images and names the 3.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..errors import InvalidImageError
from .image import read_image

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".wmv", ".m4v")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class Frame:
    """One input image: ``name`` (path, ``video.mp4#12`` or ``array[3]``), ``image`` or ``error``."""

    name: str
    image: np.ndarray | None = None
    error: str | None = None
    index: int = 0
    #: seconds from the start of the video (its position / frame rate); None for still images
    timestamp: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def is_single_image(images: Any) -> bool:
    """True when ``images`` denotes one image (so ``predict`` returns one result, not a list)."""
    if isinstance(images, np.ndarray):
        return images.ndim in (2, 3)
    if isinstance(images, (bytes, bytearray)):
        return True
    if isinstance(images, (str, os.PathLike)):
        p = Path(images)
        return not p.is_dir() and p.suffix.lower() not in VIDEO_EXTENSIONS
    try:
        from PIL import Image
        return isinstance(images, Image.Image)
    except ImportError:  # pragma: no cover
        return False


def iter_frames(images: Any, **read_kw: Any) -> Iterator[Frame]:
    """Yield a :class:`Frame` for every image in ``images`` (see the module docstring)."""
    counter = 0
    for name, item in _expand(images):
        if isinstance(item, Frame):  # a video frame or an expansion error, already decoded
            item.index = counter
            counter += 1
            yield item
            continue
        try:
            img = read_image(item, **read_kw)
            yield Frame(name, img, None, counter)
        except InvalidImageError as exc:
            yield Frame(name, None, str(exc), counter)
        counter += 1


def _expand(images: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(images, np.ndarray) and images.ndim == 4:  # a stack of frames
        for i, a in enumerate(images):
            yield f"array[{i}]", a
        return
    if is_single_image(images):
        yield _name_of(images, prefix or "array"), images
        return
    if isinstance(images, (str, os.PathLike)):
        p = Path(images)
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                yield str(p), Frame(str(p), error=f"'{p}': folder holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            for f in files:
                yield str(f), f
            return
        yield from _video_frames(p)
        return
    if isinstance(images, Iterable):
        for i, item in enumerate(images):
            if is_single_image(item):
                yield _name_of(item, f"array[{i}]"), item
            else:
                yield from _expand(item, prefix=f"item[{i}]")
        return
    yield f"item", images  # read_image raises a clear error for the unsupported type


def _video_frames(path: Path) -> Iterator[tuple[str, Any]]:
    import cv2

    if not path.is_file():
        yield str(path), Frame(str(path), error=f"'{path}': video file not found")
        return
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            yield str(path), Frame(str(path), error=f"'{path}': cannot open video (codec or file damaged)")
            return
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        i = 0
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            name = f"{path}#{i}"
            yield name, Frame(name, np.ascontiguousarray(bgr[..., ::-1]),
                              timestamp=i / fps if fps > 0 else None)
            i += 1
        if i == 0:
            yield str(path), Frame(str(path), error=f"'{path}': video holds no readable frame")
    finally:
        cap.release()


def _name_of(item: Any, default: str) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    return default
