"""``GastricDiagnoser``: the ENDOANGEL-ED preset (Dong et al., npj Digit Med 2023).

Neoplastic vs non-neoplastic focal gastric lesions in white light:

* localizer: YOLO (:class:`explainendo.localize.YoloLocalizer`), trained from the manifest's boxes;
* feature sources: the seven gastric attribute heads on one shared backbone
  (:class:`explainendo.heads.AttributeHeads` with :data:`explainendo.specs.GASTRIC_ATTRIBUTES`: bleeding,
  elevation, depression, boundary, surface, tone, landmark -> location) and the six handcrafted features
  (:class:`explainendo.handcrafted.HandcraftedFeatures`: aspect ratio, dominant colour, HSI-S entropy,
  LBP, HOG, colour moments);
* fitter ``"auto"``: LR / DT / SVM / xgboost chosen by patient-grouped CV on ROC AUC;
* ``group_selection="one_se"``: then the feature groups that fitter does not need are dropped by grouped-CV
  backward elimination (:class:`explainendo.fit.group_selection.GroupEliminator`), so an explanation names
  the groups the diagnosis rests on, not second readings of them (on the gastric phantoms, 4000 images,
  four seeds: SHAP's top four groups are the generating rule in 97-100% of correct cases, against 84-98%
  for the same lasso LR on every group; docs/benchmarks.md). ``prefer_groups="attributes"``: among removals the folds cannot tell
  apart, a handcrafted group goes before an attribute head. ``group_selection=None`` keeps every group;
* with ``holdout`` (stacking on held-out patients), the heads are calibrated on those patients' attribute
  labels before the fitter reads them (``calibrate_sources=True``): the hybrid then comes within 0.6-3.1
  points of the Bayes-optimal accuracy of the same test lesions;
* crops not enlarged (``enlarge=1.0``), ``neoplastic`` the explained (positive) class.

Training on your own data: see ``docs/hybrid.md`` (manifest columns ``image, patient, label, x1..y2`` are
required; ``attr.<attribute>`` columns are optional, and a head without labels is skipped).
"""

from __future__ import annotations

from typing import Any, Sequence

from ..fit import DEFAULT_CANDIDATES
from ..hybrid import ATTRIBUTE_GROUPS, HybridDiagnoser

DEFAULT = "default"


def gastric_sources(seed: int = 0, heads: dict | None = None, handcrafted: dict | None = None) -> list:
    """The preset's two feature sources: the gastric attribute heads and the handcrafted features."""
    from ..handcrafted import HandcraftedFeatures
    from ..heads import AttributeHeads
    from ..specs import GASTRIC_ATTRIBUTES

    heads = dict(heads or {})
    heads.setdefault("specs", GASTRIC_ATTRIBUTES)
    heads.setdefault("seed", seed)
    # the 26-class landmark loss otherwise swamps the binary heads (docs/benchmarks.md: two seeds)
    heads.setdefault("balance_heads", True)
    return [AttributeHeads(**heads), HandcraftedFeatures(handcrafted)]


def gastric_localizer(seed: int = 0, options: dict | None = None):
    from ..localize import YoloLocalizer

    return YoloLocalizer(**dict(options or {}))


class GastricDiagnoser(HybridDiagnoser):
    """The ENDOANGEL-ED hybrid (module docstring). ``localizer`` / ``sources`` default to the preset's;
    ``heads``, ``handcrafted`` and ``localizer_options`` pass options to the default components (e.g.
    ``heads={"epochs": 3, "pretrained": False}`` for a quick run). Other arguments as
    :class:`~explainendo.hybrid.HybridDiagnoser`.
    """

    registry_kind = "gastric"

    def __init__(self, localizer: Any = DEFAULT, sources: Sequence[Any] | str = DEFAULT, fitter: Any = "auto",
                 enlarge: float = 1.0, oof_folds: int = 5, seed: int = 0, metric: str = "roc_auc",
                 candidates: Sequence[Any] = DEFAULT_CANDIDATES, cv: int = 5,
                 positive_label: str | None = "neoplastic", train_localizer: bool = True, batch_size: int = 16,
                 min_box_score: float = 0.0, heads: dict | None = None, handcrafted: dict | None = None,
                 localizer_options: dict | None = None, holdout: float = 0.0, selection_rule: str = "one_se",
                 group_selection: str | None = "one_se", prefer_groups=ATTRIBUTE_GROUPS,
                 calibrate_sources: bool = True):
        if isinstance(localizer, str) and localizer == DEFAULT:
            localizer = gastric_localizer(seed, localizer_options)
        if isinstance(sources, str) and sources == DEFAULT:
            sources = gastric_sources(seed, heads, handcrafted)
        self.heads = heads
        self.handcrafted = handcrafted
        self.localizer_options = localizer_options
        super().__init__(localizer=localizer, sources=sources, fitter=fitter, enlarge=enlarge, oof_folds=oof_folds,
                         seed=seed, metric=metric, candidates=candidates, cv=cv, positive_label=positive_label,
                         train_localizer=train_localizer, batch_size=batch_size, min_box_score=min_box_score,
                         holdout=holdout, selection_rule=selection_rule, group_selection=group_selection,
                         prefer_groups=prefer_groups, calibrate_sources=calibrate_sources)
