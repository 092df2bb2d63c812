"""Comparing two models' proportions: McNemar for paired correctness, chi-square for PPV and NPV.

Which test for which claim (the gastric paper, ENDOANGEL-ED, npj Digit Med 2023, and most endoscopy papers):

* accuracy, sensitivity, specificity: both models classify **the same cases**; each case is correct or not
  under each model, so the counts are paired and McNemar's test applies (on all cases for accuracy, on the
  truly positive cases for sensitivity, on the truly negative ones for specificity).
* PPV, NPV: the denominators are each model's own positive (negative) calls, which differ between the models,
  so the cases are no longer paired one-to-one. The papers compare the two proportions with Pearson's
  chi-square test on the 2x2 table (model x {true, false} call). The calls overlap, so the test is
  approximate (conservative-to-liberal depending on the overlap); Leisenring, Alonzo & Pepe (2000,
  Biometrics 56:345) give an exact-design alternative. We follow the papers and say so in the report.
"""

from __future__ import annotations

import numpy as np

from ..errors import EvaluationError
from ._checks import TestResult, as_bool, check_count, same_length

#: Discordant pairs below which McNemar's exact binomial version is used by default.
EXACT_MCNEMAR_BELOW = 25


def mcnemar_test(correct_a, correct_b, exact: bool | None = None, correction: bool = True) -> TestResult:
    """McNemar's test that models A and B are equally often correct on the same cases.

    ``correct_a`` / ``correct_b``: one boolean per case (the model's call equals the truth). Only the
    discordant cases count: ``b`` = A right and B wrong, ``c`` = A wrong and B right.

    * exact (binomial): p = P(|Binom(b + c, 1/2) - (b+c)/2| >= |b - (b+c)/2|), two-sided;
    * chi-square: ``X^2 = (|b - c| - 1)^2 / (b + c)`` with Edwards' continuity correction
      (``correction=False`` drops the ``- 1``), 1 degree of freedom.

    ``exact=None`` uses the exact test when ``b + c < 25`` (the usual rule) and the corrected chi-square
    otherwise. When ``b + c = 0`` the models agree on every case and p = 1.

    Computed by ``statsmodels.stats.contingency_tables.mcnemar`` on the table
    ``[[both right, A only], [B only, both wrong]]``, returned in ``details['table']``.

    Worked example (Agresti, *An Introduction to Categorical Data Analysis*, 2nd ed., Table 8.1: approval of
    the prime minister in two surveys of the same 1600 people, table [[794, 150], [86, 570]]):
    ``X^2 = (86 - 150)^2 / 236 = 17.36`` without correction, p < 0.001.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    a = as_bool(correct_a, "correct_a")
    b = as_bool(correct_b, "correct_b")
    n = same_length(correct_a=a, correct_b=b)
    table = np.array([[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]], dtype=int)
    only_a, only_b = int(table[0, 1]), int(table[1, 0])
    discordant = only_a + only_b
    use_exact = discordant < EXACT_MCNEMAR_BELOW if exact is None else bool(exact)
    details = {"table": table.tolist(), "n": n, "a_only_correct": only_a, "b_only_correct": only_b,
               "discordant": discordant}
    if discordant == 0:
        return TestResult("McNemar (no discordant pairs)", 0.0, 1.0, details)
    res = mcnemar(table, exact=use_exact, correction=correction)
    if use_exact:
        return TestResult("McNemar exact", float("nan"), float(min(res.pvalue, 1.0)), details)
    name = "McNemar chi-square" + (" (continuity-corrected)" if correction else "")
    return TestResult(name, float(res.statistic), float(res.pvalue), details)


def chi_square_test(successes_a: int, n_a: int, successes_b: int, n_b: int, correction: bool = False,
                    exact: bool | None = None) -> TestResult:
    """Pearson's chi-square test that two proportions ``successes_a / n_a`` and ``successes_b / n_b`` are equal.

    Used for PPV (successes = true positives, n = the model's positive calls) and NPV (true negatives over
    negative calls) of two models. The contingency table is::

                     success        failure
        model A    successes_a    n_a - successes_a
        model B    successes_b    n_b - successes_b

    and ``X^2 = sum (O - E)^2 / E`` over its four cells with ``E`` = row total x column total / grand total,
    1 degree of freedom (``scipy.stats.chi2_contingency``; ``correction=True`` applies Yates' correction).
    ``exact=None`` switches to Fisher's exact test when an expected count is below 5 (Cochran's rule);
    ``exact=True`` forces it. When the table has an empty column (both proportions 0 or both 1) the
    proportions are equal and p = 1.

    Raises :class:`~explainendo.errors.EvaluationError` when ``n_a`` or ``n_b`` is 0 (e.g. a model that
    never calls a case positive has no PPV to compare).
    """
    from scipy.stats import chi2_contingency, fisher_exact

    try:
        xa, na = check_count(successes_a, n_a)
        xb, nb = check_count(successes_b, n_b)
    except EvaluationError as exc:
        raise EvaluationError(f"cannot compare proportions: {exc.reason}",
                              hint="a model with no calls of that kind has no PPV/NPV to compare") from None
    table = np.array([[xa, na - xa], [xb, nb - xb]], dtype=int)
    details = {"table": table.tolist(), "proportion_a": xa / na, "proportion_b": xb / nb}
    if (table.sum(axis=0) == 0).any():
        return TestResult("chi-square (identical proportions)", 0.0, 1.0, details)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    use_exact = bool((expected < 5).any()) if exact is None else bool(exact)
    details["min_expected"] = float(expected.min())
    if use_exact:
        res = fisher_exact(table)
        return TestResult("Fisher exact", float("nan"), float(res.pvalue), details)
    stat, p, _, _ = chi2_contingency(table, correction=correction)
    return TestResult("chi-square" + (" (Yates)" if correction else ""), float(stat), float(p), details)
