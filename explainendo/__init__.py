"""explainendo: explainable AI for gastrointestinal endoscopy.

Heavy dependencies (torch, ultralytics, shap) load only when a model class is first used, so
``import explainendo`` stays fast: the classes below are imported on first access (PEP 562).
"""

from ._version import __version__
from .errors import ExplainendoError
from .types import Box

_LAZY = {
    "Diagnoser": ("explainendo.engine", "Diagnoser"),
    "GastricDiagnoser": ("explainendo.systems.gastric", "GastricDiagnoser"),
    "ERCPAssistant": ("explainendo.systems.ercp", "ERCPAssistant"),
    "ColonFrameDetector": ("explainendo.systems.colon", "ColonFrameDetector"),
    "EUSCystClassifier": ("explainendo.systems.eus", "EUSCystClassifier"),
    "HybridPredictor": ("explainendo.predict", "HybridPredictor"),
    "CNNClassifier": ("explainendo.predict", "CNNClassifier"),
    "DetectorLabel": ("explainendo.predict", "DetectorLabel"),
    "OutOfFold": ("explainendo.predict", "OutOfFold"),
    "HeldOut": ("explainendo.predict", "HeldOut"),
    "InSample": ("explainendo.predict", "InSample"),
    "RandomInterventions": ("explainendo.predict", "RandomInterventions"),
    "Training": ("explainendo.training", "Training"),
    "load": ("explainendo.bundle", "load"),
}

__all__ = ["__version__", "Box", "ExplainendoError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'explainendo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
