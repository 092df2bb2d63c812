"""Fleiss' kappa (worked example), Mann-Whitney / Wilcoxon against scipy, CV mean ± SD."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from explainendo.errors import EvaluationError
from explainendo.evaluate import auc_score, cv_summary, fleiss_kappa, mann_whitney_u, wilcoxon_signed_rank

# Fleiss' kappa worked example (Wikipedia "Fleiss' kappa"; also statsmodels' test): 10 subjects, 14 raters,
# 5 categories; kappa = 0.210.
COUNTS = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
])


def _kappa_by_hand(counts):
    n = counts.sum(axis=1)[0]
    p_j = counts.sum(axis=0) / counts.sum()
    p_i = (counts * (counts - 1)).sum(axis=1) / (n * (n - 1))
    return (p_i.mean() - (p_j ** 2).sum()) / (1 - (p_j ** 2).sum())


def test_fleiss_kappa_worked_example():
    assert fleiss_kappa(COUNTS, input="counts") == pytest.approx(0.210, abs=5e-4)
    assert fleiss_kappa(COUNTS, input="counts") == pytest.approx(_kappa_by_hand(COUNTS), abs=1e-12)


def test_fleiss_kappa_from_rater_labels():
    # expand the counts back to a subjects x raters table of labels, shuffled within each subject
    rng = np.random.default_rng(0)
    labels = np.array(["a", "b", "c", "d", "e"])
    table = np.array([rng.permutation(np.repeat(labels, row)) for row in COUNTS])
    frame = pd.DataFrame(table, columns=[f"reader{i}" for i in range(14)])
    assert fleiss_kappa(frame) == pytest.approx(_kappa_by_hand(COUNTS), abs=1e-12)


def test_fleiss_kappa_perfect_and_bad_input():
    ratings = np.array([[1, 1, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0]])
    assert fleiss_kappa(ratings) == pytest.approx(1.0)
    with pytest.raises(EvaluationError, match="same category"):
        fleiss_kappa(np.ones((5, 3)))
    with pytest.raises(EvaluationError, match="missing"):
        fleiss_kappa(pd.DataFrame({"r1": [1, 0, None], "r2": [1, 0, 1]}))
    with pytest.raises(EvaluationError, match="raters"):
        fleiss_kappa(np.array([[1], [0], [1]]))
    with pytest.raises(EvaluationError, match="same number"):
        fleiss_kappa(np.array([[2, 1], [1, 1]]), input="counts")


def test_mann_whitney_matches_scipy_and_auc():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.5, 1, 25), rng.normal(0, 1, 30)
    res = mann_whitney_u(a, b)
    ref = stats.mannwhitneyu(a, b)
    assert (res.statistic, res.pvalue) == pytest.approx((ref.statistic, ref.pvalue))
    # U / (n_a n_b) is the AUC of "a" against "b"
    auc = auc_score(np.r_[np.ones(25), np.zeros(30)], np.r_[a, b])
    assert res.details["rank_biserial"] == pytest.approx(2 * auc - 1)


def test_wilcoxon_matches_scipy():
    with_ai = np.array([4, 5, 3, 4, 5, 4, 5, 3, 4, 5, 4, 4])
    without = np.array([3, 4, 3, 2, 4, 4, 3, 2, 3, 4, 4, 3])
    res = wilcoxon_signed_rank(with_ai, without)
    ref = stats.wilcoxon(with_ai - without, zero_method="wilcox")
    assert (res.statistic, res.pvalue) == pytest.approx((ref.statistic, ref.pvalue))
    assert res.details["n_nonzero"] == 9
    assert res.details["w_minus"] == 0 and res.details["rank_biserial"] == 1.0
    assert wilcoxon_signed_rank(with_ai, with_ai).pvalue == 1.0
    with pytest.raises(EvaluationError, match="length"):
        wilcoxon_signed_rank(with_ai, without[:-1])


def test_cv_summary_mean_sd():
    folds = {"accuracy": [0.80, 0.85, 0.78, 0.90, 0.82], "auc": [0.88, 0.91, 0.85, 0.93, 0.90]}
    out = cv_summary(folds).set_index("metric")
    acc = np.array(folds["accuracy"])
    assert out.loc["accuracy", "mean"] == pytest.approx(acc.mean())
    assert out.loc["accuracy", "sd"] == pytest.approx(acc.std(ddof=1))
    assert out.loc["accuracy", "summary"] == f"{acc.mean():.3f} ± {acc.std(ddof=1):.3f}"
    assert out.loc["auc", "n_folds"] == 5
    pct = cv_summary(folds, percent=True).set_index("metric")
    assert pct.loc["accuracy", "summary"] == f"{100 * acc.mean():.1f} ± {100 * acc.std(ddof=1):.1f}"


def test_cv_summary_by_model_and_errors():
    rows = [{"model": m, "fold": k, "accuracy": 0.7 + 0.1 * (m == "hybrid") + 0.01 * k}
            for m in ("hybrid", "sole_dl") for k in range(5)]
    out = cv_summary(rows, by="model").set_index("model")
    assert out.loc["hybrid", "mean"] == pytest.approx(0.82)
    assert out.loc["sole_dl", "mean"] == pytest.approx(0.72)
    assert set(out["metric"]) == {"accuracy"}  # the fold column is not a metric
    with pytest.raises(EvaluationError, match="missing"):
        cv_summary({"accuracy": [0.8, np.nan, 0.7]})
    with pytest.raises(EvaluationError, match="two"):
        cv_summary({"accuracy": [0.8]})
    with pytest.raises(EvaluationError, match="not a column"):
        cv_summary(rows, by="centre")
