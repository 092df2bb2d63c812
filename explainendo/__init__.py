"""explainendo: explainable AI for gastrointestinal endoscopy.

Heavy dependencies (torch, ultralytics, shap) load only when a model class is first used, so
``import explainendo`` stays fast.
"""

from ._version import __version__
from .errors import ExplainendoError
from .types import Box

__all__ = ["__version__", "Box", "ExplainendoError"]
