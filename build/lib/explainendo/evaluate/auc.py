"""Area under the ROC curve: DeLong variance, confidence interval and paired test; bootstrap interval.

AUC as the Mann-Whitney statistic: for ``m`` positive scores ``X_i`` and ``n`` negative scores ``Y_j``::

    AUC = 1/(m n) sum_i sum_j psi(X_i, Y_j),   psi(x, y) = 1 if x > y, 1/2 if x == y, 0 otherwise.

DeLong, DeLong & Clarke-Pearson (1988, *Biometrics* 44:837) estimate its variance from the structural
components ``V10(X_i) = 1/n sum_j psi(X_i, Y_j)`` and ``V01(Y_j) = 1/m sum_i psi(X_i, Y_j)``::

    Var(AUC) = S10 / m + S01 / n,   S10 = sample variance of V10,  S01 = sample variance of V01

and, for two models scored on the same cases, their covariance the same way (``S`` becomes a 2x2 sample
covariance matrix). The paired test is ``z = (AUC_a - AUC_b) / sqrt(Var_a + Var_b - 2 Cov_ab)``.

The components are computed in O(N log N) from midranks (Sun & Xu 2014, *IEEE Signal Process Lett*
21:1389): with ``Tz`` the midranks of all scores, ``Tx`` those of the positives among themselves and ``Ty``
those of the negatives among themselves, ``V10 = (Tz_X - Tx) / n`` and ``V01 = 1 - (Tz_Y - Ty) / m``.
scipy and statsmodels have no DeLong test, so it is written here and tested against the O(m n) definition.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import EvaluationError
from ._checks import TestResult, as_1d, as_scores, binary_truth, check_confidence, require_both_classes, same_length


class AUCInterval(NamedTuple):
    """An AUC with its confidence interval, its standard error and how the interval was made."""

    auc: float
    low: float
    high: float
    se: float
    method: str


def auc_score(y_true, score, positive=1) -> float:
    """The AUC (Mann-Whitney form, ties counted 1/2); equals ``sklearn.metrics.roc_auc_score``."""
    truth, scores = _prepare(y_true, {"score": score}, positive)
    return float(_auc_from_ranks(truth, scores[0]))


def delong_ci(y_true, score, confidence: float = 0.95, positive=1) -> AUCInterval:
    """AUC with its DeLong confidence interval ``AUC -/+ z_{1-alpha/2} SE``, clipped to [0, 1] (as pROC does).

    Raises :class:`~explainendo.errors.EvaluationError` when only one class is present.
    """
    from scipy import stats
    confidence = check_confidence(confidence)
    truth, scores = _prepare(y_true, {"score": score}, positive)
    aucs, cov = delong_covariance(truth, scores)
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    z = stats.norm.ppf(0.5 + confidence / 2.0)
    auc = float(aucs[0])
    return AUCInterval(auc, float(max(auc - z * se, 0.0)), float(min(auc + z * se, 1.0)), se, "DeLong")


def delong_test(y_true, score_a, score_b, positive=1, confidence: float = 0.95) -> TestResult:
    """DeLong's test that two correlated AUCs (two models scored on the same cases) are equal.

    ``details`` holds ``auc_a``, ``auc_b``, ``difference`` (a - b), ``se_difference``, its confidence
    interval (``diff_low``, ``diff_high``) and the 2x2 covariance matrix. Two-sided p-value from the normal
    distribution. When the two scores rank every pair identically the difference and its variance are both
    0 and p = 1.
    """
    from scipy import stats
    confidence = check_confidence(confidence)
    truth, scores = _prepare(y_true, {"score_a": score_a, "score_b": score_b}, positive)
    aucs, cov = delong_covariance(truth, scores)
    diff = float(aucs[0] - aucs[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    zq = float(stats.norm.ppf(0.5 + confidence / 2.0))
    details = {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": diff, "se_difference": se,
               "diff_low": diff - zq * se, "diff_high": diff + zq * se, "covariance": cov.tolist(),
               "n_positive": int(truth.sum()), "n_negative": int((~truth).sum())}
    if se <= 1e-15:
        # Identical rankings: no difference and no variance. Any other zero-variance case means both models
        # separate the classes perfectly, so their AUCs (both 1) are equal too.
        return TestResult("DeLong", 0.0, 1.0, details)
    z = diff / se
    return TestResult("DeLong", float(z), float(2.0 * stats.norm.sf(abs(z))), details)


def delong_covariance(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix for ``k`` score rows on the same cases (fast midrank form).

    ``truth``: boolean, shape (N,), both classes present; ``scores``: shape (k, N). Returns ``(aucs (k,),
    cov (k, k))``.
    """
    from scipy import stats
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    pos, neg = scores[:, truth], scores[:, ~truth]
    m, n = pos.shape[1], neg.shape[1]
    tx = stats.rankdata(pos, axis=1)
    ty = stats.rankdata(neg, axis=1)
    tz = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    # ddof=1 as DeLong et al.; with one case in a class its component has no spread and contributes 0.
    s10 = np.atleast_2d(np.cov(v10, ddof=1)) if m > 1 else np.zeros((len(scores), len(scores)))
    s01 = np.atleast_2d(np.cov(v01, ddof=1)) if n > 1 else np.zeros((len(scores), len(scores)))
    return aucs, s10 / m + s01 / n


def bootstrap_auc_ci(y_true, score, n_boot: int = 2000, seed: int = 0, groups=None, confidence: float = 0.95,
                     positive=1) -> AUCInterval:
    """Percentile bootstrap confidence interval of the AUC.

    Stratified: each replicate draws ``m`` positives and ``n`` negatives with replacement, so every replicate
    has both classes and the class balance of the data. With ``groups`` (patient or video id per case) the
    bootstrap is clustered: whole groups are drawn with replacement, stratified by the group's class
    (all-positive, all-negative or mixed), because frames of one patient are not independent.
    ``se`` is the standard deviation of the replicate AUCs. Same ``seed``, same interval.
    """
    confidence = check_confidence(confidence)
    if int(n_boot) < 10:
        raise EvaluationError(f"n_boot = {n_boot} is too few replicates", hint="use n_boot >= 1000 for a 95% CI")
    truth, scores = _prepare(y_true, {"score": score}, positive)
    score_1d = scores[0]
    rng = np.random.default_rng(seed)
    if groups is None:
        reps = _stratified_replicates(truth, score_1d, int(n_boot), rng)
        method = "stratified bootstrap"
    else:
        group_arr = as_1d(groups, "groups")
        same_length(y_true=truth, groups=group_arr)
        reps = _cluster_replicates(truth, score_1d, group_arr, int(n_boot), rng)
        method = "cluster bootstrap"
    alpha = 1.0 - confidence
    low, high = np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    auc = float(_auc_from_ranks(truth, score_1d))
    return AUCInterval(auc, float(low), float(high), float(np.std(reps, ddof=1)), method)


def _prepare(y_true, named_scores: dict, positive) -> tuple[np.ndarray, np.ndarray]:
    truth = binary_truth(y_true, positive)
    arrays = {name: as_scores(s, name) for name, s in named_scores.items()}
    same_length(y_true=truth, **arrays)
    require_both_classes(truth, "the AUC")
    return truth, np.vstack(list(arrays.values()))


def _auc_from_ranks(truth: np.ndarray, score: np.ndarray) -> float:
    from scipy import stats
    m = int(truth.sum())
    n = truth.size - m
    ranks = stats.rankdata(score)
    return (ranks[truth].sum() - m * (m + 1) / 2.0) / (m * n)


def _stratified_replicates(truth, score, n_boot, rng, chunk: int = 256) -> np.ndarray:
    from scipy import stats
    pos, neg = score[truth], score[~truth]
    m, n = pos.size, neg.size
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):  # chunks bound memory at chunk x N floats
        k = min(chunk, n_boot - start)
        sample = np.concatenate([pos[rng.integers(0, m, (k, m))], neg[rng.integers(0, n, (k, n))]], axis=1)
        ranks = stats.rankdata(sample, axis=1)
        out[start:start + k] = (ranks[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    return out


def _cluster_replicates(truth, score, groups, n_boot, rng) -> np.ndarray:
    codes, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(codes))]
    pos_frac = np.array([truth[idx].mean() for idx in members])
    strata = [np.flatnonzero(pos_frac == 1.0), np.flatnonzero(pos_frac == 0.0),
              np.flatnonzero((pos_frac > 0) & (pos_frac < 1))]
    strata = [s for s in strata if s.size]
    out = np.empty(n_boot)
    for b in range(n_boot):
        chosen = np.concatenate([s[rng.integers(0, s.size, s.size)] for s in strata])
        idx = np.concatenate([members[g] for g in chosen])
        t = truth[idx]
        out[b] = _auc_from_ranks(t, score[idx])
    return out
