"""``ColonFrameDetector``: the colonoscopy frame system (BMC Med Inform Decis Mak 2021, an SSD) on the engine.

Every colonoscopy frame is called **normal**, **unclear** (blur from a shaking screen, defocus, fluid, bubbles)
or **tumor**, and a tumor gets its box(es) with scores; a frame judged tumorous where no box is found is
**background** (the paper's "the model brought no detection").

The paper's detector is an SSD returning one class and a box per frame. Here the default is **a frame
classifier plus the engine's tumor localizer**, because no pretrained detector weights exist offline and a
randomly initialised ultralytics YOLO finds nothing after CPU-length training; the localizer
(:class:`~explainendo.localize.CenterNetLocalizer` on the ImageNet EfficientNet-Lite0) is trained on the
tumor boxes with the normal and unclear frames as negatives, and runs only on the frames called tumor:

* ``approach="hybrid"`` (default): the frame is described by named measurements and the classifier is an
  interpretable fitter (logistic regression or SVM, :data:`COLON_FITTERS`, chosen by patient-grouped CV),
  explained by grouped SHAP *against the clear frames* (``contrast_class="normal"``: why unclear rather than
  normal). The measurements: the five frame-quality groups (:data:`~explainendo.handcrafted.FRAME_QUALITY_PARAMS_PATH`:
  ``sharpness``, ``motion_blur``, ``specular_highlights``, ``fluid_colour``, ``exposure``) that say *why* a frame
  is unclear, the colour features of the frame (colour moments, colour principal component, HSI saturation
  entropy), and ``deep.p_tumor``, a frame CNN's tumor probability (held-out stacking: the CNN never scored the
  patients the fitter learns from), so "tumor" rests on the CNN and "unclear" on the quality groups
  ("unclear: motion_blur +0.8, sharpness +0.1").
* ``approach="cnn"``: one CNN classifies the frame (the ImageNet EfficientNet-Lite0), explained by Grad-CAM.
* ``approach="detector"``: the paper's design, one multi-class detector whose most confident box names the frame
  (:class:`~explainendo.predict.DetectorLabel`): normal and unclear frames are boxed by their field of view.
  ``localizer`` chooses it: an ultralytics :class:`~explainendo.localize.YoloLocalizer` where pretrained
  weights are at hand (the paper's SSD role), else the default CenterNet with three classes.

Manifest columns (docs/colon.md): ``image``, ``patient`` (and ``video``), ``label`` (normal / unclear / tumor),
the tumor box ``x1, y1, x2, y2`` on tumor rows (one row per box), optionally ``attr.artifact`` on unclear rows
(motion_blur / defocus / fluid / bubbles: the benchmark checks that SHAP names it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hashlib

import numpy as np
import pandas as pd
from sklearn.base import clone

from ..components import load_child, register_component, save_child
from ..engine import Diagnoser
from ..errors import ConfigError, ManifestError
from ..evaluate.detection import BACKGROUND
from ..types import Box

CLASSES = ("normal", "unclear", "tumor")
TUMOR = "tumor"
FRAME = "frame"
APPROACHES = ("hybrid", "cnn", "detector")
#: which frame-quality group names each degradation of ``attr.artifact`` (the SHAP check of the benchmark)
ARTIFACT_GROUPS = {"motion_blur": "motion_blur", "defocus": "sharpness", "fluid": "fluid_colour",
                   "bubbles": "specular_highlights"}
QUALITY_GROUPS = ("sharpness", "motion_blur", "specular_highlights", "fluid_colour", "exposure")
#: the hybrid's fitter candidates, simpler first (``FitterSelector``, one-SE rule). With the frame-quality groups,
#: L2 logistic regression and the RBF SVM keep each degradation's credit in its own group; the lasso LR keeps one of
#: two collinear blur columns (defocus then reads as motion blur), and the trees (decision tree, xgboost) split on
#: whichever column a degradation moves first, so their SHAP names one group for several degradations (docs/colon.md,
#: "Why SHAP names the degradation"; the benchmark's figure with these two: 96.6% of the unclear frames named right)
COLON_FITTERS = ("logistic_regression", "svm")
#: SHAP's reference class: an unclear frame is explained against the clear frames (why unclear rather than normal)
CONTRAST_CLASS = "normal"
#: the colour features of the whole frame. Left out: the aspect ratio (of a field of view it says nothing), and LBP
#: and HOG: on a whole frame they measure blur generically and take the credit from the named quality groups (a
#: measured finding: with them, SHAP named LBP / HOG first for defocused frames); the tumor's texture is the CNN's.
FRAME_LESION_EXTRACTORS = ["color_principal_component", "hsi_saturation_entropy", "color_moments"]


def colon_localizer(seed: int = 0, **options):
    """The tumor localizer: CenterNet on the ImageNet EfficientNet-Lite0 at 192 px, one class (``tumor``),
    30 epochs; ``options`` override (e.g. ``training=DetectorTraining(epochs=40)``)."""
    from ..localize import CenterNetLocalizer

    settings = {"encoder": "efficientnet_lite0", "image_size": 192, "class_agnostic": True, "seed": seed,
                **options}
    return CenterNetLocalizer(**settings)


def colon_cnn(seed: int = 0, **options):
    """The frame CNN: the ImageNet EfficientNet-Lite0 at 160 px on the field of view, 12 epochs with early
    stopping; ``options`` go to its :class:`~explainendo.heads.AttributeHeads` network."""
    from ..heads import AttributeHeads
    from ..predict import CNNClassifier
    from ..training import Training

    settings = {"backbone": "efficientnet_lite0", "pretrained": True, "image_size": 160, "seed": seed,
                "training": Training(epochs=12, batch_size=32, patience=4), **options}
    return CNNClassifier(network=AttributeHeads(**settings))


def colon_handcrafted_params() -> dict:
    """The hybrid's handcrafted params: the frame-quality suite (its YAML, 256 px working image) followed by the
    frame's colour extractors (:data:`FRAME_LESION_EXTRACTORS`)."""
    import yaml

    from ..handcrafted import FRAME_QUALITY_PARAMS_PATH

    params = yaml.safe_load(FRAME_QUALITY_PARAMS_PATH.read_text())
    params["extractors"] = [*params["extractors"], *FRAME_LESION_EXTRACTORS]
    return params


def colon_fitter(cv: int = 5, seed: int = 0):
    """The hybrid's fitter: :data:`COLON_FITTERS` chosen by patient-grouped CV (``FitterSelector``)."""
    from ..fit import FitterSelector

    return FitterSelector(candidates=COLON_FITTERS, cv=cv, seed=seed)


def colon_predictor(cnn: Any = None, fitter: Any = None, stacking: Any = None, seed: int = 0,
                    contrast_class: str | None = CONTRAST_CLASS):
    """The hybrid frame classifier: frame quality + frame colour + ``deep.p_tumor`` (a frame CNN,
    default :func:`colon_cnn`) into a fitter (default :func:`colon_fitter`), held-out stacking, SHAP against
    ``contrast_class``'s frames (default: the clear ones; None: all training frames)."""
    from ..handcrafted import HandcraftedFeatures
    from ..predict import HeldOut, HybridPredictor
    from ..sources import DeepScoreFeatures

    sources = [HandcraftedFeatures(params=colon_handcrafted_params()),
               DeepScoreFeatures(classifier=colon_cnn(seed) if cnn is None else cnn, keep=[TUMOR])]
    return HybridPredictor(sources=sources, fitter=colon_fitter(seed=seed) if fitter is None else fitter,
                           stacking=HeldOut(0.5) if stacking is None else stacking, seed=seed,
                           contrast_class=contrast_class)


@register_component("colon_frame_detector")
class ColonFrameDetector(Diagnoser):
    """The colonoscopy frame system (module docstring).

    ``localizer``: the tumor localizer (``approach`` hybrid / cnn; None: :func:`colon_localizer`), or the
    three-class frame detector (``approach="detector"``; None: :func:`colon_localizer` with three classes).
    ``predictor``: the frame classifier (None: :func:`colon_predictor` or :func:`colon_cnn` by ``approach``;
    the detector approach reads the detector's label). ``min_box_score``: tumor boxes scored below it are dropped
    (a tumor call left without a box is ``background``). ``train_localizer`` False: the localizer is trained
    already and used as given. ``explain`` explains the frame's class on the whole frame: grouped SHAP of the
    hybrid (the quality groups for unclear, ``deep`` and colour for tumor) or Grad-CAM of the CNN. ``ood``
    ``"default"``: the out-of-distribution flag of :func:`~explainendo.explain.ood.default_ood_detector` on every
    frame (None: none; the Diagnoser's ``ood``).
    """

    def __init__(self, localizer: Any = None, predictor: Any = None, approach: str = "hybrid",
                 min_box_score: float = 0.3, batch_size: int = 16, train_localizer: bool = True, seed: int = 0,
                 ood: Any = "default"):
        super().__init__(localizer=localizer, predictor=predictor, enlarge=1.0, batch_size=batch_size,
                         min_box_score=min_box_score, train_localizer=train_localizer, ood=ood)
        self.approach = approach
        self.seed = seed

    # ---- the parts ----------------------------------------------------------------------------------------
    def _check_approach(self) -> None:
        if self.approach not in APPROACHES:
            raise ConfigError(f"ColonFrameDetector(approach={self.approach!r})", hint=f"use one of {APPROACHES}")
        if not (isinstance(self.min_box_score, (int, float)) and 0.0 <= self.min_box_score <= 1.0):
            raise ConfigError(f"min_box_score={self.min_box_score!r} must lie in [0, 1]")

    def _detector(self):
        """The box model: the tumor localizer, or the three-class frame detector."""
        if self.localizer is not None:
            return self.localizer
        return colon_localizer(self.seed, class_agnostic=self.approach != "detector")

    def _localizer(self):
        if self.approach == "detector":
            return self._detector()
        from ..localize import WholeFrame

        return WholeFrame(remove_border=True, label=FRAME)

    def _predictor(self):
        self._check_approach()
        if self.predictor is not None:
            return self.predictor
        if self.approach == "detector":
            from ..predict import DetectorLabel

            return DetectorLabel()
        return colon_cnn(self.seed) if self.approach == "cnn" else colon_predictor(seed=self.seed)

    def checked_parts(self):
        self._check_approach()
        localizer, predictor = super().checked_parts()
        if self.approach != "detector":
            from ..localize import Localizer

            detector = self._detector()
            if not isinstance(detector, Localizer):
                raise ConfigError(f"localizer must be a Localizer, got {type(detector).__name__}",
                                  hint="e.g. colon_localizer() or YoloLocalizer(...)")
            detector.check_params()
        return localizer, predictor

    # ---- training -----------------------------------------------------------------------------------------
    def _lesions_from_boxes(self, manifest) -> bool:
        return self.approach == "detector" and manifest.has_boxes

    def fit(self, data, *, unlabeled=None) -> "ColonFrameDetector":
        """Train on a manifest (module docstring: one row per tumor box, one per other frame): the tumor
        localizer on the tumor boxes (the other frames are its negatives), the frame classifier on one
        field-of-view lesion per frame; the detector approach trains the one detector on tumor boxes and
        field-of-view boxes of the normal and unclear frames."""
        from ..engine import as_manifest

        self.checked_parts()
        manifest = self._checked_manifest(as_manifest(data))
        if self.approach == "detector":
            super().fit(self._with_frame_boxes(manifest), unlabeled=unlabeled)
            self.training_patients_ = _hashed_patients(manifest)
            return self
        detector = self._detector()
        self.detector_ = clone(detector).fit(manifest) if self.train_localizer else detector
        if not self.train_localizer:
            self.detector_._check_fitted()
        super().fit(manifest, unlabeled=unlabeled)
        self.training_patients_ = _hashed_patients(manifest)
        return self

    def _checked_manifest(self, manifest):
        df = manifest.df
        if "label" not in df.columns:
            raise ManifestError("the colon manifest needs a 'label' column (normal / unclear / tumor)",
                                source=manifest.name or None)
        labels = set(df["label"].dropna().astype(str))
        if TUMOR not in labels:
            raise ManifestError(f"no '{TUMOR}' frame in the manifest: the tumor localizer has nothing to learn",
                                source=manifest.name or None, hint=f"labels found: {sorted(labels)}")
        tumor = df[df["label"].astype(str) == TUMOR]
        if not manifest.has_boxes or tumor[["x1", "y1", "x2", "y2"]].isna().any(axis=1).any():
            n = len(tumor) if not manifest.has_boxes else int(tumor[["x1", "y1", "x2", "y2"]].isna().any(axis=1).sum())
            raise ManifestError(f"{n} tumor row(s) have no box", source=manifest.name or None,
                                hint="give every tumor row its box x1, y1, x2, y2 (one row per box)")
        return manifest

    def _with_frame_boxes(self, manifest):
        """The detector approach's training manifest: normal and unclear rows boxed by their field of view."""
        import pandas as pd

        from ..io.image import read_image
        from ..io.manifest import Manifest
        from ..localize import field_of_view_box

        df = manifest.df.copy()
        if "box_label" not in df.columns:
            df["box_label"] = None
        df["box_label"] = df["box_label"].astype(object)
        for k in np.flatnonzero(df["label"].astype(str).ne(TUMOR).to_numpy()):
            box = field_of_view_box(read_image(manifest.path(df["image"].iloc[k])))
            df.iloc[k, [df.columns.get_loc(c) for c in ("x1", "y1", "x2", "y2")]] = box.to_xyxy()
            df.iloc[k, df.columns.get_loc("box_label")] = str(df["label"].iloc[k])
        tumor = df["label"].astype(str).eq(TUMOR)
        df.loc[tumor & df["box_label"].isna(), "box_label"] = TUMOR
        return Manifest(pd.DataFrame(df), manifest.root, name=manifest.name)

    # ---- prediction ---------------------------------------------------------------------------------------
    def _diagnose_located(self, chunk, per_image, table):
        results = super()._diagnose_located(chunk, per_image, table)
        if self.approach == "detector":
            for r in results:
                if r.no_lesion:  # the detector found nothing at all: Background
                    r.message = "the detector found no box in this frame: background (no detection)"
                elif r.label == TUMOR:
                    r.detections = [les.box for les in r.lesions if les.label == TUMOR]
            return results
        tumor = [k for k, r in enumerate(results) if r.ok and r.label == TUMOR]
        if tumor:
            found = self.detector_.locate_batch([chunk[k][1].image for k in tumor])
            for k, boxes in zip(tumor, found):
                kept = sorted((b for b in boxes if b.score >= self.min_box_score), key=lambda b: -b.score)
                results[k].detections = [Box(b.x1, b.y1, b.x2, b.y2, score=b.score, label=TUMOR) for b in kept]
                if not kept:
                    results[k].message = (f"called tumor, but no tumor box scored >= {self.min_box_score}: "
                                          "background (no detection)")
        return results

    def _locate(self, frames):
        if self.approach != "detector":
            return super()._locate(frames)
        # the detector's most confident box names the frame; a tumor call keeps every tumor box
        out = []
        for boxes in super()._locate(frames):
            top = max(boxes, key=lambda b: b.score) if boxes else None
            out.append([] if top is None else [b for b in boxes if b.label == TUMOR] if top.label == TUMOR else [top])
        return out

    @staticmethod
    def frame_call(result) -> str | None:
        """The frame's call for the paper's evaluation: its class, or ``background`` when it was called tumor
        without a box (or the detector found nothing); None for an unreadable frame."""
        if not result.ok:
            return None
        if result.no_lesion:
            return BACKGROUND
        if result.label == TUMOR and not result.detections:
            return BACKGROUND
        return result.label

    # ---- the paper's evaluation ---------------------------------------------------------------------------
    def evaluate(self, manifest, thresholds=None, by: str | None = "source") -> dict:
        """The paper's frame report (:func:`~explainendo.evaluate.evaluate_frames`: the confusion matrix with
        Background at IoU 0.45 / 0.50 / 0.55, per-class precision / recall / F1) of this model on a labelled
        manifest (one row per tumor box, one per other frame): ``{"all": FrameReport}``, plus ``"set 1"`` (frames
        of the patients it was trained on: the paper's validation set 1) and ``"set 2"`` (new patients) when the
        manifest has both, and one report per value of the column ``by`` (e.g. ``source``) when it has one.
        Unreadable frames are left out and named in each report's ``extra["unreadable"]``."""
        from ..engine import as_manifest
        from ..evaluate.frames import PAPER_THRESHOLDS, evaluate_frames

        self._check_fitted()
        manifest = as_manifest(manifest)
        if "label" not in manifest.df.columns:
            raise ManifestError("the manifest needs a 'label' column (normal / unclear / tumor)",
                                source=manifest.name or None)
        images, truth, boxes, rows = [], [], [], []
        for image, group in manifest.iter_images():
            if group["label"].isna().all():
                continue
            images.append(image)
            truth.append(str(group["label"].dropna().iloc[0]))
            boxes.append(manifest.boxes_for(image) if truth[-1] == TUMOR else None)
            rows.append(group.iloc[0])
        if not images:
            raise ManifestError("no labelled frame in the manifest", source=manifest.name or None)
        results = self.predict([str(manifest.path(i)) for i in images])
        ok = [k for k, r in enumerate(results) if r.ok]
        unreadable = [images[k] for k, r in enumerate(results) if not r.ok]
        table = pd.DataFrame(rows).reset_index(drop=True)
        classes = list(dict.fromkeys([*CLASSES, *self.classes_]))
        mine = set(getattr(self, "training_patients_", []) or [])

        def report(keep, title):
            keep = [k for k in keep if k in set(ok)]
            if not keep:
                return None
            rep = evaluate_frames([truth[k] for k in keep], [self.frame_call(results[k]) for k in keep],
                                  [boxes[k] for k in keep], [results[k].detections for k in keep], classes=classes,
                                  thresholds=thresholds or PAPER_THRESHOLDS, images=[images[k] for k in keep],
                                  title=title)
            rep.extra["unreadable"] = unreadable
            return rep

        out = {"all": report(range(len(images)), f"{manifest.name or 'manifest'}: all frames")}
        if mine and "patient" in table.columns:
            seen = [_hash(p) in mine for p in table["patient"].astype(str)]
            if any(seen) and not all(seen):
                out["set 1"] = report([k for k, v in enumerate(seen) if v], "set 1: frames of training patients")
                out["set 2"] = report([k for k, v in enumerate(seen) if not v], "set 2: new patients")
        if by and by in table.columns:
            for value in table[by].dropna().astype(str).unique():
                out[f"{by} = {value}"] = report(np.flatnonzero(table[by].astype(str) == value).tolist(),
                                                f"{by} = {value}")
        return {k: v for k, v in out.items() if v is not None}

    # ---- persistence --------------------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict:
        state = super()._save_state(directory)
        detector = getattr(self, "detector_", None)
        state["detector"] = None if detector is None else save_child(detector, directory, "detector")
        state["training_patients_sha256"] = list(getattr(self, "training_patients_", []))
        return state

    def _load_state(self, state: dict, directory: Path) -> None:
        from ..localize import Localizer

        super()._load_state(state, directory)
        if state.get("detector"):
            self.detector_ = load_child(state["detector"], directory, Localizer)
        self.training_patients_ = [str(h) for h in state.get("training_patients_sha256") or []]


def _hash(patient: str) -> str:
    return hashlib.sha256(str(patient).encode("utf-8")).hexdigest()


def _hashed_patients(manifest) -> list[str]:
    """SHA-256 of every training patient ID: enough to tell set 1 from set 2 later, without storing the IDs."""
    if "patient" not in manifest.df.columns:
        return []
    return sorted({_hash(p) for p in manifest.df["patient"].dropna().astype(str)})
