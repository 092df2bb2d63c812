"""Rank tests for reader studies: Mann-Whitney U between groups, Wilcoxon signed-rank for paired scores.

Both are thin, checked wrappers of scipy with an effect size added:

* Mann-Whitney U (independent groups, e.g. novice vs expert accuracy, or Likert scores of two groups):
  ``U_a`` = number of pairs (a, b) with a > b plus half the ties; rank-biserial correlation
  ``r = 2 U_a / (n_a n_b) - 1`` (Kerby 2014), in [-1, 1], positive when group a tends to be larger.
* Wilcoxon signed-rank (paired, e.g. each reader's Likert acceptance with vs without AI): on the differences
  ``d = x - y`` with zeros dropped (``zero_method="wilcox"``), ``W+`` = sum of ranks of positive differences;
  matched-pairs rank-biserial ``r = (W+ - W-) / (W+ + W-)``.
"""

from __future__ import annotations

import numpy as np

from ..errors import EvaluationError
from ._checks import TestResult, as_scores, same_length


def mann_whitney_u(a, b, alternative: str = "two-sided", method: str = "auto") -> TestResult:
    """Mann-Whitney U test of two independent samples (``scipy.stats.mannwhitneyu``).

    ``statistic`` is ``U`` of sample ``a``; ``details`` has the rank-biserial correlation, both sizes and
    medians.
    """
    from scipy.stats import mannwhitneyu

    xa, xb = as_scores(a, "a"), as_scores(b, "b")
    res = mannwhitneyu(xa, xb, alternative=alternative, method=method)
    u = float(res.statistic)
    details = {"n_a": xa.size, "n_b": xb.size, "median_a": float(np.median(xa)), "median_b": float(np.median(xb)),
               "rank_biserial": 2.0 * u / (xa.size * xb.size) - 1.0, "alternative": alternative}
    return TestResult("Mann-Whitney U", u, float(res.pvalue), details)


def wilcoxon_signed_rank(x, y=None, alternative: str = "two-sided", zero_method: str = "wilcox") -> TestResult:
    """Wilcoxon signed-rank test of paired samples ``x`` and ``y`` (or of ``x`` alone against 0).

    ``scipy.stats.wilcoxon``; its statistic (two-sided) is ``min(W+, W-)``. When every difference is zero
    there is nothing to rank and p = 1.
    """
    from scipy.stats import wilcoxon

    xs = as_scores(x, "x")
    if y is not None:
        ys = as_scores(y, "y")
        same_length(x=xs, y=ys)
        d = xs - ys
    else:
        d = xs
    nonzero = d[d != 0]
    ranks = _abs_ranks(nonzero)
    w_plus, w_minus = float(ranks[nonzero > 0].sum()), float(ranks[nonzero < 0].sum())
    details = {"n": d.size, "n_nonzero": int(nonzero.size), "w_plus": w_plus, "w_minus": w_minus,
               "median_difference": float(np.median(d)), "alternative": alternative,
               "rank_biserial": (w_plus - w_minus) / (w_plus + w_minus) if nonzero.size else 0.0}
    if nonzero.size == 0:
        return TestResult("Wilcoxon signed-rank (all differences zero)", 0.0, 1.0, details)
    if d.size < 2:
        raise EvaluationError("the Wilcoxon signed-rank test needs at least two pairs", hint="collect more pairs")
    res = wilcoxon(d, zero_method=zero_method, alternative=alternative)
    return TestResult("Wilcoxon signed-rank", float(res.statistic), float(res.pvalue), details)


def _abs_ranks(d: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(np.abs(d)) if d.size else d
