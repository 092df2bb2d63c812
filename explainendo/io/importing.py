"""A hospital's own table as a manifest: its column names, boxes as ``x, y, w, h``, attribute columns.

Spreadsheets exported from a clinic rarely use the manifest's names (docs/data.md): the image may be
``file``, the patient ``MRN``, the diagnosis ``histology``, boxes a corner plus a width and height.
:func:`import_table` maps them once, explicitly: every column it is told about must exist (a typo is a
:class:`~explainendo.errors.ManifestError`, never an empty column), boxes given as ``xywh`` become
``x1 y1 x2 y2`` with :meth:`~explainendo.types.Box.from_xywh`, named attribute columns become
``attr.<name>``, and every other column is kept as it is (for ``ColumnFeatures``). The result is a plain
manifest table: :class:`~explainendo.io.Manifest` normalises and validates it like any other.

:func:`read_table` reads what hospitals hand over: a CSV, an Excel workbook (``.xlsx`` / ``.xlsm``, one
sheet) or a COCO detection JSON (:func:`coco_table`: one row per box, ``x y w h`` from ``bbox``, the category
name in ``category``, every extra image field and CVAT-style annotation ``attributes`` as columns). A patient
id that lives only in the file names is taken out with ``patient_pattern`` (a regular expression).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ManifestError

BOX_FORMATS = ("xyxy", "xywh")


def import_table(table: pd.DataFrame, *, image: str = "image", patient: str = "patient",
                 label: str | None = "label", centre: str | None = None, video: str | None = None,
                 boxes: str | None = None, box_columns: Sequence[str] | None = None,
                 attributes: Sequence[str] = (), patient_pattern: str | None = None,
                 source: str | None = None) -> pd.DataFrame:
    """A manifest-shaped table from ``table`` (see the module docstring).

    ``image`` / ``patient`` / ``label`` / ``centre`` / ``video``: the columns holding them (``label``,
    ``centre``, ``video`` may be None). ``boxes``: ``"xyxy"`` (``box_columns`` default ``x1 y1 x2 y2``),
    ``"xywh"`` (default ``x y w h``: the top-left corner, width and height in pixels) or None (no boxes).
    ``attributes``: columns that hold attribute labels; column ``tone`` becomes ``attr.tone``.
    ``patient_pattern``: a regular expression searched in each image path whose first group (or group
    ``patient``) is the patient id, e.g. ``"^([^/]+)/"`` (the first folder) or ``"(P\\d+)_"``; then
    ``patient`` names no column, and an image the pattern does not match is an error that names it.
    """
    if patient_pattern is not None:
        table = _patient_from_paths(table, image, patient_pattern, source)
        patient = "patient"
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


def _patient_from_paths(table: pd.DataFrame, image: str, pattern: str, source) -> pd.DataFrame:
    if image not in table.columns:
        raise ManifestError(f"column {image!r} is not in the table", source=source,
                            hint=f"its columns: {list(table.columns)}")
    if "patient" in table.columns:
        raise ManifestError("the table has a 'patient' column and a patient_pattern was given: give one",
                            source=source)
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ManifestError(f"patient_pattern {pattern!r} is not a regular expression ({exc})", source=source) from None
    if regex.groups < 1:
        raise ManifestError(f"patient_pattern {pattern!r} has no group", source=source,
                            hint="put the id in parentheses, e.g. '^([^/]+)/' for the first folder")
    ids, unmatched = [], []
    for path in table[image].astype(str):
        found = regex.search(path.replace(os.sep, "/"))
        value = (found.groupdict().get("patient") or found.group(1)) if found else None
        ids.append(value or "")
        if not value:
            unmatched.append(path)
    if unmatched:
        raise ManifestError(f"patient_pattern {pattern!r} finds no patient id in {len(unmatched)} image path(s), "
                            f"e.g. {unmatched[:3]}", source=source, hint="fix the pattern, or give a patient column")
    return table.assign(patient=ids)


#: COCO image fields that are not per-image data worth a column
_COCO_IMAGE_SKIP = {"id", "file_name", "width", "height", "license", "coco_url", "flickr_url", "date_captured"}


def coco_table(data: dict, source: str | None = None) -> pd.DataFrame:
    """A COCO detection file (``images``, ``annotations``, ``categories``) as a table, one row per box:
    ``image`` (``file_name``), ``x y w h`` (``bbox``: top-left corner, width, height in pixels), ``category``
    (the category's name), the image's extra fields (e.g. ``patient_id``) and each annotation's ``attributes``
    (CVAT's export) as columns. An image without annotations gets one row without a box. Segmentations and
    ``iscrowd`` are not read; an ``iscrowd`` box is an error (a crowd region is not one lesion)."""
    for key in ("images", "annotations"):
        if not isinstance(data.get(key), list):
            raise ManifestError(f"not a COCO detection file: no {key!r} list", source=source,
                                hint="a COCO JSON has 'images', 'annotations' and 'categories'")
    categories = {c.get("id"): str(c.get("name")) for c in data.get("categories") or []}
    images = {}
    for entry in data["images"]:
        if "id" not in entry or "file_name" not in entry:
            raise ManifestError(f"a COCO image without 'id' or 'file_name': {entry}", source=source)
        images[entry["id"]] = entry
    rows, boxed = [], set()
    for i, ann in enumerate(data["annotations"]):
        where = f"annotations[{i}] (id {ann.get('id')})"
        if ann.get("image_id") not in images:
            raise ManifestError(f"{where}: image_id {ann.get('image_id')!r} is not among the images", source=source)
        if ann.get("iscrowd"):
            raise ManifestError(f"{where}: an iscrowd region is not one lesion box", source=source,
                                hint="drop crowd annotations from the export")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise ManifestError(f"{where}: bbox {bbox!r} is not [x, y, w, h]", source=source)
        if ann.get("category_id") not in categories:
            raise ManifestError(f"{where}: category_id {ann.get('category_id')!r} is not among the categories",
                                source=source, hint=f"categories: {categories}")
        image = images[ann["image_id"]]
        boxed.add(ann["image_id"])
        attributes = ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}
        rows.append({"image": image["file_name"], **_coco_extra(image), "category": categories[ann["category_id"]],
                     **{k: str(v) for k, v in attributes.items()},
                     **dict(zip(("x", "y", "w", "h"), (str(v) for v in bbox)))})
    for image_id, image in images.items():
        if image_id not in boxed:
            rows.append({"image": image["file_name"], **_coco_extra(image)})
    table = pd.DataFrame(rows, dtype=object)
    for column in ("category", "x", "y", "w", "h"):
        if column not in table.columns:
            table[column] = ""
    return table.fillna("")


def _coco_extra(image: dict) -> dict:
    return {k: str(v) for k, v in image.items() if k not in _COCO_IMAGE_SKIP and not isinstance(v, (dict, list))}


def read_table(path: str | os.PathLike, sheet: str | int | None = None) -> pd.DataFrame:
    """A hospital's table as text cells: ``.csv``, ``.xlsx`` / ``.xlsm`` (``sheet``: its name or index, default
    the first) or a COCO ``.json`` (:func:`coco_table`). Everything is read as text (ids keep their zeros;
    :class:`~explainendo.io.Manifest` normalises them)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError("table not found", source=str(path), hint="check the path")
    suffix = path.suffix.lower()
    if sheet is not None and suffix not in (".xlsx", ".xlsm"):
        raise ManifestError(f"a sheet was named, and {path.name} is not a workbook", source=str(path))
    if suffix in (".xlsx", ".xlsm"):
        try:
            frame = pd.read_excel(path, sheet_name=0 if sheet is None else sheet, dtype=str)
        except (ValueError, KeyError) as exc:  # a missing sheet, a workbook that is not one
            raise ManifestError(f"cannot read the workbook ({exc})", source=str(path),
                                hint="name an existing sheet, or export it as CSV (UTF-8)") from None
        return frame.fillna("")
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"not valid JSON ({exc})", source=str(path)) from None
        if not isinstance(data, dict):
            raise ManifestError("not a COCO detection file (the JSON is not an object)", source=str(path))
        return coco_table(data, source=str(path))
    if suffix in (".xls", ".ods", ".numbers"):
        raise ManifestError(f"{suffix} workbooks are not read", source=str(path),
                            hint="save it as .xlsx, or export the sheet as CSV (UTF-8)")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def import_csv(path: str | os.PathLike, out: str | os.PathLike, sheet: str | int | None = None,
               **options) -> Path:
    """:func:`import_table` of a CSV, workbook or COCO JSON (:func:`read_table`), written as a manifest CSV
    at ``out``, its image paths rewritten relative to ``out``'s folder (they are read relative to ``path``'s
    folder)."""
    path, out = Path(path), Path(out)
    table = read_table(path, sheet)
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
