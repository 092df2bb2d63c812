"""Predictors: what turns localized lesions into class probabilities and explanations.

``HybridPredictor`` (feature sources -> fitter -> grouped SHAP), ``CNNClassifier`` (one CNN, Grad-CAM),
``DetectorLabel`` (the class a detector gave the box); stacking strategies ``OutOfFold``, ``HeldOut``,
``InSample`` for the hybrid; the intervention training strategy ``RandomInterventions``; ``BoxJitter`` (the fitter
also learns from crops of jittered boxes, as a localizer's are)."""

from .base import Evidence, Predictor
from .box_jitter import BoxJitter
from .cnn import CNNClassifier
from .detector import DetectorLabel
from .hybrid import ATTRIBUTE_GROUPS, HybridPredictor
from .interventions import InterventionTraining, RandomInterventions
from .stacking import HeldOut, InSample, OutOfFold, Stacking

__all__ = ["Predictor", "Evidence", "HybridPredictor", "CNNClassifier", "DetectorLabel", "Stacking", "OutOfFold",
           "HeldOut", "InSample", "ATTRIBUTE_GROUPS", "InterventionTraining", "RandomInterventions",
           "BoxJitter"]
