"""McNemar (Agresti's textbook table, exact binomial by hand) and chi-square / Fisher for two proportions."""

import numpy as np
import pytest
from scipy import stats

from explainendo.errors import EvaluationError
from explainendo.evaluate import chi_square_test, mcnemar_test


def _pairs(both, a_only, b_only, neither):
    a = np.r_[np.ones(both), np.ones(a_only), np.zeros(b_only), np.zeros(neither)].astype(bool)
    b = np.r_[np.ones(both), np.zeros(a_only), np.ones(b_only), np.zeros(neither)].astype(bool)
    return a, b


def test_mcnemar_agresti_presidential_approval():
    # Agresti, An Introduction to Categorical Data Analysis (2nd ed.), Table 8.1: 794, 150, 86, 570;
    # z^2 = (86 - 150)^2 / (86 + 150) = 17.36, p < 0.001.
    a, b = _pairs(794, 150, 86, 570)
    res = mcnemar_test(a, b, correction=False)
    assert res.details["table"] == [[794, 150], [86, 570]]
    assert res.statistic == pytest.approx(64 ** 2 / 236, rel=1e-12)
    assert res.statistic == pytest.approx(17.36, abs=0.005)
    assert res.pvalue == pytest.approx(stats.chi2.sf(64 ** 2 / 236, 1), rel=1e-9)
    assert res.pvalue < 0.001
    # default: 236 discordant pairs -> corrected chi-square
    default = mcnemar_test(a, b)
    assert "chi-square" in default.name
    assert default.statistic == pytest.approx(63 ** 2 / 236, rel=1e-12)


def test_mcnemar_exact_small_counts_by_hand():
    # b = 1, c = 5 discordant: p = 2 * P(Binom(6, 1/2) <= 1) = 2 * 7/64
    a, b = _pairs(30, 1, 5, 4)
    res = mcnemar_test(a, b)
    assert res.name == "McNemar exact"
    assert res.pvalue == pytest.approx(2 * 7 / 64, rel=1e-12)
    assert res.details["discordant"] == 6


def test_mcnemar_is_symmetric_and_no_discordance_gives_one():
    a, b = _pairs(10, 3, 9, 2)
    assert mcnemar_test(a, b).pvalue == pytest.approx(mcnemar_test(b, a).pvalue)
    same = np.array([True, False, True, True])
    assert mcnemar_test(same, same).pvalue == 1.0
    # all correct under both models
    assert mcnemar_test(np.ones(12, bool), np.ones(12, bool)).pvalue == 1.0


def test_mcnemar_accepts_zero_one_and_rejects_bad_input():
    a, b = _pairs(5, 2, 3, 1)
    assert mcnemar_test(a.astype(int), b.astype(int)).pvalue == pytest.approx(mcnemar_test(a, b).pvalue)
    with pytest.raises(EvaluationError, match="length"):
        mcnemar_test(a, b[:-1])
    with pytest.raises(EvaluationError, match="boolean"):
        mcnemar_test([0, 1, 2], [0, 1, 1])
    with pytest.raises(EvaluationError, match="empty"):
        mcnemar_test([], [])


def test_chi_square_by_hand_and_against_scipy():
    # PPV 80/100 vs 60/100: X^2 = N (ad - bc)^2 / (r1 r2 c1 c2) = 200 (80*40 - 20*60)^2 / (100*100*140*60)
    res = chi_square_test(80, 100, 60, 100)
    assert res.statistic == pytest.approx(200 * (80 * 40 - 20 * 60) ** 2 / (100 * 100 * 140 * 60), rel=1e-12)
    assert res.pvalue == pytest.approx(stats.chi2.sf(res.statistic, 1), rel=1e-12)
    assert res.details["table"] == [[80, 20], [60, 40]]
    yates = chi_square_test(80, 100, 60, 100, correction=True)
    stat, p, _, _ = stats.chi2_contingency([[80, 20], [60, 40]], correction=True)
    assert (yates.statistic, yates.pvalue) == pytest.approx((stat, p))


def test_chi_square_switches_to_fisher_for_small_expected_counts():
    res = chi_square_test(9, 10, 4, 9)
    assert res.name == "Fisher exact"
    assert res.pvalue == pytest.approx(stats.fisher_exact([[9, 1], [4, 5]]).pvalue)
    forced = chi_square_test(9, 10, 4, 9, exact=False)
    assert forced.name == "chi-square"


def test_chi_square_edge_cases():
    assert chi_square_test(10, 10, 25, 25).pvalue == 1.0  # both PPVs are 100%
    with pytest.raises(EvaluationError, match="no PPV/NPV"):
        chi_square_test(0, 0, 5, 10)  # model A never called a case positive
