"""Published systems wired on the engine: each a :class:`~explainendo.engine.Diagnoser` with defaults."""

from .gastric import GastricDiagnoser, gastric_heads, gastric_localizer, gastric_predictor, gastric_sources

__all__ = ["GastricDiagnoser", "gastric_heads", "gastric_localizer", "gastric_predictor", "gastric_sources"]
