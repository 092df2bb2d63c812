"""A deep classifier's score as one named feature: how the hybrid uses a CNN when no attribute labels exist.

Real datasets such as EDD2020 have diagnoses but no ENDOANGEL-ED attribute labels, so no attribute head
can be trained. The hybrid can still use deep learning: a crop classifier (:class:`~explainendo.predict.CNNClassifier`)
trained on the diagnosis becomes one feature group ``deep`` (``deep.p_<class>``) beside the handcrafted
features. The fitter then weighs the CNN's opinion against named, checkable measurements, and SHAP says
how much of each diagnosis came from the CNN (group ``deep``) and how much from colour, texture and shape.

The source learns from labels (``supervised = True``), so :class:`~explainendo.predict.HybridPredictor`
gives the fitter out-of-fold scores: the CNN that scores a training lesion never saw that lesion's patient.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, NotFittedError
from ..components import register_component
from ..features import FeatureSource, LesionSamples

KIND = "deep_score"
GROUP = "deep"


@register_component(KIND)
class DeepScoreFeatures(FeatureSource):
    """``deep.p_<class>`` from a CNN trained on the diagnosis.

    ``classifier``: an unfitted :class:`~explainendo.predict.CNNClassifier` (default: ``CNNClassifier()``),
    cloned in ``fit``. ``positive``: for a binary task, the class whose probability is the one column (the
    paper's sole-DL score); without it every class gets a column. ``keep`` overrides the list of classes
    given columns.
    """

    supervised = True

    def __init__(self, classifier: Any = None, positive: str | None = None, keep: list[str] | None = None,
                 name: str = "deep_score"):
        self.classifier = classifier
        self.positive = positive
        self.keep = keep
        self.name = name

    def _new_classifier(self):
        from sklearn.base import clone

        from ..predict.cnn import CNNClassifier

        return CNNClassifier() if self.classifier is None else clone(self.classifier)

    def check_params(self) -> None:
        from ..predict.base import Predictor

        model = self._new_classifier()
        if not isinstance(model, Predictor):
            raise ConfigError(f"classifier must be a predictor such as CNNClassifier, got {type(model).__name__}")
        model.check_params()

    def fit(self, samples: LesionSamples, *, unlabeled: LesionSamples | None = None) -> "DeepScoreFeatures":
        model = self._new_classifier().fit(samples, unlabeled=unlabeled)
        classes = [str(c) for c in model.classes_]
        if self.keep is not None:
            keep = list(self.keep)
        elif self.positive is not None and len(classes) == 2:
            if str(self.positive) not in classes:
                raise ConfigError(f"positive class {self.positive!r} is not a label", source=self.name,
                                  hint=f"labels: {classes}")
            keep = [str(self.positive)]
        else:
            keep = classes
        self.model_, self.classes_, self.kept_ = model, classes, [str(k) for k in keep]
        return self

    @property
    def groups(self) -> dict[str, list[str]]:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"DeepScoreFeatures {self.name!r} is not fitted", hint="call fit(samples) first")
        return {GROUP: [f"{GROUP}.p_{c}" for c in self.kept_]}

    def transform(self, samples: LesionSamples) -> pd.DataFrame:
        columns = self.groups[GROUP]
        proba = np.asarray(self.model_.predict_proba(samples), dtype=float)
        picked = proba[:, [self.classes_.index(c) for c in self.kept_]]
        return pd.DataFrame(picked, columns=columns, index=range(len(samples)))

    def gradcam(self, samples: LesionSamples) -> dict[str, list[np.ndarray]]:
        """Grad-CAM of the CNN behind the score, as group ``deep`` (the card shows it beside the heads')."""
        return {GROUP: self.model_.gradcam(samples)}

    def _save_state(self, directory: Path) -> dict:
        from ..components import save_child

        if not hasattr(self, "model_"):
            raise NotFittedError(f"DeepScoreFeatures {self.name!r} is not fitted", hint="call fit(samples) first")
        return {"classifier": save_child(self.model_, directory, "classifier"), "classes": self.classes_,
                "kept": self.kept_}

    def _load_state(self, state: dict, directory: Path) -> None:
        from ..components import load_child
        from ..predict.base import Predictor

        self.model_ = load_child(state.get("classifier"), directory, Predictor)
        self.classes_ = [str(c) for c in state.get("classes") or []]
        self.kept_ = [str(c) for c in state.get("kept") or []]
