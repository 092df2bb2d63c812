"""Explanations: grouped SHAP, exact group Shapley values, Grad-CAM helpers, localizer saliency (EigenCAM,
D-RISE), trust metrics, cards and the OOD flag.

Names load on first use (PEP 562), so ``import explainendo.explain`` does not pay for torch, scipy or shap.
"""

from __future__ import annotations

from ..lazy import lazy_exports

#: public name -> submodule that defines it
_EXPORTS = {
    **dict.fromkeys(["BASELINES", "CascadingRandomisation", "ClassifierScore", "CurveResult", "DeletionInsertion",
                     "GroupedDeletionResult", "HeadScore", "SanityResult", "box_agreement", "box_heat",
                     "crop_coordinates", "curve_auc", "fitter_sanity_check", "grouped_deletion",
                     "heads_sanity_check", "hybrid_grouped_deletion", "map_ssim", "pointing_game",
                     "randomised_fitter", "reinitialise", "spearman"], "metrics"),
    **dict.fromkeys(["ExactGroupShapley", "GroupShapleyResult", "compare_group_values"], "group_shapley"),
    **dict.fromkeys(["IMAGE_STATISTICS", "OODDetector", "image_statistics"], "ood"),
    **dict.fromkeys(["DRise", "EigenCAM", "LocalizerSaliency", "detection_similarity", "localizer_saliency",
                     "principal_projection", "rise_masks", "saliency_method"], "localizer_saliency"),
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
