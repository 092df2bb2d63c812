"""A ``diagnose`` output folder held in memory for the viewer: the case table (``results.csv``, read once, with
every sortable column as a NumPy array and each sort order computed once), and each case's whole record
(``results.jsonl``) read on demand through an index of line offsets, so a 10,000-case folder opens and pages in
milliseconds whatever the size of its records.

Only the standard library, NumPy and pandas: no web framework (:mod:`explainendo.viewer.app` adds that).
"""

from __future__ import annotations

import io
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, InvalidImageError

class NotInFolderError(ConfigError, LookupError):
    """A case, lesion, card or map the viewer was asked for does not exist (HTTP 404)."""


#: the table columns a user can sort by: URL name -> (results.csv column, numeric)
SORTABLE = {"index": (None, True), "image": ("image", False), "status": ("status", False), "label": ("label", False),
            "probability": ("probability", True), "ood": ("ood", False), "ood_score": ("ood_lesion_score", True),
            "fitter": ("predictor", False), "lesions": ("lesions", True)}
#: ``ood`` filter values
OOD_FILTERS = ("any", "flagged", "not_flagged", "unknown")
#: image files a browser shows as they are; any other (TIFF, a video frame) is sent as PNG
BROWSER_IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                  ".webp": "image/webp", ".bmp": "image/bmp"}


@dataclass
class Query:
    """What the case table shows: sort column and direction, filters, page (from 1) and page size."""

    sort: str = "index"
    order: str = "asc"
    label: str = ""
    status: str = ""
    ood: str = "any"
    fitter: str = ""
    q: str = ""
    p_min: float | None = None
    p_max: float | None = None
    page: int = 1
    per_page: int = 50

    def checked(self) -> "Query":
        if self.sort not in SORTABLE:
            raise ConfigError(f"cannot sort by {self.sort!r}", hint=f"one of {', '.join(SORTABLE)}")
        if self.order not in ("asc", "desc"):
            raise ConfigError(f"order {self.order!r} is not asc or desc")
        if self.ood not in OOD_FILTERS:
            raise ConfigError(f"ood filter {self.ood!r} is unknown", hint=f"one of {', '.join(OOD_FILTERS)}")
        if not 1 <= self.per_page <= 1000:
            raise ConfigError(f"per_page {self.per_page} must lie in 1..1000")
        return self

    def params(self, **changes: Any) -> dict[str, Any]:
        """The query as URL parameters (defaults left out), with ``changes`` applied."""
        values = {**self.__dict__, **changes}
        default = Query().__dict__
        return {k: v for k, v in values.items() if v not in (None, "") and v != default[k]}


@dataclass
class Page:
    """One page of the case table: ``rows`` (dicts), ``total`` (cases matching the filters), ``pages``."""

    rows: list[dict]
    total: int
    page: int
    pages: int
    query: Query
    all_cases: int


@dataclass
class FrameFile:
    """Where a case's frame is on disk: ``path`` (None when not found), ``video_frame`` (the frame index inside a video,
    else None), ``size`` ``(width, height)`` (None when unknown) and ``problem`` (why it cannot be shown)."""

    path: Path | None
    video_frame: int | None = None
    size: tuple[int, int] | None = None
    problem: str | None = None
    looked_in: list[str] = field(default_factory=list)


def _float_column(values) -> np.ndarray:
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        try:
            out[i] = float(v) if v != "" else np.nan
        except ValueError:
            pass
    return out


class ResultsFolder:
    """The rows of ``explainendo diagnose --out FOLDER``: ``results.csv`` (one row per input, in input order) and
    ``results.jsonl`` (the same inputs, each a whole :meth:`Result.to_dict <explainendo.types.Result.to_dict>`
    with its card's path), and ``ledger.json`` (the run: model folder, inputs, ``--table``).

    The folder is read once; :meth:`refresh` (called by the viewer before each table request) reads it again when
    ``results.csv`` changed (a run still going on), which costs one ``stat`` otherwise. ``images``: the folder the
    run's images are in now, when they moved since the run (paths are tried as written, relative to the current
    folder, to the results folder and its parent, then under ``images``)."""

    def __init__(self, folder, images=None):
        self.folder = Path(folder)
        self.images = None if images is None else Path(images)
        if not self.folder.is_dir():
            raise ConfigError("results folder not found", source=str(folder),
                              hint="give the --out folder of `explainendo diagnose MODEL IMAGES --out FOLDER`")
        self.csv_path, self.jsonl_path = self.folder / "results.csv", self.folder / "results.jsonl"
        missing = [p.name for p in (self.csv_path, self.jsonl_path) if not p.is_file()]
        if missing:
            raise ConfigError(f"not a diagnose output folder: {' and '.join(missing)} missing", source=str(folder),
                              hint="the viewer reads what `explainendo diagnose MODEL IMAGES --out FOLDER` writes")
        self.ledger = self._read_ledger()
        self._lock = threading.Lock()
        self._stamp = None
        self.refresh()

    # ---- reading ----------------------------------------------------------------------------------------------
    def _read_ledger(self) -> dict:
        path = self.folder / "ledger.json"
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"ledger.json cannot be read ({exc})", source=str(self.folder)) from None

    def refresh(self) -> bool:
        """Read the rows again if ``results.csv`` changed since they were read; True when they were."""
        stat = self.csv_path.stat()
        stamp = (stat.st_size, stat.st_mtime_ns, self.jsonl_path.stat().st_size)
        if stamp == self._stamp:
            return False
        with self._lock:
            if stamp != self._stamp:
                self._load()
                self._stamp = stamp
        return True

    def _load(self) -> None:
        import csv

        with open(self.csv_path, newline="", encoding="utf-8") as f:
            text = f.read()
        if text and not text.endswith("\n"):  # a row being written: leave it for the next refresh
            text = text[:text.rfind("\n") + 1]
        reader = csv.reader(io.StringIO(text, newline=""))  # a quoted message may hold a line break
        header = next(reader, None)
        if not header or "image" not in header or "status" not in header:
            raise ConfigError("results.csv has no 'image' and 'status' columns: not a diagnose output",
                              source=str(self.csv_path))
        rows = list(reader)
        offsets = self._line_offsets()
        n = min(len(rows), len(offsets))
        columns = {name: np.array([r[k] if k < len(r) else "" for r in rows[:n]], dtype=object)
                   for k, name in enumerate(header)}
        self.columns = header
        self.classes = [c[2:] for c in header if c.startswith("p_")]
        self.has_ood = "ood" in header
        self._text = columns
        self._offsets = offsets[:n]
        self.n = n
        self._numeric = {name: _float_column(columns[col]) for name, (col, numeric) in SORTABLE.items()
                         if numeric and col is not None and col in columns}
        self._numeric["index"] = np.arange(n, dtype=float)
        self._lower = {name: np.array([v.lower() for v in columns[col]], dtype=object)
                       for name, (col, numeric) in SORTABLE.items() if not numeric and col in columns}
        self._orders: dict[str, np.ndarray] = {}
        self.labels = sorted({v for v in columns.get("label", []) if v})  # the filters' choices
        self.fitters = sorted({v for v in columns.get("predictor", []) if v})
        self.statuses = sorted(set(columns.get("status", [])))

    def _line_offsets(self) -> list[int]:
        """Byte offset of each complete line of ``results.jsonl`` (a torn last line is left out)."""
        offsets, position = [], 0
        with open(self.jsonl_path, "rb") as f:
            for line in f:
                if line.endswith(b"\n"):
                    offsets.append(position)
                position += len(line)
        return offsets

    # ---- the table -------------------------------------------------------------------------------------------
    def _order(self, sort: str) -> np.ndarray:
        """Case indices in ascending order of ``sort`` (stable: ties keep input order; missing numbers last)."""
        if sort not in self._orders:
            if sort in self._numeric:
                values = self._numeric[sort]
                self._orders[sort] = np.lexsort((np.arange(self.n), np.nan_to_num(values, nan=np.inf)))
            elif sort in self._lower:
                self._orders[sort] = np.argsort(self._lower[sort], kind="stable")
            else:  # a column this run has not (ood without an OOD detector): input order
                self._orders[sort] = np.arange(self.n)
        return self._orders[sort]

    def _mask(self, query: Query) -> np.ndarray:
        keep = np.ones(self.n, dtype=bool)
        empty = np.full(self.n, "", dtype=object)
        for column, wanted in (("label", query.label), ("status", query.status), ("predictor", query.fitter)):
            if wanted:
                keep &= self._text.get(column, empty) == wanted
        if query.ood != "any":
            flag = {"flagged": "true", "not_flagged": "false", "unknown": ""}[query.ood]
            keep &= self._text.get("ood", empty) == flag
        if query.q:
            needle = query.q.lower()
            keep &= np.fromiter((needle in name for name in self._lower["image"]), dtype=bool, count=self.n)
        probability = self._numeric.get("probability")
        if query.p_min is not None and probability is not None:
            keep &= probability >= query.p_min
        if query.p_max is not None and probability is not None:
            keep &= probability <= query.p_max
        return keep

    def view(self, query: Query) -> np.ndarray:
        """The case indices the table shows for ``query``, in its order (all pages)."""
        query.checked()
        order = self._order(query.sort) if query.order == "asc" else self._descending(query.sort)
        return order[self._mask(query)[order]]

    def _descending(self, sort: str) -> np.ndarray:
        """Case indices in descending order of ``sort``, ties in input order (missing numbers last)."""
        key = f"{sort}:desc"
        if key not in self._orders:
            if sort in self._numeric:
                values = self._numeric[sort]
                self._orders[key] = np.lexsort((np.arange(self.n), -np.nan_to_num(values, nan=-np.inf)))
            elif sort in self._lower and self.n:  # reverse the ranks of the values, not the indices
                ascending = self._order(sort)
                ordered = self._lower[sort][ascending]
                rank = np.empty(self.n, dtype=np.int64)
                rank[ascending] = np.cumsum(np.concatenate([[False], ordered[1:] != ordered[:-1]]))
                self._orders[key] = np.lexsort((np.arange(self.n), -rank))
            else:
                self._orders[key] = np.arange(self.n)
        return self._orders[key]

    def page(self, query: Query) -> Page:
        """One page of the table for ``query``."""
        indices = self.view(query)
        total = len(indices)
        pages = max(1, -(-total // query.per_page))
        page = min(max(1, query.page), pages)
        chosen = indices[(page - 1) * query.per_page: page * query.per_page]
        return Page(rows=[self.row(int(i)) for i in chosen], total=total, page=page, pages=pages, query=query,
                    all_cases=self.n)

    def row(self, index: int) -> dict:
        """Case ``index``'s ``results.csv`` row as a dict, with ``index`` and the file ``name``."""
        self._check_index(index)
        row = {name: values[index] for name, values in self._text.items()}
        row["index"] = index
        row["name"] = Path(row["image"]).name if ("/" in row["image"] or "\\" in row["image"]) else row["image"]
        row["probability_value"] = float(self._numeric.get("probability", np.full(self.n, np.nan))[index])
        return row

    def neighbours(self, index: int, query: Query) -> tuple[int | None, int | None, int | None, int]:
        """``(previous, next, position from 1, count)`` of case ``index`` in the table's ``query`` view."""
        indices = self.view(query)
        where = np.flatnonzero(indices == index)
        if not len(where):
            return None, None, None, len(indices)
        k = int(where[0])
        return (int(indices[k - 1]) if k > 0 else None, int(indices[k + 1]) if k + 1 < len(indices) else None,
                k + 1, len(indices))

    # ---- one case --------------------------------------------------------------------------------------------
    def _check_index(self, index: int) -> None:
        if not 0 <= index < self.n:
            raise NotInFolderError(f"case {index} does not exist", source=str(self.folder),
                                   hint=f"the folder holds cases 0 to {self.n - 1}" if self.n else "it holds no case")

    def record(self, index: int) -> dict:
        """Case ``index``'s whole record (its ``results.jsonl`` line): lesions with features, boxes, card."""
        self._check_index(index)
        with open(self.jsonl_path, "rb") as f:
            f.seek(self._offsets[index])
            line = f.readline()
        try:
            return json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"line {index + 1} of results.jsonl cannot be read ({exc})",
                              source=str(self.jsonl_path)) from None

    def _candidates(self, name: str) -> list[Path]:
        path = Path(name)
        if path.is_absolute():
            found = [path]
        else:
            found = [Path.cwd() / path, self.folder.parent / path, self.folder / path]
        if self.images is not None:
            inputs = self.ledger.get("inputs")
            if inputs:
                try:
                    found.append(self.images / Path(name).relative_to(inputs))
                except ValueError:
                    pass
            found.append(self.images / path.name)
        return list(dict.fromkeys(found))

    def frame(self, index: int, record: dict | None = None) -> FrameFile:
        """Where case ``index``'s frame is and its size; ``problem`` says why it cannot be shown."""
        record = self.record(index) if record is None else record
        name = str(record.get("image") or "")
        video_frame = None
        base, sep, number = name.rpartition("#")
        if sep and number.isdigit() and not Path(name).suffix.lower() in BROWSER_IMAGES:
            name, video_frame = base, int(number)  # a video's frame: "<video path>#<frame index>"
        if not name:
            return FrameFile(None, problem="the record names no image")
        candidates = self._candidates(name)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return FrameFile(None, video_frame, problem=f"image file not found: {name}",
                         looked_in=[str(p) for p in candidates])
        size = None
        try:
            if video_frame is None:
                from ..io.image import read_image_size

                size = read_image_size(path)
            else:
                import cv2

                capture = cv2.VideoCapture(str(path))
                size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
                capture.release()
                size = size if min(size) > 0 else None
        except Exception as exc:  # noqa: BLE001 - an unreadable header: the page says so
            return FrameFile(path, video_frame, problem=f"image cannot be read: {exc}")
        return FrameFile(path, video_frame, size=size)

    def pixels(self, frame: FrameFile) -> np.ndarray:
        """The frame's RGB pixels (a video frame is read at its index)."""
        if frame.path is None:
            raise InvalidImageError(frame.problem or "no image", source=None)
        if frame.video_frame is None:
            from ..io.image import read_image

            return read_image(frame.path)
        import cv2

        capture = cv2.VideoCapture(str(frame.path))
        try:
            capture.set(cv2.CAP_PROP_POS_FRAMES, frame.video_frame)
            ok, bgr = capture.read()
        finally:
            capture.release()
        if not ok:
            raise InvalidImageError(f"frame {frame.video_frame} cannot be decoded", source=str(frame.path))
        return np.ascontiguousarray(bgr[..., ::-1])

    def card(self, index: int, record: dict | None = None) -> Path | None:
        """The case's saved card (``diagnose`` writes one per diagnosed image), None when there is none: looked
        for where the record says and, for a folder moved since, in its own ``cards/``."""
        record = self.record(index) if record is None else record
        card = record.get("card")
        if not card:
            return None
        for path in (Path(card), self.folder / "cards" / Path(card).name):
            if path.is_file():
                return path
        return None

    def model_path(self) -> str | None:
        """The model folder the run used, as the ledger records it (None without a ledger)."""
        return self.ledger.get("model")
