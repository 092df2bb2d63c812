"""The feature-source contract shared by deep attribute heads, handcrafted extractors and user columns.

A feature source turns lesions into named columns ``<group>.<name>`` (``tone.p_reddened``, ``lbp.hist_3``).
The fitter sees only these columns, and SHAP values are summed per group for the explanation people read,
so every source also reports ``groups``: group -> its columns, in output order.

Lesions travel as one :class:`LesionSamples` object (crops, boxes, whole frames, optional masks and a
per-lesion table of labels), so a source that needs the whole frame (the landmark head) or a mask (aspect
ratio from a segmentation) takes it from the same place as one that needs only the crop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Sequence

import numpy as np
import pandas as pd

from .components import Component
from .errors import FeatureExtractionError, ManifestError
from .io.image import read_image
from .io.manifest import Manifest
from .types import Box


@dataclass
class LesionSamples:
    """Lesions to describe: one entry per lesion, all lists the same length.

    ``crops[i]`` is ``boxes[i]`` cut from ``frames[i]`` (RGB uint8); ``masks[i]`` (bool, crop-sized) is optional;
    ``table`` has one row per lesion with whatever the manifest knows (``image``, ``patient``, ``label``,
    ``attr.<name>`` columns with NaN where unlabelled).
    """

    crops: list[np.ndarray]
    boxes: list[Box]
    frames: list[np.ndarray] | None = None
    masks: list[np.ndarray | None] | None = None
    table: pd.DataFrame = field(default_factory=pd.DataFrame)
    enlarge: float = 1.0

    def __post_init__(self) -> None:
        n = len(self.crops)
        for name in ("boxes", "frames", "masks"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise FeatureExtractionError(
                    f"LesionSamples: {len(value)} {name} for {n} crops",
                    hint="give one entry per lesion in every list")
        if len(self.table) not in (0, n):
            raise FeatureExtractionError(f"LesionSamples: table has {len(self.table)} rows for {n} crops",
                                         hint="give one table row per lesion")
        if len(self.table) == 0:
            self.table = pd.DataFrame(index=range(n))
        self.table = self.table.reset_index(drop=True)

    def __len__(self) -> int:
        return len(self.crops)

    def subset(self, index: Sequence[int] | np.ndarray) -> "LesionSamples":
        index = [int(i) for i in np.asarray(index).reshape(-1)]
        pick = lambda seq: None if seq is None else [seq[i] for i in index]  # noqa: E731
        return LesionSamples(crops=pick(self.crops), boxes=pick(self.boxes), frames=pick(self.frames),
                             masks=pick(self.masks), table=self.table.iloc[index].reset_index(drop=True),
                             enlarge=self.enlarge)

    def labels(self, column: str) -> pd.Series:
        """A table column (``label``, ``attr.tone``...), or all-NaN if the manifest does not have it."""
        if column in self.table:
            return self.table[column]
        return pd.Series([np.nan] * len(self), name=column)

    @classmethod
    def from_images(cls, frames: Sequence[np.ndarray], boxes: Sequence[Box], enlarge: float = 1.0,
                    table: pd.DataFrame | None = None, masks: Sequence[np.ndarray | None] | None = None
                    ) -> "LesionSamples":
        """Crop each box from its frame (``enlarge`` about the box centre, clipped to the image)."""
        frames = list(frames)
        crops = [box.crop(frame, enlarge=enlarge) for frame, box in zip(frames, boxes)]
        return cls(crops=crops, boxes=list(boxes), frames=frames,
                   masks=None if masks is None else list(masks),
                   table=pd.DataFrame() if table is None else table, enlarge=enlarge)

    @classmethod
    def from_manifest(cls, manifest: Manifest, enlarge: float = 1.0, keep_frames: bool = True
                      ) -> "LesionSamples":
        """One sample per box row of a manifest with boxes; each image is read once."""
        if not manifest.has_boxes:
            raise ManifestError(f"manifest {manifest.name!r} has no boxes (x1, y1, x2, y2)",
                                hint="add boxes, or run a localizer first to find the lesions")
        crops, boxes, frames, rows = [], [], [], []
        for image_name, rows_of_image in manifest.iter_images():
            frame = read_image(manifest.path(image_name))
            for box, (_, row) in zip(manifest.boxes_for(image_name), rows_of_image.iterrows()):
                crops.append(box.crop(frame, enlarge=enlarge))
                boxes.append(box)
                frames.append(frame)
                rows.append(row)
        table = pd.DataFrame(rows).reset_index(drop=True)
        return cls(crops=crops, boxes=boxes, frames=frames if keep_frames else None, table=table,
                   enlarge=enlarge)


class FeatureSource(Component):
    """Base of every source of named features (attribute heads, handcrafted extractors, table columns,
    a CNN's score).

    Capability flags (class attributes, never guessed from a name):

    * ``supervised``: ``fit`` learns from labels, so a hybrid gives its fitter out-of-fold or held-out
      features from it (stacking);
    * ``reads_attributes``: its groups are named clinical attributes (a group eliminator may prefer them).

    Contract: ``fit(samples, *, unlabeled=None) -> self``; ``transform(samples) -> DataFrame`` with one row
    per lesion and columns ``<group>.<name>``, the same columns in the same order every call; ``groups``
    maps each group to its columns (after ``fit``). Default hooks: :meth:`calibrate_transform` (no
    calibration: the plain features) and :meth:`gradcam` (no maps). A source that cannot be trained on the
    given data (no labels for any attribute) raises :class:`~explainendo.errors.SourceUnavailableError`;
    that is the only error a hybrid answers by leaving the source out.
    """

    supervised: ClassVar[bool] = False
    reads_attributes: ClassVar[bool] = False
    #: can :meth:`calibrate_transform` calibrate on held-out labelled lesions
    calibrates: ClassVar[bool] = False
    name: ClassVar[str] = "source"

    def fit(self, samples: LesionSamples, *, unlabeled: LesionSamples | None = None) -> "FeatureSource":
        return self

    def transform(self, samples: LesionSamples) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def groups(self) -> dict[str, list[str]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_params(self) -> None:
        """Validate the parameters; a hybrid calls this on every source before any training starts."""

    def check_data(self, table: pd.DataFrame) -> None:
        """Check the training lesions' table before any training (a typed error naming the line or column);
        nothing by default."""

    def calibrate_transform(self, samples: LesionSamples) -> pd.DataFrame:
        """Calibrate on ``samples``' labels where the source can (``calibrates``), then their features."""
        return self.transform(samples)

    def gradcam(self, samples: LesionSamples) -> dict[str, list[np.ndarray]]:
        """Heatmaps per group/attribute and lesion (crop coordinates); none by default."""
        return {}

    @property
    def source_name(self) -> str:
        return str(getattr(self, "name", None) or type(self).__name__)


def groups_from_columns(columns: Sequence[str]) -> dict[str, list[str]]:
    """``{"tone": ["tone.p_reddened", ...], ...}`` from ``<group>.<name>`` column names, in order."""
    groups: dict[str, list[str]] = {}
    for column in columns:
        group, sep, _ = column.partition(".")
        if not sep:
            raise FeatureExtractionError(f"feature column {column!r} is not named '<group>.<name>'",
                                         hint="prefix every feature column with its group and a dot")
        groups.setdefault(group, []).append(column)
    return groups


def check_feature_frame(frame: pd.DataFrame, n_rows: int, source: str) -> pd.DataFrame:
    """The checks every source's output must pass before a fitter sees it."""
    if len(frame) != n_rows:
        raise FeatureExtractionError(f"{source} returned {len(frame)} rows for {n_rows} lesions",
                                     source=source, hint="this is a bug in the feature source")
    groups_from_columns(frame.columns)
    if frame.columns.duplicated().any():
        dupes = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise FeatureExtractionError(f"{source} returned duplicate columns {dupes}", source=source,
                                     hint="give each source its own group names")
    return frame
