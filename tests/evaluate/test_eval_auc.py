"""Fast DeLong against the O(m n) definition, Hanley & McNeil's published AUC, and the bootstrap interval."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from explainendo.errors import EvaluationError
from explainendo.evaluate import auc_score, bootstrap_auc_ci, delong_ci, delong_covariance, delong_test


def _brute_force_delong(y, scores):
    """DeLong et al. (1988) structural components straight from the definition, O(m n)."""
    y = np.asarray(y).astype(bool)
    aucs, v10s, v01s = [], [], []
    for s in scores:
        x, z = s[y], s[~y]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    m, n = y.sum(), (~y).sum()
    k = len(scores)
    cov = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            s10 = np.sum((v10s[i] - aucs[i]) * (v10s[j] - aucs[j])) / (m - 1)
            s01 = np.sum((v01s[i] - aucs[i]) * (v01s[j] - aucs[j])) / (n - 1)
            cov[i, j] = s10 / m + s01 / n
    return np.array(aucs), cov


def _data(seed=0, n=160, ties=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    a = y * 0.8 + rng.normal(size=n)
    b = 0.6 * a + y * 0.3 + rng.normal(size=n)  # correlated with a, as two models on the same cases are
    if ties:
        a, b = np.round(a, 1), np.round(b)
    return y, a, b


def test_hanley_mcneil_1982_published_auc():
    # Hanley & McNeil (1982) Radiology 143:29, Table 1: CT ratings 1..5 of 58 normal and 51 abnormal cases;
    # published area 0.893.
    neg = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    pos = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(58), np.ones(51)]
    res = delong_ci(y, np.r_[neg, pos])
    assert res.auc == pytest.approx(0.893, abs=5e-4)
    aucs, cov = _brute_force_delong(y, [np.r_[neg, pos].astype(float)])
    assert res.se == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-10)


@pytest.mark.parametrize("ties", [True, False])
def test_fast_delong_equals_brute_force(ties):
    y, a, b = _data(ties=ties)
    aucs, cov = delong_covariance(y.astype(bool), np.vstack([a, b]))
    ref_aucs, ref_cov = _brute_force_delong(y, [a, b])
    assert aucs == pytest.approx(ref_aucs, abs=1e-12)
    assert cov == pytest.approx(ref_cov, abs=1e-14)
    assert aucs[0] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert auc_score(y, b) == pytest.approx(roc_auc_score(y, b), abs=1e-12)


def test_delong_test_matches_brute_force_z():
    y, a, b = _data(seed=3)
    res = delong_test(y, a, b)
    aucs, cov = _brute_force_delong(y, [a, b])
    z = (aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert res.statistic == pytest.approx(z, rel=1e-9)
    assert res.pvalue == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert res.details["diff_low"] < res.details["difference"] < res.details["diff_high"]
    # swapping the models flips the sign, not the p-value
    swapped = delong_test(y, b, a)
    assert swapped.statistic == pytest.approx(-res.statistic)
    assert swapped.pvalue == pytest.approx(res.pvalue)


def test_delong_ci_and_labels():
    y, a, _ = _data()
    res = delong_ci(y, a)
    z = stats.norm.ppf(0.975)
    assert (res.low, res.high) == pytest.approx((res.auc - z * res.se, res.auc + z * res.se))
    words = np.where(y == 1, "neoplastic", "non_neoplastic")
    assert delong_ci(words, a, positive="neoplastic") == res


def test_delong_identical_and_perfect_scores():
    y, a, _ = _data()
    assert delong_test(y, a, a).pvalue == 1.0
    assert delong_test(y, a, 2 * a + 1).pvalue == 1.0  # same ranking
    perfect = delong_ci(y, y.astype(float))
    assert (perfect.auc, perfect.low, perfect.high, perfect.se) == (1.0, 1.0, 1.0, 0.0)


def test_auc_needs_both_classes_and_clean_scores():
    with pytest.raises(EvaluationError, match="both classes"):
        delong_ci(np.ones(10), np.arange(10.0))
    with pytest.raises(EvaluationError, match="non-finite"):
        delong_ci([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.9])
    with pytest.raises(EvaluationError, match="length"):
        delong_test([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.9], [0.1, 0.2])
    with pytest.raises(EvaluationError, match="positive label"):
        delong_ci(["a", "b"], [0.1, 0.9])


def test_bootstrap_is_seeded_and_agrees_with_delong():
    y, a, _ = _data(n=400, ties=False)
    boot = bootstrap_auc_ci(y, a, n_boot=1000, seed=7)
    assert boot == bootstrap_auc_ci(y, a, n_boot=1000, seed=7)
    assert boot != bootstrap_auc_ci(y, a, n_boot=1000, seed=8)
    assert boot.low < boot.auc < boot.high
    dl = delong_ci(y, a)
    assert boot.low == pytest.approx(dl.low, abs=0.02)
    assert boot.high == pytest.approx(dl.high, abs=0.02)
    assert boot.se == pytest.approx(dl.se, rel=0.15)


def test_cluster_bootstrap_widens_for_repeated_frames():
    """Five identical frames per patient carry the information of one: the cluster bootstrap sees that,
    the case-level one is about sqrt(5) too narrow."""
    y, a, _ = _data(n=120, ties=False)
    y5, a5 = np.repeat(y, 5), np.repeat(a, 5)
    groups = np.repeat(np.arange(120), 5)
    naive = bootstrap_auc_ci(y5, a5, n_boot=600, seed=1)
    clustered = bootstrap_auc_ci(y5, a5, n_boot=600, seed=1, groups=groups)
    original = bootstrap_auc_ci(y, a, n_boot=600, seed=1)
    assert clustered.method == "cluster bootstrap"
    assert clustered.se > 1.8 * naive.se
    assert clustered.se == pytest.approx(original.se, rel=0.2)


def test_bootstrap_rejects_too_few_replicates():
    y, a, _ = _data()
    with pytest.raises(EvaluationError, match="n_boot"):
        bootstrap_auc_ci(y, a, n_boot=5)
