"""Multi-reader multi-case (MRMC) analysis: the Obuchowski-Rockette (OR) ANOVA with jackknife covariances and
Hillis' denominator degrees of freedom, readers and cases random.

Every reader ``j`` (of ``r``) reads every case (of ``c``) in every treatment ``i`` (of ``t``; here the arms
*without AI* and *with AI*); ``theta_ij`` is the figure of merit (FOM) of reader ``j`` in treatment ``i``: the
empirical (trapezoidal, Wilcoxon) AUC of the reader's confidence ratings, or the accuracy of the reader's calls.
The OR model (Obuchowski & Rockette 1995) is ``theta_ij = mu + tau_i + R_j + (tau R)_ij + eps_ij`` with the
errors correlated because the same cases are read; their covariances are estimated by jackknifing cases
(Hillis et al. 2005)::

    theta_ij(-k)  the FOM without case k;  theta_ij(.) = mean_k theta_ij(-k)
    Cov(ij, i'j') = (c - 1) / c * sum_k (theta_ij(-k) - theta_ij(.)) (theta_i'j'(-k) - theta_i'j'(.))
    Var  = mean of the diagonal;          Cov1 = same reader, other treatment;
    Cov2 = other reader, same treatment;  Cov3 = other reader, other treatment.

    MS(T)  = r sum_i (theta_i. - theta_..)^2 / (t - 1)
    MS(TR) = sum_ij (theta_ij - theta_i. - theta_.j + theta_..)^2 / ((t - 1)(r - 1))
    F      = MS(T) / [MS(TR) + r max(Cov2 - Cov3, 0)]                      (Hillis 2007, "F_OR")
    ddf_H  = [MS(TR) + r max(Cov2 - Cov3, 0)]^2 / [MS(TR)^2 / ((t - 1)(r - 1))]
    p      = P(F(t - 1, ddf_H) > F)

and for a pair of treatments the difference of their reader-averaged FOMs with ``SE = sqrt(2/r [MS(TR) + r
max(Cov2 - Cov3, 0)])`` and a ``t(ddf_H)`` interval. Single-treatment intervals use that treatment's ``MS(R)`` and
``Cov2`` with ``df = [MS(R) + r max(Cov2, 0)]^2 / [MS(R)^2 / (r - 1)]``. Also reported, as the OR-DBM MRMC software
does: fixed readers / random cases (``X2 = (t-1) MS(T) / [Var - Cov1 + (r-1) max(Cov2 - Cov3, 0)]``, chi-square with
``t - 1`` df) and random readers / fixed cases (``F = MS(T) / MS(TR)`` with ``t - 1, (t-1)(r-1)`` df), and the OR
variance components (``Var(R) = (MS(R) - MS(TR)) / t - Cov1 + Cov3``, ``Var(TR) = MS(TR) - Var + Cov1 + Cov2 - Cov3``,
from ``E[MS(R)] = t Var(R) + Var(TR) + Var + (t-1) Cov1 - Cov2 - (t-1) Cov3`` and ``E[MS(TR)] = Var(TR) + Var - Cov1 - Cov2 +
Cov3``, Hillis 2007) for sizing a future study. With the jackknife and the AUC this is the same test
as Dorfman-Berbaum-Metz on pseudovalues with Hillis' ddf (Hillis et al. 2005, 2008).

Checked (``tests/evaluate/test_mrmc.py``) against the published worked example: the Van Dyke et al. (1993)
cine-MRI vs spin-echo MRI data (5 readers, 114 cases, 5-point ratings) as analysed by OR-DBM MRMC 2.51 (Hillis,
Schartz, Pesce, Berbaum): AUCs 0.897 and 0.941, F = 4.46, ddf_H = 15.26, p = 0.0517, difference -0.0438
(95% CI -0.0880 to 0.0004). References: Obuchowski & Rockette, *Commun Stat Simul Comput* 24:285 (1995); Hillis,
Obuchowski, Schartz & Berbaum, *Stat Med* 24:1579 (2005); Hillis, *Stat Med* 26:596 (2007); Hillis, Berbaum &
Metz, *Acad Radiol* 15:647 (2008).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EvaluationError
from ._checks import TestResult

#: figures of merit :func:`obuchowski_rockette` computes
FOMS = ("auc", "accuracy")


@dataclass
class MRMCResult:
    """The OR analysis of one study (:func:`obuchowski_rockette`).

    ``foms``: treatments x readers table of the figure of merit; ``treatment_means``; ``mean_squares``
    (``T``, ``R``, ``TR`` and ``R`` within each treatment); ``covariances`` (``var``, ``cov1``, ``cov2``,
    ``cov3``); ``components`` (OR variance components); the random-readers random-cases test (``f``, ``df1``,
    ``ddf``, ``pvalue``); ``differences`` (one row per pair of treatments: ``difference`` = second minus first,
    ``se``, ``df``, ``t``, ``pvalue``, ``ci_low``, ``ci_high``); ``single`` (each treatment's mean with its interval);
    ``fixed_readers`` and ``fixed_cases`` (the other two analyses, as :class:`TestResult`)."""

    fom: str
    treatments: list
    readers: list
    n_cases: int
    foms: pd.DataFrame
    treatment_means: pd.Series
    mean_squares: dict
    covariances: dict
    components: dict
    f: float
    df1: int
    ddf: float
    pvalue: float
    differences: pd.DataFrame
    single: pd.DataFrame
    fixed_readers: TestResult
    fixed_cases: TestResult
    confidence: float = 0.95
    details: dict[str, Any] = field(default_factory=dict)

    def test(self) -> TestResult:
        """The random-readers random-cases F test as a :class:`TestResult`."""
        return TestResult("Obuchowski-Rockette (Hillis ddf), random readers and cases", self.f, self.pvalue,
                          {"df1": self.df1, "ddf": self.ddf, "fom": self.fom, **self.covariances})

    def summary(self) -> pd.DataFrame:
        """One row per treatment pair: the means, the difference with its interval, F, ddf and p (RRRC)."""
        rows = []
        for _, d in self.differences.iterrows():
            rows.append({"comparison": f"{d['second']} - {d['first']}", "fom": self.fom,
                         f"{d['first']}": self.treatment_means[d["first"]],
                         f"{d['second']}": self.treatment_means[d["second"]],
                         "difference": d["difference"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                         "F": d["t"] ** 2, "ddf": d["df"], "pvalue": d["pvalue"], "readers": len(self.readers),
                         "cases": self.n_cases})
        return pd.DataFrame(rows)


def empirical_auc_jackknife(ratings: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical AUC of each row of ``ratings`` (``(..., c)``) and its case-deleted values (``(..., c)``: the AUC
    without case ``k``), ties counted one half (the trapezoidal / Wilcoxon AUC)."""
    pos, neg = ratings[..., truth], ratings[..., ~truth]
    n1, n0 = pos.shape[-1], neg.shape[-1]
    if n1 < 2 or n0 < 2:
        raise EvaluationError(f"the AUC jackknife needs at least two positive and two negative cases, got {n1} and "
                              f"{n0}", hint="use fom='accuracy' or add cases")
    diff = pos[..., :, None] - neg[..., None, :]
    psi = (diff > 0) + 0.5 * (diff == 0)
    total = psi.sum(axis=(-2, -1))
    auc = total / (n1 * n0)
    without = np.empty(ratings.shape, dtype=float)
    without[..., truth] = (total[..., None] - psi.sum(axis=-1)) / ((n1 - 1) * n0)
    without[..., ~truth] = (total[..., None] - psi.sum(axis=-2)) / (n1 * (n0 - 1))
    return auc, without


def _accuracy_jackknife(correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = correct.shape[-1]
    total = correct.sum(axis=-1)
    return total / c, (total[..., None] - correct) / (c - 1)


def obuchowski_rockette(ratings, truth=None, fom: str = "auc", treatments=None, readers=None,
                        confidence: float = 0.95) -> MRMCResult:
    """OR analysis with jackknife covariances and Hillis' ddf (module docstring), readers and cases random.

    ``ratings``: array ``(treatments, readers, cases)``. ``fom="auc"``: confidence ratings (higher = more
    likely positive) and ``truth`` (one bool / 0-1 per case) give each reader's empirical AUC. ``fom="accuracy"``:
    ``ratings`` are 0/1 correct-call flags (``truth`` unused). ``treatments`` / ``readers``: their names
    (default 0, 1, ...). Every reader must read every case in every treatment (a fully crossed design)."""
    from scipy import stats

    if fom not in FOMS:
        raise EvaluationError(f"fom {fom!r} is unknown", hint=f"one of {', '.join(FOMS)}")
    x = np.asarray(ratings, dtype=float)
    if x.ndim != 3:
        raise EvaluationError(f"ratings must be treatments x readers x cases, got shape {x.shape}")
    t, r, c = x.shape
    if t < 2 or r < 2 or c < 3:
        raise EvaluationError(f"MRMC needs at least 2 treatments, 2 readers and 3 cases, got {t}, {r}, {c}",
                              hint="one reader: compare the treatments with DeLong / McNemar instead")
    if not np.isfinite(x).all():
        raise EvaluationError("ratings have missing values: the design must be fully crossed",
                              hint="every reader reads every case in every treatment")
    if fom == "auc":
        if truth is None:
            raise EvaluationError("fom='auc' needs truth (one 0/1 per case)")
        truth = np.asarray(truth).astype(bool).ravel()
        if truth.size != c:
            raise EvaluationError(f"truth has {truth.size} values for {c} cases")
        theta, jack = empirical_auc_jackknife(x, truth)
    else:
        if not np.isin(x, (0.0, 1.0)).all():
            raise EvaluationError("fom='accuracy' takes 0/1 correct-call flags")
        theta, jack = _accuracy_jackknife(x)
    treatments = list(range(t)) if treatments is None else list(treatments)
    readers = list(range(r)) if readers is None else list(readers)

    # jackknife covariance of the t*r FOMs
    centred = (jack - jack.mean(axis=-1, keepdims=True)).reshape(t * r, c)
    cov = (c - 1) / c * centred @ centred.T
    ti, rj = np.divmod(np.arange(t * r), r)
    same_t, same_r = ti[:, None] == ti[None, :], rj[:, None] == rj[None, :]
    var = float(np.mean(np.diag(cov)))
    cov1 = float(cov[same_r & ~same_t].mean())
    cov2 = float(cov[~same_r & same_t].mean())
    cov3 = float(cov[~same_r & ~same_t].mean())

    mean_t, mean_r, grand = theta.mean(axis=1), theta.mean(axis=0), theta.mean()
    ms_t = r * float(((mean_t - grand) ** 2).sum()) / (t - 1)
    ms_r = t * float(((mean_r - grand) ** 2).sum()) / (r - 1)
    ms_tr = float(((theta - mean_t[:, None] - mean_r[None, :] + grand) ** 2).sum()) / ((t - 1) * (r - 1))
    ms_r_each = [float(((theta[i] - mean_t[i]) ** 2).sum()) / (r - 1) for i in range(t)]
    cov2_each = [float(cov[(ti == i)[:, None] & (ti == i)[None, :] & ~same_r].mean()) for i in range(t)]
    var_each = [float(np.mean(np.diag(cov)[ti == i])) for i in range(t)]

    # random readers, random cases
    denominator = ms_tr + r * max(cov2 - cov3, 0.0)
    df1 = t - 1
    if denominator <= 0:
        f_stat, ddf, pvalue = np.nan, np.nan, np.nan
    else:
        f_stat = ms_t / denominator
        ddf = denominator ** 2 / (ms_tr ** 2 / ((t - 1) * (r - 1))) if ms_tr > 0 else np.inf
        pvalue = float(stats.f.sf(f_stat, df1, ddf))
    alpha = 1.0 - confidence
    rows = []
    for a, b in combinations(range(t), 2):
        diff = float(mean_t[b] - mean_t[a])
        se = float(np.sqrt(2.0 / r * denominator)) if denominator > 0 else np.nan
        tq = float(stats.t.ppf(1 - alpha / 2, ddf)) if np.isfinite(se) else np.nan
        t_stat = diff / se if se and np.isfinite(se) else np.nan
        rows.append({"first": treatments[a], "second": treatments[b], "difference": diff, "se": se, "df": ddf,
                     "t": t_stat, "pvalue": float(2 * stats.t.sf(abs(t_stat), ddf)) if np.isfinite(t_stat) else np.nan,
                     "ci_low": diff - tq * se, "ci_high": diff + tq * se})
    differences = pd.DataFrame(rows)
    single_rows = []
    for i in range(t):
        part = ms_r_each[i] + r * max(cov2_each[i], 0.0)
        se = float(np.sqrt(part / r))
        df = part ** 2 / (ms_r_each[i] ** 2 / (r - 1)) if ms_r_each[i] > 0 else np.inf
        tq = float(stats.t.ppf(1 - alpha / 2, df))
        single_rows.append({"treatment": treatments[i], "fom": float(mean_t[i]), "se": se, "df": df,
                            "ci_low": float(mean_t[i]) - tq * se, "ci_high": float(mean_t[i]) + tq * se,
                            "ms_r": ms_r_each[i], "cov2": cov2_each[i], "var": var_each[i]})
    # fixed readers, random cases; random readers, fixed cases
    fr_den = var - cov1 + (r - 1) * max(cov2 - cov3, 0.0)
    x2 = (t - 1) * ms_t / fr_den if fr_den > 0 else np.nan
    fixed_readers = TestResult("OR fixed readers, random cases (chi-square)", float(x2),
                               float(stats.chi2.sf(x2, t - 1)) if np.isfinite(x2) else np.nan, {"df": t - 1})
    f_fc = ms_t / ms_tr if ms_tr > 0 else np.nan
    fixed_cases = TestResult("OR random readers, fixed cases (F)", float(f_fc),
                             float(stats.f.sf(f_fc, t - 1, (t - 1) * (r - 1))) if np.isfinite(f_fc) else np.nan,
                             {"df1": t - 1, "df2": (t - 1) * (r - 1)})
    components = {"var_r": (ms_r - ms_tr) / t - cov1 + cov3, "var_tr": ms_tr - var + cov1 + cov2 - cov3,
                  "cov1": cov1, "cov2": cov2, "cov3": cov3, "var_error": var,
                  "rho1": cov1 / var if var > 0 else np.nan, "rho2": cov2 / var if var > 0 else np.nan,
                  "rho3": cov3 / var if var > 0 else np.nan}
    return MRMCResult(
        fom=fom, treatments=treatments, readers=readers, n_cases=c,
        foms=pd.DataFrame(theta, index=pd.Index(treatments, name="treatment"), columns=pd.Index(readers, name="reader")),
        treatment_means=pd.Series(mean_t, index=treatments, name=fom),
        mean_squares={"T": ms_t, "R": ms_r, "TR": ms_tr, "R_each": dict(zip(treatments, ms_r_each))},
        covariances={"var": var, "cov1": cov1, "cov2": cov2, "cov3": cov3}, components=components,
        f=float(f_stat), df1=df1, ddf=float(ddf), pvalue=float(pvalue) if pvalue == pvalue else np.nan,
        differences=differences, single=pd.DataFrame(single_rows), fixed_readers=fixed_readers,
        fixed_cases=fixed_cases, confidence=confidence, details={"denominator": denominator})
