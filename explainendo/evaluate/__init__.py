"""Evaluation: classification metrics with confidence intervals, the statistical tests the papers use,
reader-study helpers and the model-comparison report.

Which test answers which claim, with formulas and references: ``docs/evaluation.md``.

Names load on first use (PEP 562), so ``import explainendo.evaluate`` (and the ``explainendo evaluate`` command's
``--help``) does not pay for pandas / scipy / statsmodels until a metric is computed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

#: public name -> submodule that defines it
_EXPORTS = {
    "TestResult": "_checks",
    **dict.fromkeys(["AnnotatorComparison", "compare_annotators"], "annotators"),
    "fleiss_kappa": "agreement",
    **dict.fromkeys(["FrameReport", "evaluate_frames", "per_class_metrics"], "frames"),
    **dict.fromkeys(["AUCInterval", "auc_score", "bootstrap_auc_ci", "delong_ci", "delong_covariance",
                     "delong_test"], "auc"),
    **dict.fromkeys(["aggregate_by_group", "binary_metrics", "classification_report", "confusion_counts",
                     "metrics_by_group"], "classification"),
    **dict.fromkeys(["ModelComparison", "SplitComparison", "compare_models", "compare_models_by_group",
                     "compare_splits", "format_pvalue"], "comparison"),
    **dict.fromkeys(["cv_summary", "format_mean_sd"], "cv"),
    **dict.fromkeys(["CVReport", "cross_validate_localizer", "cross_validate_predictor", "cv_success_bands",
                     "plot_cv_success"], "crossval"),
    **dict.fromkeys(["chi_square_test", "mcnemar_test"], "paired"),
    **dict.fromkeys(["Interval", "sample_size_one_proportion", "wilson_interval"], "proportions"),
    **dict.fromkeys(["mann_whitney_u", "wilcoxon_signed_rank"], "ranks"),
    **dict.fromkeys(["MRMCResult", "empirical_auc_jackknife", "obuchowski_rockette"], "mrmc"),
    **dict.fromkeys(["ReaderStudyReport", "analyse_reader_study", "confidence_score"], "reader_study"),
    **dict.fromkeys(["Identity", "Perturbation", "Rescale", "RobustnessReport", "SectorCrop", "Shift",
                     "default_perturbations", "evaluate_robustness"], "robustness"),
    **dict.fromkeys(["EXPERIENCE_LEVELS", "accuracy_with_without_ai", "compare_reader_groups", "man_machine_table",
                     "reader_agreement", "reader_metrics"], "readers"),
    **dict.fromkeys(["area_precision", "area_recall", "centroid_distance", "confusion_matrices",
                     "detection_confusion_matrix", "localization_table", "map50", "map50_95",
                     "match_one_to_one", "mean_average_precision", "mean_iou", "plot_success", "success_curve", "success_rate"],
                    "detection"),
    **dict.fromkeys(["FreezeScores", "compare_video_decisions", "frames_from_results", "freeze_detection_scores",
                     "label_flips", "match_spans", "video_decisions", "video_metrics"], "video"),
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, modules=("detection",))


if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from ._checks import TestResult
    from .annotators import AnnotatorComparison, compare_annotators
    from .crossval import (CVReport, cross_validate_localizer, cross_validate_predictor, cv_success_bands,
                           plot_cv_success)
    from .agreement import fleiss_kappa
    from .frames import FrameReport, evaluate_frames, per_class_metrics
    from .auc import AUCInterval, auc_score, bootstrap_auc_ci, delong_ci, delong_covariance, delong_test
    from .classification import (aggregate_by_group, binary_metrics, classification_report, confusion_counts,
                                 metrics_by_group)
    from .comparison import (ModelComparison, SplitComparison, compare_models, compare_models_by_group,
                             compare_splits, format_pvalue)
    from .cv import cv_summary, format_mean_sd
    from .detection import (area_precision, area_recall, centroid_distance, confusion_matrices,
                            detection_confusion_matrix, localization_table, map50, map50_95,
                            match_one_to_one, mean_average_precision, mean_iou, plot_success, success_curve, success_rate)
    from .paired import chi_square_test, mcnemar_test
    from .proportions import Interval, sample_size_one_proportion, wilson_interval
    from .mrmc import MRMCResult, empirical_auc_jackknife, obuchowski_rockette
    from .ranks import mann_whitney_u, wilcoxon_signed_rank
    from .reader_study import ReaderStudyReport, analyse_reader_study, confidence_score
    from .robustness import (Identity, Perturbation, Rescale, RobustnessReport, SectorCrop, Shift,
                             default_perturbations, evaluate_robustness)
    from .readers import (EXPERIENCE_LEVELS, accuracy_with_without_ai, compare_reader_groups, man_machine_table,
                          reader_agreement, reader_metrics)
    from .video import (FreezeScores, compare_video_decisions, frames_from_results, freeze_detection_scores,
                        label_flips, match_spans, video_decisions, video_metrics)
