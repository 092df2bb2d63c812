"""One proportion: its Wilson confidence interval and the sample size to test it.

Wilson (score) interval (Wilson 1927; recommended by Newcombe 1998, *Stat Med* 17:857, method 3), for
``x`` successes out of ``n`` with ``p = x / n`` and ``z = z_{1 - alpha/2}``::

    centre    = (p + z^2 / (2n)) / (1 + z^2 / n)
    halfwidth = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))
    interval  = centre -/+ halfwidth

Unlike the Wald interval it never leaves [0, 1] and keeps its coverage near 0 and 1 (e.g. 0/20 gives
[0, 0.161], where Wald gives [0, 0]). Computed by ``statsmodels.stats.proportion.proportion_confint``.
"""

from __future__ import annotations

import math
from typing import NamedTuple


from ..errors import EvaluationError
from ._checks import check_confidence, check_count


class Interval(NamedTuple):
    """A confidence interval ``(low, high)``."""

    low: float
    high: float


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval of the proportion ``successes / n``.

    Returns ``Interval(low, high)`` (a tuple: ``low, high = wilson_interval(81, 263)``). Newcombe (1998)
    Table I: 81/263 -> (0.2553, 0.3662); 15/148 -> (0.0624, 0.1605); 0/20 -> (0, 0.1611);
    1/29 -> (0.0061, 0.1718).

    Raises :class:`~explainendo.errors.EvaluationError` when ``n`` is 0 (the proportion is undefined) or
    ``successes`` is not a count in ``[0, n]``.
    """
    from statsmodels.stats.proportion import proportion_confint

    confidence = check_confidence(confidence)
    x, n = check_count(successes, n)
    low, high = proportion_confint(x, n, alpha=1.0 - confidence, method="wilson")
    # At x = 0 (x = n) the lower (upper) bound is exactly 0 (1); statsmodels' float arithmetic misses by 1e-16.
    low = 0.0 if x == 0 else float(min(max(low, 0.0), 1.0))
    high = 1.0 if x == n else float(min(max(high, 0.0), 1.0))
    return Interval(low, high)


def sample_size_one_proportion(p0: float, p1: float, alpha: float = 0.05, power: float = 0.8,
                               alternative: str = "two-sided", method: str = "normal") -> int:
    """Number of cases needed to show that a proportion is ``p1`` rather than the reference ``p0``.

    ``method="normal"`` is the closed form for the one-sample z test of a proportion (e.g. Chow, Shao &
    Wang, *Sample Size Calculations in Clinical Research*, 2nd ed., section 4.1; Fleiss, Levin & Paik 2003)::

        n = ( z_{1-a} sqrt(p0 (1 - p0)) + z_{1-b} sqrt(p1 (1 - p1)) )^2 / (p1 - p0)^2

    with ``a = alpha / 2`` for a two-sided test and ``b = 1 - power``, rounded up. ``method="arcsine"`` uses
    Cohen's effect size ``h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))`` and ``n = ((z_{1-a} + z_{1-b}) / h)^2``
    (statsmodels' ``NormalIndPower`` with ``ratio=0``).

    Example: to show an accuracy of 0.90 against a reference of 0.80 at alpha 0.05 (two-sided) with
    80% power, ``sample_size_one_proportion(0.80, 0.90)`` is 108.
    """
    from scipy import stats
    for name, value in (("p0", p0), ("p1", p1)):
        if not 0.0 < float(value) < 1.0:
            raise EvaluationError(f"{name} must lie strictly between 0 and 1, got {value!r}",
                                  hint="pass proportions such as 0.8")
    if p0 == p1:
        raise EvaluationError(f"p0 and p1 are both {p0}: no difference to detect", hint="pass p1 != p0")
    if not 0.0 < alpha < 1.0 or not 0.0 < power < 1.0:
        raise EvaluationError(f"alpha and power must lie in (0, 1), got alpha={alpha!r}, power={power!r}",
                              hint="e.g. alpha=0.05, power=0.8")
    if alternative not in ("two-sided", "larger", "smaller"):
        raise EvaluationError(f"alternative must be 'two-sided', 'larger' or 'smaller', got {alternative!r}")
    tail_alpha = alpha / 2.0 if alternative == "two-sided" else alpha
    z_a = stats.norm.ppf(1.0 - tail_alpha)
    z_b = stats.norm.ppf(power)
    if method == "normal":
        n = (z_a * math.sqrt(p0 * (1 - p0)) + z_b * math.sqrt(p1 * (1 - p1))) ** 2 / (p1 - p0) ** 2
    elif method == "arcsine":
        from statsmodels.stats.power import NormalIndPower
        from statsmodels.stats.proportion import proportion_effectsize

        h = abs(proportion_effectsize(p1, p0))
        alt = "two-sided" if alternative == "two-sided" else "larger"
        n = NormalIndPower().solve_power(effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=0.0,
                                         alternative=alt)
    else:
        raise EvaluationError(f"method must be 'normal' or 'arcsine', got {method!r}")
    # Guard against 108.0000000001 rounding up to 109.
    return int(math.ceil(float(n) - 1e-9))
