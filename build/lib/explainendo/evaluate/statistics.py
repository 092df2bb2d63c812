"""All statistical tests and intervals of :mod:`explainendo.evaluate` in one namespace.

Each idea lives in its own module (``proportions``, ``paired``, ``auc``, ``agreement``, ``ranks``, ``cv``);
this module gathers them for ``from explainendo.evaluate.statistics import ...``. See ``docs/evaluation.md``
for which test answers which claim.
"""

from ._checks import TestResult
from .agreement import fleiss_kappa
from .auc import AUCInterval, auc_score, bootstrap_auc_ci, delong_ci, delong_covariance, delong_test
from .cv import cv_summary, format_mean_sd
from .paired import chi_square_test, mcnemar_test
from .proportions import Interval, sample_size_one_proportion, wilson_interval
from .ranks import mann_whitney_u, wilcoxon_signed_rank

__all__ = [
    "AUCInterval", "Interval", "TestResult", "auc_score", "bootstrap_auc_ci", "chi_square_test", "cv_summary",
    "delong_ci", "delong_covariance", "delong_test", "fleiss_kappa", "format_mean_sd", "mann_whitney_u",
    "mcnemar_test", "sample_size_one_proportion", "wilcoxon_signed_rank", "wilson_interval",
]
