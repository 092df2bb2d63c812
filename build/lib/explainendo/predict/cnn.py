"""``CNNClassifier``: one CNN on the lesion crop (or the whole frame), the sole deep-learning predictor.

ENDOANGEL-ED (Dong et al., npj Digit Med 2023) compares its explainable hybrid with a ResNet-50 trained
directly on the lesion crops, with the box taken as is (1.0x) or enlarged 1.2x about its centre; the EUS
and ERCP systems classify whole frames the same way (with a whole-frame localizer). This predictor is that
CNN. Its ``network`` is an unfitted :class:`~explainendo.heads.AttributeHeads` that carries the backbone
and the training settings (augmentation, class weighting, early stopping, pseudo-labelling, Grad-CAM,
safetensors): its attribute specs are replaced by one head ``diagnosis`` whose classes are the labels, so
the CNN and the attribute heads share one training loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..components import load_child, register_component, save_child
from ..errors import ConfigError, FeatureExtractionError, ManifestError, ModelFileError
from ..features import LesionSamples
from ..specs import AttributeSpec
from .base import Evidence, Predictor

HEAD = "diagnosis"


def default_network():
    """The paper's baseline: ResNet-50 (ImageNet weights if a local file exists, else random init with a
    warning) at 224 px."""
    from ..heads import AttributeHeads

    return AttributeHeads(backbone="resnet50", pretrained="auto", image_size=224)


@register_component("cnn_classifier")
class CNNClassifier(Predictor):
    """A single CNN classifying lesion crops (module docstring).

    ``network``: an unfitted :class:`~explainendo.heads.AttributeHeads` (backbone, pretrained weights, image
    size, epochs ...; its ``specs`` are replaced); None: :func:`default_network`. ``enlarge``: 1.0 or 1.2, the
    crop around the box (re-cut from the frames when the samples were cut at another factor).
    ``label_column``: the table column it learns (default ``label``).
    """

    def __init__(self, network: Any = None, enlarge: float = 1.0, label_column: str = "label"):
        self.network = network
        self.enlarge = enlarge
        self.label_column = label_column

    def _recut(self, samples: Any, what: str) -> LesionSamples:
        if not isinstance(samples, LesionSamples):
            raise FeatureExtractionError(f"{what} must be LesionSamples, got {type(samples).__name__}",
                                         source=what, hint="LesionSamples.from_images(frames, boxes)")
        if abs(samples.enlarge - self.enlarge) < 1e-9:
            return samples
        if samples.frames is None:
            raise FeatureExtractionError(f"{what} were cut at enlarge={samples.enlarge} and have no frames to "
                                         f"re-cut at {self.enlarge}", source=what,
                                         hint=f"build them with LesionSamples.from_images(..., enlarge={self.enlarge})")
        return LesionSamples.from_images(samples.frames, samples.boxes, enlarge=self.enlarge, table=samples.table,
                                         masks=samples.masks)

    def _with_head_labels(self, samples: LesionSamples) -> LesionSamples:
        values = samples.labels(self.label_column)
        index = {c: i for i, c in enumerate(self.classes_)}
        encoded = [np.nan if pd.isna(v) else index.get(str(v), -1) for v in values.tolist()]
        if -1 in encoded:
            foreign = sorted({str(v) for v, e in zip(values.tolist(), encoded) if e == -1})[:5]
            raise ManifestError(f"column {self.label_column!r} has labels {foreign} not seen in training",
                                source=self.label_column, hint=f"known classes: {list(self.classes_)}")
        table = samples.table.copy()
        table[f"attr.{HEAD}"] = encoded
        return LesionSamples(crops=samples.crops, boxes=samples.boxes, frames=samples.frames, masks=samples.masks,
                             table=table, enlarge=samples.enlarge)

    def _network(self):
        from ..heads import AttributeHeads

        network = default_network() if self.network is None else self.network
        if not isinstance(network, AttributeHeads):
            raise ConfigError(f"network must be an AttributeHeads (backbone and training settings), got "
                              f"{type(network).__name__}", hint="e.g. AttributeHeads(backbone='efficientnet_lite0')")
        return network

    def check_params(self) -> None:
        if not (isinstance(self.enlarge, (int, float)) and self.enlarge >= 1.0):
            raise ConfigError(f"enlarge={self.enlarge!r}", hint="use 1.0 (the box) or 1.2 (the paper's enlarged box)")
        self._network().check_params()

    def fit(self, samples: LesionSamples, *, unlabeled: LesionSamples | None = None,
            validation: LesionSamples | None = None) -> "CNNClassifier":
        self.check_params()
        samples = self._recut(samples, "samples")
        present = samples.labels(self.label_column).dropna()
        if present.empty:
            raise ManifestError(f"samples have no {self.label_column!r} labels", source=self.label_column,
                                hint="add a label column, or pass label_column=<column>")
        classes = sorted({str(v) for v in present})
        if len(classes) < 2:
            raise ManifestError(f"column {self.label_column!r} has a single class {classes}",
                                source=self.label_column, hint="a classifier needs at least two classes")
        self.classes_ = classes
        spec = AttributeSpec(HEAD, tuple(classes), description="sole-DL diagnosis")
        heads = clone(self._network()).set_params(specs=(spec,))
        val = None if validation is None else self._with_head_labels(self._recut(validation, "validation"))
        unl = None if unlabeled is None else self._recut(unlabeled, "unlabeled")
        self.network_ = heads.fit(self._with_head_labels(samples), unlabeled=unl, validation=val)
        self.history_ = self.network_.history_
        return self

    def predict_proba(self, samples: LesionSamples) -> np.ndarray:
        """(n, n_classes) probabilities in the order of ``classes_`` (NaN rows for unusable crops)."""
        self._check_fitted()
        return self.network_.predict_proba(self._recut(samples, "samples"))[HEAD]

    def score(self, samples: LesionSamples, y=None) -> float:
        """Accuracy against ``y`` (default: the label column)."""
        y = samples.labels(self.label_column).astype(str).to_numpy() if y is None else np.asarray(y)
        return float(np.mean(self.predict(samples) == y))

    def gradcam(self, samples: LesionSamples, target: Any = None) -> list[np.ndarray]:
        """One Grad-CAM map per lesion, in [0, 1], shaped like its crop (at ``enlarge``); ``target``: a class
        (default: the predicted one). :func:`explainendo.heads.paste_on_frame` places it on the frame."""
        self._check_fitted()
        targets = None
        if target is not None:
            if str(target) not in self.classes_:
                raise ConfigError(f"target {target!r} is not a class", hint=f"classes: {self.classes_}")
            targets = {HEAD: self.classes_.index(str(target))}
        return self.network_.gradcam(self._recut(samples, "samples"), targets=targets)[HEAD]

    def explain(self, samples: LesionSamples, class_index: int | None = None, gradcam: bool = True,
                features=None) -> list[Evidence]:
        """Grad-CAM of the explained class per lesion (a CNN has no named features to attribute to)."""
        from ..explain.gradcam import unit_scale

        proba = self.predict_proba(samples)
        targets = self._class_indices(proba, class_index)
        maps: list = [None] * len(samples)
        if gradcam:
            for c in np.unique(targets):
                rows = np.flatnonzero(targets == c)
                for i, cam in zip(rows, self.gradcam(samples.subset(rows), target=self.classes_[int(c)])):
                    maps[i] = cam
        return [Evidence(explained_class=self.classes_[int(c)], output=float(proba[i, c]), explainer="grad-cam",
                         gradcams={} if maps[i] is None else {HEAD: unit_scale(maps[i])})
                for i, c in enumerate(targets)]

    def describe(self) -> str:
        network = self._network()
        return f"cnn: {network.backbone}"

    # ---- persistence -----------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict:
        self._check_fitted()
        return {"classes": list(self.classes_), "network": save_child(self.network_, directory, "network")}

    def _load_state(self, state: dict, directory: Path) -> None:
        from ..heads import AttributeHeads

        try:
            self.classes_ = [str(c) for c in state["classes"]]
            self.network_ = load_child(state["network"], directory, AttributeHeads)
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"CNN classifier state is incomplete ({exc!r})", source=str(directory)) from None
        if [s.name for s in self.network_.specs] != [HEAD] or list(self.network_.specs[0].classes) != self.classes_:
            raise ModelFileError("the saved network's head does not match the classifier's classes",
                                 source=str(directory), hint="the model folder was edited; save it again")
        self.history_ = self.network_.history_
