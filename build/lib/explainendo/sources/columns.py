"""Features taken straight from the lesion table: measurements the user already has.

A clinic may record the lesion size in millimetres, the patient's age or an endoscopist's reading of
the tone; :class:`ColumnFeatures` turns such table columns into named features for the hybrid fitter.
Numeric columns become ``<col>.value``; text (categorical) columns are one-hot encoded as
``<col>.<value>`` with the categories seen in ``fit`` (an unseen value is all zeros, a missing one NaN).
The ``attr.`` prefix of manifest attribute columns is dropped from the group name (``attr.tone`` ->
group ``tone``, columns ``tone.reddened`` ...).

On phantoms, giving it the ground-truth ``attr.*`` columns is the *oracle* check of the engine: with
perfect attributes the hybrid must approach the Bayes rate and SHAP must recover the generating rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..components import register_component
from ..errors import ConfigError, FeatureExtractionError, ModelFileError, NotFittedError
from ..features import FeatureSource, LesionSamples

KIND = "columns"


def _group_of(column: str) -> str:
    return column[len("attr."):] if column.startswith("attr.") else column


@register_component(KIND)
class ColumnFeatures(FeatureSource):
    """A feature source reading ``columns`` from ``samples.table`` (see the module docstring)."""

    supervised = False  # fit only learns categories, never labels: no out-of-fold features needed

    def __init__(self, columns: Sequence[str], name: str = "columns"):
        self.columns = columns
        self.name = name

    def fit(self, samples: LesionSamples, *, unlabeled: LesionSamples | None = None) -> "ColumnFeatures":
        if not self.columns:
            raise ConfigError("ColumnFeatures needs at least one column", hint="pass columns=['size_mm', ...]")
        table = samples.table
        self._check_columns(table)
        encoding: dict[str, list[str] | None] = {}
        for col in self.columns:
            values = table[col]
            numeric = pd.to_numeric(values, errors="coerce")
            if values.notna().sum() and numeric[values.notna()].notna().all():
                encoding[col] = None
            else:
                encoding[col] = sorted(str(v) for v in values.dropna().unique())
        self.encoding_ = encoding
        return self

    def table_columns(self) -> list[str]:
        """The table columns read at prediction too: a diagnoser needs them in its ``table=``."""
        return list(self.columns)

    def check_data(self, table: pd.DataFrame) -> None:
        self._check_columns(table)

    def _check_columns(self, table: pd.DataFrame) -> None:
        missing = [c for c in self.columns if c not in table.columns]
        if missing:
            raise FeatureExtractionError(f"lesion table has no column(s) {missing}", source=self.name,
                                         hint="give these measurements in the manifest, or in predict(table=...)")

    @property
    def groups(self) -> dict[str, list[str]]:
        if not hasattr(self, "encoding_"):
            raise NotFittedError(f"ColumnFeatures {self.name!r} is not fitted", hint="call fit(samples) first")
        out = {}
        for col, cats in self.encoding_.items():
            g = _group_of(col)
            out[g] = [f"{g}.value"] if cats is None else [f"{g}.{c}" for c in cats]
        return out

    def transform(self, samples: LesionSamples) -> pd.DataFrame:
        groups = self.groups
        table = samples.table
        self._check_columns(table)
        parts = {}
        for col, cats in self.encoding_.items():
            g = _group_of(col)
            values = table[col].reset_index(drop=True)
            if cats is None:
                parts[f"{g}.value"] = pd.to_numeric(values, errors="coerce").astype(float)
            else:
                missing = values.isna().to_numpy()
                text = values.astype(str).to_numpy()
                for c in cats:
                    parts[f"{g}.{c}"] = np.where(missing, np.nan, (text == c).astype(float))
        frame = pd.DataFrame(parts, index=range(len(samples)))
        return frame[[c for cols in groups.values() for c in cols]]

    # ---- persistence --------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict:
        if not hasattr(self, "encoding_"):
            raise NotFittedError(f"ColumnFeatures {self.name!r} is not fitted", hint="call fit(samples) first")
        return {"encoding": self.encoding_}

    def _load_state(self, state: dict, directory: Path) -> None:
        encoding = state.get("encoding")
        if not isinstance(encoding, dict):
            raise ModelFileError("ColumnFeatures state has no encoding", source=str(directory))
        self.encoding_ = {str(k): (None if v is None else [str(x) for x in v]) for k, v in encoding.items()}
