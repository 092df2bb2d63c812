import numpy as np
import pytest

from explainendo.errors import ConfigError
from explainendo.fit import FitterSelector, list_fitters, make_fitter


def _data(kind: str, n: int = 240, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    if kind == "xor":  # no linear model can separate this; a tree can
        y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)
    else:  # a smooth oblique boundary over all six features: axis-aligned splits struggle, LR does not
        y = (X @ np.array([1.0, -1.0, 0.8, -0.8, 0.6, -0.6]) + 0.2 * rng.normal(size=n) > 0).astype(int)
    groups = np.repeat(np.arange(n // 3), 3)  # three lesions per patient
    return X, y, groups


def test_all_fitters_give_probabilities():
    X, y, _ = _data("linear", n=90)
    for name in list_fitters():
        p = make_fitter(name, seed=0).fit(X, y).predict_proba(X)
        assert p.shape == (90, 2) and np.allclose(p.sum(1), 1)


@pytest.mark.parametrize("kind,winner,loser", [("xor", "decision_tree", "logistic_regression"),
                                                ("linear", "logistic_regression", "decision_tree")])
def test_selector_picks_the_known_winner(kind, winner, loser):
    X, y, groups = _data(kind)
    sel = FitterSelector(candidates=["logistic_regression", "decision_tree"], metric="roc_auc", cv=4).fit(X, y, groups)
    assert sel.best_name_ == winner
    table = sel.cv_results_.set_index("candidate")
    assert table.loc[winner, "mean"] > table.loc[loser, "mean"] + 0.1
    assert table.loc[winner, "selected"] and not table.loc[loser, "selected"]
    assert {"fold_0", "fold_3", "std", "metric"} <= set(sel.cv_results_.columns)
    assert sel.predict_proba(X).shape == (len(y), 2)


def test_sparse_logistic_regression_drops_noise_columns_and_wins_on_a_sparse_truth():
    """Two informative columns among 30 correlated noise columns and few patients: the lasso LR keeps the two
    (and zeroes most of the rest), and grouped CV prefers it to the L2 LR that spreads weight over the noise."""
    rng = np.random.default_rng(0)
    n = 120
    shared = rng.normal(size=(n, 1))
    noise = shared + rng.normal(size=(n, 30))  # correlated with each other, unrelated to the label
    signal = rng.normal(size=(n, 2))
    y = (signal @ np.array([1.5, -1.5]) + 0.5 * rng.normal(size=n) > 0).astype(int)
    X = np.hstack([signal, noise])
    groups = np.repeat(np.arange(n // 3), 3)
    sparse = make_fitter("sparse_logistic_regression", seed=0).fit(X, y)
    coef = sparse.named_steps["model"].coef_.ravel()
    assert np.all(np.abs(coef[:2]) > 0.3) and np.sum(coef[2:] != 0) <= 10
    dense = make_fitter("logistic_regression", seed=0).fit(X, y).named_steps["model"].coef_.ravel()
    assert np.sum(dense[2:] != 0) == 30
    sel = FitterSelector(candidates=["sparse_logistic_regression", "logistic_regression"], cv=4).fit(X, y, groups)
    table = sel.cv_results_.set_index("candidate")
    assert sel.best_name_ == "sparse_logistic_regression"
    assert table.loc["sparse_logistic_regression", "mean"] > table.loc["logistic_regression", "mean"]


def test_one_se_rule_keeps_the_earlier_candidate_within_the_noise_and_best_rule_does_not():
    """On an oblique truth LR and lasso LR score within noise of each other: 'one_se' keeps the first listed
    when its mean is within one standard error of the best, 'best' takes the argmax; a clearly worse first
    candidate (a tree on an oblique truth) is never kept."""
    X, y, groups = _data("linear")
    kw = dict(metric="roc_auc", cv=4, seed=0)
    best = FitterSelector(candidates=["sparse_logistic_regression", "logistic_regression"], rule="best",
                          **kw).fit(X, y, groups)
    table = best.cv_results_.set_index("candidate")
    top = table["mean"].idxmax()
    assert best.best_name_ == top
    one_se = FitterSelector(candidates=["sparse_logistic_regression", "logistic_regression"], **kw).fit(X, y, groups)
    first, second = table.loc["sparse_logistic_regression"], table.loc[top]
    within = first["mean"] >= second["mean"] - second["se"]
    assert one_se.best_name_ == ("sparse_logistic_regression" if within else top)
    assert np.isclose(second["se"], second["std"] / 2)  # 4 folds
    assert (one_se.cv_results_["rule"] == "one_se").all()
    tree_first = FitterSelector(candidates=["decision_tree", "logistic_regression"], **kw).fit(X, y, groups)
    assert tree_first.best_name_ == "logistic_regression"
    with pytest.raises(ConfigError, match="rule"):
        FitterSelector(rule="fastest").fit(X, y, groups)


def test_selector_is_seeded_and_unknown_candidate_is_refused():
    X, y, groups = _data("xor", n=120)
    a = FitterSelector(candidates=["decision_tree", "xgboost"], cv=3, seed=1).fit(X, y, groups).cv_results_
    b = FitterSelector(candidates=["decision_tree", "xgboost"], cv=3, seed=1).fit(X, y, groups).cv_results_
    assert a.equals(b)
    with pytest.raises(ConfigError, match="random_forest"):
        FitterSelector(candidates=["random_forest"]).fit(X, y, groups)


def _copies_that_reveal_the_label(n=120, seed=0):
    """Real rows: two features of pure noise; then one copy of each row whose second feature is its label (as
    intervention training's corrected copies can be). ``score_rows`` marks the real rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    real = rng.normal(size=(n, 2))
    copies = np.column_stack([real[:, 0], y.astype(float)])
    patients = np.arange(n) // 2
    return (np.vstack([real, copies]), np.concatenate([y, y]), np.concatenate([patients, patients]),
            np.arange(2 * n) < n)


def test_score_rows_limit_the_held_out_folds_to_the_real_rows():
    X, y, groups, real = _copies_that_reveal_the_label()
    selector = FitterSelector(candidates=["logistic_regression"], cv=5, seed=0)
    everyone = selector.fit(X, y, groups).cv_results_["mean"].iloc[0]
    only_real = FitterSelector(candidates=["logistic_regression"], cv=5, seed=0).fit(
        X, y, groups, score_rows=real).cv_results_["mean"].iloc[0]
    assert everyone > only_real + 0.15 and abs(only_real - 0.5) < 0.15, (everyone, only_real)  # 0.69 vs 0.46
    with pytest.raises(ValueError):
        FitterSelector(candidates=["logistic_regression"]).fit(X, y, groups, score_rows=real[:10])
