"""Agreement among several raters: Fleiss' kappa.

For ``N`` subjects each rated by ``n`` raters into ``k`` categories, with ``n_ij`` raters putting subject ``i``
in category ``j`` (Fleiss 1971, *Psychol Bull* 76:378)::

    p_j   = 1/(N n) sum_i n_ij                          share of all ratings in category j
    P_i   = 1/(n (n - 1)) sum_j n_ij (n_ij - 1)         agreement on subject i
    P_bar = mean_i P_i,   P_e = sum_j p_j^2
    kappa = (P_bar - P_e) / (1 - P_e)

Computed by ``statsmodels.stats.inter_rater.fleiss_kappa``. Landis & Koch (1977) read 0.21-0.40 as fair,
0.41-0.60 moderate, 0.61-0.80 substantial and above 0.80 almost perfect agreement.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EvaluationError


def fleiss_kappa(ratings, input: str = "raters", method: str = "fleiss") -> float:
    """Fleiss' kappa.

    ``input="raters"``: ``ratings`` is a subjects x raters table of category labels (any hashable labels; a
    DataFrame with one column per reader works). ``input="counts"``: ``ratings`` is already the subjects x
    categories table of counts ``n_ij`` (each row summing to the number of raters).

    ``method="fleiss"`` is Fleiss' kappa; ``"randolph"`` the free-marginal (uniform) variant.
    Raises :class:`~explainendo.errors.EvaluationError` with fewer than two raters or subjects, missing
    ratings, or rows with different numbers of raters. If every rating is the same category, kappa is
    undefined (0/0) and the error says so.
    """
    from statsmodels.stats.inter_rater import aggregate_raters
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

    if input == "raters":
        table = pd.DataFrame(ratings)
        if table.isna().any().any():
            raise EvaluationError(f"ratings have {int(table.isna().sum().sum())} missing value(s)",
                                  hint="drop subjects not rated by every reader")
        if table.shape[0] < 2 or table.shape[1] < 2:
            raise EvaluationError(f"ratings table has shape {table.shape}; need >= 2 subjects (rows) and "
                                  ">= 2 raters (columns)", hint="pass one row per case, one column per reader")
        codes, _ = pd.factorize(pd.Series(table.to_numpy().ravel()))
        counts, _ = aggregate_raters(codes.reshape(table.shape))
    elif input == "counts":
        counts = np.asarray(ratings)
        if counts.ndim != 2 or counts.shape[0] < 2 or (counts < 0).any():
            raise EvaluationError(f"counts table must be subjects x categories of non-negative counts with >= 2 "
                                  f"subjects, got shape {counts.shape}")
        per_row = counts.sum(axis=1)
        if not np.all(per_row == per_row[0]) or per_row[0] < 2:
            raise EvaluationError(f"every subject needs the same number (>= 2) of ratings, got row sums "
                                  f"{sorted(set(per_row.tolist()))[:5]}", hint="drop incompletely rated subjects")
    else:
        raise EvaluationError(f"input must be 'raters' or 'counts', got {input!r}")
    p_j = counts.sum(axis=0) / counts.sum()
    if method == "fleiss" and np.isclose((p_j ** 2).sum(), 1.0):
        raise EvaluationError("every rating is the same category, so chance agreement is 1 and kappa is 0/0",
                              hint="report the raw agreement (100%) instead")
    return float(sm_fleiss_kappa(counts, method=method))
