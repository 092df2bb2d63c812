"""``EUSCystClassifier``: the EUS pancreatic cyst system (Nguon et al., Diagnostics 2021) on the engine.

The published system told **mucinous** (MCN) from **serous** (SCN) cystic neoplasms on endoscopic ultrasound
frames with a ResNet-50 fine-tuned in selected layers only, with data augmentation, and tested it while
varying the image's size and the cyst's position; Grad-CAM showed it looked at the cyst. Here:

* ``input="frame"`` (the paper's): the whole frame is the input (:class:`~explainendo.localize.WholeFrame`);
  ``input="cyst"``: the cyst's box, from a localizer trained on the manifest's cyst boxes
  (:func:`eus_localizer`, the soft-mask U-Net, one box per frame) or given to ``predict(..., boxes=...)``,
  enlarged ``enlarge`` times (1.5: the crop holds the wall and the tissue beside and below the cyst, where
  posterior enhancement and acoustic shadows show).
* ``approach="cnn"``: one CNN (:func:`eus_cnn`: the ImageNet EfficientNet-Lite0, the paper's ResNet-50 has no
  offline weights here) with **partial fine-tuning** (``freeze_stages``: the first k stages keep their ImageNet
  weights and batch-norm statistics) and :class:`~explainendo.heads.UltrasoundAugment`, explained by Grad-CAM.
* ``approach="hybrid"`` (default; needs ``input="cyst"``): the named cyst attributes
  (:data:`~explainendo.specs.EUS_ATTRIBUTES`: unilocular / microcystic, thick wall, septa, calcification,
  central scar) from attribute heads on one shared backbone, plus ultrasound texture features of the cyst
  (:data:`~explainendo.handcrafted.EUS_TEXTURE_PARAMS_PATH`: grey-level co-occurrence, LBP, echogenicity of the
  interior and the wall, posterior enhancement, locule count) into an interpretable fitter chosen by
  patient-grouped CV, explained by grouped SHAP ("serous: locularity microcystic +1.9, central scar +0.7").

``explain`` adds the Grad-CAM heat inside the cyst (``Explanation.region_heat``: per map, the share of the heat
inside the cyst box, the box's share of the region the model saw, and their ratio). The robustness test of the
paper is :func:`explainendo.evaluate.evaluate_robustness`.

Manifest columns (docs/eus.md): ``image``, ``patient``, ``label`` (mucinous / serous), the cyst box
``x1, y1, x2, y2`` (needed by ``input="cyst"``; used by the heat share), and any ``attr.<cyst attribute>``
that was annotated (a head without labels is left out).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..components import register_component
from ..engine import Diagnoser
from ..errors import ConfigError, ManifestError
from ..types import Box

POSITIVE = "mucinous"
APPROACHES = ("hybrid", "cnn")
INPUTS = ("cyst", "frame")
#: the crop around the cyst box (the texture extractors' ``enlarge`` is set to the same value)
CYST_ENLARGE = 1.5


def eus_localizer(seed: int = 0, **options):
    """The cyst localizer: the soft-mask U-Net on the ImageNet EfficientNet-Lite0 encoder at 128 px, one box per
    frame (every EUS frame of the system shows one cyst), 8 epochs in batches of 16; ``options`` override."""
    from ..localize import SoftMaskLocalizer, UNetTraining

    settings = {"encoder": "efficientnet_lite0", "image_size": 128, "multi": False, "min_score": 0.0,
                "training": UNetTraining(epochs=8, batch_size=16), "seed": seed, **options}
    return SoftMaskLocalizer(**settings)


def eus_heads(seed: int = 0, **options):
    """The five cyst attribute heads (:data:`~explainendo.specs.EUS_ATTRIBUTES`) on one ImageNet EfficientNet-Lite0
    at 128 px with :class:`~explainendo.heads.UltrasoundAugment`, 14 epochs in batches of 32 with early stopping;
    ``options`` override."""
    from ..heads import AttributeHeads, UltrasoundAugment
    from ..specs import EUS_ATTRIBUTES
    from ..training import Training

    settings = {"specs": EUS_ATTRIBUTES, "seed": seed, "backbone": "efficientnet_lite0", "pretrained": True,
                "image_size": 128, "augment": UltrasoundAugment(),
                "training": Training(epochs=14, batch_size=32, patience=4), **options}
    return AttributeHeads(**settings)


def eus_handcrafted_params(enlarge: float = CYST_ENLARGE) -> dict:
    """The hybrid's handcrafted params: the EUS texture suite (its YAML), with every extractor that finds the cyst
    by the crop's enlargement told ``enlarge``."""
    import yaml

    from ..handcrafted import EUS_TEXTURE_PARAMS_PATH

    from ..handcrafted import get_extractor

    params = yaml.safe_load(EUS_TEXTURE_PARAMS_PATH.read_text())
    for name in params.get("extractors", []):
        if "enlarge" in get_extractor(name).params:
            params[name] = {**(params.get(name) or {}), "enlarge": float(enlarge)}
    return params


def eus_predictor(heads: Any = None, handcrafted: Any = None, fitter: Any = None, stacking: Any = None,
                  group_selection: Any = None, enlarge: float = CYST_ENLARGE, seed: int = 0,
                  box_jitter: Any = "default"):
    """The hybrid cyst classifier: attribute heads (default :func:`eus_heads`) and the EUS texture features into a
    fitter chosen by patient-grouped CV (:class:`~explainendo.fit.FitterSelector`), held-out stacking (the heads
    train once on half the patients, the fitter learns from the other half). ``group_selection`` None keeps every
    group, so the explanation can name each drawn finding (a :class:`~explainendo.fit.GroupEliminator` drops the
    groups the fitter does not need). ``box_jitter``: the fitter also learns from two copies of its lesions cut
    about jittered boxes (:class:`~explainendo.predict.BoxJitter` ``()``, the default), so the wall and posterior
    bands hold up on the localizer's boxes, which are a few percent off (docs/eus.md); None: the annotated boxes
    only."""
    from ..fit import FitterSelector
    from ..handcrafted import HandcraftedFeatures
    from ..predict import BoxJitter, HeldOut, HybridPredictor

    return HybridPredictor(sources=[eus_heads(seed) if heads is None else heads,
                                    HandcraftedFeatures(params=eus_handcrafted_params(enlarge))
                                    if handcrafted is None else handcrafted],
                           fitter=FitterSelector(cv=5, seed=seed) if fitter is None else fitter,
                           group_selection=group_selection, stacking=HeldOut(0.5) if stacking is None else stacking,
                           positive_label=POSITIVE, seed=seed,
                           box_jitter=BoxJitter() if isinstance(box_jitter, str) and box_jitter == "default"
                           else box_jitter)


def eus_cnn(freeze_stages: int = 2, enlarge: float = 1.0, seed: int = 0, **options):
    """The sole CNN: the ImageNet EfficientNet-Lite0 at 160 px with its first ``freeze_stages`` stages frozen (the
    paper's partial fine-tuning; 0 trains all nine), :class:`~explainendo.heads.UltrasoundAugment`, 12 epochs with
    early stopping; ``enlarge`` is the crop it reads (the system's); ``options`` go to its
    :class:`~explainendo.heads.AttributeHeads` network."""
    from ..heads import AttributeHeads, UltrasoundAugment
    from ..predict import CNNClassifier
    from ..training import Training

    settings = {"backbone": "efficientnet_lite0", "pretrained": True, "image_size": 160, "seed": seed,
                "freeze_stages": freeze_stages, "augment": UltrasoundAugment(),
                "training": Training(epochs=12, batch_size=32, patience=4), **options}
    return CNNClassifier(network=AttributeHeads(**settings), enlarge=enlarge)


@register_component("eus_cyst_classifier")
class EUSCystClassifier(Diagnoser):
    """The EUS cyst system (module docstring).

    ``approach``: ``"hybrid"`` (:func:`eus_predictor`) or ``"cnn"`` (:func:`eus_cnn` with ``freeze_stages``).
    ``input``: ``"cyst"`` (the localized cyst, enlarged ``enlarge`` times) or ``"frame"`` (the whole frame).
    ``localizer`` (input cyst) None: :func:`eus_localizer`. ``predictor`` None: the approach's default. ``ood``
    ``"default"``: the out-of-distribution flag of :func:`~explainendo.explain.ood.default_ood_detector` (None: none).
    The other parameters are the :class:`~explainendo.engine.Diagnoser`'s.
    """

    def __init__(self, localizer: Any = None, predictor: Any = None, approach: str = "hybrid", input: str = "cyst",
                 freeze_stages: int = 2, enlarge: float = CYST_ENLARGE, batch_size: int = 16,
                 min_box_score: float = 0.0, train_localizer: bool = True, seed: int = 0, ood: Any = "default"):
        super().__init__(localizer=localizer, predictor=predictor, enlarge=enlarge, batch_size=batch_size,
                         min_box_score=min_box_score, train_localizer=train_localizer, ood=ood)
        self.approach = approach
        self.input = input
        self.freeze_stages = freeze_stages
        self.seed = seed

    # ---- the parts ----------------------------------------------------------------------------------------
    def _check_settings(self) -> None:
        if self.approach not in APPROACHES:
            raise ConfigError(f"EUSCystClassifier(approach={self.approach!r})", hint=f"use one of {APPROACHES}")
        if self.input not in INPUTS:
            raise ConfigError(f"EUSCystClassifier(input={self.input!r})", hint=f"use one of {INPUTS}")
        if self.approach == "hybrid" and self.input == "frame" and self.predictor is None:
            raise ConfigError("the EUS hybrid reads the cyst (its texture features measure the cyst, its wall and "
                              "the tissue below it): it needs input='cyst'",
                              hint="EUSCystClassifier(approach='hybrid', input='cyst'), or approach='cnn' for the "
                                   "whole frame")
        if self.input == "frame" and self.localizer is not None:
            raise ConfigError("input='frame' reads the whole frame: a localizer would not be used",
                              hint="leave localizer=None, or use input='cyst'")

    def _localizer(self):
        self._check_settings()
        if self.input == "frame":
            from ..localize import WholeFrame

            return WholeFrame(remove_border=False, label="frame")
        return eus_localizer(self.seed) if self.localizer is None else self.localizer

    def _predictor(self):
        self._check_settings()
        if self.predictor is not None:
            return self.predictor
        if self.approach == "cnn":
            return eus_cnn(self.freeze_stages, enlarge=self.enlarge, seed=self.seed)
        return eus_predictor(enlarge=self.enlarge, seed=self.seed)

    def _lesions_from_boxes(self, manifest) -> bool:
        """The cyst input trains on the manifest's cyst boxes; the frame input on one whole frame per image."""
        return self.input == "cyst" and manifest.has_boxes

    def fit(self, data, *, unlabeled=None) -> "EUSCystClassifier":
        """Train on a manifest (one row per frame: ``image``, ``patient``, ``label`` mucinous / serous, the cyst box
        for ``input="cyst"``): the cyst localizer on the boxes, then the classifier; splits inside keep patients
        whole."""
        from ..engine import as_manifest
        from ..features import LesionSamples

        self.checked_parts()
        if not isinstance(data, LesionSamples):
            data = as_manifest(data)
            if self.input == "cyst" and self.train_localizer and self._localizer().needs_fit \
                    and not data.has_boxes:
                raise ManifestError("input='cyst' learns the cyst localizer from the manifest's cyst boxes, and it has "
                                    "none", source=data.name or None,
                                    hint="add x1, y1, x2, y2 for each frame's cyst, or use input='frame'")
        return super().fit(data, unlabeled=unlabeled)

    # ---- explanation -------------------------------------------------------------------------------------
    def explain(self, result, lesion: int | None = None, *, box=None, table=None, class_index: int | None = None,
                gradcam: bool = True, task: str | None = None, cyst_box: Box | None = None, group_values: str = "shap",
                localizer_saliency="eigencam"):
        """The engine's explanation (grouped SHAP of the hybrid with the heads' Grad-CAM, or the CNN's Grad-CAM),
        with ``region_heat``: for each Grad-CAM map, the share of its heat inside the cyst box (``cyst_box`` if
        given, e.g. the annotated one; else the located cyst with ``input="cyst"``; none with ``input="frame"``
        and no ``cyst_box``) among the region the model saw, that box's share of the region's area, and their
        ratio (> 1: the model looked at the cyst more than at the rest)."""
        from ..explain.gradcam import region_heat

        exp = super().explain(result, lesion, box=box, table=table, class_index=class_index, gradcam=gradcam,
                              task=task, group_values=group_values,
                              localizer_saliency=localizer_saliency)
        target = cyst_box if cyst_box is not None else (exp.lesion.box if self.input == "cyst" else None)
        if target is not None and exp.gradcams:
            exp.region_heat = {name: region_heat(cam, exp.lesion.box, target, exp.frame.shape, self.enlarge)
                               for name, cam in exp.gradcams.items()}
        return exp


def heat_ratio_summary(explanations, name: str = "diagnosis") -> dict:
    """Mean heat share inside the cyst, mean area share and their ratio over explanations (the benchmark's
    Grad-CAM goal: ratio >= 2)."""
    rows = [e.region_heat[name] for e in explanations if getattr(e, "region_heat", None) and name in e.region_heat]
    flat = sum(1 for r in rows if not np.isfinite(r["heat"]))  # a map without heat says nothing about where
    rows = [r for r in rows if np.isfinite(r["heat"])]
    if not rows:
        return {"n": 0, "flat": flat, "heat": float("nan"), "area": float("nan"), "ratio": float("nan")}
    heat = float(np.mean([r["heat"] for r in rows]))
    area = float(np.mean([r["area"] for r in rows]))
    return {"n": len(rows), "flat": flat, "heat": heat, "area": area,
            "ratio": heat / area if area > 0 else float("nan")}
