"""Typed errors. Every message says which input is wrong, what is wrong, and what to do about it.

All errors derive from :class:`ExplainendoError`, so ``except ExplainendoError`` catches everything the
library raises on purpose. Each also derives from the built-in it refines (``ValueError``,
``FileNotFoundError`` ...), so generic handlers keep working.
"""

from __future__ import annotations

from os import PathLike
from typing import Any


class ExplainendoError(Exception):
    """Base class of every error raised on purpose by explainendo."""

    def __init__(self, message: str, *, source: Any = None, hint: str | None = None):
        self.source = source
        self.reason = message
        self.hint = hint
        parts = []
        if source is not None:
            parts.append(f"{_describe(source)}: ")
        parts.append(message)
        if hint:
            parts.append(f" ({hint})")
        super().__init__("".join(parts))


class InvalidImageError(ExplainendoError, ValueError):
    """An image could not be read, or its content is unusable (empty, corrupt, wrong shape, NaN ...)."""


class InvalidBoxError(ExplainendoError, ValueError):
    """A bounding box is degenerate (zero/negative size, NaN) or lies outside its image."""


class ManifestError(ExplainendoError, ValueError):
    """A dataset manifest is malformed: missing columns, bad paths, missing files, bad boxes ..."""

    def __init__(self, message: str, *, source: Any = None, hint: str | None = None, problems=None):
        self.problems = problems
        super().__init__(message, source=source, hint=hint)


class SplitError(ExplainendoError, ValueError):
    """A split cannot be made (too few groups) or leaks a group across two subsets."""


class ConfigError(ExplainendoError, ValueError):
    """A parameter file or config has an unknown key or a bad value."""


class ModelFileError(ExplainendoError, OSError):
    """A saved model (bundle or weight file) is missing, foreign, tampered with or incompatible."""


class NotFittedError(ExplainendoError, ValueError, AttributeError):
    """A model was used before ``fit`` (the bases of scikit-learn's NotFittedError, which its estimator
    checks accept; not a subclass of it, so ``import explainendo`` does not load scikit-learn)."""


class FeatureExtractionError(ExplainendoError, RuntimeError):
    """A feature could not be computed for a crop (raised only with ``strict=True``)."""


class SourceUnavailableError(ExplainendoError, ValueError):
    """A feature source cannot be trained on these data (e.g. no attribute has a label). The only error a
    hybrid predictor answers by leaving that source out (and recording why); every other error propagates."""


class EvaluationError(ExplainendoError, ValueError):
    """Inputs to a metric or a statistical test are unusable (empty, mismatched lengths, one class only ...)."""


class MissingDependencyError(ExplainendoError, ImportError):
    """An optional package that a feature needs is not installed (e.g. ``onnxruntime`` for ``runtime="onnx"``);
    the message names the ``pip install`` that adds it."""


def _describe(source: Any) -> str:
    if isinstance(source, (str, PathLike)):
        return f"'{source}'"
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    name = type(source).__name__
    shape = getattr(source, "shape", None)
    if shape is not None:
        return f"<{name} shape={tuple(shape)} dtype={getattr(source, 'dtype', '?')}>"
    return f"<{name}>"
