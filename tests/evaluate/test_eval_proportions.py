"""Wilson interval (Newcombe 1998 worked examples) and one-proportion sample size."""

import math

import numpy as np
import pytest
from scipy import stats

from explainendo.errors import EvaluationError
from explainendo.evaluate import sample_size_one_proportion, wilson_interval


@pytest.mark.parametrize("x, n, low, high", [
    # Newcombe RG (1998) Stat Med 17:857, Table I, method 3 (score interval without continuity correction).
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_newcombe_1998(x, n, low, high):
    lo, hi = wilson_interval(x, n)
    assert lo == pytest.approx(low, abs=6e-5)
    assert hi == pytest.approx(high, abs=6e-5)


def _wilson_closed_form(x, n, conf):
    z = stats.norm.ppf(0.5 + conf / 2)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("x, n, conf", [(3, 7, 0.95), (50, 51, 0.9), (120, 300, 0.99), (1, 1, 0.95)])
def test_wilson_equals_closed_form(x, n, conf):
    assert wilson_interval(x, n, conf) == pytest.approx(_wilson_closed_form(x, n, conf), abs=1e-12)


def test_all_correct_interval_mirrors_none_correct():
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0
    assert lo == pytest.approx(1 - wilson_interval(0, 20).high, abs=1e-12)


def test_interval_is_a_named_pair():
    ci = wilson_interval(5, 10)
    low, high = ci
    assert (ci.low, ci.high) == (low, high)
    assert low < 0.5 < high


@pytest.mark.parametrize("x, n", [(0, 0), (3, 2), (-1, 5), (1.5, 4), (float("nan"), 4)])
def test_wilson_rejects_bad_counts(x, n):
    with pytest.raises(EvaluationError):
        wilson_interval(x, n)


def test_wilson_rejects_bad_confidence():
    with pytest.raises(EvaluationError, match="confidence"):
        wilson_interval(3, 10, confidence=95)


def test_sample_size_normal_by_hand():
    # n = (1.95996 * sqrt(.8*.2) + 0.84162 * sqrt(.9*.1))^2 / 0.1^2 = 107.4 -> 108
    z_a, z_b = stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    by_hand = (z_a * 0.4 + z_b * 0.3) ** 2 / 0.01
    assert math.ceil(by_hand) == 108
    assert sample_size_one_proportion(0.8, 0.9) == 108
    # one-sided needs fewer cases; more power needs more
    assert sample_size_one_proportion(0.8, 0.9, alternative="larger") < 108
    assert sample_size_one_proportion(0.8, 0.9, power=0.9) > 108


def test_sample_size_gives_the_power_asked_for_exactly():
    """Exact binomial power of the two-sided z test at the returned n is close to the target (discreteness
    moves it by a few points)."""
    p0, p1 = 0.7, 0.85
    n = sample_size_one_proportion(p0, p1, alpha=0.05, power=0.8)
    z = stats.norm.ppf(0.975)
    x = np.arange(n + 1)
    reject = np.abs(x / n - p0) > z * math.sqrt(p0 * (1 - p0) / n)
    power = stats.binom.pmf(x[reject], n, p1).sum()
    assert 0.74 < power < 0.88


def test_sample_size_arcsine_matches_statsmodels():
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    h = abs(proportion_effectsize(0.9, 0.8))
    n = NormalIndPower().solve_power(effect_size=h, nobs1=None, alpha=0.05, power=0.8, ratio=0.0)
    assert sample_size_one_proportion(0.8, 0.9, method="arcsine") == math.ceil(n)


@pytest.mark.parametrize("kwargs", [dict(p0=0.8, p1=0.8), dict(p0=0.0, p1=0.5), dict(p0=0.5, p1=1.2),
                                    dict(p0=0.5, p1=0.6, power=1.0), dict(p0=0.5, p1=0.6, method="exact")])
def test_sample_size_rejects_bad_input(kwargs):
    with pytest.raises(EvaluationError):
        sample_size_one_proportion(**kwargs)
