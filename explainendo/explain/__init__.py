"""Explanations: grouped SHAP, exact group Shapley values, Grad-CAM helpers, trust metrics, cards and the OOD flag.

Names load on first use (PEP 562), so ``import explainendo.explain`` does not pay for torch, scipy or shap.
"""

from __future__ import annotations

import importlib

#: public name -> submodule that defines it
_EXPORTS = {
    **dict.fromkeys(["BASELINES", "CascadingRandomisation", "ClassifierScore", "CurveResult", "DeletionInsertion",
                     "GroupedDeletionResult", "HeadScore", "SanityResult", "box_agreement", "box_heat",
                     "crop_coordinates", "curve_auc", "fitter_sanity_check", "grouped_deletion",
                     "heads_sanity_check", "hybrid_grouped_deletion", "map_ssim", "pointing_game",
                     "randomised_fitter", "reinitialise", "spearman"], "metrics"),
    **dict.fromkeys(["ExactGroupShapley", "GroupShapleyResult", "compare_group_values"], "group_shapley"),
    **dict.fromkeys(["IMAGE_STATISTICS", "OODDetector", "image_statistics"], "ood"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
