"""Intervention training (``HybridPredictor(interventions=RandomInterventions(...))``): the fitter also learns from
copies of its rows in which attributes hold their true values, so a clinician's correction moves the diagnosis as
the true attribute would. Built on a table-only case (no network): a "head" source that reads its probabilities
from the table, and a handcrafted-like column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from explainendo.components import register_component
from explainendo.errors import ConfigError
from explainendo.features import FeatureSource, LesionSamples
from explainendo.fit import FitterSelector, GroupEliminator, make_fitter
from explainendo.predict import HybridPredictor, InSample, RandomInterventions
from explainendo.sources import ColumnFeatures

ATTRIBUTES = {"boundary": ["clear", "unclear"], "tone": ["reddened", "pale", "unchanged"]}


@register_component("test_table_head_readings")
class TableHeadReadings(FeatureSource):
    """Attribute "heads" whose probabilities ``<attribute>.p_<class>`` are read from table columns
    ``read:<attribute>.p_<class>`` (what a trained head would say); ``fit`` raises when ``forbid_fit``."""

    reads_attributes = True
    name = "heads"

    def __init__(self, attributes: dict | None = None, forbid_fit: bool = False):
        self.attributes = attributes
        self.forbid_fit = forbid_fit

    def fit(self, samples, *, unlabeled=None):
        if self.forbid_fit:
            raise AssertionError("a source was trained although the settings are invalid")
        return self

    @property
    def groups(self):
        return {a: [f"{a}.p_{c}" for c in classes] for a, classes in (self.attributes or ATTRIBUTES).items()}

    def transform(self, samples):
        columns = [c for cols in self.groups.values() for c in cols]
        return samples.table[[f"read:{c}" for c in columns]].set_axis(columns, axis=1).reset_index(drop=True)


def make_samples(n: int = 160, seed: int = 0, head_noise: float = 0.5) -> LesionSamples:
    """Two lesions per patient. The label is "neoplastic" exactly when the boundary is unclear; the boundary head
    reads the truth only ``1 - head_noise`` of the time (otherwise a coin), while a handcrafted-like ``texture``
    column carries most of the label, so a fitter trained on the readings alone leans on the texture. The tone is
    unrelated to the label."""
    rng = np.random.default_rng(seed)
    boundary = rng.choice(ATTRIBUTES["boundary"], n)
    tone = rng.choice(ATTRIBUTES["tone"], n)
    label = np.where(boundary == "unclear", "neoplastic", "non_neoplastic")
    informative = rng.random(n) > head_noise
    read_unclear = np.where(informative, (boundary == "unclear").astype(float), rng.random(n) > 0.5)
    read_unclear = np.clip(0.25 + 0.5 * read_unclear + rng.normal(0, 0.05, n), 0.01, 0.99)
    tone_p = rng.dirichlet([1, 1, 1], n)
    table = pd.DataFrame({
        "patient": [f"p{i // 2}" for i in range(n)], "label": label,
        "attr.boundary": boundary, "attr.tone": tone,
        "read:boundary.p_clear": 1 - read_unclear, "read:boundary.p_unclear": read_unclear,
        **{f"read:tone.p_{c}": tone_p[:, k] for k, c in enumerate(ATTRIBUTES["tone"])},
        "texture": (label == "neoplastic") * 1.0 + rng.normal(0, 0.6, n)})
    crops = [np.zeros((4, 4, 3), dtype=np.uint8)] * n
    return LesionSamples(crops=crops, boxes=[None] * n, table=table)


def hybrid(**params) -> HybridPredictor:
    settings = {"sources": [TableHeadReadings(), ColumnFeatures(["texture"], name="handcrafted")],
                "fitter": "logistic_regression", "stacking": InSample(), "positive_label": "neoplastic", "seed": 0,
                **params}
    return HybridPredictor(**settings)


@pytest.fixture(scope="module")
def samples():
    return make_samples()


@pytest.fixture(scope="module")
def test_samples():
    return make_samples(80, seed=1)


def test_default_none_fits_on_the_real_rows_only(samples, test_samples):
    plain = hybrid().fit(samples)
    assert plain.interventions is None and plain.interventions_ is None
    # the fitter is exactly a logistic regression on the real rows, as before interventions existed
    X = plain.training_features_
    by_hand = make_fitter("logistic_regression", seed=0).fit(plain._fitter_input(X), (samples.table["label"] ==
                                                                                       "neoplastic").astype(int))
    expected = by_hand.predict_proba(plain._fitter_input(plain.features(test_samples)))
    np.testing.assert_array_equal(plain.predict_proba(test_samples), expected)
    np.testing.assert_array_equal(hybrid(interventions=None).fit(samples).predict_proba(test_samples), expected)


def test_a_correction_moves_toward_the_true_class():
    # a boundary head that reads the truth only 10% of the time: a fitter trained on its readings learns to ignore
    # the boundary and leans on the texture, so correcting the boundary cannot move it
    train = make_samples(head_noise=0.9)
    wrong = make_samples(400, seed=2, head_noise=0.9)
    table = wrong.table  # lesions whose head reads "clear" but whose boundary is unclear (so neoplastic)
    rows = np.flatnonzero((table["attr.boundary"] == "unclear").to_numpy()
                          & (table["read:boundary.p_unclear"] < 0.5).to_numpy())
    assert len(rows) >= 30
    moves, right = {}, {}
    for name, interventions in (("none", None), ("random", RandomInterventions(p=0.5, copies=2))):
        model = hybrid(interventions=interventions).fit(train)
        features = model.features(wrong.subset(rows))
        before = model.predict_proba_features(features)[:, 1]
        after, corrected = model.intervene(features, {"boundary": "unclear"})
        assert (corrected["boundary.p_unclear"] == 1.0).all() and (corrected["boundary.p_clear"] == 0.0).all()
        moves[name], right[name] = float(np.mean(after[:, 1] - before)), float(np.mean(after[:, 1] > 0.5))
    assert abs(moves["none"]) < 0.05, moves  # the fitter that never saw a correction barely moves
    assert moves["random"] > 0.15, moves  # toward neoplastic, the lesions' true class
    assert right["random"] > 0.9 and right["random"] > right["none"] + 0.1, right


def test_copies_stay_in_their_patient_group(samples, monkeypatch):
    seen = {}
    selector_fit, eliminator_fit = FitterSelector.fit, GroupEliminator.fit

    def spy_selector(self, X, y, groups=None, score_rows=None):
        seen["selector"] = (np.asarray(X).copy(), np.asarray(y).copy(), np.asarray(groups).copy())
        seen["selector_scores"] = score_rows
        return selector_fit(self, X, y, groups, score_rows=score_rows)

    def spy_eliminator(self, X, y, patients, score_rows=None):
        seen["eliminator"] = (X.copy(), np.asarray(y).copy(), np.asarray(patients).copy())
        seen["eliminator_scores"] = score_rows
        return eliminator_fit(self, X, y, patients, score_rows=score_rows)

    monkeypatch.setattr(FitterSelector, "fit", spy_selector)
    monkeypatch.setattr(GroupEliminator, "fit", spy_eliminator)
    model = hybrid(fitter=FitterSelector(candidates=["logistic_regression"], cv=3),
                   group_selection=GroupEliminator(cv=3), interventions=RandomInterventions(p=0.5, copies=2)
                   ).fit(samples)
    n = len(samples)
    patients = samples.table["patient"].to_numpy()
    y_real = (samples.table["label"] == "neoplastic").to_numpy().astype(int)
    for X, y, groups in (seen["selector"], seen["eliminator"]):
        assert len(X) == 3 * n
    for key in ("selector_scores", "eliminator_scores"):  # the copies train, the real lesions (first n rows) judge
        np.testing.assert_array_equal(seen[key], np.arange(3 * n) < n)
        np.testing.assert_array_equal(groups, np.tile(patients, 3))  # each copy in its lesion's patient
        np.testing.assert_array_equal(y, np.tile(y_real, 3))
    X = seen["selector"][0]
    real = model.training_features_[model.feature_columns_].to_numpy(dtype=float)  # every group, no NaN
    np.testing.assert_array_equal(X[:n], real)  # the real rows first, unchanged
    column = model.feature_columns_.index("boundary.p_unclear")
    copies = X[n:, column].reshape(2, n)
    truth = (samples.table["attr.boundary"] == "unclear").to_numpy().astype(float)
    set_rows = copies != np.tile(real[:, column], (2, 1))
    assert 0.3 < set_rows.mean() < 0.7  # about p of them
    np.testing.assert_array_equal(copies[set_rows], np.tile(truth, (2, 1))[set_rows])
    # the explanation's reference and the missing-value means come from the real rows only
    assert model.feature_means_ == model.training_features_.mean().to_dict()
    used = model._fitter_input(model.training_features_)
    assert all((row == used).all(axis=1).any() for row in model.background_)
    facts = model.interventions_
    assert facts["rows"] == n and facts["rows_added"] == 2 * n and facts["attributes"] == ["boundary", "tone"]


def test_reproducible_with_a_seed(samples, test_samples):
    def fitted(seed):
        return hybrid(interventions=RandomInterventions(p=0.25, copies=2, seed=seed)).fit(samples)

    a, b, c = fitted(3), fitted(3), fitted(4)
    np.testing.assert_array_equal(a.predict_proba(test_samples), b.predict_proba(test_samples))
    assert a.interventions_ == b.interventions_
    assert not np.array_equal(a.predict_proba(test_samples), c.predict_proba(test_samples))
    # seed=None: the predictor's seed
    d = hybrid(interventions=RandomInterventions(p=0.25, copies=2), seed=0).fit(samples)
    e = hybrid(interventions=RandomInterventions(p=0.25, copies=2, seed=0), seed=0).fit(samples)
    np.testing.assert_array_equal(d.predict_proba(test_samples), e.predict_proba(test_samples))


@pytest.mark.parametrize("interventions", [RandomInterventions(p=0), RandomInterventions(p=1.5),
                                           RandomInterventions(p="0.25"), RandomInterventions(p=True),
                                           RandomInterventions(copies=0), RandomInterventions(copies=1.5),
                                           RandomInterventions(seed="a"), "random"])
def test_bad_settings_raise_before_training(samples, interventions):
    model = hybrid(sources=[TableHeadReadings(forbid_fit=True)], interventions=interventions)
    with pytest.raises(ConfigError):
        model.fit(samples)
    with pytest.raises(ConfigError):
        model.check_params()


def test_no_truth_or_no_heads_raise_before_training(samples):
    without_truth = LesionSamples(crops=samples.crops, boxes=samples.boxes,
                                  table=samples.table.drop(columns=["attr.boundary", "attr.tone"]))
    model = hybrid(sources=[TableHeadReadings(forbid_fit=True)], interventions=RandomInterventions())
    with pytest.raises(ConfigError, match="no true attribute values"):
        model.fit(without_truth)
    with pytest.raises(ConfigError, match="no true attribute values"):
        model.check_data(without_truth.table)
    empty = without_truth.table.assign(**{"attr.boundary": np.nan})
    with pytest.raises(ConfigError, match="no true attribute values"):
        model.fit(LesionSamples(crops=samples.crops, boxes=samples.boxes, table=empty))
    with pytest.raises(ConfigError, match="no feature source reads named attributes"):
        hybrid(sources=[ColumnFeatures(["texture"])], interventions=RandomInterventions()).fit(samples)


def test_lesions_without_truth_keep_the_heads_reading(samples):
    table = samples.table.copy()
    table.loc[: len(table) // 2 - 1, "attr.boundary"] = np.nan  # first half: no boundary truth
    table.loc[0, "attr.tone"] = "Reddened "  # spelled otherwise: folded as intervene folds it
    table.loc[1, "attr.tone"] = "purple"  # not a class: left as read
    part = LesionSamples(crops=samples.crops, boxes=samples.boxes, table=table)
    model = hybrid(interventions=RandomInterventions(p=1.0, copies=1)).fit(part)
    facts = model.interventions_
    n = len(table)
    assert facts["lesions_without_truth"] == {"boundary": n // 2, "tone": 1}
    assert facts["values_set"] == {"boundary": n - n // 2, "tone": n - 1}
    assert facts["unknown_values"] == {"tone": 1}


def test_params_clone_and_save_load(samples, test_samples, tmp_path):
    strategy = RandomInterventions(p=0.5, copies=3, seed=7)
    model = hybrid(interventions=strategy)
    assert clone(model).get_params()["interventions"] == strategy
    assert clone(strategy).get_params() == {"p": 0.5, "copies": 3, "seed": 7}
    model.fit(samples)
    model.save(tmp_path / "with")
    loaded = HybridPredictor.load(tmp_path / "with")
    assert loaded.get_params()["interventions"] == strategy
    assert loaded.interventions_ == model.interventions_
    np.testing.assert_array_equal(loaded.predict_proba(test_samples), model.predict_proba(test_samples))
    a, _ = model.intervene(model.features(test_samples), {"boundary": "unclear"})
    b, _ = loaded.intervene(loaded.features(test_samples), {"boundary": "unclear"})
    np.testing.assert_array_equal(a, b)
    # without interventions the saved state holds no interventions entry (what it saved before)
    import yaml

    hybrid().fit(samples).save(tmp_path / "without")
    meta = yaml.safe_load((tmp_path / "without" / "component.yaml").read_text())
    assert "interventions" not in meta["state"] and meta["params"]["interventions"] is None
    del meta["params"]["interventions"]  # a folder written before the parameter existed
    (tmp_path / "without" / "component.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    old = HybridPredictor.load(tmp_path / "without")
    assert old.interventions is None and old.interventions_ is None


def test_refit_fitter_applies_the_interventions(samples, test_samples):
    import copy

    plain = hybrid().fit(samples)
    refitted = copy.deepcopy(plain).set_params(interventions=RandomInterventions(p=0.5, copies=2)).refit_fitter(
        samples)
    direct = hybrid(interventions=RandomInterventions(p=0.5, copies=2)).fit(samples)
    np.testing.assert_allclose(refitted.predict_proba(test_samples), direct.predict_proba(test_samples))
    assert refitted.interventions_ == direct.interventions_
