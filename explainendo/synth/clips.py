"""Generated endoscopy clips with KNOWN frozen spans, to measure a freeze detector.

A clip films one phantom (a gastric or ERCP image from :func:`explainendo.synth.generate`, or any RGB image) with a
virtual scope. Its frames, in order:

* ``approach``: the scope closes in on the lesion: the view's centre moves from the image centre to the lesion's
  box centre and the zoom grows from 1 to ``zoom`` (smoothstep easing), with tremor;
* then, once per entry of ``frozen_frames``: ``hold`` (the scope rests on the lesion: only tremor) and ``frozen``
  (the first frozen frame is a live frame, repeated as is for the rest of the span);
* ``resume``: live again, resting for the first half and pulling back to zoom 1 over the second.

Every live frame is a new picture: *tremor* is a mean-reverting random walk of the view (offset
``o_t = 0.8 o_{t-1} + N(0, motion)`` output pixels per axis, zoom times ``1 + N(0, 0.002)``, rotation
``N(0, 0.1)`` degrees), continuing unseen while the display is frozen; *sensor noise* is Gaussian, ``noise``
grey levels per pixel and channel, drawn anew for every live frame. A frozen frame is a pixel copy of the span's
first frame, so without the two options below it is identical to it. Options that make a freeze imperfect, as
recorders and processors do:

* ``clock``: a ``HH:MM:SS`` clock printed in the lower right corner of every frame, running on while frozen;
* ``compression=(low, high)``: every frame (live and frozen) JPEG-encoded at a quality drawn from ``low..high``,
  so the copies of a frozen frame differ by compression noise.

A clip is a pure function of its arguments (``seed`` draws the tremor, the noise, the clock and the qualities):
the same call gives the same frames byte for byte. :func:`generate_clips` draws a varied set of clip designs from
gastric and ERCP phantoms; ``benchmarks/freeze.py`` runs a :class:`~explainendo.video.FreezeDetector` over them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..video.freeze import FrameSpan, frozen_mask

PHASES = ("approach", "hold", "frozen", "resume")


@dataclass
class Clip:
    """A generated clip: ``frames`` ``(T, H, W, 3)`` RGB uint8, the true ``frozen_spans`` (half-open
    :class:`~explainendo.video.FrameSpan`), ``fps``, each frame's ``phases`` entry and ``meta`` (the design)."""

    frames: np.ndarray
    frozen_spans: list[FrameSpan]
    fps: float
    phases: list[str]
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def frozen(self) -> np.ndarray:
        """Per-frame truth: True on the frames of a frozen span."""
        return frozen_mask(self.frozen_spans, len(self))

    @property
    def timestamps(self) -> np.ndarray:
        """Seconds from the first frame (``index / fps``)."""
        return np.arange(len(self)) / self.fps

    def write(self, path: str | os.PathLike, fourcc: str = "mp4v") -> Path:
        """Write the clip as a video (``cv2.VideoWriter``, codec ``fourcc``); returns the path.

        A lossy codec changes the pixels: read back, frozen frames differ by compression noise and live frames
        lose part of their sensor noise (the freeze benchmark's ``--mp4`` measures that case)."""
        import cv2

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        h, w = self.frames.shape[1:3]
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(self.fps), (w, h))
        if not writer.isOpened():
            raise ConfigError(f"cannot write a {fourcc!r} video to {path}",
                              hint="check the folder is writable and that OpenCV has the codec ('mp4v' always is)")
        try:
            for frame in self.frames:
                writer.write(np.ascontiguousarray(frame[..., ::-1]))
        finally:
            writer.release()
        return path


# ---- one clip ------------------------------------------------------------------------------------------------
def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def _check_count(name: str, value: Any, minimum: int = 0) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"make_clip({name}={value!r}) must be an integer >= {minimum}")
    return int(value)


def _render(source: np.ndarray, centre: tuple[float, float], scale: float, angle: float, size: int) -> np.ndarray:
    """The ``size`` x ``size`` view centred on ``centre`` (source pixels), ``scale`` source pixels per output
    pixel, rotated by ``angle`` radians; float32 RGB."""
    import cv2

    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    u0 = v0 = size / 2.0
    m = np.float32([[c, -s, centre[0] - (c * u0 - s * v0)],
                    [s, c, centre[1] - (s * u0 + c * v0)]])
    return cv2.warpAffine(source, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def _clock(frame: np.ndarray, seconds: float) -> None:
    """Print ``HH:MM:SS`` in the lower right corner (in place)."""
    import cv2

    s = int(seconds) % 86400
    text = f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"
    h, w = frame.shape[:2]
    scale = max(w / 420.0, 0.2)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.putText(frame, text, (w - tw - max(2, w // 64), h - max(2, h // 64)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (235, 235, 235), 1, cv2.LINE_AA)


def _jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always has JPEG
        raise ConfigError("OpenCV could not JPEG-encode a frame")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def make_clip(image: np.ndarray, box: Sequence[float] | None = None, *, seed: int = 0, size: int = 128,
              fps: float = 25.0, approach_frames: int = 30, hold_frames: int = 20,
              frozen_frames: int | Sequence[int] = 25, resume_frames: int = 20, zoom: float = 2.0,
              motion: float = 0.4, noise: float = 2.0, clock: bool = False,
              compression: tuple[int, int] | None = None) -> Clip:
    """One clip filming ``image`` (RGB uint8) towards ``box`` (pixel ``xyxy``; None: the image centre).

    ``frozen_frames``: the length of each freeze (an int, or one int per freeze; 0 or ``()``: a live clip
    without any). ``size``: the clip's frame side in pixels (square frames). ``zoom``: the magnification reached
    at the end of the approach (1 = the whole image in view). ``motion``: tremor step in output pixels;
    ``noise``: sensor noise in grey levels. ``clock`` and ``compression``: see the module docstring.
    Deterministic for a ``seed``.
    """
    import cv2

    from ..io.image import as_rgb_uint8

    src = as_rgb_uint8(image)
    freezes = [frozen_frames] if isinstance(frozen_frames, (int, np.integer)) else list(frozen_frames)
    freezes = [_check_count("frozen_frames", f) for f in freezes]
    freezes = [f for f in freezes if f > 0]
    if any(f < 2 for f in freezes):
        raise ConfigError(f"make_clip(frozen_frames={frozen_frames!r}): a freeze repeats its frame, so it lasts "
                          "at least 2 frames")
    approach_frames = _check_count("approach_frames", approach_frames, 1)
    hold_frames = _check_count("hold_frames", hold_frames)
    resume_frames = _check_count("resume_frames", resume_frames, 1)
    size = _check_count("size", size, 16)
    if not (zoom >= 1.0 and math.isfinite(zoom)):
        raise ConfigError(f"make_clip(zoom={zoom!r}) must be a finite number >= 1")
    if not (fps > 0 and math.isfinite(fps)):
        raise ConfigError(f"make_clip(fps={fps!r}) must be a positive number")
    if compression is not None and not (1 <= compression[0] <= compression[1] <= 100):
        raise ConfigError(f"make_clip(compression={compression!r}) must be (low, high) JPEG qualities in 1..100")

    rng = np.random.default_rng([int(seed), 919])
    height, width = src.shape[:2]
    side = float(min(height, width))
    # pre-blur so that the zoomed-out views (several source pixels per output pixel) do not alias
    sigma = 0.5 * side / size
    source = cv2.GaussianBlur(src, (0, 0), sigma).astype(np.float32) if sigma > 0.5 else src.astype(np.float32)
    start = (width / 2.0, height / 2.0)
    target = start if box is None else ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)

    phases = ["approach"] * approach_frames
    spans = []
    for f in freezes:
        phases += ["hold"] * hold_frames
        spans.append(FrameSpan(len(phases), len(phases) + f))
        phases += ["frozen"] * f
    phases += ["resume"] * resume_frames
    n = len(phases)
    clock_start = float(rng.uniform(8 * 3600, 17 * 3600))

    frames = np.empty((n, size, size, 3), np.uint8)
    offset = np.zeros(2)
    frozen_picture = None
    span_starts = {span.start for span in spans}
    resume_at = n - resume_frames
    for t, phase in enumerate(phases):
        # the scope moves on every frame, frozen or not
        offset = 0.8 * offset + rng.normal(0.0, motion, 2)
        zoom_jitter = 1.0 + rng.normal(0.0, 0.002)
        angle = math.radians(rng.normal(0.0, 0.1))
        if phase == "approach":
            k = _smoothstep(t / max(approach_frames - 1, 1))
        elif phase == "resume" and t - resume_at >= resume_frames // 2:
            k = 1.0 - _smoothstep((t - resume_at - resume_frames // 2 + 1) / max(resume_frames - resume_frames // 2, 1))
        else:
            k = 1.0
        z = (1.0 + (zoom - 1.0) * k) * zoom_jitter
        scale = side / (size * z)
        centre = (start[0] + (target[0] - start[0]) * k + offset[0] * scale,
                  start[1] + (target[1] - start[1]) * k + offset[1] * scale)
        sensor = rng.normal(0.0, noise, (size, size, 3)).astype(np.float32) if noise > 0 else 0.0
        if phase == "frozen" and t not in span_starts:
            picture = frozen_picture.copy()
        else:
            live = _render(source, centre, scale, angle, size) + sensor
            picture = np.clip(np.rint(live), 0, 255).astype(np.uint8)
            frozen_picture = picture if phase == "frozen" else None
        if clock:
            _clock(picture, clock_start + t / fps)
        quality = int(rng.integers(compression[0], compression[1] + 1)) if compression is not None else None
        frames[t] = _jpeg(picture, quality) if quality is not None else picture

    meta = {"seed": int(seed), "size": size, "fps": float(fps), "approach_frames": approach_frames,
            "hold_frames": hold_frames, "frozen_frames": freezes, "resume_frames": resume_frames, "zoom": float(zoom),
            "motion": float(motion), "noise": float(noise), "clock": bool(clock),
            "compression": None if compression is None else [int(compression[0]), int(compression[1])]}
    return Clip(frames, spans, float(fps), phases, meta)


# ---- a varied set --------------------------------------------------------------------------------------------
#: the ranges :func:`generate_clips` draws each clip's design from (uniform; integers inclusive)
CLIP_DESIGN = {
    "approach_frames": (20, 40), "hold_frames": (8, 30), "frozen_frames": (10, 60), "resume_frames": (16, 36),
    "zoom": (1.5, 2.5), "motion": (0.2, 0.8), "noise": (1.5, 3.0),
    "freezes": {0: 0.15, 1: 0.6, 2: 0.25}, "p_clock": 0.5, "p_compression": 0.5, "compression": (85, 95),
}


def generate_clips(n: int, systems: str | Sequence[str] = ("gastric", "ercp"), seed: int = 0, size: int = 128,
                   source_size: int = 256, fps: float = 25.0, design: dict | None = None) -> list[Clip]:
    """``n`` clips with varied designs, clip ``i`` filming a phantom of ``systems[i % len(systems)]``.

    Each clip's lengths, zoom, tremor, noise, number of freezes (0, 1 or 2), clock and compression are drawn
    from :data:`CLIP_DESIGN` (``design`` overrides entries) with a generator seeded by ``(seed, i)``; the
    phantoms are ``generate(system, ..., seed=seed, size=source_size)``, the lesion's box the zoom target.
    ``clip.meta`` records the design, the system and the phantom's row.
    """
    from .phantoms import generate

    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"generate_clips(n={n!r}) must be a positive integer")
    systems = [systems] if isinstance(systems, str) else list(systems)
    unknown = sorted(set(design or {}) - set(CLIP_DESIGN))
    if unknown:
        raise ConfigError(f"generate_clips(design=...) has unknown entries {unknown}",
                          hint=f"known: {sorted(CLIP_DESIGN)}")
    d = {**CLIP_DESIGN, **(design or {})}
    per_system = {s: -(-int(n) // len(systems)) for s in systems}
    phantoms = {s: generate(s, int(per_system[s]), seed=seed, size=source_size) for s in systems}
    clips = []
    for i in range(int(n)):
        system = systems[i % len(systems)]
        row = i // len(systems)
        ph = phantoms[system]
        cols = ["x1", "y1", "x2", "y2"]
        box = ph.table.loc[row, cols].to_numpy(dtype=float) if all(c in ph.table for c in cols) else None
        box = None if box is None or not np.isfinite(box).all() else box
        rng = np.random.default_rng([int(seed), 929, i])
        integer = lambda key: int(rng.integers(d[key][0], d[key][1] + 1))  # noqa: E731
        uniform = lambda key: float(rng.uniform(*d[key]))  # noqa: E731
        counts, probs = zip(*sorted(d["freezes"].items()))
        n_freezes = int(rng.choice(counts, p=np.asarray(probs) / np.sum(probs)))
        clip = make_clip(ph.images[row], box, seed=int(rng.integers(2**31)), size=size, fps=fps,
                         approach_frames=integer("approach_frames"), hold_frames=integer("hold_frames"),
                         frozen_frames=[integer("frozen_frames") for _ in range(n_freezes)],
                         resume_frames=integer("resume_frames"), zoom=uniform("zoom"), motion=uniform("motion"),
                         noise=uniform("noise"), clock=bool(rng.random() < d["p_clock"]),
                         compression=tuple(d["compression"]) if rng.random() < d["p_compression"] else None)
        clip.meta.update(system=system, phantom=str(ph.table.loc[row, "image"]), phantom_seed=int(seed),
                         clip_index=i)
        clips.append(clip)
    return clips
