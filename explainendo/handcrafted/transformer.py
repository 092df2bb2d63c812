"""``HandcraftedFeatures``: the six extractors as a feature source and a scikit-learn transformer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import TransformerMixin

from ..errors import ConfigError, ModelFileError
from ..components import register_component
from ..features import FeatureSource, LesionSamples, check_feature_frame, groups_from_columns
from .params import load_params
from .runner import build_extractors, feature_columns, run_extractors

KIND = "handcrafted"


@register_component(KIND)
class HandcraftedFeatures(TransformerMixin, FeatureSource):
    """The handcrafted extractor suite as a :class:`~explainendo.features.FeatureSource` and an sklearn
    transformer.

    * Feature source: ``fit(samples)`` is a no-op returning self (nothing is learnt), ``transform(samples)``
      takes a :class:`~explainendo.features.LesionSamples` and uses its ``crops``, ``boxes`` and ``masks``
      (the aspect ratio comes from the mask when one is given, else from the box); ``groups`` maps each
      extractor name to its columns.
    * Transformer: ``transform(X)`` also takes a list of crops (or an ``(N, H, W, C)`` array) and returns a
      DataFrame of float64 columns ``<group>.<name>``; ``get_feature_names_out()`` lists them, so it works
      inside a ``Pipeline`` (crops in, fitter after). It is stateless: ``transform`` works without ``fit``.

    Parameters
    ----------
    params : a params YAML path, a (partial) dict or ``None`` for the defaults (see ``load_params``).
    strict : raise ``FeatureExtractionError`` instead of writing NaN plus a warning for an undefined value.
    """

    name = "handcrafted"

    def __init__(self, params: Any = None, strict: bool = False):
        self.params = params
        self.strict = strict

    # ---- configuration ----------------------------------------------------------------------------
    def resolved_params(self) -> dict[str, Any]:
        """The complete, validated params (``ConfigError`` naming a bad key)."""
        return load_params(self.params)

    @property
    def groups(self) -> dict[str, list[str]]:
        return groups_from_columns(feature_columns(build_extractors(self.resolved_params())))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(feature_columns(build_extractors(self.resolved_params())), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False  # nothing is learnt: transform works on an unfitted instance
        return tags

    # ---- fit / transform ----------------------------------------------------------------------------
    def fit(self, X: Any = None, y: Any = None, *, unlabeled: Any = None) -> "HandcraftedFeatures":
        """Validate the params and the form of ``X`` (what :meth:`transform` would refuse), return self: no
        state is learnt from the data."""
        self.resolved_params()
        if X is not None and not isinstance(X, LesionSamples):
            self._crops(X)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        params = self.resolved_params()
        extractors = build_extractors(params)
        if isinstance(X, LesionSamples):
            names = list(X.table["image"]) if "image" in X.table else None
            frame = run_extractors(extractors, params["preprocess"], X.crops, masks=X.masks, boxes=X.boxes,
                                   strict=self.strict, names=names, colour=params["colour_constancy"],
                                   frames=X.frames)
            return check_feature_frame(frame, len(X), self.name)
        crops = self._crops(X)
        frame = run_extractors(extractors, params["preprocess"], crops, strict=self.strict,
                               colour=params["colour_constancy"])
        return check_feature_frame(frame, len(crops), self.name)

    def _crops(self, X: Any) -> list:
        """``X`` as a list of crops; a table (DataFrame, sparse matrix, 2-D array) or a single crop is refused
        (a crop that is itself unusable gives a row of NaN in ``transform``, see ``run_extractors``)."""
        hint = "pass a list of crops, an (N, H, W, C) array or a LesionSamples"
        if isinstance(X, (pd.DataFrame, pd.Series)):
            raise ConfigError(f"a {type(X).__name__} is a table, not a batch of image crops", source=self.name,
                              hint=hint)
        if sparse.issparse(X):
            raise ConfigError("sparse input is not supported: a sparse matrix is not a batch of image crops",
                              source=self.name, hint=hint)
        if isinstance(X, np.ndarray) and X.ndim != 4:
            raise ConfigError(f"an array input must be a (N, H, W, C) batch, got shape {X.shape}",
                              source=self.name, hint=hint)
        return list(X)

    # ---- persistence (YAML only: loading executes nothing) ------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """``<directory>/component.yaml`` with the *resolved* params (a params file path is never stored): the
        extractor list, ``preprocess``, ``colour_constancy`` and the sections of the selected extractors only, so a
        folder saved while other extractors were registered (a user's own, unused here) loads where they are not."""
        params = self.resolved_params()
        needed = {"extractors", "preprocess", "colour_constancy", *params["extractors"]}
        resolved = type(self)(params={k: v for k, v in params.items() if k in needed}, strict=bool(self.strict))
        return FeatureSource.save(resolved, directory)

    def _save_state(self, directory: Path) -> dict:
        return {"columns": list(self.get_feature_names_out())}

    def _load_state(self, state: dict, directory: Path) -> None:
        saved = state.get("columns")
        if saved is not None and list(saved) != list(self.get_feature_names_out()):
            raise ModelFileError("the saved columns differ from what these params produce now",
                                 source=str(directory), hint="the extractors changed since saving; re-save it")
