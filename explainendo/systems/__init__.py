"""Published systems wired on the engine: each a :class:`~explainendo.engine.Diagnoser` with defaults."""

from .colon import ColonFrameDetector, colon_cnn, colon_localizer, colon_predictor
from .ercp import ERCPAssistant, ercp_cnn, ercp_heads, ercp_localizer, ercp_predictor
from .eus import EUSCystClassifier, eus_cnn, eus_handcrafted_params, eus_heads, eus_localizer, eus_predictor
from .gastric import GastricDiagnoser, gastric_heads, gastric_localizer, gastric_predictor, gastric_sources

__all__ = ["GastricDiagnoser", "gastric_heads", "gastric_localizer", "gastric_predictor", "gastric_sources",
           "ColonFrameDetector", "colon_localizer", "colon_cnn", "colon_predictor",
           "ERCPAssistant", "ercp_localizer", "ercp_heads", "ercp_predictor", "ercp_cnn",
           "EUSCystClassifier", "eus_localizer", "eus_heads", "eus_handcrafted_params", "eus_predictor", "eus_cnn"]
