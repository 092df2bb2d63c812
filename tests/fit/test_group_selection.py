import numpy as np
import pandas as pd
import pytest

from explainendo.errors import ConfigError, SplitError
from explainendo.fit import make_fitter
from explainendo.fit.group_selection import GroupEliminator


def _table(n: int = 600, seed: int = 0):
    """Two groups carry the label (``tone``: two columns, ``surface``: one); ``hog`` and ``lbp`` are noise;
    ``moments`` is a noisy second reading of ``tone``. Three lesions per patient."""
    rng = np.random.default_rng(seed)
    tone = rng.normal(size=(n, 2))
    surface = rng.normal(size=(n, 1))
    y = (tone @ [1.2, 0.8] + 1.0 * surface[:, 0] + 0.6 * rng.normal(size=n) > 0).astype(int)
    parts = {"tone": tone, "surface": surface, "hog": rng.normal(size=(n, 12)), "lbp": rng.normal(size=(n, 6)),
             "moments": tone[:, :1] + 1.5 * rng.normal(size=(n, 3))}
    columns, groups = {}, {}
    for group, values in parts.items():
        names = [f"{group}.{i}" for i in range(values.shape[1])]
        groups[group] = names
        columns.update(dict(zip(names, values.T)))
    return pd.DataFrame(columns), y, np.repeat(np.arange(n // 3), 3).astype(str), groups


def test_noise_and_redundant_groups_are_dropped_and_the_signal_kept():
    X, y, patients, groups = _table()
    lr = make_fitter("logistic_regression", seed=0)
    found = GroupEliminator(lr, groups, cv=5, seed=0).fit(X, y, patients)
    assert set(found.kept_) == {"tone", "surface"}
    assert set(found.dropped_) == {"hog", "lbp", "moments"}
    assert found.kept_ == ["tone", "surface"]  # the given order
    steps = found.steps_
    assert steps.loc[0, "left_out"] == "" and steps.loc[0, "chosen"]
    assert int(steps["chosen"].sum()) == 1 + len(found.dropped_)
    # the last step tried leaving out each kept group, and every such score fell below the first one's SE band
    last = steps[steps["step"] == steps["step"].max()]
    assert set(last["left_out"]) == {"tone", "surface"} and not last["chosen"].any()
    assert (last["mean"] < steps.loc[0, "mean"] - steps.loc[0, "se"]).all()


def test_best_rule_drops_no_more_than_one_se_and_runs_are_reproducible():
    X, y, patients, groups = _table(seed=1)
    lr = make_fitter("logistic_regression", seed=0)
    one_se = GroupEliminator(lr, groups, seed=3).fit(X, y, patients)
    best = GroupEliminator(lr, groups, seed=3, rule="best").fit(X, y, patients)
    assert set(best.kept_) >= set(one_se.kept_) and {"tone", "surface"} <= set(best.kept_)
    again = GroupEliminator(lr, groups, seed=3).fit(X, y, patients)
    assert again.kept_ == one_se.kept_ and again.steps_.equals(one_se.steps_)


def test_prefer_keep_decides_between_readings_the_folds_cannot_tell_apart():
    """``hog`` here is an exact copy of the ``surface`` reading: leaving out either scores the same, so the
    elimination must drop one, and ``prefer_keep`` says which. A preferred group that the folds say is
    needed is still dropped when another reading is better by more than the band."""
    X, y, patients, groups = _table()
    X["hog.0"] = X["surface.0"]
    groups = {**groups, "hog": ["hog.0"]}
    lr = make_fitter("logistic_regression", seed=0)
    plain = GroupEliminator(lr, groups, seed=0).fit(X, y, patients)
    assert plain.kept_ == ["tone", "hog"]  # tie: the earlier of the two equal removals goes
    kept = GroupEliminator(lr, groups, seed=0, prefer_keep=["tone", "surface"]).fit(X, y, patients)
    assert kept.kept_ == ["tone", "surface"] and "hog" in kept.dropped_
    steps = kept.steps_
    assert set(steps.loc[steps["preferred"], "left_out"]) == {"tone", "surface"}
    # a much weaker preferred reading: the preference gives way (never costs more than the band)
    rng = np.random.default_rng(5)
    X["surface.0"] = X["hog.0"] + 2.0 * rng.normal(size=len(X))
    weak = GroupEliminator(lr, groups, seed=0, prefer_keep=["tone", "surface"]).fit(X, y, patients)
    assert weak.kept_ == ["tone", "hog"]
    with pytest.raises(ConfigError, match="prefer_keep"):
        GroupEliminator(lr, groups, prefer_keep=["texture"]).fit(X, y, patients)


def test_min_groups_and_bad_settings():
    X, y, patients, groups = _table(n=150)
    lr = make_fitter("logistic_regression", seed=0)
    assert len(GroupEliminator(lr, groups, min_groups=4).fit(X, y, patients).kept_) >= 4
    with pytest.raises(ConfigError, match="rule"):
        GroupEliminator(lr, groups, rule="smallest").fit(X, y, patients)
    with pytest.raises(ConfigError, match="not in the feature table"):
        GroupEliminator(lr, {**groups, "extra": ["extra.0"]}).fit(X, y, patients)
    with pytest.raises(SplitError, match="1 patient group"):  # one patient: no folds
        GroupEliminator(lr, groups).fit(X, y, np.zeros(len(y)))


def test_score_rows_judge_the_groups_on_the_real_rows_only():
    """A group that only the added copies make useful (their label column) is kept when every row scores, and
    dropped when the real rows alone are scored (on them it is noise)."""
    rng = np.random.default_rng(0)
    n = 160
    y = rng.integers(0, 2, n)
    signal = y + rng.normal(scale=0.8, size=n)
    real = pd.DataFrame({"signal": signal, "copy_only": rng.normal(size=n)})
    copies = pd.DataFrame({"signal": signal, "copy_only": y.astype(float)})
    X = pd.concat([real, copies], ignore_index=True)
    yy, patients = np.concatenate([y, y]), np.tile(np.arange(n) // 2, 2)
    groups = {"signal": ["signal"], "copy_only": ["copy_only"]}
    lr = make_fitter("logistic_regression")
    everyone = GroupEliminator(lr, groups, seed=0).fit(X, yy, patients)
    judged = GroupEliminator(lr, groups, seed=0).fit(X, yy, patients, score_rows=np.arange(2 * n) < n)
    assert "copy_only" in everyone.kept_ and judged.kept_ == ["signal"], (everyone.kept_, judged.kept_)
