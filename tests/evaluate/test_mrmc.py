"""The Obuchowski-Rockette MRMC analysis: the published worked example (Van Dyke et al. 1993 as analysed by OR-DBM
MRMC 2.51), a small case computed by hand with explicit loops, and the type I error under a true null."""

from pathlib import Path

import numpy as np
import pytest

from explainendo.errors import EvaluationError
from explainendo.evaluate import obuchowski_rockette
from explainendo.evaluate.mrmc import empirical_auc_jackknife

DATA = Path(__file__).parent / "data" / "vandyke_ratings.txt"


def vandyke():
    rows = [line.split() for line in DATA.read_text().splitlines() if line and not line.startswith("#")]
    truth = np.array([int(r[0]) for r in rows], dtype=bool)
    ratings = np.array([[int(ch) for ch in r[1]] for r in rows])        # cases x (reader, treatment)
    return ratings.T.reshape(5, 2, len(rows)).transpose(1, 0, 2), truth  # treatments x readers x cases


def test_van_dyke_matches_the_published_or_dbm_mrmc_output():
    """OR-DBM MRMC 2.51 (Hillis, Schartz, Pesce, Berbaum), trapezoidal AUC, jackknife, on the Van Dyke data (as in
    RJafroc's inst/IowaResults/VanDyke.txt and Hillis et al. 2008): every number of its analysis 1 to 3."""
    x, truth = vandyke()
    assert x.shape == (2, 5, 114) and truth.sum() == 45
    res = obuchowski_rockette(x, truth, treatments=["spin-echo", "cine"], readers=[1, 2, 3, 4, 5])
    published = {(0, 0): 0.91964573, (0, 1): 0.85877617, (0, 2): 0.90386473, (0, 3): 0.97310789, (0, 4): 0.82979066,
                 (1, 0): 0.94782609, (1, 1): 0.90531401, (1, 2): 0.92173913, (1, 3): 0.99935588, (1, 4): 0.92995169}
    for (i, j), auc in published.items():
        assert res.foms.iloc[i, j] == pytest.approx(auc, abs=5e-9)
    assert res.treatment_means.tolist() == pytest.approx([0.89703704, 0.94083736], abs=5e-9)
    assert res.mean_squares["T"] == pytest.approx(0.00479617, abs=5e-9)
    assert res.mean_squares["R"] == pytest.approx(0.00383620, abs=5e-9)
    assert res.mean_squares["TR"] == pytest.approx(0.00055103, abs=5e-9)
    cov = res.covariances
    assert (cov["var"], cov["cov1"], cov["cov2"], cov["cov3"]) == pytest.approx(
        (0.00080229, 0.00034661, 0.00034407, 0.00023903), abs=5e-9)
    assert res.components["var_r"] == pytest.approx(0.00153500, abs=5e-9)
    assert res.components["var_tr"] == pytest.approx(0.00020040, abs=5e-9)
    assert res.components["rho1"] == pytest.approx(0.43203138, abs=5e-8)
    # analysis 1: random readers and cases
    assert res.details["denominator"] == pytest.approx(0.00107626, abs=5e-9)
    assert res.f == pytest.approx(4.46, abs=0.005) and res.ddf == pytest.approx(15.26, abs=0.005)
    assert res.pvalue == pytest.approx(0.0517, abs=5e-5)
    d = res.differences.iloc[0]
    assert -d["difference"] == pytest.approx(-0.04380, abs=5e-6) and d["se"] == pytest.approx(0.02075, abs=5e-6)
    assert (-d["ci_high"], -d["ci_low"]) == pytest.approx((-0.08796, 0.00036), abs=5e-6)
    single = res.single.set_index("treatment")
    assert single.loc["spin-echo", "se"] == pytest.approx(0.03317360, abs=5e-9)
    assert single.loc["spin-echo", "df"] == pytest.approx(12.74, abs=0.005)
    assert (single.loc["cine", "ci_low"], single.loc["cine", "ci_high"]) == pytest.approx((0.89413783, 0.98753689), abs=5e-8)
    # analysis 2: fixed readers; analysis 3: fixed cases
    assert res.fixed_readers.statistic == pytest.approx(5.47595, abs=5e-6)
    assert res.fixed_readers.pvalue == pytest.approx(0.0193, abs=5e-5)
    assert res.fixed_cases.statistic == pytest.approx(8.70, abs=0.005) and res.fixed_cases.pvalue == pytest.approx(0.0420, abs=5e-5)


def test_auc_jackknife_equals_recomputing_without_each_case():
    rng = np.random.default_rng(1)
    truth = np.array([1, 1, 1, 0, 0, 0, 0], dtype=bool)
    ratings = rng.integers(1, 4, size=(2, 7)).astype(float)

    def auc(r, t):
        pos, neg = r[t], r[~t]
        return np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])

    full, without = empirical_auc_jackknife(ratings, truth)
    for row in range(2):
        assert full[row] == pytest.approx(auc(ratings[row], truth))
        for k in range(7):
            keep = np.arange(7) != k
            assert without[row, k] == pytest.approx(auc(ratings[row, keep], truth[keep]))


def test_small_accuracy_study_by_hand():
    """2 treatments x 2 readers x 4 cases, accuracy: the OR quantities written out with loops."""
    correct = np.array([[[1, 1, 0, 1], [1, 0, 0, 1]],       # treatment 0: readers 0, 1
                        [[1, 1, 1, 1], [1, 1, 1, 1]]], float)  # treatment 1
    res = obuchowski_rockette(correct, fom="accuracy")
    theta = correct.mean(axis=2)                    # [[.75, .5], [1, 1]]
    assert res.foms.to_numpy() == pytest.approx(theta)
    c = 4
    jack = np.array([[[np.delete(correct[i, j], k).mean() for k in range(c)] for j in range(2)] for i in range(2)])
    def cov(a, b):
        da, db = jack[a] - jack[a].mean(), jack[b] - jack[b].mean()
        return (c - 1) / c * float((da * db).sum())
    var = np.mean([cov((i, j), (i, j)) for i in range(2) for j in range(2)])
    cov1 = np.mean([cov((0, j), (1, j)) for j in range(2)] + [cov((1, j), (0, j)) for j in range(2)])
    cov2 = np.mean([cov((i, 0), (i, 1)) for i in range(2)] + [cov((i, 1), (i, 0)) for i in range(2)])
    cov3 = np.mean([cov((0, 0), (1, 1)), cov((0, 1), (1, 0)), cov((1, 0), (0, 1)), cov((1, 1), (0, 0))])
    assert (res.covariances["var"], res.covariances["cov1"], res.covariances["cov2"], res.covariances["cov3"]) == \
        pytest.approx((var, cov1, cov2, cov3))
    # by hand: treatment means .625 and 1, reader means .875 and .75, grand mean .8125:
    # MS(T) = 2 (.1875^2 + .1875^2) = .140625; interaction residuals +-.0625, MS(TR) = 4 * .0625^2 = .015625
    assert res.mean_squares["T"] == pytest.approx(0.140625) and res.mean_squares["TR"] == pytest.approx(0.015625)
    den = 0.015625 + 2 * max(cov2 - cov3, 0.0)
    assert res.f == pytest.approx(0.140625 / den)
    assert res.ddf == pytest.approx(den ** 2 / 0.015625 ** 2)
    assert res.differences.iloc[0]["difference"] == pytest.approx(0.375)


def _null_study(rng, readers=4, pos=25, neg=25):
    """Roe-Metz-like ratings with no treatment effect: case, reader x case and independent noise."""
    truth = np.r_[np.ones(pos, bool), np.zeros(neg, bool)]
    case = rng.normal(size=pos + neg) + 1.0 * truth
    reader_case = rng.normal(scale=0.5, size=(1, readers, pos + neg))
    reader = rng.normal(scale=0.3, size=(1, readers, 1))
    ratings = case + reader_case + reader + rng.normal(scale=0.7, size=(2, readers, pos + neg))
    return ratings, truth


def test_type_one_error_near_alpha_under_the_null():
    rng = np.random.default_rng(2024)
    pvalues = np.array([obuchowski_rockette(*_null_study(rng)).pvalue for _ in range(300)])
    rate = float(np.mean(pvalues < 0.05))
    assert 0.015 <= rate <= 0.09, rate      # OR-Hillis holds its size (slightly conservative)
    assert 0.35 <= float(np.mean(pvalues < 0.5)) <= 0.65


def test_power_with_a_real_difference():
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(60):
        ratings, truth = _null_study(rng)
        ratings[1] += 0.9 * truth  # treatment 1 separates the classes better
        hits += obuchowski_rockette(ratings, truth).pvalue < 0.05
    assert hits / 60 > 0.6


def test_errors():
    with pytest.raises(EvaluationError, match="2 treatments"):
        obuchowski_rockette(np.zeros((1, 3, 10)), np.r_[np.ones(5), np.zeros(5)])
    with pytest.raises(EvaluationError, match="two positive"):
        obuchowski_rockette(np.zeros((2, 3, 10)), np.r_[np.ones(1), np.zeros(9)])
    with pytest.raises(EvaluationError, match="fully crossed"):
        x = np.zeros((2, 3, 10)); x[0, 0, 0] = np.nan
        obuchowski_rockette(x, np.r_[np.ones(5), np.zeros(5)])
    with pytest.raises(EvaluationError, match="0/1"):
        obuchowski_rockette(np.full((2, 3, 10), 0.5), fom="accuracy")
