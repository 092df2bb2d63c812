"""Loaders that turn common dataset layouts into a :class:`~explainendo.io.Manifest`.

Each loader reads labels only (no pixels), so it is fast; call ``manifest.validate()`` to check files,
sizes and boxes. Datasets without patient ids get one pseudo-patient per image (stated in each
docstring): group-wise splits then cannot keep a real patient together, so prefer the centre or video
column where one exists.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from ..errors import ManifestError
from .manifest import Manifest
from .roots import DATA_ENV, data_root

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

#: EDD2020 box classes (``class_list.txt`` order, which YOLO class ids follow).
EDD2020_CLASSES = ("BE", "suspicious", "HGD", "cancer", "polyp")
#: Neoplastic vs non-neoplastic reading of EDD2020 boxes (the hybrid-vs-sole-DL benchmark task).
EDD2020_NEOPLASTIC = {"HGD": "neoplastic", "cancer": "neoplastic", "BE": "non_neoplastic"}
#: Centre-wise external test for EDD2020's neoplastic-vs-BE task. BE occurs only in ACB, AJ and B, so an
#: external test with both classes must hold one of those: AJ (120 BE, 54 HGD/cancer boxes) is held out,
#: the others train and give the internal test (like the gastric paper's external hospitals).
EDD2020_EXTERNAL_CENTRES = ("AJ",)


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise ManifestError(f"{what} folder not found", source=path,
                            hint=f"pass the dataset's root folder, or set {DATA_ENV} to the folder holding it")
    return path


def _dataset_root(root: str | os.PathLike | None, folder: str) -> Path:
    """``root`` as given, else ``<data root>/<folder>`` (:func:`explainendo.io.data_root`)."""
    return Path(root) if root is not None else data_root() / folder


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def load_voc_txt(root: str | os.PathLike, images: str = "originalImages", labels: str = "bbox",
                 group_of: Callable[[str], dict] | None = None, name: str = "voc") -> Manifest:
    """Images plus one ``<stem>.txt`` per image with lines ``x1 y1 x2 y2 class`` (pixel coordinates).

    ``group_of(stem)`` returns group columns (``patient``, ``centre`` ...) for an image; by default each
    image is its own patient. Images with no label file (or an empty one) get one box-less row.
    """
    root = Path(root)
    img_dir = _require_dir(root / images, "image")
    lbl_dir = _require_dir(root / labels, "label")
    rows = []
    for img in _list_images(img_dir):
        groups = group_of(img.stem) if group_of else {"patient": img.stem}
        rel = str(img.relative_to(root))
        lbl = lbl_dir / f"{img.stem}.txt"
        lines = lbl.read_text().split("\n") if lbl.is_file() else []
        boxes = []
        for ln, line in enumerate(lines, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 5:
                raise ManifestError(f"line {ln}: expected 'x1 y1 x2 y2 class', got {line!r}", source=lbl)
            try:
                x1, y1, x2, y2 = (float(v) for v in parts[:4])
            except ValueError:
                raise ManifestError(f"line {ln}: non-numeric coordinates in {line!r}", source=lbl) from None
            boxes.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "box_label": " ".join(parts[4:])})
        for b in boxes or [{}]:
            rows.append({"image": rel, **groups, **b})
    if not rows:
        raise ManifestError("no images found", source=img_dir)
    return Manifest(pd.DataFrame(rows), root, name=name)


def load_yolo_txt(root: str | os.PathLike, images: str, labels: str, class_names: Sequence[str],
                  group_of: Callable[[str], dict] | None = None, name: str = "yolo",
                  sizes: dict[str, tuple[int, int]] | None = None) -> Manifest:
    """Images plus YOLO label files (``class cx cy w h``, normalised). Needs each image's size, read from
    its header (``sizes`` may supply them)."""
    from .image import read_image_size

    root = Path(root)
    img_dir = _require_dir(root / images, "image")
    lbl_dir = _require_dir(root / labels, "label")
    rows = []
    for img in _list_images(img_dir):
        groups = group_of(img.stem) if group_of else {"patient": img.stem}
        rel = str(img.relative_to(root))
        lbl = lbl_dir / f"{img.stem}.txt"
        boxes = []
        if lbl.is_file():
            lines = [ln for ln in lbl.read_text().split("\n") if ln.strip()]
            if lines:
                w, h = sizes[rel] if sizes and rel in sizes else read_image_size(img)
            for ln, line in enumerate(lines, 1):
                parts = line.split()
                if len(parts) != 5:
                    raise ManifestError(f"line {ln}: expected 'class cx cy w h', got {line!r}", source=lbl)
                try:
                    cls = int(parts[0])
                    cx, cy, bw, bh = (float(v) for v in parts[1:])
                except ValueError:
                    raise ManifestError(f"line {ln}: bad numbers in {line!r}", source=lbl) from None
                if not 0 <= cls < len(class_names):
                    raise ManifestError(f"line {ln}: class id {cls} outside 0..{len(class_names) - 1}", source=lbl)
                boxes.append({"x1": (cx - bw / 2) * w, "y1": (cy - bh / 2) * h, "x2": (cx + bw / 2) * w,
                              "y2": (cy + bh / 2) * h, "box_label": class_names[cls], "width": w, "height": h})
        for b in boxes or [{}]:
            rows.append({"image": rel, **groups, **b})
    if not rows:
        raise ManifestError("no images found", source=img_dir)
    return Manifest(pd.DataFrame(rows), root, name=name)


def edd2020_centre(stem: str) -> str:
    """Centre code from an EDD2020 file name: ``EDD2020_AJ0012`` -> ``AJ``."""
    m = re.match(r"EDD2020_([A-Za-z]+)\d+", stem)
    if not m:
        raise ManifestError("not an EDD2020 file name (expected EDD2020_<CENTRE><NUMBER>)", source=stem)
    return m.group(1)


def load_edd2020(root: str | os.PathLike | None = None, labels: str = "bbox",
                 neoplastic_label: bool = False) -> Manifest:
    """EDD2020 (EndoCV2020): 386 frames from 5 centres, VOC boxes (BE, suspicious, HGD, cancer, polyp).

    ``centre`` comes from the file-name prefix (ACB, AJ, B, F, INAB, NAF). EDD2020 has no patient ids:
    each frame is its own pseudo-patient, so use centre-wise splits for honest external tests.
    ``labels="bbox_yolotype"`` reads the YOLO copy of the same boxes instead. With
    ``neoplastic_label=True`` the ``label`` column holds the lesion-level neoplastic / non_neoplastic
    reading of :data:`EDD2020_NEOPLASTIC` (other classes get no label).
    """
    root = _dataset_root(root, "edd2020")

    def group_of(stem: str) -> dict:
        return {"patient": stem, "centre": edd2020_centre(stem)}

    if labels == "bbox":
        m = load_voc_txt(root, "originalImages", "bbox", group_of, name="edd2020")
    elif labels == "bbox_yolotype":
        m = load_yolo_txt(root, "originalImages", "bbox_yolotype", EDD2020_CLASSES, group_of, name="edd2020")
    else:
        raise ManifestError(f"unknown EDD2020 label folder '{labels}'", hint="use 'bbox' or 'bbox_yolotype'")
    if neoplastic_label:
        m.df["label"] = m.df["box_label"].map(EDD2020_NEOPLASTIC)
    return m


def load_kvasir_seg(root: str | os.PathLike | None = None, boxes: str = "csv") -> Manifest:
    """Kvasir-SEG (1000 polyp images; the shared copy is resized to 256x256, 998 images).

    ``boxes="csv"`` reads ``bboxes_256.csv`` (boxes already in 256x256 pixels); ``boxes="json"`` reads the
    official ``kavsir_bboxes.json`` (original-size boxes) and rescales them to each image's actual size.
    Kvasir-SEG has no patient ids: each image is its own pseudo-patient (say so when reporting).
    """
    from .image import read_image_size

    root = _dataset_root(root, "kvasir-seg-256")
    _require_dir(root / "images", "image")
    rows = []
    if boxes == "csv":
        path = root / "bboxes_256.csv"
        if not path.is_file():
            raise ManifestError("bboxes_256.csv not found", source=path)
        df = pd.read_csv(path)
        need = {"image", "xmin", "ymin", "xmax", "ymax"}
        if not need <= set(df.columns):
            raise ManifestError(f"expected columns {sorted(need)}, got {list(df.columns)}", source=path)
        for r in df.itertuples(index=False):
            stem = Path(r.image).stem
            rows.append({"image": f"images/{r.image}", "patient": stem, "label": "polyp",
                         "x1": r.xmin, "y1": r.ymin, "x2": r.xmax, "y2": r.ymax,
                         "box_label": getattr(r, "label", "polyp")})
    elif boxes == "json":
        path = root / "kavsir_bboxes.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ManifestError(f"cannot read ({exc})", source=path) from None
        for stem, entry in data.items():
            img = root / "images" / f"{stem}.jpg"
            if not img.is_file():
                continue
            w, h = read_image_size(img)
            sx, sy = w / entry["width"], h / entry["height"]
            for b in entry["bbox"]:
                rows.append({"image": f"images/{stem}.jpg", "patient": stem, "label": "polyp",
                             "x1": b["xmin"] * sx, "y1": b["ymin"] * sy, "x2": b["xmax"] * sx,
                             "y2": b["ymax"] * sy, "box_label": b.get("label", "polyp")})
    else:
        raise ManifestError(f"unknown Kvasir-SEG box source '{boxes}'", hint="use 'csv' or 'json'")
    return Manifest(pd.DataFrame(rows), root, name="kvasir-seg")


def dsoc_video(stem: str) -> str:
    """Video id of a DSOC cholangioscopy frame.

    Roboflow names are ``<video>_mp4-<frame>_jpg.rf.<hash>``: the video is the part before ``_mp4``.
    Frames exported from stills (``10-202407290001018_jpg.rf...``) carry a date + case number: the first
    12 digits of the long digit run (``202407290001``) name the procedure.
    """
    if "_mp4" in stem:
        v = stem.split("_mp4")[0].strip("-")
        return v or "unnamed_video"
    m = re.search(r"(\d{12})\d*_jpg", stem)
    return f"still_{m.group(1)}" if m else stem


def dsoc_frame(stem: str) -> int | None:
    """The frame number of a DSOC frame exported from a video (``<video>_mp4-<frame>_jpg...``), else None."""
    m = re.search(r"_mp4-(\d+)_jpg", stem)
    return int(m.group(1)) if m else None


def load_dsoc(root: str | os.PathLike | None = None) -> Manifest:
    """DSOC cholangioscopy (1033 frames, 640x640, YOLO boxes of 3 lesion classes, ~10 videos).

    ``video`` (and ``patient``, the same id) come from :func:`dsoc_video`, ``frame`` (the frame number in its
    video; empty for frames exported from stills) from :func:`dsoc_frame`, so :func:`explainendo.io.video_clips`
    assembles each video's frames in their real order. The Roboflow folder (train/valid) is kept in ``split`` but
    is frame-wise, so group splits should use ``video``. Roboflow's augmented copies share a frame number.
    """
    import yaml

    root = _dataset_root(root, "dsoc-cholangioscopy")
    cfg_path = root / "data.yaml"
    try:
        names = list(yaml.safe_load(cfg_path.read_text())["names"])
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ManifestError(f"cannot read class names ({exc})", source=cfg_path) from None
    parts = []
    for split in ("train", "valid", "test"):
        if not (root / "img" / split / "images").is_dir():
            continue

        def group_of(stem: str) -> dict:
            v = dsoc_video(stem)
            return {"patient": v, "video": v, "split": split, "frame": dsoc_frame(stem)}

        parts.append(load_yolo_txt(root, f"img/{split}/images", f"img/{split}/labels", names, group_of,
                                   name="dsoc", sizes=None).df)
    if not parts:
        raise ManifestError("no img/<split>/images folders", source=root)
    return Manifest(pd.concat(parts, ignore_index=True), root, name="dsoc")


def load_folder(root: str | os.PathLike, label: str | None = None, images: str = ".",
                name: str = "folder") -> Manifest:
    """Every image in a folder, with one ``label`` for all (e.g. normal frames); one pseudo-patient each."""
    root = Path(root)
    img_dir = _require_dir(root / images, "image")
    rows = [{"image": str(p.relative_to(root)), "patient": p.stem, "label": label}
            for p in _list_images(img_dir)]
    if not rows:
        raise ManifestError("no images found", source=img_dir, hint=f"extensions: {IMAGE_EXTENSIONS}")
    return Manifest(pd.DataFrame(rows), root, name=name)


def load_cp_child(root: str | os.PathLike | None = None) -> Manifest:
    """CP-CHILD normal frames (256x256, polyp-free): label ``normal``, one pseudo-patient per frame."""
    root = _dataset_root(root, "cp-child-normal-256")
    return load_folder(root, label="normal", images="images", name="cp-child")


def load_csv(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Manifest:
    """A manifest CSV in the project's schema (``root`` defaults to the CSV's folder)."""
    return Manifest.read_csv(path, root)


LOADERS: dict[str, Callable[..., Manifest]] = {
    "edd2020": load_edd2020,
    "kvasir-seg": load_kvasir_seg,
    "cp-child": load_cp_child,
    "dsoc": load_dsoc,
}


def load_dataset(name: str, root: str | os.PathLike | None = None) -> Manifest:
    """Load a dataset by name (``edd2020``, ``kvasir-seg``, ``cp-child``, ``dsoc``) or a manifest CSV path."""
    if name in LOADERS:
        return LOADERS[name](root)
    if str(name).endswith(".csv"):
        return load_csv(name, root)
    raise ManifestError(f"unknown dataset '{name}'",
                        hint=f"use one of {sorted(LOADERS)} or the path of a manifest CSV")


def video_clips(manifest: Manifest, video: str = "video", frame: str = "frame") -> dict[str, list[Path]]:
    """Each video's frames as a clip, in their real order: ``{video id: [image paths]}`` from a manifest with a
    ``video`` column and a numeric ``frame`` column (e.g. :func:`load_dsoc`). Rows without a frame number (stills)
    are left out; of several images with one frame number (augmented copies) the first by name is kept. The clips
    are real frames in real order, at the rate they were exported (not the video's own frame rate): a list of
    paths goes to ``VideoSession(model, fps=...).run(paths)`` or :func:`explainendo.video.detect_freezes`.
    ``ManifestError`` when a column is missing."""
    df = manifest.df
    missing = [c for c in (video, frame) if c not in df.columns]
    if missing:
        raise ManifestError(f"no {missing} column to assemble clips by", source=manifest.name,
                            hint="a manifest with video ids and frame numbers, e.g. load_dsoc()")
    rows = df[["image", video, frame]].drop_duplicates("image")
    rows = rows[pd.to_numeric(rows[frame], errors="coerce").notna()].copy()
    rows[frame] = pd.to_numeric(rows[frame]).astype(int)
    rows = rows.sort_values([video, frame, "image"]).drop_duplicates([video, frame])
    return {str(v): [manifest.path(i) for i in g["image"]] for v, g in rows.groupby(video, sort=True)}
