"""One way to turn "images" into frames, for every ``predict`` / ``locate`` in the library.

``images`` may be a path to an image, a folder (its images, sorted), a video file (its frames), a live source
(:class:`Capture`, or a bare capture-device index such as ``0``), an array, a PIL image, bytes, or a list / tuple /
generator of any of these. :func:`iter_frames` yields one :class:`Frame` per image, reading lazily; a broken item
yields a ``Frame`` with ``error`` set instead of stopping the batch, so a run over 1,000 images with 3 broken ones
gives 997 images and names the 3.

A video file's frames carry ``timestamp = index / fps``. A frame the decoder cannot decode in the middle of a file
(a damaged packet) yields an error ``Frame`` at its index and the reading goes on up to the frame count the container
declares, so the frames after the damage are not lost; reading stops at the first failure past that count (the
file's end), at the first failure when the container declares no count, and after ``MAX_DAMAGED_IN_A_ROW`` failures
in a row (a truncated file: one error ``Frame`` names the frames that are missing).

A live source (:class:`Capture`: a camera or frame grabber by its index, or a stream URL) is read until it ends or
``max_frames``; its frames carry the seconds since the first frame arrived on the monotonic clock (a capture
device's own position is unreliable), so the real-time mode of :class:`~explainendo.video.VideoSession` can tell
when it falls behind. Use it with ``predict(Capture(0), stream=True)``: without ``stream`` the results of an
endless source are collected in memory.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import ConfigError, InvalidImageError
from .image import read_image

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".mpg", ".mpeg", ".wmv", ".m4v")
#: undecodable frames in a row after which a video file counts as truncated (one error frame names the rest)
MAX_DAMAGED_IN_A_ROW = 50
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


@dataclass
class Capture:
    """A live source for :func:`iter_frames` / ``predict(..., stream=True)`` / ``VideoSession.run``: a capture device
    by its index (``0``: the first camera or frame grabber; what OpenCV's ``cv2.VideoCapture(index)`` opens) or a
    stream URL (``rtsp://...``, ``http://...``) or any path OpenCV opens.

    * ``max_frames``: stop after this many frames (None: until the source ends);
    * ``max_failures``: reads failing in a row after which the source counts as ended (a device unplugged, a
      stream closed); a single failed read (a dropped frame) is skipped;
    * ``backend``: an OpenCV capture API (``cv2.CAP_V4L2``, ``cv2.CAP_DSHOW``, ...) or None for OpenCV's choice;
    * ``clock``: seconds, monotonic (default :func:`time.monotonic`); the frames' timestamps are its readings
      less the first frame's.

    A source that cannot be opened, or that ends before its first frame, yields one error ``Frame`` saying so."""

    source: int | str
    max_frames: int | None = None
    max_failures: int = 25
    backend: int | None = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        src = self.source
        if isinstance(src, bool) or not (isinstance(src, (int, np.integer)) and src >= 0
                                         or isinstance(src, (str, os.PathLike)) and str(src)):
            raise ConfigError(f"Capture(source={src!r}) must be a device index >= 0 or a stream URL / path",
                              hint="e.g. Capture(0) for the first camera, Capture('rtsp://host/stream')")
        for name, value, least in (("max_frames", self.max_frames, 1), ("max_failures", self.max_failures, 1)):
            if value is None and name == "max_frames":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ConfigError(f"Capture({name}={value!r}) must be an integer >= {least}")
        if not callable(self.clock):
            raise ConfigError(f"Capture(clock={self.clock!r}) must be a function returning seconds")

    @property
    def name(self) -> str:
        return f"capture:{self.source}"


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
    if isinstance(images, Capture):
        yield from _capture_frames(images)
        return
    if isinstance(images, (int, np.integer)) and not isinstance(images, (bool, np.bool_)):
        yield from _capture_frames(Capture(int(images)))  # a capture-device index
        return
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
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)  # the container's count; 0 when unknown
        i = decoded = failed = 0
        while True:
            ok, bgr = cap.read()
            name = f"{path}#{i}"
            if not ok or bgr is None:
                if declared <= 0 or i >= declared:  # the end (or no count to check against)
                    break
                failed += 1
                if failed >= MAX_DAMAGED_IN_A_ROW:  # the data stop here: one error names the rest
                    yield name, Frame(name, error=f"'{path}': frames {i}-{declared - 1} of {declared} could not "
                                                  "be decoded (the file is truncated or damaged from here)",
                                      timestamp=i / fps if fps > 0 else None)
                    break
                # a damaged frame inside the file: report it, and read on (the decoder resynchronises)
                yield name, Frame(name, error=f"'{path}': frame {i} of {declared} could not be decoded (damaged "
                                              "data); the frames after it are read on",
                                  timestamp=i / fps if fps > 0 else None)
                i += 1
                continue
            failed = 0
            yield name, Frame(name, np.ascontiguousarray(bgr[..., ::-1]),
                              timestamp=i / fps if fps > 0 else None)
            i += 1
            decoded += 1
        if decoded == 0:
            yield str(path), Frame(str(path), error=f"'{path}': video holds no readable frame")
    finally:
        cap.release()


def _name_of(item: Any, default: str) -> str:
    if isinstance(item, (str, os.PathLike)):
        return str(item)
    return default


def _capture_frames(capture: Capture) -> Iterator[tuple[str, Any]]:
    """The frames of a live source (:class:`Capture`), stamped with the monotonic clock from the first frame."""
    import cv2

    source = capture.source if isinstance(capture.source, str) else (
        int(capture.source) if not isinstance(capture.source, os.PathLike) else str(capture.source))
    cap = cv2.VideoCapture(source) if capture.backend is None else cv2.VideoCapture(source, int(capture.backend))
    try:
        if not cap.isOpened():
            yield capture.name, Frame(capture.name, error=f"'{capture.name}': cannot open the capture device or "
                                                          "stream (not connected, in use by another program, no "
                                                          "permission, or a wrong URL)")
            return
        start: float | None = None
        i = failures = 0
        while capture.max_frames is None or i < capture.max_frames:
            ok, bgr = cap.read()
            now = float(capture.clock())
            if not ok or bgr is None:
                failures += 1
                if failures >= capture.max_failures:
                    break
                continue
            failures = 0
            start = now if start is None else start
            name = f"{capture.name}#{i}"
            yield name, Frame(name, np.ascontiguousarray(bgr[..., ::-1]), timestamp=now - start)
            i += 1
        if i == 0:
            yield capture.name, Frame(capture.name, error=f"'{capture.name}': no frame arrived "
                                                          f"({capture.max_failures} reads failed)")
    finally:
        cap.release()
