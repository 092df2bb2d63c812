"""A hospital's own table as a manifest: its column names, boxes as ``x, y, w, h``, attribute columns.

Spreadsheets exported from a clinic rarely use the manifest's names (docs/data.md): the image may be
``file``, the patient ``MRN``, the diagnosis ``histology``, boxes a corner plus a width and height.
:func:`import_table` maps them once, explicitly: every column it is told about must exist (a typo is a
:class:`~explainendo.errors.ManifestError`, never an empty column), boxes given as ``xywh`` become
``x1 y1 x2 y2`` with :meth:`~explainendo.types.Box.from_xywh`, named attribute columns become
``attr.<name>``, and every other column is kept as it is (for ``ColumnFeatures``). The result is a plain
manifest table: :class:`~explainendo.io.Manifest` normalises and validates it like any other.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ManifestError

BOX_FORMATS = ("xyxy", "xywh")


def import_table(table: pd.DataFrame, *, image: str = "image", patient: str = "patient",
                 label: str | None = "label", centre: str | None = None, video: str | None = None,
                 boxes: str | None = None, box_columns: Sequence[str] | None = None,
                 attributes: Sequence[str] = (), source: str | None = None) -> pd.DataFrame:
    """A manifest-shaped table from ``table`` (see the module docstring).

    ``image`` / ``patient`` / ``label`` / ``centre`` / ``video``: the columns holding them (``label``,
    ``centre``, ``video`` may be None). ``boxes``: ``"xyxy"`` (``box_columns`` default ``x1 y1 x2 y2``),
    ``"xywh"`` (default ``x y w h``: the top-left corner, width and height in pixels) or None (no boxes).
    ``attributes``: columns that hold attribute labels; column ``tone`` becomes ``attr.tone``.
    """
    mapping = {"image": image, "patient": patient, "label": label, "centre": centre, "video": video}
    named = [c for c in mapping.values() if c] + list(attributes)
    if boxes is not None:
        if boxes not in BOX_FORMATS:
            raise ManifestError(f"boxes={boxes!r}", source=source, hint=f"one of {list(BOX_FORMATS)}, or None")
        box_columns = list(box_columns or (("x1", "y1", "x2", "y2") if boxes == "xyxy" else ("x", "y", "w", "h")))
        if len(box_columns) != 4:
            raise ManifestError(f"box_columns={box_columns!r}: need four columns", source=source)
        named += box_columns
    missing = [c for c in dict.fromkeys(named) if c not in table.columns]
    if missing:
        raise ManifestError(f"column(s) {missing} are not in the table", source=source,
                            hint=f"its columns: {list(table.columns)}")
    out = table.copy()
    renames = {col: key for key, col in mapping.items() if col and col != key}
    renames.update({col: f"attr.{col}" for col in attributes})
    clash = [new for old, new in renames.items() if new in out.columns and new not in renames]
    if clash:
        raise ManifestError(f"renaming would overwrite the existing column(s) {clash}", source=source,
                            hint="rename or drop them first")
    if boxes == "xywh":
        x, y, w, h = (pd.to_numeric(out[c], errors="coerce") for c in box_columns)
        bad = (w <= 0) | (h <= 0)
        if bad.any():
            rows = list(np.flatnonzero(bad.to_numpy())[:5])
            raise ManifestError(f"{int(bad.sum())} box(es) with a width or height <= 0 (rows {rows})",
                                source=source, hint="w and h are the box's size in pixels")
        out = out.drop(columns=box_columns)
        out["x1"], out["y1"], out["x2"], out["y2"] = x, y, x + w, y + h
    elif boxes == "xyxy":
        out = out.rename(columns=dict(zip(box_columns, ("x1", "y1", "x2", "y2"))))
    return out.rename(columns=renames)


def import_csv(path: str | os.PathLike, out: str | os.PathLike, **options) -> Path:
    """:func:`import_table` of a CSV, written as a manifest CSV at ``out``, its image paths rewritten relative
    to ``out``'s folder (they are read relative to ``path``'s folder)."""
    path, out = Path(path), Path(out)
    if not path.is_file():
        raise ManifestError("table not found", source=str(path), hint="check the path")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    manifest = import_table(table, source=str(path), **options)
    base = path.resolve().parent
    out.parent.mkdir(parents=True, exist_ok=True)
    target = out.resolve().parent
    manifest["image"] = [os.path.relpath(base / p, target) if p and not os.path.isabs(p) else p
                         for p in manifest["image"]]
    outside = [p for p in manifest["image"] if p and p.split(os.sep)[0] == ".."]
    if outside:
        raise ManifestError(f"{len(outside)} image(s) would lie outside the manifest's folder {target} (e.g. "
                            f"{outside[0]}): a manifest reads its images from its own folder or below",
                            source=str(out), hint=f"write the manifest into {base} or a folder above the images")
    manifest.to_csv(out, index=False)
    return out
