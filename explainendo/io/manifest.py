"""The dataset manifest: one validated table that every trainer and benchmark reads.

Schema (one row per lesion box; an image with no box has one row with empty box columns):

==============  ========  ==========================================================================
column          required  meaning
==============  ========  ==========================================================================
image           yes       path of the image file, relative to the manifest's ``root``
patient         yes       patient (or case) id: the unit every split keeps together
video           no        video id, for frames from videos (split by video when patients are unknown)
centre          no        centre / hospital id (centre-wise internal / external splits)
label           no        image- or lesion-level diagnosis label (a string, e.g. ``neoplastic``)
x1 y1 x2 y2     no        lesion box in pixel xyxy (floats); all four or none
box_label       no        the box's class (e.g. ``polyp``, ``cancer``)
width height    no        image size in pixels (filled in by validation when missing)
attr.<name>     no        attribute labels (e.g. ``attr.tone`` = ``reddened``); empty = unknown
split           no        a pre-assigned subset: ``train``, ``val`` or ``test`` (:func:`split_by_column`)
csv_line        (set)     the CSV line a row came from (set by :meth:`Manifest.read_csv`, for messages)
==============  ========  ==========================================================================

Normalisation (docs/data.md is the specification): every id and name is a string with surrounding
whitespace removed; an id that reads as an integer written as a float (``7.0``, from a spreadsheet) becomes
that integer (``7``), so ``7`` and ``7.0`` are one patient; values are case-sensitive (``P7`` and ``p7`` are
two patients). In ``label`` and ``attr.*`` the cells in :data:`UNKNOWN_TOKENS` (any case) mean "unknown":
the row is unlabelled for that column. Paths never escape the root: absolute paths outside it and ``..``
that climb out are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from ..errors import ManifestError
from ..types import Box

REQUIRED_COLUMNS = ("image", "patient")
GROUP_COLUMNS = ("patient", "video", "centre")
BOX_COLUMNS = ("x1", "y1", "x2", "y2")
OPTIONAL_COLUMNS = ("video", "centre", "label", *BOX_COLUMNS, "box_label", "width", "height", "split")
ATTRIBUTE_PREFIX = "attr."
_STRING_COLUMNS = ("image", "patient", "video", "centre", "label", "box_label", "split")
_ID_COLUMNS = ("patient", "video", "centre")
#: the CSV line of each row, kept for messages (reserved: never written out by :meth:`Manifest.to_csv`)
LINE_COLUMN = "csv_line"
#: cells that mean "unknown" in ``label`` and ``attr.*`` (compared case-insensitively, after stripping)
UNKNOWN_TOKENS = frozenset({"", "na", "n/a", "nan", "none", "null", "unknown", "?"})
_INTEGER_AS_FLOAT = re.compile(r"^[+-]?\d+\.0*$")
#: the subset names the ``split`` column may hold
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one manifest row (``row`` is the DataFrame index, None for table-wide)."""

    row: int | None
    image: str | None
    kind: str
    message: str
    line: int | None = None  # the CSV line, when the manifest was read from a CSV

    def __str__(self) -> str:
        where = (f"line {self.line}" if self.line is not None else
                 f"row {self.row}" if self.row is not None else "manifest")
        img = f" ({self.image})" if self.image else ""
        return f"{where}{img}: {self.kind}: {self.message}"


@dataclass
class ValidationReport:
    """Every problem found; ``bad_rows`` are the rows a non-strict validation drops."""

    problems: list[Problem] = field(default_factory=list)
    n_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.row for p in self.problems if p.row is not None})

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.problems:
            out[p.kind] = out.get(p.kind, 0) + 1
        return out

    def summary(self, limit: int = 20) -> str:
        if self.ok:
            return f"manifest OK: {self.n_rows} rows"
        lines = [f"{len(self.problems)} problem(s) in {self.n_rows} rows: "
                 + ", ".join(f"{k}={v}" for k, v in sorted(self.by_kind().items()))]
        lines += [f"  {p}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


class Manifest:
    """A dataset manifest: ``df`` (schema in the module docstring) plus the ``root`` its paths are under."""

    def __init__(self, df: pd.DataFrame, root: str | os.PathLike, name: str = ""):
        if not isinstance(df, pd.DataFrame):
            raise ManifestError(f"expected a pandas DataFrame, got {type(df).__name__}")
        missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
        if missing:
            raise ManifestError(f"missing required column(s) {missing}", source=name or None,
                                hint=f"a manifest needs {list(REQUIRED_COLUMNS)}; see docs/data.md")
        df = df.reset_index(drop=True).copy()
        for col in _STRING_COLUMNS:
            if col in df.columns:
                df[col] = df[col].map(_as_id if col in _ID_COLUMNS else _as_str)
        self.bad_numbers = {}  # (row, column) -> a cell that is not a number (a problem for validate())
        for col in (*BOX_COLUMNS, "width", "height"):
            if col in df.columns:
                numbers = pd.to_numeric(df[col], errors="coerce")
                for idx in df.index[numbers.isna() & ~df[col].map(_missing)]:
                    self.bad_numbers[(idx, col)] = df.at[idx, col]
                df[col] = numbers
        for col in df.columns:
            if col.startswith(ATTRIBUTE_PREFIX) or col == "label":
                df[col] = df[col].map(_as_label)
        self.df = df
        self.root = Path(root)
        self.name = name

    # ---- I/O ----------------------------------------------------------------------------------
    @classmethod
    def read_csv(cls, path: str | os.PathLike, root: str | os.PathLike | None = None) -> "Manifest":
        """Read a manifest CSV; ``root`` defaults to the CSV's own folder."""
        path = Path(path)
        if not path.is_file():
            raise ManifestError("manifest file not found", source=path, hint="check the path")
        try:
            # every column as text first: pandas' own guesses would turn patient "007" into 7 and "7" into 7.0;
            # measurement columns become numbers below when every cell is one
            df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise ManifestError(f"not a readable CSV ({exc})", source=path) from None
        if LINE_COLUMN in df.columns:
            raise ManifestError(f"column '{LINE_COLUMN}' is reserved (the library writes each row's CSV line there)",
                                source=path, hint="rename that column")
        for col in df.columns:  # a measurement column (size_mm, label_probability) is a number when all its cells are
            if col not in _STRING_COLUMNS and col not in (*BOX_COLUMNS, "width", "height") \
                    and not col.startswith(ATTRIBUTE_PREFIX):
                df[col] = _numbers_if_all(df[col])
        df[LINE_COLUMN] = _csv_lines(path, len(df))
        return cls(df, root if root is not None else path.parent, name=str(path))

    def to_csv(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.df.drop(columns=[LINE_COLUMN], errors="ignore").to_csv(path, index=False)
        return path

    def line(self, row) -> int | None:
        """The CSV line of ``df`` row ``row`` (None when the manifest did not come from a CSV)."""
        if LINE_COLUMN not in self.df.columns:
            return None
        value = self.df.at[row, LINE_COLUMN]
        return None if pd.isna(value) else int(value)

    # ---- views --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.df)

    def __repr__(self) -> str:
        return (f"Manifest({len(self.df)} rows, {self.df['image'].nunique()} images, "
                f"{self.df['patient'].nunique()} patients, root='{self.root}')")

    @property
    def attributes(self) -> list[str]:
        """Attribute names present (``attr.tone`` -> ``tone``)."""
        return [c[len(ATTRIBUTE_PREFIX):] for c in self.df.columns if c.startswith(ATTRIBUTE_PREFIX)]

    @property
    def has_boxes(self) -> bool:
        return all(c in self.df.columns for c in BOX_COLUMNS) and self.df[list(BOX_COLUMNS)].notna().all(axis=1).any()

    def path(self, image: str) -> Path:
        """Absolute path of an ``image`` entry (refuses paths that escape the root)."""
        resolved = resolve_under_root(self.root, image)
        if resolved is None:
            raise ManifestError(f"path escapes the manifest root '{self.root}'", source=image,
                                hint="use paths relative to the root, without '..'")
        return resolved

    def images(self) -> list[str]:
        """Unique image entries in first-seen order."""
        return list(dict.fromkeys(self.df["image"]))

    def rows_for(self, image: str) -> pd.DataFrame:
        return self.df[self.df["image"] == image]

    def boxes_for(self, image: str) -> list[Box]:
        rows = self.rows_for(image)
        return rows_to_boxes(rows)

    def iter_images(self) -> Iterator[tuple[str, pd.DataFrame]]:
        """``(image, rows)`` per image, in first-seen order."""
        for image, rows in self.df.groupby("image", sort=False):
            yield image, rows

    def groups(self, by: str = "patient") -> np.ndarray:
        if by not in self.df.columns:
            raise ManifestError(f"no '{by}' column to group by", source=self.name or None,
                                hint=f"columns: {list(self.df.columns)}")
        return self.df[by].to_numpy()

    def subset(self, mask: Sequence[bool] | np.ndarray | pd.Series) -> "Manifest":
        return Manifest(self.df[np.asarray(mask, dtype=bool)], self.root, name=self.name)

    def select_groups(self, groups: Iterable, by: str = "patient") -> "Manifest":
        return self.subset(self.df[by].isin(set(groups)))

    def image_table(self) -> pd.DataFrame:
        """One row per image (first row's group and label columns), for image-level tasks."""
        return self.df.drop_duplicates("image").reset_index(drop=True)

    def summary(self) -> dict:
        df = self.df
        out = {"rows": len(df), "images": int(df["image"].nunique()),
               "patients": int(df["patient"].nunique())}
        for col in ("video", "centre"):
            if col in df.columns:
                out[f"{col}s"] = int(df[col].nunique())
        if "label" in df.columns:
            out["labels"] = {str(k): int(v) for k, v in df.drop_duplicates("image")["label"].value_counts().items()}
        if self.has_boxes:
            out["boxes"] = int(df[list(BOX_COLUMNS)].notna().all(axis=1).sum())
            if "box_label" in df.columns:
                out["box_labels"] = {str(k): int(v) for k, v in df["box_label"].value_counts().items()}
        if self.attributes:
            out["attributes"] = {a: int(df[ATTRIBUTE_PREFIX + a].notna().sum()) for a in self.attributes}
        return out

    # ---- validation ---------------------------------------------------------------------------
    def validate(self, strict: bool = True, check_files: bool = True, check_images: bool = True,
                 require_label: bool = False, require_boxes: bool = False, attributes=None) -> "Manifest":
        """Check every row; return a clean manifest. ``attributes``: the attribute specs of the model that will
        train (each ``attr.*`` cell must be unknown or one of its classes; see :func:`attribute_problems`).

        ``strict=True`` raises :class:`ManifestError` listing every problem. ``strict=False`` drops the
        bad rows, and the returned manifest's ``report`` names them. ``check_images`` reads each image's
        header (not its pixels) to fill ``width``/``height`` and check boxes against it.
        """
        report = validate_manifest(self, check_files=check_files, check_images=check_images,
                                   require_label=require_label, require_boxes=require_boxes, attributes=attributes)
        if not report.ok and strict:
            raise ManifestError(report.summary(), source=self.name or None, problems=report.problems,
                                hint="fix the rows, or validate with strict=False to drop them")
        clean = Manifest(self.df.drop(index=report.bad_rows), self.root, name=self.name)
        clean.report = report
        return clean

    bad_numbers: dict = {}

    report: ValidationReport | None = None


def rows_to_boxes(rows: pd.DataFrame) -> list[Box]:
    if not all(c in rows.columns for c in BOX_COLUMNS):
        return []
    boxes = []
    for _, r in rows.iterrows():
        if pd.isna(r[list(BOX_COLUMNS)]).any():
            continue
        label = r.get("box_label")
        boxes.append(Box(r["x1"], r["y1"], r["x2"], r["y2"], label=None if pd.isna(label) else label))
    return boxes


def resolve_under_root(root: Path, image: str) -> Path | None:
    """Absolute path of ``image`` under ``root``, or None if it escapes the root."""
    if image is None or (isinstance(image, float) and np.isnan(image)):
        return None
    root_abs = Path(os.path.abspath(root))
    p = Path(image)
    full = Path(os.path.abspath(p if p.is_absolute() else root_abs / p))
    try:
        full.relative_to(root_abs)
    except ValueError:
        return None
    return full


def validate_manifest(m: Manifest, check_files: bool = True, check_images: bool = True,
                      require_label: bool = False, require_boxes: bool = False, attributes=None) -> ValidationReport:
    from .image import read_image_size  # local: keeps manifest import light

    df = m.df
    problems: list[Problem] = []
    add = problems.append
    if len(df) == 0:
        add(Problem(None, None, "empty", "the manifest has no rows"))
        return ValidationReport(problems, 0)
    has_box_cols = all(c in df.columns for c in BOX_COLUMNS)
    partial = [c for c in BOX_COLUMNS if c in df.columns]
    if partial and not has_box_cols:
        add(Problem(None, None, "box_columns", f"box columns need all of {list(BOX_COLUMNS)}, found {partial}"))

    sizes: dict[str, tuple[int, int] | None] = {}
    bad_number_rows = {idx for idx, _ in getattr(m, "bad_numbers", {})}
    for idx, r in df.iterrows():
        image = r["image"]
        if _missing(image):
            add(Problem(idx, None, "missing_path", "empty image path"))
            continue
        if _missing(r["patient"]):
            add(Problem(idx, image, "missing_patient", "no patient id (splits need one)"))
        if require_label and ("label" not in df.columns or _missing(r["label"])):
            add(Problem(idx, image, "missing_label", "no label"))
        path = resolve_under_root(m.root, image)
        if path is None:
            add(Problem(idx, image, "path_escapes_root", f"path leaves the root '{m.root}'"))
            continue
        if check_files:
            if image not in sizes:
                if not path.is_file():
                    sizes[image] = None
                    add(Problem(idx, image, "missing_file", f"no file at {path}"))
                    continue
                if check_images:
                    try:
                        sizes[image] = read_image_size(path)
                    except Exception as exc:  # noqa: BLE001 - any unreadable header is a problem row
                        sizes[image] = None
                        add(Problem(idx, image, "unreadable_image", str(exc)))
                        continue
                else:
                    sizes[image] = (0, 0)
            elif sizes[image] is None:
                add(Problem(idx, image, "missing_file", "file missing or unreadable (see above)"))
                continue
        if has_box_cols and idx in bad_number_rows:
            pass  # reported once below as bad_number, not also as a partial box
        elif has_box_cols:
            coords = r[list(BOX_COLUMNS)]
            n_missing = int(pd.isna(coords).sum())
            if n_missing == 4:
                if require_boxes:
                    add(Problem(idx, image, "missing_box", "no box"))
            elif n_missing:
                add(Problem(idx, image, "partial_box", f"box has {n_missing} empty coordinate(s)"))
            else:
                x1, y1, x2, y2 = (float(v) for v in coords)
                if not (x2 > x1 and y2 > y1):
                    add(Problem(idx, image, "degenerate_box", f"box {(x1, y1, x2, y2)} has no area"))
                else:
                    size = sizes.get(image)
                    if size and size != (0, 0):
                        w, h = size
                        if not Box(x1, y1, x2, y2).is_inside(w, h, tol=1.0):
                            add(Problem(idx, image, "box_outside_image",
                                        f"box {(x1, y1, x2, y2)} exceeds the {w}x{h} image"))
        elif require_boxes:
            add(Problem(idx, image, "missing_box", "the manifest has no box columns"))

    key_cols = [c for c in ("image", *BOX_COLUMNS, "box_label") if c in df.columns]
    dup = df.duplicated(subset=key_cols, keep="first")
    for idx in df.index[dup]:
        add(Problem(int(idx), df.at[idx, "image"], "duplicate_row", "same image and box as an earlier row"))

    if check_files and check_images:
        if "width" not in df.columns:
            df["width"] = np.nan
            df["height"] = np.nan
        for image, size in sizes.items():
            if size and size != (0, 0):
                sel = df["image"] == image
                df.loc[sel, "width"] = size[0]
                df.loc[sel, "height"] = size[1]
    for (idx, col), value in getattr(m, "bad_numbers", {}).items():
        if idx in df.index:
            add(Problem(idx, df.at[idx, "image"], "bad_number", f"{col} = {value!r} is not a number"))
    if attributes is not None:
        problems.extend(attribute_problems(m, attributes))
    if LINE_COLUMN in df.columns:
        import dataclasses

        problems = [dataclasses.replace(p, line=m.line(p.row)) if p.row is not None and p.row in df.index else p
                    for p in problems]
    problems.sort(key=lambda p: (p.row if p.row is not None else -1))
    return ValidationReport(problems, len(df))


def attribute_problems(m: "Manifest", specs) -> list[Problem]:
    """A problem for every ``attr.<name>`` cell that is neither unknown nor a class of that attribute's spec
    (by name, any case, or by index). ``specs``: the :class:`~explainendo.specs.AttributeSpec` of the model
    that will train. A column no spec reads is reported once as ``unused_attribute`` (it is not trained)."""
    from ..specs import parse_attribute_value

    by_name = {s.name: s for s in specs}
    out: list[Problem] = []
    for column in m.df.columns:
        if not column.startswith(ATTRIBUTE_PREFIX):
            continue
        name = column[len(ATTRIBUTE_PREFIX):]
        spec = by_name.get(name)
        if spec is None:
            out.append(Problem(None, None, "unused_attribute",
                               f"column {column} is read by no attribute head of this model (it is ignored); "
                               f"the model's attributes: {sorted(by_name)}"))
            continue
        for idx, value in m.df[column].items():
            if parse_attribute_value(spec, value) is None:
                out.append(Problem(idx, m.df.at[idx, "image"], "bad_attribute",
                                   f"{column} = {value!r} is not a class of '{name}' "
                                   f"(classes: {list(spec.classes)}, or their index 0..{len(spec.classes) - 1}, "
                                   f"or empty / unknown)"))
    return out


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip())


def _as_str(v):
    """A text cell: stripped; empty -> NaN; a float that is an integer -> its integer text."""
    if _missing(v):
        return np.nan
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _as_id(v):
    """An id (patient, video, centre): :func:`_as_str`, and ``"7.0"`` -> ``"7"`` (a spreadsheet's float)."""
    text = _as_str(v)
    if isinstance(text, str) and _INTEGER_AS_FLOAT.match(text):
        return text.split(".")[0]
    return text


def _as_label(v):
    """A label or attribute cell: :func:`_as_str`, and the :data:`UNKNOWN_TOKENS` -> NaN (unknown)."""
    text = _as_str(v)
    if isinstance(text, str) and text.lower() in UNKNOWN_TOKENS:
        return np.nan
    return text


def _numbers_if_all(values: pd.Series) -> pd.Series:
    """A text column as float64 when every non-empty cell is a number (empty -> NaN); else the text, empty -> NaN."""
    text = values.where(~values.map(_missing), None)
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().sum() == text.notna().sum():
        return numbers.astype(float)
    return text.map(lambda v: np.nan if v is None else v)


def _csv_lines(path: Path, n_rows: int) -> list[int]:
    """The file line of each data row (line 1 is the header); blank lines, which pandas skips, are counted,
    and a quoted cell spanning lines counts its lines."""
    import csv

    lines: list[int] = []
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader, None)  # the header
        start = reader.line_num + 1
        for record in reader:
            if any(cell.strip() for cell in record):
                lines.append(start)
            start = reader.line_num + 1
    if len(lines) != n_rows:  # a dialect the csv module reads differently: say "row", never a wrong line
        return [None] * n_rows
    return lines
