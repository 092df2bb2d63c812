"""The sole deep-learning baseline: one CNN on the localized lesion crop (no attributes, no fitter).

ENDOANGEL-ED (Dong et al., npj Digit Med 2023) compares its explainable hybrid with a ResNet-50 trained
directly on the lesion crops, with the box taken as is (1.0x) or enlarged 1.2x about its centre. This
class is that baseline, with EfficientNet-Lite0 (real ImageNet weights) as a lighter alternative. It is
:class:`explainendo.heads.AttributeHeads` with a single head ``diagnosis`` whose classes are the labels,
so training (augmentation, class weighting, early stopping on validation macro-F1, pseudo-labelling),
Grad-CAM and the safetensors bundle are the same code.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from ..errors import ConfigError, FeatureExtractionError, ManifestError, NotFittedError
from ..features import LesionSamples
from ..specs import AttributeSpec

HEAD = "diagnosis"


class SoleDLClassifier(ClassifierMixin, BaseEstimator):
    """A single CNN classifying lesion crops.

    ``backbone``: "resnet50" (the paper's), "resnet18" or "efficientnet_lite0". ``pretrained``: True,
    False, a local weight file, or "auto" (the weights available offline: EfficientNet-Lite0's packaged
    ImageNet weights, a ResNet file already in torch's cache; otherwise random init with a warning).
    ``enlarge``: 1.0 or 1.2, the crop around the box (re-cut from the frames when the samples were cut
    at another factor). The other parameters are those of :class:`~explainendo.heads.AttributeHeads`.
    """

    def __init__(self, backbone: str = "resnet50", pretrained: bool | str = "auto", enlarge: float = 1.0,
                 image_size: int = 224, epochs: int = 10, batch_size: int = 32, lr: float = 1e-3,
                 weight_decay: float = 1e-4, freeze_stages: int = 0, class_weight: str | None = "balanced",
                 augment: bool = True, semi_supervised: str | None = None, pseudo_threshold: float = 0.9,
                 patience: int = 3, seed: int = 0, device: str = "cpu", num_threads: int | None = 2,
                 verbose: bool = False, flips: bool = True):
        self.backbone = backbone
        self.pretrained = pretrained
        self.enlarge = enlarge
        self.image_size = image_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.freeze_stages = freeze_stages
        self.class_weight = class_weight
        self.augment = augment
        self.semi_supervised = semi_supervised
        self.pseudo_threshold = pseudo_threshold
        self.patience = patience
        self.seed = seed
        self.device = device
        self.num_threads = num_threads
        self.flips = flips
        self.verbose = verbose

    # ------------------------------------------------------------------------------------ helpers
    def _resolved_pretrained(self):
        if self.pretrained != "auto":
            return self.pretrained
        from ..heads.backbones import check_local_imagenet_weights

        try:  # look for the weight file only; the heads build (and load) the network once, in fit
            check_local_imagenet_weights(self.backbone)
            return True
        except ConfigError as exc:
            warnings.warn(f"SoleDLClassifier: {exc}; training '{self.backbone}' from random init", stacklevel=3)
            return False

    def _recut(self, samples: Any, what: str) -> LesionSamples:
        """The samples cut at ``self.enlarge`` (from their frames if they were cut at another factor)."""
        if not isinstance(samples, LesionSamples):
            raise FeatureExtractionError(f"{what} must be LesionSamples, got {type(samples).__name__}",
                                         source=what, hint="LesionSamples.from_images(frames, boxes)")
        if not (isinstance(self.enlarge, (int, float)) and self.enlarge >= 1.0):
            raise ConfigError(f"enlarge={self.enlarge!r}", hint="use 1.0 (the box) or 1.2 (the paper's enlarged box)")
        if abs(samples.enlarge - self.enlarge) < 1e-9:
            return samples
        if samples.frames is None:
            raise FeatureExtractionError(f"{what} were cut at enlarge={samples.enlarge} and have no frames to "
                                         f"re-cut at {self.enlarge}", source=what,
                                         hint=f"build them with LesionSamples.from_images(..., enlarge={self.enlarge})")
        return LesionSamples.from_images(samples.frames, samples.boxes, enlarge=self.enlarge, table=samples.table,
                                         masks=samples.masks)

    def _with_head_labels(self, samples: LesionSamples, label_column: str) -> LesionSamples:
        values = samples.labels(label_column)
        index = {c: i for i, c in enumerate(self.classes_)}
        encoded = [np.nan if pd.isna(v) else index.get(v, -1) for v in values.tolist()]
        if -1 in encoded:
            foreign = sorted({str(v) for v, e in zip(values.tolist(), encoded) if e == -1})[:5]
            raise ManifestError(f"column {label_column!r} has labels {foreign} not seen in training",
                                source=label_column, hint=f"known classes: {list(self.classes_)}")
        table = samples.table.copy()
        table[f"attr.{HEAD}"] = encoded
        return LesionSamples(crops=samples.crops, boxes=samples.boxes, frames=samples.frames, masks=samples.masks,
                             table=table, enlarge=samples.enlarge)

    def _check_fitted(self) -> None:
        if not hasattr(self, "heads_"):
            raise NotFittedError("SoleDLClassifier is not fitted", hint="call fit(samples) or load(dir)")

    # ------------------------------------------------------------------------------------- API
    def fit(self, samples: LesionSamples, label_column: str = "label", unlabeled: LesionSamples | None = None,
            validation: LesionSamples | None = None) -> "SoleDLClassifier":
        from ..heads.attribute_heads import AttributeHeads

        samples = self._recut(samples, "samples")
        values = samples.labels(label_column)
        present = values.dropna()
        if present.empty:
            raise ManifestError(f"samples have no {label_column!r} labels", source=label_column,
                                hint="add a label column, or pass label_column=<column>")
        self.classes_ = np.array(sorted(present.unique().tolist(), key=str))
        if len(self.classes_) < 2:
            raise ManifestError(f"column {label_column!r} has a single class {self.classes_.tolist()}",
                                source=label_column, hint="a classifier needs at least two classes")
        self.label_column_ = label_column
        spec = AttributeSpec(HEAD, tuple(str(c) for c in self.classes_), description="sole-DL diagnosis")
        self.heads_ = AttributeHeads(
            specs=(spec,), backbone=self.backbone, pretrained=self._resolved_pretrained(),
            image_size=self.image_size, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
            weight_decay=self.weight_decay, freeze_stages=self.freeze_stages, class_weight=self.class_weight,
            augment=self.augment, flips=self.flips, semi_supervised=self.semi_supervised, pseudo_threshold=self.pseudo_threshold,
            seed=self.seed, device=self.device, patience=self.patience, num_threads=self.num_threads,
            verbose=self.verbose)
        train = self._with_head_labels(samples, label_column)
        val = None if validation is None else self._with_head_labels(self._recut(validation, "validation"),
                                                                     label_column)
        unl = None if unlabeled is None else self._recut(unlabeled, "unlabeled")
        self.heads_.fit(train, unlabeled=unl, validation=val)
        self.history_ = self.heads_.history_
        return self

    def predict_proba(self, samples: LesionSamples) -> np.ndarray:
        """(n, n_classes) probabilities in the order of ``classes_`` (NaN rows for unusable crops)."""
        self._check_fitted()
        return self.heads_.predict_proba(self._recut(samples, "samples"))[HEAD]

    def predict(self, samples: LesionSamples) -> np.ndarray:
        proba = self.predict_proba(samples)
        labels = self.classes_[np.nan_to_num(proba, nan=-1).argmax(1)]
        bad = ~np.isfinite(proba).all(1)
        if bad.any():
            labels = labels.astype(object)
            labels[bad] = None
        return labels

    def score(self, samples: LesionSamples, y=None) -> float:
        """Accuracy against ``y`` (default: the label column used in fit)."""
        y = samples.labels(self.label_column_).to_numpy() if y is None else np.asarray(y)
        return float(np.mean(self.predict(samples) == y))

    def gradcam(self, samples: LesionSamples, target: Any = None) -> list[np.ndarray]:
        """One Grad-CAM map per lesion, in [0, 1], shaped like its crop (at ``enlarge``); ``target``: a
        class (default: the predicted one). :func:`explainendo.heads.paste_on_frame` places it on the frame."""
        self._check_fitted()
        targets = None
        if target is not None:
            matches = [i for i, c in enumerate(self.classes_) if c == target or str(c) == str(target)]
            if not matches:
                raise ConfigError(f"target {target!r} is not a class", hint=f"classes: {self.classes_.tolist()}")
            targets = {HEAD: matches[0]}
        return self.heads_.gradcam(self._recut(samples, "samples"), targets=targets)[HEAD]

    def save(self, directory: str | Path) -> Path:
        """The heads bundle (``model.safetensors`` + ``component.yaml``) with ``kind: sole_dl``."""
        self._check_fitted()
        params = self.get_params()
        params["pretrained"] = params["pretrained"] if isinstance(params["pretrained"], bool) \
            else str(params["pretrained"])
        extra = {"sole_dl": {"params": params, "classes": self.classes_.tolist(),
                             "label_column": self.label_column_}}
        return self.heads_.save(directory, kind="sole_dl", extra=extra)

    @classmethod
    def load(cls, directory: str | Path) -> "SoleDLClassifier":
        from ..heads.attribute_heads import AttributeHeads

        config = AttributeHeads._read_config(directory, "sole_dl")
        model = cls(**config["sole_dl"]["params"])
        model.classes_ = np.array(config["sole_dl"]["classes"])
        model.label_column_ = config["sole_dl"]["label_column"]
        model.heads_ = AttributeHeads._from_config(config, directory)
        model.history_ = model.heads_.history_
        return model
