"""``HybridPredictor(folds_by="centre")``: selection, elimination and stacking folds hold out whole centres."""

import numpy as np
import pandas as pd
import pytest

from explainendo.errors import ConfigError, ManifestError
from explainendo.features import FeatureSource, LesionSamples
from explainendo.fit import FitterSelector, GroupEliminator
from explainendo.predict import HeldOut, HybridPredictor, OutOfFold
from explainendo.sources import ColumnFeatures
from explainendo.types import Box


class CentreMemory(FeatureSource):
    """A real supervised source that says, per lesion, whether its training lesions held the lesion's centre."""

    supervised = True

    def __init__(self, name: str = "memory"):
        self.name = name

    def fit(self, samples, *, unlabeled=None):
        self.centres_ = set(samples.table["centre"])
        return self

    @property
    def groups(self):
        return {"memory": ["memory.seen"]}

    def transform(self, samples):
        return pd.DataFrame({"memory.seen": samples.table["centre"].isin(self.centres_).astype(float).to_numpy()})


def _samples(n_centres=4, patients_per_centre=6, lesions_per_patient=2, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_centres):
        for p in range(patients_per_centre):
            label = ["neoplastic", "non_neoplastic"][p % 2]
            for k in range(lesions_per_patient):
                rows.append({"image": f"c{c}_p{p}_{k}.png", "patient": f"c{c}p{p}", "centre": f"C{c}",
                             "label": label, "x": rng.normal(1.0 if label == "neoplastic" else 0.0, 1.0)})
    table = pd.DataFrame(rows)
    crops = [np.zeros((4, 4, 3), np.uint8)] * len(table)
    return LesionSamples(crops=crops, boxes=[Box(0, 0, 4, 4)] * len(table), table=table)


def _hybrid(**kw):
    return HybridPredictor([ColumnFeatures(["x"]), CentreMemory()], fitter="logistic_regression",
                           positive_label="neoplastic", **kw)


def test_centre_folds_never_score_a_lesion_with_a_model_that_saw_its_centre():
    samples = _samples()
    by_centre = _hybrid(stacking=OutOfFold(3), folds_by="centre").fit(samples)
    assert (by_centre.training_features_["memory.seen"] == 0).all()  # every out-of-fold copy missed the centre
    assert by_centre.stacking_["folds_by"] == "centre"
    by_patient = _hybrid(stacking=OutOfFold(3)).fit(samples)
    assert (by_patient.training_features_["memory.seen"] == 1).all()  # patient folds: the centre is always seen
    # the source kept for prediction trained on every centre
    assert (by_centre.features(samples)["memory.seen"] == 1).all()


def test_held_out_by_centre_sets_whole_centres_aside():
    samples = _samples(n_centres=6)
    model = _hybrid(stacking=HeldOut(0.5), folds_by="centre").fit(samples)
    rows = np.asarray(model.training_rows_)
    fitter_centres = set(samples.table["centre"].iloc[rows])
    source_centres = set(samples.table["centre"]) - fitter_centres
    assert fitter_centres and source_centres
    assert (model.training_features_["memory.seen"] == 0).all()


def test_fitter_selection_and_group_elimination_leave_one_centre_out():
    samples = _samples(n_centres=4)
    selector = FitterSelector(candidates=("logistic_regression", "decision_tree"), cv=10)
    model = HybridPredictor([ColumnFeatures(["x"]), ColumnFeatures(["centre"], name="site")], fitter=selector,
                            group_selection=GroupEliminator(cv=10), stacking=OutOfFold(2),
                            positive_label="neoplastic", folds_by="centre").fit(samples)
    folds = [c for c in model.selection_.columns if c.startswith("fold_")]
    assert len(folds) == 4  # one fold per centre: leave-one-centre-out
    # the one-hot centre columns say nothing about a centre left out: elimination by centre drops them
    assert model.dropped_groups_ == ["centre"]


def test_folds_by_errors_name_the_problem_before_training():
    samples = _samples()
    with pytest.raises(ConfigError, match="folds_by"):
        _hybrid(folds_by=3).check_params()
    with pytest.raises(ManifestError, match="no 'site' column"):
        _hybrid(folds_by="site").fit(samples)
    mixed = _samples()
    mixed.table.loc[0, "centre"] = "C3"  # patient c0p0 now has lesions in C0 and C3
    with pytest.raises(ManifestError, match="patient 'c0p0' has lesions in several centre"):
        _hybrid(folds_by="centre").fit(mixed)
    one = _samples(n_centres=1)
    with pytest.raises(ManifestError, match="every training lesion is in one centre"):
        _hybrid(folds_by="centre").fit(one)
