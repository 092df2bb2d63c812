"""Robustness to image size and position: the test of Nguon et al. (*Diagnostics* 2021, EUS cyst
classification) as a reusable evaluation of any trained model.

Each test image is perturbed in a known, deterministic way, the model scores the perturbed image, and the
accuracy and AUC are compared with those on the unperturbed images (:class:`Identity`). Perturbations are
small strategy objects with one public method, ``apply(image, box) -> (image, box)``; the lesion box moves
with the content. With ``W x H`` the frame size, ``(cx, cy) = (W/2, H/2)`` its centre and pixel-edge
coordinates (:mod:`explainendo.types`):

* :class:`Rescale` ``(f)``: the content is zoomed by ``f`` about the frame centre and the frame keeps its size,
  ``x' = cx + f (x - cx)``, ``y' = cy + f (y - cy)``: ``f < 1`` shrinks the content and pads with black,
  ``f > 1`` enlarges it and crops what leaves the frame. Resampled with PIL (antialiased, bilinear unless
  ``resample`` says otherwise), the outside of the frame taken as black.
* :class:`SectorCrop` ``(f)``: a smaller field of view: the central ``f`` of the frame's width and depth is
  kept, a margin of ``m = floor((1 - f) W / 2)`` columns (and ``floor((1 - f) H / 2)`` rows) on each side is
  blacked out, so at least the fraction ``f`` is kept.
* :class:`Shift` ``(dx, dy)``: the content is translated by ``round(dx W)`` columns and ``round(dy H)`` rows
  (whole pixels, halves away from zero, so pixels move exactly), black fill where nothing is shifted in.

The box returned with a perturbed image is the lesion box mapped the same way and clipped to the part of the
frame that still shows image content (None when the lesion left it entirely).

:func:`evaluate_robustness` reads each manifest image once, applies every perturbation, scores the result with
the model (a fitted :class:`~explainendo.engine.Diagnoser`, or any callable returning positive-class
probabilities) and returns a :class:`RobustnessReport`: per perturbation the accuracy (Wilson interval), the
AUC (DeLong interval), the change against the unperturbed images (McNemar / DeLong paired p-values) and
whether the accuracy drops by more than a tolerance (the model *breaks* there).
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, EvaluationError, InvalidBoxError, InvalidImageError, ManifestError, NotFittedError
from ..types import Box
from ._checks import check_confidence

__all__ = ["Perturbation", "Identity", "Rescale", "SectorCrop", "Shift", "default_perturbations",
           "RobustnessReport", "evaluate_robustness"]

#: PIL resampling filters :class:`Rescale` accepts, by name
RESAMPLE_FILTERS = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")

#: what the level of each kind of perturbation means (plot axes, markdown)
KIND_TITLES = {"rescale": "Rescale (zoom factor)", "sector": "Sector crop (kept fraction)",
               "shift_x": "Shift x (fraction of width)", "shift_y": "Shift y (fraction of height)",
               "shift_xy": "Diagonal shift (fraction of frame)"}

TABLE_COLUMNS = ["perturbation", "kind", "level", "n", "n_positive", "no_call", "correct", "accuracy",
                 "accuracy_low", "accuracy_high", "auc", "auc_low", "auc_high", "accuracy_drop", "auc_drop",
                 "accuracy_p", "auc_p", "lesion_visible", "breaks"]


# ============================================================================================= perturbations
class Perturbation:
    """Base of the perturbations: ``apply(image, box=None) -> (image, box)``, a pure function of the parameters.

    ``image`` is an RGB uint8 array ``(H, W, 3)`` (other forms are normalised by
    :func:`~explainendo.io.image.as_rgb_uint8`) and is never modified; the result has the same size. ``box``
    (a :class:`~explainendo.types.Box` or None) is the lesion; it comes back mapped like the content and
    clipped to the part of the frame that still shows content, or None when the lesion left the frame.

    A new perturbation overrides :meth:`transform` (the pixels) and :meth:`map_box` (where a box's content
    goes, unclipped), and :meth:`window` when only part of the frame keeps content; or it overrides
    :meth:`apply` itself (the evaluation then reports no ``lesion_visible``). ``kind`` and ``level`` place it
    in the report (one plot panel per kind, the level on its x axis); ``identity_level`` is the level at
    which the kind leaves the image unchanged (marked on the plot).
    """

    kind: ClassVar[str] = "perturbation"
    identity_level: ClassVar[float] = float("nan")

    @property
    def level(self) -> float:
        return float("nan")

    @property
    def name(self) -> str:
        return self.kind

    def apply(self, image, box: Box | None = None) -> tuple[np.ndarray, Box | None]:
        """``(perturbed image, moved box or None)``."""
        from ..io.image import as_rgb_uint8

        image = as_rgb_uint8(image)
        height, width = image.shape[:2]
        out = self.transform(image)
        return out, (None if box is None else self.move_box(box, width, height))

    def transform(self, image: np.ndarray) -> np.ndarray:
        """The perturbed pixels of an RGB uint8 ``(H, W, 3)`` image (a new array of the same size)."""
        raise NotImplementedError  # pragma: no cover

    def map_box(self, box: Box, width: int, height: int) -> Box:
        """Where the content under ``box`` goes in a ``width x height`` frame (may leave the frame)."""
        raise NotImplementedError  # pragma: no cover

    def window(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The rectangle ``(x1, y1, x2, y2)`` of the frame that still shows image content (default: all)."""
        return (0.0, 0.0, float(width), float(height))

    def move_box(self, box: Box, width: int, height: int) -> Box | None:
        """:meth:`map_box` clipped to :meth:`window`; None when nothing of the lesion is left in view."""
        mapped = self.map_box(box, width, height)
        x1, y1, x2, y2 = self.window(width, height)
        try:
            return Box(max(mapped.x1, x1), max(mapped.y1, y1), min(mapped.x2, x2), min(mapped.y2, y2),
                       score=box.score, label=box.label)
        except InvalidBoxError:  # empty intersection: the lesion is out of view
            return None

    def to_dict(self) -> dict[str, Any]:
        params = asdict(self) if hasattr(self, "__dataclass_fields__") else {}
        return {"name": self.name, "kind": self.kind, "level": self.level, **params}


@dataclass(frozen=True)
class Identity(Perturbation):
    """No change: the baseline every other perturbation is compared with."""

    kind: ClassVar[str] = "identity"

    @property
    def name(self) -> str:
        return "identity"

    def transform(self, image: np.ndarray) -> np.ndarray:
        return image.copy()

    def map_box(self, box: Box, width: int, height: int) -> Box:
        return box


@dataclass(frozen=True)
class Rescale(Perturbation):
    """Zoom the content by ``factor`` about the frame centre; the frame keeps its size.

    ``x' = cx + factor (x - cx)`` (and the same for ``y``). ``factor < 1`` (zoom out) shrinks the content
    into the centre and fills the rest with black; ``factor > 1`` (zoom in) crops what leaves the frame.
    ``resample``: the PIL filter (one of :data:`RESAMPLE_FILTERS`; antialiased when shrinking). Implemented
    as a PIL resize of the source rectangle that lands on the covered pixels, with the outside of the frame
    black, so the geometry is exact to a fraction of a pixel.
    """

    factor: float
    resample: str = "bilinear"

    kind: ClassVar[str] = "rescale"
    identity_level: ClassVar[float] = 1.0

    def __post_init__(self) -> None:
        if not _finite_number(self.factor) or float(self.factor) <= 0:
            raise ConfigError(f"Rescale factor must be a positive number, got {self.factor!r}",
                              hint="e.g. 0.5 (zoom out to half size) or 1.5 (zoom in)")
        if self.resample not in RESAMPLE_FILTERS:
            raise ConfigError(f"Rescale resample={self.resample!r} is not a filter",
                              hint=f"one of {list(RESAMPLE_FILTERS)}")
        object.__setattr__(self, "factor", float(self.factor))

    @property
    def level(self) -> float:
        return self.factor

    @property
    def name(self) -> str:
        return f"rescale x{self.factor:g}"

    def transform(self, image: np.ndarray) -> np.ndarray:
        from PIL import Image

        f = self.factor
        height, width = image.shape[:2]
        if f == 1.0:
            return image.copy()
        x1, y1, x2, y2 = self.window(width, height)
        # the whole output pixels the content covers, and the source rectangle that lands on them
        cx1, cy1 = max(0, math.floor(_snap(x1))), max(0, math.floor(_snap(y1)))
        cx2, cy2 = min(width, math.ceil(_snap(x2))), min(height, math.ceil(_snap(y2)))
        out = np.zeros_like(image)
        if cx2 <= cx1 or cy2 <= cy1:
            return out
        pad = int(math.ceil(4.0 / f)) + 2  # black beyond the frame, wider than the filter's reach
        padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
        cx, cy = width / 2.0, height / 2.0
        source = (cx + (cx1 - cx) / f + pad, cy + (cy1 - cy) / f + pad,
                  cx + (cx2 - cx) / f + pad, cy + (cy2 - cy) / f + pad)
        filt = getattr(Image.Resampling, self.resample.upper())
        resized = Image.fromarray(padded).resize((cx2 - cx1, cy2 - cy1), filt, box=source)
        out[cy1:cy2, cx1:cx2] = np.asarray(resized)
        return out

    def map_box(self, box: Box, width: int, height: int) -> Box:
        cx, cy, f = width / 2.0, height / 2.0, self.factor
        return Box(cx + f * (box.x1 - cx), cy + f * (box.y1 - cy), cx + f * (box.x2 - cx), cy + f * (box.y2 - cy),
                   score=box.score, label=box.label)

    def window(self, width: int, height: int) -> tuple[float, float, float, float]:
        f = min(self.factor, 1.0)  # zoomed in, the content fills the frame
        cx, cy = width / 2.0, height / 2.0
        return (cx - f * cx, cy - f * cy, cx + f * cx, cy + f * cy)


@dataclass(frozen=True)
class SectorCrop(Perturbation):
    """A smaller field of view: keep the central ``fraction`` of the frame's width and depth, black elsewhere.

    A margin of ``floor((1 - fraction) W / 2)`` columns on the left and on the right, and
    ``floor((1 - fraction) H / 2)`` rows at the top and at the bottom, is set to black (so at least the
    fraction is kept, and the kept window is centred to the pixel). ``SectorCrop(1.0)`` changes nothing.
    """

    fraction: float

    kind: ClassVar[str] = "sector"
    identity_level: ClassVar[float] = 1.0

    def __post_init__(self) -> None:
        if not _finite_number(self.fraction) or not 0.0 < float(self.fraction) <= 1.0:
            raise ConfigError(f"SectorCrop fraction must lie in (0, 1], got {self.fraction!r}",
                              hint="e.g. 0.8 keeps the central 80% of the width and depth")
        object.__setattr__(self, "fraction", float(self.fraction))

    @property
    def level(self) -> float:
        return self.fraction

    @property
    def name(self) -> str:
        return f"sector {self.fraction:g}"

    def margins(self, width: int, height: int) -> tuple[int, int]:
        """The blacked-out columns on each side and rows at top and bottom, ``(mx, my)``."""
        keep_out = 1.0 - self.fraction
        return (int(math.floor(keep_out * width / 2.0 + 1e-9)), int(math.floor(keep_out * height / 2.0 + 1e-9)))

    def transform(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        mx, my = self.margins(width, height)
        out = np.zeros_like(image)
        out[my:height - my, mx:width - mx] = image[my:height - my, mx:width - mx]
        return out

    def map_box(self, box: Box, width: int, height: int) -> Box:
        return box

    def window(self, width: int, height: int) -> tuple[float, float, float, float]:
        mx, my = self.margins(width, height)
        return (float(mx), float(my), float(width - mx), float(height - my))


@dataclass(frozen=True)
class Shift(Perturbation):
    """Translate the content by ``dx`` of the frame width and ``dy`` of its height (positive: right / down).

    The shift is ``round(dx W)`` columns and ``round(dy H)`` rows (halves away from zero), so every pixel
    moves by a whole number of pixels and the box by exactly the same amount; black fills where nothing is
    shifted in. ``|dx|`` and ``|dy|`` must be below 1. ``kind`` is ``shift_x`` (horizontal, level ``dx``),
    ``shift_y`` (vertical, level ``dy``) or ``shift_xy`` (both, level ``hypot(dx, dy)``).
    """

    dx: float = 0.0
    dy: float = 0.0

    identity_level: ClassVar[float] = 0.0

    def __post_init__(self) -> None:
        for axis, value in (("dx", self.dx), ("dy", self.dy)):
            if not _finite_number(value) or not -1.0 < float(value) < 1.0:
                raise ConfigError(f"Shift {axis} must lie in (-1, 1) (a fraction of the frame), got {value!r}",
                                  hint="e.g. Shift(0.2, 0) moves the content right by 20% of the width")
        object.__setattr__(self, "dx", float(self.dx))
        object.__setattr__(self, "dy", float(self.dy))

    @property
    def kind(self) -> str:  # type: ignore[override]
        if self.dy == 0.0:
            return "shift_x"
        return "shift_y" if self.dx == 0.0 else "shift_xy"

    @property
    def level(self) -> float:
        if self.kind == "shift_x":
            return self.dx
        return self.dy if self.kind == "shift_y" else float(math.hypot(self.dx, self.dy))

    @property
    def name(self) -> str:
        parts = [f"{axis}={value:+g}" for axis, value in (("dx", self.dx), ("dy", self.dy)) if value != 0.0]
        return "shift " + (" ".join(parts) if parts else "dx=+0")

    def pixels(self, width: int, height: int) -> tuple[int, int]:
        """The shift in whole pixels, ``(columns, rows)``."""
        return _round_half_away(self.dx * width), _round_half_away(self.dy * height)

    def transform(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        px, py = self.pixels(width, height)
        out = np.zeros_like(image)
        if abs(px) >= width or abs(py) >= height:
            return out
        out[max(0, py):height - max(0, -py), max(0, px):width - max(0, -px)] = \
            image[max(0, -py):height - max(0, py), max(0, -px):width - max(0, px)]
        return out

    def map_box(self, box: Box, width: int, height: int) -> Box:
        px, py = self.pixels(width, height)
        return Box(box.x1 + px, box.y1 + py, box.x2 + px, box.y2 + py, score=box.score, label=box.label)

    def window(self, width: int, height: int) -> tuple[float, float, float, float]:
        px, py = self.pixels(width, height)
        return (float(max(0, px)), float(max(0, py)), float(width + min(0, px)), float(height + min(0, py)))


def default_perturbations() -> list[Perturbation]:
    """The default grid: identity; rescale 0.5, 0.75, 1.25, 1.5; sector 0.8, 0.6; shift -0.2, -0.1, +0.1,
    +0.2 horizontally, then vertically."""
    grid: list[Perturbation] = [Identity()]
    grid += [Rescale(f) for f in (0.5, 0.75, 1.25, 1.5)]
    grid += [SectorCrop(f) for f in (0.8, 0.6)]
    grid += [Shift(dx=d) for d in (-0.2, -0.1, 0.1, 0.2)]
    grid += [Shift(dy=d) for d in (-0.2, -0.1, 0.1, 0.2)]
    return grid


# ================================================================================================ the report
@dataclass
class RobustnessReport:
    """The outcome of :func:`evaluate_robustness`.

    ``table``: one row per perturbation (the first is the identity): ``perturbation`` (its name), ``kind``,
    ``level``, ``n`` (images), ``n_positive``, ``no_call`` (frames where the model gave no lesion or no
    score: counted wrong), ``correct``, ``accuracy`` with its Wilson interval (``accuracy_low``,
    ``accuracy_high``), ``auc`` with its DeLong interval (NaN when one class is missing), ``accuracy_drop``
    and ``auc_drop`` (identity minus this; positive = worse), ``accuracy_p`` (McNemar, paired against the
    identity) and ``auc_p`` (DeLong's paired test), ``lesion_visible`` (mean fraction of the lesion box still
    in view; NaN without boxes) and ``breaks`` (``accuracy_drop > tolerance``).
    ``predictions``: one row per (image, perturbation) with the score, the call and the moved box.
    ``skipped``: the images left out and why (unreadable, no label).
    """

    table: pd.DataFrame
    predictions: pd.DataFrame
    skipped: pd.DataFrame
    positive: str
    model: str
    tolerance: float = 0.02
    threshold: float = 0.5
    confidence: float = 0.95
    title: str = "Robustness to image size and position"
    #: kind -> the level at which that kind changes nothing (marked on the plot)
    identity_levels: dict[str, float] = field(default_factory=dict)
    #: each perturbation's name, kind, level and parameters, in table order (provenance)
    perturbations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.table["n"].iloc[0]) if len(self.table) else 0

    @property
    def n_positive(self) -> int:
        return int(self.table["n_positive"].iloc[0]) if len(self.table) else 0

    def breaks(self, tolerance: float | None = None) -> pd.DataFrame:
        """The perturbations whose accuracy is more than ``tolerance`` (default: the report's, 0.02 = 2
        points) below the unperturbed accuracy, in table order: ``perturbation, kind, level, accuracy,
        accuracy_drop, auc, auc_drop, accuracy_p``."""
        tol = self.tolerance if tolerance is None else _checked_tolerance(tolerance)
        rows = self.table[(self.table["kind"] != Identity.kind) & (self.table["accuracy_drop"] > tol + 1e-12)]
        return rows[["perturbation", "kind", "level", "accuracy", "accuracy_drop", "auc", "auc_drop",
                     "accuracy_p"]].reset_index(drop=True)

    # --------------------------------------------------------------------------------------- outputs
    def to_markdown(self, level: int = 2) -> str:
        """A heading, the case counts, the table, how it was computed, where the model breaks and which
        images were skipped."""
        conf = f"{round(100 * self.confidence)}%"
        n_neg = self.n - self.n_positive
        lines = [f"{'#' * level} {self.title}", "",
                 f"{self.n} images: {self.n_positive} positive ({self.positive!r}), {n_neg} negative. "
                 f"Model: {self.model}; called positive when p({self.positive}) >= {self.threshold:g}.", ""]
        header = ["Perturbation", "Level", f"Accuracy [{conf} CI] (n/N)", "Δ accuracy (points)",
                  f"AUC [{conf} CI]", "Δ AUC", "p (vs identity)", "No call", "Lesion visible", "Breaks"]
        lines += ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
        from .comparison import format_pvalue

        for _, r in self.table.iterrows():
            identity = r["kind"] == Identity.kind
            acc = f"{_pct(r['accuracy'])} [{_pct(r['accuracy_low'])}, {_pct(r['accuracy_high'])}] " \
                  f"({int(r['correct'])}/{int(r['n'])})"
            auc = "n/a" if pd.isna(r["auc"]) else f"{r['auc']:.3f} [{r['auc_low']:.3f}, {r['auc_high']:.3f}]"
            cells = [str(r["perturbation"]), "" if pd.isna(r["level"]) else f"{r['level']:g}", acc,
                     "" if identity else f"{-100 * r['accuracy_drop'] + 0.0:+.1f}", auc,
                     "" if identity or pd.isna(r["auc_drop"]) else f"{-r['auc_drop'] + 0.0:+.3f}",
                     "" if identity else format_pvalue(r["accuracy_p"]), str(int(r["no_call"])),
                     "n/a" if pd.isna(r["lesion_visible"]) else f"{100 * r['lesion_visible']:.0f}%",
                     "yes" if r["breaks"] else ""]
            lines.append("| " + " | ".join(cells) + " |")
        tol_points = f"{100 * self.tolerance:g}"
        lines += ["", f"Accuracy: Wilson {conf} interval; AUC: DeLong {conf} interval. Δ: change against the "
                      f"unperturbed images (identity); p: McNemar's test of paired correctness against the identity. "
                      f"A frame where the model gives no lesion (or no score) counts as a wrong call, and gets the "
                      f"worst score in the AUC. Lesion visible: mean share of the lesion box still in view. "
                      f"Breaks: the accuracy is more than {tol_points} points below the identity's."]
        broken = self.breaks()
        if len(broken):
            where = ", ".join(f"{r.perturbation} ({-100 * r.accuracy_drop + 0.0:+.1f} points)"
                              for r in broken.itertuples())
            lines.append(f"**The model breaks at:** {where}.")
        else:
            lines.append(f"No perturbation lowers the accuracy by more than {tol_points} points.")
        if len(self.skipped):
            lines += ["", f"Skipped images ({len(self.skipped)}):"]
            lines += [f"- `{r.image}`: {r.reason}" for r in self.skipped.itertuples()]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> None) of everything the report shows."""
        from .comparison import _json_safe

        return _json_safe({
            "title": self.title, "model": self.model, "positive": self.positive, "threshold": self.threshold,
            "tolerance": self.tolerance, "confidence": self.confidence, "n": self.n,
            "n_positive": self.n_positive, "table": self.table.to_dict(orient="records"),
            "breaks": self.breaks()["perturbation"].tolist(), "skipped": self.skipped.to_dict(orient="records"),
            "identity_levels": dict(self.identity_levels), "perturbations": list(self.perturbations)})

    def to_csv(self, path) -> Path:
        """Write :attr:`table` as CSV (numbers unrounded); returns the path."""
        path = _parent_made(path)
        self.table.to_csv(path, index=False)
        return path

    def to_json(self, path) -> Path:
        """Write :meth:`to_dict` as JSON; returns the path."""
        path = _parent_made(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def save(self, directory, stem: str = "robustness") -> dict[str, Path]:
        """Write ``<stem>.md``, ``<stem>.csv`` (the table), ``<stem>_predictions.csv`` (per image and
        perturbation), ``<stem>.json`` and ``<stem>.png`` (:meth:`plot`) into ``directory``."""
        directory = Path(directory)
        md = _parent_made(directory / f"{stem}.md")
        md.write_text(self.to_markdown())
        predictions = directory / f"{stem}_predictions.csv"
        self.predictions.to_csv(predictions, index=False)
        png = directory / f"{stem}.png"
        self.plot(png)
        return {"markdown": md, "csv": self.to_csv(directory / f"{stem}.csv"), "predictions": predictions,
                "json": self.to_json(directory / f"{stem}.json"), "plot": png}

    def plot(self, path=None):
        """Accuracy and AUC (with their intervals) against the level, one panel per kind of perturbation; the
        unperturbed result is drawn at the kind's identity level (a star on a dotted line), with the
        tolerance below it dashed. Returns the matplotlib Figure (drawn without pyplot, so no window opens);
        saved to ``path`` when given."""
        from matplotlib.figure import Figure

        table = self.table
        identity = table[table["kind"] == Identity.kind]
        base = identity.iloc[0] if len(identity) else None
        kinds = list(dict.fromkeys(table.loc[table["kind"] != Identity.kind, "kind"]))
        panels = kinds or [Identity.kind]
        ncols = min(len(panels), 4)
        nrows = int(math.ceil(len(panels) / ncols))
        fig = Figure(figsize=(3.8 * ncols, 3.4 * nrows), dpi=110)
        for i, kind in enumerate(panels):
            ax = fig.add_subplot(nrows, ncols, i + 1)
            rows = table[table["kind"] == kind].sort_values("level")
            levels = rows["level"].to_numpy(float)
            acc = rows["accuracy"].to_numpy(float)
            auc = rows["auc"].to_numpy(float)
            at = self.identity_levels.get(kind, float("nan"))
            if base is not None and np.isfinite(at):  # the identity is the point of this kind at its identity level
                levels = np.append(levels, at)
                acc = np.append(acc, base["accuracy"])
                auc = np.append(auc, base["auc"])
                rows = pd.concat([rows, identity.iloc[[0]]])
            order = np.argsort(levels, kind="stable")
            levels, acc, auc, rows = levels[order], acc[order], auc[order], rows.iloc[order]
            acc_err = np.vstack([acc - rows["accuracy_low"].to_numpy(float),
                                 rows["accuracy_high"].to_numpy(float) - acc])
            ax.errorbar(levels, acc, yerr=acc_err, marker="o", ms=4, lw=1.5, capsize=3, label="accuracy")
            if np.isfinite(auc).any():
                auc_err = np.vstack([auc - rows["auc_low"].to_numpy(float), rows["auc_high"].to_numpy(float) - auc])
                ax.errorbar(levels, auc, yerr=auc_err, marker="s", ms=4, lw=1.2, ls="--", capsize=3, label="AUC")
            if base is not None and np.isfinite(at):
                ax.axvline(at, color="0.5", ls=":", lw=1)
                ax.plot([at], [base["accuracy"]], marker="*", ms=12, color="black", ls="none", label="unperturbed")
                ax.axhline(base["accuracy"] - self.tolerance, color="tab:red", ls="--", lw=0.8,
                           label=f"accuracy - {100 * self.tolerance:g} points")
            ax.set_ylim(0, 1.04)
            ax.set_xlabel(KIND_TITLES.get(kind, kind))
            ax.set_ylabel("accuracy / AUC")
            ax.set_title(KIND_TITLES.get(kind, kind).split(" (")[0], fontsize=10)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.legend(loc="lower left", fontsize=7)
        fig.suptitle(self.title, fontsize=11)
        fig.tight_layout()
        if path is not None:
            fig.savefig(_parent_made(path), bbox_inches="tight")
        return fig


# ============================================================================================ the evaluation
def evaluate_robustness(model, manifest, perturbations: Sequence[Perturbation] | None = None, positive=None, *,
                        threshold: float = 0.5, tolerance: float = 0.02, confidence: float = 0.95,
                        batch_size: int = 16, progress: bool = True,
                        title: str = "Robustness to image size and position") -> RobustnessReport:
    """Accuracy and AUC of ``model`` on the images of ``manifest`` under each perturbation.

    ``model``: a fitted :class:`~explainendo.engine.Diagnoser` (each perturbed image goes through
    ``predict``; the score is the primary lesion's probability of ``positive``; a frame where it finds no
    lesion, or fails, is a *no call*), or any callable ``f(list of RGB uint8 arrays) -> array of
    positive-class probabilities`` (NaN = no answer, a no call too). A no call counts as a wrong call and
    gets the worst score in the AUC (below every answered score for a positive image, above for a negative).
    ``manifest``: a :class:`~explainendo.io.Manifest` or its CSV path; one row per image is used (its first
    row's ``label``, its first box). ``perturbations``: default :func:`default_perturbations`; an
    :class:`Identity` is put first when missing. ``positive``: the positive label (default: a Diagnoser's
    positive class, the last of its ``classes_``; required for a callable); it is positive-vs-rest when the
    labels have more classes. An image is called positive when its score ``>= threshold``. ``tolerance``:
    the accuracy drop (a fraction: 0.02 = 2 points) beyond which the model *breaks*. ``batch_size``: images
    read (each once) and perturbed together. ``progress``: show a progress bar (when bars are enabled, see
    :mod:`explainendo.progress`).

    Raises :class:`~explainendo.errors.ConfigError` for an unknown ``positive`` (or a callable without one),
    bad parameters or perturbations, before anything is predicted. Unreadable or unlabelled images are left
    out and named in ``report.skipped``.
    """
    from ..progress import task

    confidence = check_confidence(confidence)
    tolerance = _checked_tolerance(tolerance)
    if not _finite_number(threshold):
        raise ConfigError(f"threshold must be a number, got {threshold!r}", hint="e.g. 0.5")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r} must be a positive integer")
    grid = _checked_perturbations(perturbations)
    manifest = _as_manifest(manifest)
    images = manifest.image_table()
    if "label" not in images.columns or images["label"].isna().all():
        raise ManifestError("the manifest has no 'label' values to score against", source=manifest.name or None,
                            hint="give each image its diagnosis label")
    labels = sorted({str(v) for v in images["label"].dropna()})
    scorer, positive, description = _scorer(model, positive, labels, manifest)

    skipped: list[dict[str, str]] = []
    cases: list[tuple[str, Any, Box | None]] = []
    for _, row in images.iterrows():
        if pd.isna(row["label"]):
            skipped.append({"image": str(row["image"]), "reason": "no label"})
            continue
        boxes = manifest.boxes_for(row["image"])
        cases.append((str(row["image"]), row, boxes[0] if boxes else None))

    records: list[dict[str, Any]] = []
    bar_context = task("robustness", len(cases) * len(grid)) if progress else contextlib.nullcontext(None)
    with bar_context as bar:
        for start in range(0, len(cases), int(batch_size)):
            batch = _read_batch(manifest, cases[start:start + int(batch_size)], skipped)
            for perturbation in grid:
                moved = [_perturb(perturbation, image, box) for _, _, image, box in batch]
                scores, status = scorer([m[0] for m in moved], [row for _, row, _, _ in batch]) if batch \
                    else (np.zeros(0), [])
                for (name, row, _, _), (_, box, visible), score, state in zip(batch, moved, scores, status):
                    truth = str(row["label"]) == positive
                    records.append({"image": name, "perturbation": perturbation.name, "label": str(row["label"]),
                                    "truth": truth, "score": score, "status": state,
                                    "x1": np.nan if box is None else box.x1, "y1": np.nan if box is None else box.y1,
                                    "x2": np.nan if box is None else box.x2, "y2": np.nan if box is None else box.y2,
                                    "lesion_visible": visible})
                if bar is not None:
                    bar.advance(len(cases[start:start + int(batch_size)]))
    skipped_frame = pd.DataFrame(skipped, columns=["image", "reason"])
    if not records:
        names = ", ".join(skipped_frame["image"].head(5))
        raise EvaluationError(f"no readable, labelled image in the manifest ({len(skipped)} skipped: {names})",
                              source=manifest.name or None, hint="check the image paths and labels")
    predictions = pd.DataFrame(records)
    answered = predictions["status"] == "ok"
    predictions["called"] = answered & (predictions["score"] >= float(threshold))
    predictions["correct"] = answered & (predictions["called"] == predictions["truth"])
    table = _table(predictions, grid, tolerance, confidence)
    identity_levels = {}
    for p in grid:
        identity_levels.setdefault(p.kind, float(getattr(p, "identity_level", float("nan"))))
    return RobustnessReport(table=table, predictions=predictions, skipped=skipped_frame, positive=positive,
                            model=description, tolerance=tolerance, threshold=float(threshold),
                            confidence=confidence, title=title, identity_levels=identity_levels,
                            perturbations=[_describe_perturbation(p) for p in grid])


# ------------------------------------------------------------------------------------------------ helpers
def _table(predictions: pd.DataFrame, grid: list[Perturbation], tolerance: float, confidence: float) -> pd.DataFrame:
    from .auc import delong_ci, delong_test
    from .paired import mcnemar_test
    from .proportions import wilson_interval

    def arrays(name: str):
        rows = predictions[predictions["perturbation"] == name]
        truth = rows["truth"].to_numpy(bool)
        return truth, rows["correct"].to_numpy(bool), _auc_scores(truth, rows["score"].to_numpy(float),
                                                                  rows["status"].to_numpy() == "ok"), rows

    base_truth, base_correct, base_scores, _ = arrays(grid[0].name)
    both = bool(base_truth.any() and not base_truth.all())
    out = []
    for p in grid:
        truth, correct, scores, rows = arrays(p.name)
        n, k = len(truth), int(correct.sum())
        low, high = wilson_interval(k, n, confidence)
        auc = (delong_ci(truth, scores, confidence, positive=True) if both else None)
        row = {"perturbation": p.name, "kind": p.kind, "level": float(p.level), "n": n,
               "n_positive": int(truth.sum()), "no_call": int((rows["status"] != "ok").sum()), "correct": k,
               "accuracy": k / n, "accuracy_low": low, "accuracy_high": high,
               "auc": np.nan if auc is None else auc.auc, "auc_low": np.nan if auc is None else auc.low,
               "auc_high": np.nan if auc is None else auc.high,
               "accuracy_drop": (int(base_correct.sum()) - k) / n, "auc_drop": np.nan,
               "accuracy_p": np.nan, "auc_p": np.nan,
               "lesion_visible": float(rows["lesion_visible"].mean()) if rows["lesion_visible"].notna().any()
               else np.nan}
        if p is not grid[0]:
            row["accuracy_p"] = mcnemar_test(base_correct, correct).pvalue
            if both:
                test = delong_test(truth, base_scores, scores, positive=True, confidence=confidence)
                row["auc_drop"] = test.details["auc_a"] - test.details["auc_b"]
                # no variance of the difference although the AUCs differ (e.g. every score tied): no p-value
                degenerate = test.details["se_difference"] <= 1e-15 and abs(row["auc_drop"]) > 1e-12
                row["auc_p"] = np.nan if degenerate else test.pvalue
        elif both:
            row["auc_drop"] = 0.0
        row["breaks"] = bool(p is not grid[0] and row["accuracy_drop"] > tolerance + 1e-12)
        out.append(row)
    return pd.DataFrame(out, columns=TABLE_COLUMNS)


def _describe_perturbation(p) -> dict[str, Any]:
    if callable(getattr(p, "to_dict", None)):
        return p.to_dict()
    return {"name": p.name, "kind": p.kind, "level": float(getattr(p, "level", float("nan"))), "repr": repr(p)}


def _auc_scores(truth: np.ndarray, score: np.ndarray, answered: np.ndarray) -> np.ndarray:
    """Scores for the AUC: a no call gets the worst rank (below every answered score for a positive image,
    above every one for a negative)."""
    good = score[answered]
    low = (float(good.min()) if good.size else 0.0) - 1.0
    high = (float(good.max()) if good.size else 1.0) + 1.0
    return np.where(answered, score, np.where(truth, low, high))


def _perturb(perturbation, image: np.ndarray, box: Box | None) -> tuple[np.ndarray, Box | None, float]:
    """``(image, moved box, share of the lesion box still in view)`` (NaN without a box or a ``map_box``)."""
    out, moved = perturbation.apply(image, box)
    visible = float("nan")
    if box is not None and hasattr(perturbation, "map_box"):
        height, width = image.shape[:2]
        try:
            mapped = perturbation.map_box(box, width, height)
        except NotImplementedError:  # a perturbation that overrides apply() alone
            return out, moved, visible
        visible = 0.0 if moved is None else float(min(moved.area / mapped.area, 1.0))
    return out, moved, visible


def _read_batch(manifest, cases, skipped: list) -> list[tuple[str, Any, np.ndarray, Box | None]]:
    """Each case's image read once; unreadable ones go to ``skipped`` with the reason."""
    from ..io.image import read_image

    out = []
    for name, row, box in cases:
        try:
            image = read_image(manifest.path(name))
        except (InvalidImageError, ManifestError) as exc:
            skipped.append({"image": name, "reason": getattr(exc, "reason", str(exc))})
            continue
        if box is not None:
            try:
                box = box.clip(image.shape[1], image.shape[0])
            except InvalidBoxError:
                box = None  # the manifest's box lies outside this image: no lesion to follow
        out.append((name, row, image, box))
    return out


def _scorer(model, positive, labels: list[str], manifest) -> tuple[Callable, str, str]:
    """``(score(images, rows) -> (scores, statuses), positive, description)``; every check before any call."""
    from ..engine import Diagnoser

    if isinstance(model, Diagnoser):
        if not hasattr(model, "classes_") or not hasattr(model, "predictor_"):
            raise NotFittedError(f"{type(model).__name__} is not fitted", hint="fit it, or explainendo.load(folder)")
        classes = [str(c) for c in model.classes_]
        default = getattr(model.predictor_, "positive_label", None) or classes[-1]
        positive = str(default) if positive is None else str(positive)
        if positive not in classes:
            raise ConfigError(f"positive class {positive!r} is not a class of the model",
                              hint=f"its classes: {classes}")
        needs_table = bool(model.predictor_.table_columns())

        def score_diagnoser(images, rows):
            table = None
            if needs_table:  # the frames are named array[i] by predict: key the manifest rows the same way
                table = pd.DataFrame(rows).reset_index(drop=True)
                table["image"] = [f"array[{i}]" for i in range(len(rows))]
            scores, status = np.full(len(images), np.nan), []
            for i, result in enumerate(model.predict(list(images), table=table)):
                if result.error:
                    status.append("error")
                elif result.no_lesion or result.lesion is None:
                    status.append("no_lesion")
                else:
                    value = result.probabilities.get(positive, np.nan)
                    scores[i] = value
                    status.append("ok" if np.isfinite(value) else "no_score")
            return scores, status

        return score_diagnoser, positive, f"{type(model).__name__} ({model.predictor_.describe()})"
    if not callable(model):
        raise ConfigError(f"model must be a fitted Diagnoser or a callable, got {type(model).__name__}",
                          hint="e.g. lambda images: my_net.predict_proba(images)[:, 1]")
    if positive is None:
        raise ConfigError("a callable model has no classes: pass positive=<the positive label>",
                          hint=f"the manifest's labels: {labels}")
    positive = str(positive)
    if positive not in labels:
        raise ConfigError(f"positive label {positive!r} is not a label of the manifest",
                          source=manifest.name or None, hint=f"its labels: {labels}")

    def score_callable(images, rows):
        raw = model(list(images))
        try:
            values = np.asarray(raw, dtype=float)
        except (TypeError, ValueError):
            raise EvaluationError(f"the model returned {type(raw).__name__}, not numbers",
                                  hint="return one positive-class probability per image") from None
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.shape != (len(images),):
            raise EvaluationError(f"the model returned shape {values.shape} for {len(images)} images",
                                  hint="return one positive-class probability per image (a 1-D array)")
        return values, ["ok" if np.isfinite(v) else "no_score" for v in values]

    return score_callable, positive, getattr(model, "__name__", type(model).__name__)


def _checked_perturbations(perturbations) -> list[Perturbation]:
    grid = default_perturbations() if perturbations is None else list(perturbations)
    for p in grid:
        if not (callable(getattr(p, "apply", None)) and hasattr(p, "name") and hasattr(p, "kind")):
            raise ConfigError(f"{p!r} is not a perturbation",
                              hint="pass Rescale(0.5), SectorCrop(0.8), Shift(0.1, 0) ...")
    grid = [p for p in grid if p.kind == Identity.kind][:1] + [p for p in grid if p.kind != Identity.kind]
    if not grid or grid[0].kind != Identity.kind:
        grid.insert(0, Identity())
    names = [p.name for p in grid]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"perturbation(s) {repeated} appear more than once", hint="give each perturbation once")
    return grid


def _as_manifest(data):
    from ..io.manifest import Manifest

    if isinstance(data, Manifest):
        return data
    if isinstance(data, (str, Path)) or hasattr(data, "__fspath__"):
        return Manifest.read_csv(data)
    raise ConfigError(f"manifest must be a Manifest or a CSV path, got {type(data).__name__}")


def _checked_tolerance(tolerance) -> float:
    if not _finite_number(tolerance) or float(tolerance) < 0:
        raise ConfigError(f"tolerance must be a fraction >= 0, got {tolerance!r}", hint="e.g. 0.02 for 2 points")
    return float(tolerance)


def _finite_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(float(value))


def _round_half_away(value: float) -> int:
    value = _snap(value)
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


def _snap(value: float) -> float:
    """``value`` rounded to 9 decimals, so 0.1 * 30 = 3.0000000000000004 counts as 3."""
    return round(float(value), 9)


def _pct(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{100 * value:.1f}%"


def _parent_made(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
