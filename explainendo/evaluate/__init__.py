"""Evaluation: classification metrics with confidence intervals, the statistical tests the papers use,
reader-study helpers and the model-comparison report.

Which test answers which claim, with formulas and references: ``docs/evaluation.md``.
Everything here is numpy / scipy / statsmodels / pandas; matplotlib loads only when a plot is drawn.
"""

from ._checks import TestResult
from .agreement import fleiss_kappa
from .auc import AUCInterval, auc_score, bootstrap_auc_ci, delong_ci, delong_covariance, delong_test
from .classification import (
    aggregate_by_group,
    binary_metrics,
    classification_report,
    confusion_counts,
)
from .comparison import (
    ModelComparison,
    SplitComparison,
    compare_models,
    compare_models_by_group,
    compare_splits,
    format_pvalue,
)
from .cv import cv_summary, format_mean_sd
from .paired import chi_square_test, mcnemar_test
from .proportions import Interval, sample_size_one_proportion, wilson_interval
from .ranks import mann_whitney_u, wilcoxon_signed_rank
from .readers import (
    EXPERIENCE_LEVELS,
    accuracy_with_without_ai,
    compare_reader_groups,
    man_machine_table,
    reader_agreement,
    reader_metrics,
)

__all__ = [
    "AUCInterval", "EXPERIENCE_LEVELS", "Interval", "ModelComparison", "SplitComparison", "TestResult",
    "accuracy_with_without_ai", "aggregate_by_group", "auc_score", "binary_metrics", "bootstrap_auc_ci",
    "chi_square_test", "classification_report", "compare_models", "compare_models_by_group",
    "compare_reader_groups", "compare_splits", "confusion_counts", "cv_summary", "delong_ci",
    "delong_covariance", "delong_test", "fleiss_kappa", "format_mean_sd", "format_pvalue", "man_machine_table",
    "mann_whitney_u", "mcnemar_test", "reader_agreement", "reader_metrics", "sample_size_one_proportion",
    "wilcoxon_signed_rank", "wilson_interval",
]
