"""A deep classifier's score as one named feature: how the hybrid uses a CNN when no attribute labels exist.

Real datasets such as EDD2020 have diagnoses but no ENDOANGEL-ED attribute labels, so no attribute head
can be trained. The hybrid can still use deep learning: a crop classifier (:class:`SoleDLClassifier`)
trained on the diagnosis becomes one feature group ``deep`` (``deep.p_<class>``) beside the handcrafted
features. The fitter then weighs the CNN's opinion against named, checkable measurements, and SHAP says
how much of each diagnosis came from the CNN (group ``deep``) and how much from colour, texture and shape.

The source learns from labels (``supervised = True``), so :class:`~explainendo.hybrid.HybridDiagnoser`
gives the fitter out-of-fold scores: the CNN that scores a training lesion never saw that lesion's patient.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, NotFittedError
from ..features import LesionSamples

KIND = "deep_score"
GROUP = "deep"


class DeepScoreFeatures:
    """``deep.p_<class>`` from a crop classifier trained on ``label_column``.

    ``classifier``: an unfitted classifier with ``fit(samples, label_column=...)``, ``predict_proba`` and
    ``classes_`` (default: ``SoleDLClassifier(**classifier_params)``). ``positive``: for a binary task, the
    class whose probability is the one column (the paper's sole-DL score); without it every class gets
    a column. ``keep`` overrides the list of classes given columns.
    """

    kind = KIND
    supervised = True

    def __init__(self, classifier: Any = None, classifier_params: dict | None = None, label_column: str = "label",
                 positive: str | None = None, keep: list[str] | None = None, name: str = "deep_score"):
        self.classifier = classifier
        self.classifier_params = classifier_params
        self.label_column = label_column
        self.positive = positive
        self.keep = keep
        self.name = name

    def _new_classifier(self):
        if self.classifier is not None:
            from sklearn.base import clone
            return clone(self.classifier)
        from ..systems.sole_dl import SoleDLClassifier
        return SoleDLClassifier(**dict(self.classifier_params or {}))

    def fit(self, samples: LesionSamples) -> "DeepScoreFeatures":
        model = self._new_classifier()
        model.fit(samples, label_column=self.label_column)
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

    def gradcam(self, samples: LesionSamples, attributes=None) -> dict[str, list[np.ndarray]]:
        """Grad-CAM of the CNN behind the score, as group ``deep`` (the card shows it beside the heads')."""
        return {GROUP: self.model_.gradcam(samples)}

    def save(self, directory) -> Path:
        import yaml

        if not hasattr(self, "model_"):
            raise NotFittedError(f"DeepScoreFeatures {self.name!r} is not fitted", hint="call fit(samples) first")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.model_.save(directory / "classifier")
        state = {"kind": KIND, "name": self.name, "label_column": self.label_column, "classes": self.classes_,
                 "kept": self.kept_}
        (directory / "component.yaml").write_text(yaml.safe_dump(state, sort_keys=False))
        return directory

    @classmethod
    def load(cls, directory) -> "DeepScoreFeatures":
        from ..bundle import read_component
        from ..systems.sole_dl import SoleDLClassifier

        state = read_component(directory, KIND)
        obj = cls(label_column=state["label_column"], keep=list(state["kept"]), name=state.get("name", KIND))
        obj.model_ = SoleDLClassifier.load(Path(directory) / "classifier")
        obj.classes_, obj.kept_ = [str(c) for c in state["classes"]], [str(c) for c in state["kept"]]
        return obj
