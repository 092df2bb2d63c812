"""``DetectorLabel``: the class a detector gave the box, as the diagnosis (the colonoscopy system).

A multi-class detector (normal / unclear / tumor) already names each box's class with a confidence. This
predictor reads it from the box: probability ``score`` for the box's own label and ``(1 - score) / (k - 1)``
for each other class, so ``predict_proba`` has the same shape as any other predictor's and the harness can
compare it with a CNN or a hybrid on the same lesions. ``fit`` learns only the class list (the labels of the
training lesions, or ``classes`` when given); a box whose label is not a known class is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..components import register_component
from ..errors import ConfigError, FeatureExtractionError
from ..features import LesionSamples
from .base import Evidence, Predictor, training_labels


@register_component("detector_label")
class DetectorLabel(Predictor):
    """The detector's box label and score as class probabilities (module docstring)."""

    def __init__(self, classes: Sequence[str] | None = None):
        self.classes = classes

    def fit(self, samples: LesionSamples, *, unlabeled: LesionSamples | None = None) -> "DetectorLabel":
        if self.classes is not None:
            classes = [str(c) for c in self.classes]
            if len(classes) < 2 or len(set(classes)) != len(classes):
                raise ConfigError(f"DetectorLabel(classes={self.classes!r}) needs two or more distinct classes")
        else:
            classes, _ = training_labels(samples)
        self.classes_ = classes
        return self

    def predict_proba(self, samples: LesionSamples) -> np.ndarray:
        self._check_fitted()
        k = len(self.classes_)
        out = np.empty((len(samples), k))
        for i, box in enumerate(samples.boxes):
            if box.label not in self.classes_:
                raise FeatureExtractionError(f"lesion {i}: the box has label {box.label!r}, not one of "
                                             f"{self.classes_}", source="boxes",
                                             hint="use a detector trained on these classes")
            score = float(np.clip(box.score, 0.0, 1.0))
            out[i] = (1.0 - score) / (k - 1)
            out[i, self.classes_.index(box.label)] = score
        return out

    def explain(self, samples: LesionSamples, class_index: int | None = None, gradcam: bool = True,
                features=None) -> list[Evidence]:
        """The detector's own confidence (no features to attribute to; detector CAMs come with the detector)."""
        proba = self.predict_proba(samples)
        return [Evidence(explained_class=self.classes_[int(c)], output=float(proba[i, c]), explainer="detector")
                for i, c in enumerate(self._class_indices(proba, class_index))]

    def describe(self) -> str:
        return "detector label"

    def _save_state(self, directory: Path) -> dict:
        self._check_fitted()
        return {"classes": list(self.classes_)}

    def _load_state(self, state: dict, directory: Path) -> None:
        self.classes_ = [str(c) for c in state.get("classes") or []]
