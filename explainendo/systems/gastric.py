"""``GastricDiagnoser``: the ENDOANGEL-ED system (Dong et al., npj Digit Med 2023) on the engine.

Neoplastic vs non-neoplastic focal gastric lesions in white light. The preset is a
:class:`~explainendo.engine.Diagnoser` whose parts default to:

* localizer (:func:`gastric_localizer`): the soft-mask U-Net with the ImageNet EfficientNet-Lite0 encoder
  (:class:`~explainendo.localize.SoftMaskLocalizer`), trained from the manifest's boxes. The paper used YOLO;
  here no pretrained YOLO weights exist offline, and a YOLO trained from random init on a CPU finds nothing
  (tried: 10 epochs at 256 px found no lesion in 40 of 40 phantom images), while the U-Net's encoder starts
  from real ImageNet weights. ``YoloLocalizer(model="your_weights.pt")`` stays for users with a YOLO
  checkpoint: pass it as ``localizer=``;
* predictor (:func:`gastric_predictor`): a :class:`~explainendo.predict.HybridPredictor` over the seven
  gastric attribute heads on one shared backbone (:class:`~explainendo.heads.AttributeHeads` with
  :data:`~explainendo.specs.GASTRIC_ATTRIBUTES`: bleeding, elevation, depression, boundary, surface, tone,
  landmark -> location) and the six handcrafted features (aspect ratio, dominant colour, HSI-S entropy,
  LBP, HOG, colour moments); the fitter (LR / DT / SVM / xgboost) chosen by patient-grouped CV; then the
  feature groups that fitter does not need dropped by grouped-CV backward elimination, attribute groups
  kept over handcrafted doubles the folds cannot tell apart (``GroupEliminator(prefer_keep="attributes")``:
  on the gastric phantoms, 4000 images, four seeds, SHAP's top four groups are the generating rule in
  97-100% of correct cases; docs/benchmarks.md); held-out stacking (``HeldOut(0.5)``: the heads train once
  on half the patients and are calibrated, and the fitter trained, on the other half; pass
  ``stacking=OutOfFold(5)`` when lesions are few: five out-of-fold copies of the heads, five times the time);
* crops not enlarged (``enlarge=1.0``), ``neoplastic`` the explained (positive) class.

Every default is a measured configuration: the predictor is the hybrid of ``explainendo bench phantoms
--image-size 128 --epochs 14 --holdout 0.5`` and the localizer that of ``examples/gastric_phantoms.yaml``
(tests/systems/test_gastric_defaults.py holds them equal); the defaults end to end, with run times per 1,000
images: ``python benchmarks/gastric_defaults.py`` (docs/benchmarks.md, "GastricDiagnoser() as it ships").

Compose your own from the same functions, e.g.
``GastricDiagnoser(predictor=gastric_predictor(heads=gastric_heads(training=Training(epochs=3)),
stacking=HeldOut(0.5)))``.
Training on your own data: ``docs/hybrid.md`` (manifest columns ``image, patient, label, x1..y2`` are
required; ``attr.<attribute>`` columns are optional, and a head without labels is left out).
"""

from __future__ import annotations

from typing import Any

from ..components import register_component
from ..engine import Diagnoser

POSITIVE = "neoplastic"


def gastric_heads(seed: int = 0, **options):
    """The seven gastric attribute heads on one ImageNet-pretrained EfficientNet-Lite0 at 128 px, trained
    14 epochs in batches of 32 (:class:`~explainendo.training.Training` otherwise at its defaults): the heads
    of the measured run (docs/benchmarks.md, "Gastric phantoms on the engine"). ``options``: other
    :class:`~explainendo.heads.AttributeHeads` parameters, e.g. ``training=Training(epochs=8)``."""
    from ..heads import AttributeHeads, HeadLoss
    from ..specs import GASTRIC_ATTRIBUTES
    from ..training import Training

    # balance_heads: the 26-class landmark loss otherwise swamps the binary heads (docs/benchmarks.md)
    settings = {"specs": GASTRIC_ATTRIBUTES, "seed": seed, "loss": HeadLoss(balance_heads=True),
                "backbone": "efficientnet_lite0", "pretrained": True, "image_size": 128,
                "training": Training(epochs=14, batch_size=32, patience=4), **options}
    return AttributeHeads(**settings)


def gastric_sources(seed: int = 0, heads: Any = None, handcrafted: Any = None) -> list:
    """The preset's two feature sources: attribute heads (default :func:`gastric_heads`) and the six
    handcrafted features (default params)."""
    from ..handcrafted import HandcraftedFeatures

    return [gastric_heads(seed) if heads is None else heads,
            HandcraftedFeatures() if handcrafted is None else handcrafted]


def gastric_predictor(heads: Any = None, handcrafted: Any = None, fitter: Any = None, stacking: Any = None,
                      group_selection: Any = "default", seed: int = 0, interventions: Any = None):
    """The ENDOANGEL-ED hybrid predictor (module docstring); ``group_selection=None`` keeps every group;
    ``interventions``: None, or an intervention training strategy such as ``RandomInterventions(p=0.25, copies=2)``
    (:mod:`explainendo.predict.interventions`; measured on gastric phantoms in docs/benchmarks.md)."""
    from ..fit import FitterSelector, GroupEliminator
    from ..predict import ATTRIBUTE_GROUPS, HeldOut, HybridPredictor

    if isinstance(group_selection, str) and group_selection == "default":
        group_selection = GroupEliminator(seed=seed, prefer_keep=ATTRIBUTE_GROUPS)
    return HybridPredictor(sources=gastric_sources(seed, heads, handcrafted),
                           fitter=FitterSelector(cv=5, seed=seed) if fitter is None else fitter,
                           group_selection=group_selection, stacking=HeldOut(0.5) if stacking is None else stacking,
                           positive_label=POSITIVE, seed=seed, interventions=interventions)


def gastric_localizer(seed: int = 0, **options):
    """The preset's localizer: a soft-mask U-Net on the ImageNet EfficientNet-Lite0 encoder (module docstring)
    at 128 px, trained 8 epochs in batches of 16 (:class:`~explainendo.localize.UNetTraining` otherwise at its
    defaults): the localizer of the measured run (docs/benchmarks.md, "The preset's default localizer");
    ``options`` override."""
    from ..localize import SoftMaskLocalizer, UNetTraining

    settings = {"encoder": "efficientnet_lite0", "image_size": 128, "training": UNetTraining(epochs=8, batch_size=16),
                "seed": seed, **options}
    return SoftMaskLocalizer(**settings)


@register_component("gastric_diagnoser")
class GastricDiagnoser(Diagnoser):
    """The ENDOANGEL-ED system (module docstring). ``localizer`` / ``predictor`` None: the preset's
    (:func:`gastric_localizer`, :func:`gastric_predictor`), built from ``seed`` when ``fit`` starts. ``ood``:
    ``"default"`` fits :func:`~explainendo.explain.ood.default_ood_detector` (every result and lesion carries
    ``ood_score`` / ``ood``), an ``OODDetector(...)`` that one, None none (the Diagnoser's ``ood``)."""

    def __init__(self, localizer: Any = None, predictor: Any = None, enlarge: float = 1.0, batch_size: int = 16,
                 min_box_score: float = 0.0, train_localizer: bool = True, seed: int = 0, ood: Any = "default"):
        super().__init__(localizer=localizer, predictor=predictor, enlarge=enlarge, batch_size=batch_size,
                         min_box_score=min_box_score, train_localizer=train_localizer, ood=ood)
        self.seed = seed

    def _localizer(self):
        return gastric_localizer(self.seed) if self.localizer is None else self.localizer

    def _predictor(self):
        return gastric_predictor(seed=self.seed) if self.predictor is None else self.predictor
