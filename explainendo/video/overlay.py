"""Draw a session's answer on its frame, as ENDOANGEL-ED's screen showed it, and write the annotated video.

:class:`Overlay` draws one :class:`~explainendo.video.VideoFrame` on a copy of its RGB pixels (OpenCV, no display):

* **the box** of the primary lesion (yellow; other lesions white, a detector's extra boxes green) with the
  *smoothed* label and its smoothed probability above it (the label that does not flicker);
* **a panel on the left**, as ENDOANGEL-ED's screen had beside the endoscopic view: the smoothed label, the frame's
  own call, then for a hybrid each attribute head's most probable class with its probability (the
  ``<attribute>.p_<class>`` features of the lesion, a bar per attribute), for a CNN the class probabilities;
* **a "FROZEN" marker** (top right) on frozen frames, and there the explanation: the top group sentences in the
  panel ("tone: reddened (0.83), +0.21") and the Grad-CAM of the top head blended over the region it explains.

The output has **exactly the input's size**: the panel is drawn *over* the left part of the image, on a darkened
background, rather than padding the frame, so that a video writer takes every frame as it is. On a processor's
output the left part is usually the black margin beside the round or octagonal endoscopic view; on a full-width
view the panel hides part of the picture (``panel_width`` sets its share, 0.28 by default).

The Grad-CAM shown is that of the top-contributing feature group that has a map (the ``location`` group is the
``landmark`` head's), else the CNN's ``diagnosis`` map, else the first map; a flat map (no heat) is passed over, and
with none left nothing is blended. A map shaped like the frame (a whole-frame
head) is blended over the whole frame; a crop map over the crop region: the lesion box enlarged ``enlarge`` times
(the diagnoser's ``enlarge``) and clipped, as the engine cut it.

:class:`OverlayWriter` draws and writes frames to an mp4 (``cv2.VideoWriter``, codec ``mp4v``) at the input's frame
rate: one written frame per frame given, an unreadable frame drawn on a black canvas with its error, so the output has
the input's frame count.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

log = logging.getLogger(__name__)

# colours are RGB (the frames are RGB)
BOX = (255, 215, 0)
OTHER_BOX = (255, 255, 255)
DETECTION = (0, 255, 0)
TEXT = (255, 255, 255)
DIM_TEXT = (190, 190, 190)
BAR = (125, 60, 152)
FROZEN = (200, 30, 30)
FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


def attribute_rows(features: dict[str, float]) -> list[tuple[str, str, float]]:
    """``(attribute, most probable class, its probability)`` per attribute head, from ``<attribute>.p_<class>``
    features, in the features' order; non-finite values are ignored."""
    best: dict[str, tuple[str, float]] = {}
    for key, p in features.items():
        if ".p_" not in key or p is None or not np.isfinite(p):
            continue
        attribute, cls = key.split(".p_", 1)
        if attribute not in best or p > best[attribute][1]:
            best[attribute] = (cls, float(p))
    return [(a, c, p) for a, (c, p) in best.items()]


def top_gradcam(explanation: Any) -> tuple[str, np.ndarray] | None:
    """The Grad-CAM to show for an explanation: ``(name, map)`` (module docstring: which). Flat maps (no heat,
    all zero after scaling) are passed over; None when no map has heat."""
    cams = {k: np.asarray(v, dtype=np.float32) for k, v in (getattr(explanation, "gradcams", None) or {}).items()}
    order = []
    for group in explanation.top_groups(len(explanation.group_shap)) if explanation.group_shap else []:
        order += [group] + (["landmark"] if group == "location" else [])
    order += ["diagnosis"] + list(cams)
    for name in order:
        cam = cams.get(name)
        if cam is not None and cam.size and np.nanmax(cam) > np.nanmin(cam):
            return name, cam
    return None


class Overlay:
    """Draws a :class:`~explainendo.video.VideoFrame` on its frame (module docstring).

    Parameters (stored; checked on :meth:`draw`): ``panel_width`` (share of the frame's width, in (0, 1]),
    ``top`` (explanation sentences shown), ``enlarge`` (the diagnoser's crop enlargement, to place a crop's
    Grad-CAM), ``cam_alpha`` (weight of the heatmap), ``panel_alpha`` (darkening of the panel's background),
    ``font_scale`` (None: from the frame's height, ``max(0.3, height / 1200)``).
    """

    def __init__(self, panel_width: float = 0.28, top: int = 3, enlarge: float = 1.0, cam_alpha: float = 0.4,
                 panel_alpha: float = 0.7, font_scale: float | None = None):
        self.panel_width = panel_width
        self.top = top
        self.enlarge = enlarge
        self.cam_alpha = cam_alpha
        self.panel_alpha = panel_alpha
        self.font_scale = font_scale

    def check_params(self) -> "Overlay":
        def number(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if not (number(self.panel_width) and 0 < self.panel_width <= 1):
            raise ConfigError(f"Overlay(panel_width={self.panel_width!r}) must lie in (0, 1] (share of the width)")
        if not (isinstance(self.top, int) and not isinstance(self.top, bool) and self.top >= 0):
            raise ConfigError(f"Overlay(top={self.top!r}) must be an integer >= 0 (sentences shown)")
        if not (number(self.enlarge) and self.enlarge >= 1.0):
            raise ConfigError(f"Overlay(enlarge={self.enlarge!r}) must be a number >= 1 (the diagnoser's enlarge)")
        for name in ("cam_alpha", "panel_alpha"):
            v = getattr(self, name)
            if not (number(v) and 0 <= v <= 1):
                raise ConfigError(f"Overlay({name}={v!r}) must lie in [0, 1]")
        if self.font_scale is not None and not (number(self.font_scale) and self.font_scale > 0):
            raise ConfigError(f"Overlay(font_scale={self.font_scale!r}) must be None or a positive number")
        return self

    # ---- the frame -----------------------------------------------------------------------------------------
    def draw(self, frame: Any, image: np.ndarray | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
        """The annotated frame, RGB uint8 of exactly the input's shape. ``image``: the pixels to draw on (default
        ``frame.image``); a frame without pixels (unreadable) is drawn on a black canvas of ``size`` = (width,
        height), which must then be given."""
        from ..io.image import as_rgb_uint8

        self.check_params()
        image = frame.image if image is None else image
        if image is None:
            if size is None:
                raise ConfigError(f"frame {frame.index} has no pixels to draw on ({frame.error or 'released'})",
                                  hint="draw before asking the session for the next frame, or pass size=(w, h) "
                                       "to draw it on a black canvas")
            width, height = int(size[0]), int(size[1])
            canvas = np.zeros((height, width, 3), np.uint8)
        else:
            canvas = as_rgb_uint8(image).copy()
        height, width = canvas.shape[:2]
        scale = self.font_scale or max(0.3, height / 1200.0)
        shown = frame.shown
        explanation = frame.explanation if frame.frozen else None
        if explanation is not None and image is not None:
            self._blend_cam(canvas, explanation)
        panel = self._panel(canvas, frame, shown, explanation, scale)
        if shown is not None and image is not None:
            self._boxes(canvas, frame, shown, scale, panel)
        if frame.frozen:
            self._marker(canvas, "FROZEN", scale)
        if image is None:
            self._centred(canvas, "unreadable frame", scale)
        return canvas

    # ---- pieces --------------------------------------------------------------------------------------------
    def _blend_cam(self, canvas: np.ndarray, explanation: Any) -> None:
        import cv2

        found = top_gradcam(explanation)
        if found is None or self.cam_alpha == 0:
            return
        _, cam = found
        height, width = canvas.shape[:2]
        if cam.shape == (height, width):
            rows, cols = slice(0, height), slice(0, width)
        else:
            box = explanation.lesion.box
            rows, cols = (box.enlarge(self.enlarge) if self.enlarge != 1.0 else box).pixel_slice(width, height)
        region = canvas[rows, cols]
        h, w = region.shape[:2]
        cam = cam if cam.shape == (h, w) else cv2.resize(cam, (w, h), interpolation=cv2.INTER_LINEAR)
        grey = np.clip(np.nan_to_num(cam) * 255.0, 0, 255).astype(np.uint8)
        colour = cv2.applyColorMap(grey, cv2.COLORMAP_JET)[..., ::-1].astype(np.float32)
        a = float(self.cam_alpha)
        canvas[rows, cols] = np.clip((1 - a) * region.astype(np.float32) + a * colour, 0, 255).astype(np.uint8)

    def _boxes(self, canvas: np.ndarray, frame: Any, shown: Any, scale: float, panel: int) -> None:
        import cv2

        height, width = canvas.shape[:2]
        thick = max(1, round(height / 240))
        for b in getattr(shown, "detections", []) or []:
            self._rectangle(canvas, b, DETECTION, thick)
        primary = shown.primary
        for i, lesion in enumerate(shown.lesions):
            if i != primary:
                self._rectangle(canvas, lesion.box, OTHER_BOX, max(1, thick - 1))
        if primary is None:
            return
        box = shown.lesions[primary].box
        self._rectangle(canvas, box, BOX, thick)
        label = frame.smoothed.label or shown.label
        p = frame.smoothed.probabilities.get(label) if frame.smoothed.label else shown.probability
        caption = f"{label} {p:.2f}" if p is not None else str(label)
        (tw, th), base = cv2.getTextSize(caption, FONT, scale, 1)
        x = int(min(max(box.x1, panel + 1), max(width - tw - 2, 0)))  # right of the panel when it would overlap
        y = int(box.y1) - base - 2
        if y - th < 0:  # no room above the box: inside it
            y = int(max(box.y1, 0)) + th + 2
        cv2.rectangle(canvas, (x, y - th - 2), (x + tw + 2, y + base), BOX, -1)
        cv2.putText(canvas, caption, (x + 1, y), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)

    @staticmethod
    def _rectangle(canvas: np.ndarray, box: Any, colour, thick: int) -> None:
        import cv2

        height, width = canvas.shape[:2]
        x1, y1 = int(round(min(max(box.x1, 0), width - 1))), int(round(min(max(box.y1, 0), height - 1)))
        x2, y2 = int(round(min(max(box.x2, 0), width) - 1)), int(round(min(max(box.y2, 0), height) - 1))
        cv2.rectangle(canvas, (x1, y1), (max(x2, x1), max(y2, y1)), colour, thick)

    def _panel(self, canvas: np.ndarray, frame: Any, shown: Any, explanation: Any, scale: float) -> int:
        """Draw the panel; returns its width in pixels."""
        import cv2

        height, width = canvas.shape[:2]
        pw = min(width, max(1, int(round(self.panel_width * width))))
        a = float(self.panel_alpha)
        canvas[:, :pw] = ((1 - a) * canvas[:, :pw].astype(np.float32) + a * 20.0).astype(np.uint8)
        margin = max(2, int(round(6 * scale)))
        (_, th), base = cv2.getTextSize("Ag", FONT, scale, 1)
        line = th + base + max(2, int(round(6 * scale)))
        room = pw - 2 * margin
        y = margin
        lines: list[tuple[str, tuple, float, float | None]] = []  # (text, colour, scale factor, bar value)
        label = frame.smoothed.label
        if label is not None:
            p = frame.smoothed.probabilities.get(label)
            lines.append((str(label), TEXT, 1.3, None))
            lines.append((f"p {p:.2f} (smoothed)" if p is not None else "", DIM_TEXT, 1.0, None))
        else:
            lines.append(("no diagnosis", TEXT, 1.3, None))
        lines.append((self._frame_call(frame), DIM_TEXT, 1.0, None))
        if shown is not None and shown.lesion is not None:
            rows = attribute_rows(shown.lesion.features)
            if rows:
                lines.append(("attributes", TEXT, 1.0, None))
                lines += [(f"{a}: {c} {p:.2f}", TEXT, 1.0, p) for a, c, p in rows]
            elif shown.probabilities:
                lines.append(("classes", TEXT, 1.0, None))
                lines += [(f"{c} {p:.2f}", TEXT, 1.0, float(p)) for c, p in shown.probabilities.items()]
        if frame.frozen:
            if explanation is not None:
                lines.append((f"why ({explanation.explained_class}):", TEXT, 1.0, None))
                lines += [(s, TEXT, 1.0, None) for s in explanation.sentences(self.top)]
                cam = top_gradcam(explanation) if self.cam_alpha > 0 else None
                lines.append((f"Grad-CAM: {cam[0]}" if cam else "Grad-CAM: no heat", DIM_TEXT, 1.0, None))
            elif frame.explain_error:
                lines.append((f"no explanation: {frame.explain_error}", DIM_TEXT, 1.0, None))
        for text, colour, factor, bar in lines:
            s = scale * factor
            step = int(round(line * factor))
            if y + step > height:
                break  # out of room: the rest is left out rather than drawn off the frame
            if bar is not None and np.isfinite(bar) and room > 0:
                cv2.rectangle(canvas, (margin, y + 1), (margin + int(round(room * min(max(bar, 0.0), 1.0))),
                                                         y + step - 2), BAR, -1)
            if text:
                cv2.putText(canvas, _fit(text, s, room), (margin, y + step - base - 2), FONT, s, colour, 1,
                            cv2.LINE_AA)
            y += step
        return pw

    @staticmethod
    def _frame_call(frame: Any) -> str:
        status = frame.status
        if status == "error":
            return "frame: unreadable"
        if status == "skipped":
            return "frame: skipped (real time)"
        if status == "no_lesion":
            return "frame: no lesion"
        r = frame.result
        return f"frame: {r.label} {r.probability:.2f}"

    @staticmethod
    def _marker(canvas: np.ndarray, text: str, scale: float) -> None:
        import cv2

        width = canvas.shape[1]
        s = scale * 1.2
        (tw, th), base = cv2.getTextSize(text, FONT, s, 2)
        pad = max(2, int(round(4 * scale)))
        x1 = max(width - tw - 3 * pad, 0)
        cv2.rectangle(canvas, (x1, pad), (width - pad, pad + th + base + 2 * pad), FROZEN, -1)
        cv2.putText(canvas, text, (x1 + pad, pad + th + pad), FONT, s, TEXT, 2, cv2.LINE_AA)

    @staticmethod
    def _centred(canvas: np.ndarray, text: str, scale: float) -> None:
        import cv2

        height, width = canvas.shape[:2]
        (tw, th), _ = cv2.getTextSize(text, FONT, scale, 1)
        cv2.putText(canvas, text, (max((width - tw) // 2, 0), (height + th) // 2), FONT, scale, TEXT, 1, cv2.LINE_AA)


def _fit(text: str, scale: float, room: int) -> str:
    """``text`` cut (with ``..``) to fit ``room`` pixels."""
    import cv2

    if room <= 0 or cv2.getTextSize(text, FONT, scale, 1)[0][0] <= room:
        return text
    while len(text) > 1 and cv2.getTextSize(text + "..", FONT, scale, 1)[0][0] > room:
        text = text[:-1]
    return text + ".."


# ---- the annotated video ------------------------------------------------------------------------------------------
class OverlayWriter:
    """Draw each :class:`~explainendo.video.VideoFrame` with ``overlay`` and write it to ``path`` (an mp4 by default).

    ``fps``: the input's frame rate. ``size`` (width, height): the video's; None: that of the first frame with
    pixels (frames without pixels before it wait, a few records without pixels, and are written as black frames
    with their error once the size is known). A frame of another size than the video's is resized to it, logged
    and counted in ``n_resized`` (a video writer would otherwise drop it silently). Use as a context manager, or
    call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int] | None = None,
                 overlay: Overlay | None = None, fourcc: str = "mp4v"):
        self.path = path
        self.fps = fps
        self.size = size
        self.overlay = overlay
        self.fourcc = fourcc
        self._writer = None
        self._size: tuple[int, int] | None = None
        self._pending: list = []
        self.n_written = 0
        self.n_resized = 0

    def __enter__(self) -> "OverlayWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        elif self._writer is not None:  # an error is on its way: release the file, add none of our own
            self._writer.release()
            self._writer = None

    def _open(self, size: tuple[int, int]) -> None:
        import cv2

        fps = self.fps
        if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not (math.isfinite(fps) and fps > 0):
            raise ConfigError(f"OverlayWriter(fps={fps!r}) must be a positive number (the input's frame rate)")
        if not (isinstance(self.fourcc, str) and len(self.fourcc) == 4):
            raise ConfigError(f"OverlayWriter(fourcc={self.fourcc!r}) must be a four-character code, e.g. 'mp4v'")
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*self.fourcc), float(fps), size)
        if not writer.isOpened():
            raise ConfigError(f"cannot write a {self.fourcc!r} video to {path}",
                              hint="check the folder is writable and that OpenCV has the codec ('mp4v' always is)")
        self._writer, self._size = writer, size
        for waiting in self._pending:
            self._put(self._overlay().draw(waiting, size=size))
        self._pending = []

    def _overlay(self) -> Overlay:
        return self.overlay if self.overlay is not None else Overlay()

    def write(self, frame: Any) -> np.ndarray | None:
        """Draw ``frame`` and write it; returns the drawn RGB image (None while the video's size is unknown)."""
        if self._writer is None:
            if self.size is not None:
                self._open((int(self.size[0]), int(self.size[1])))
            elif frame.image is not None:
                self._open((int(frame.image.shape[1]), int(frame.image.shape[0])))
            else:
                self._pending.append(frame)
                return None
        drawn = self._overlay().draw(frame, size=self._size)
        self._put(drawn)
        return drawn

    def write_image(self, image: np.ndarray) -> None:
        """Write an RGB image as it is (opens the video at its size if needed)."""
        from ..io.image import as_rgb_uint8

        image = as_rgb_uint8(image)
        if self._writer is None:
            self._open((int(self.size[0]), int(self.size[1])) if self.size is not None
                       else (image.shape[1], image.shape[0]))
        self._put(image)

    def _put(self, rgb: np.ndarray) -> None:
        import cv2

        if (rgb.shape[1], rgb.shape[0]) != self._size:
            log.warning("a %dx%d frame resized to the video's %dx%d", rgb.shape[1], rgb.shape[0], *self._size)
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
            self.n_resized += 1
        self._writer.write(np.ascontiguousarray(rgb[..., ::-1]))
        self.n_written += 1

    def close(self) -> Path:
        """Finish the file; returns its path. Raises when frames waited for a size that never came."""
        if self._writer is None and self._pending:
            n = len(self._pending)
            self._pending = []
            raise ConfigError(f"none of the {n} frame(s) had pixels, so the video's size is unknown",
                              source=str(self.path), hint="pass OverlayWriter(..., size=(width, height))")
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        return Path(self.path)
