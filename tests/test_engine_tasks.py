"""Diagnoser(tasks=...): further predictions on the same lesions (the ERCP system's four-class difficulty beside
the binary one), each learning its own column, reported per lesion, explained, saved and loaded."""

import numpy as np
import pytest

import explainendo
from explainendo.engine import Diagnoser
from explainendo.errors import ConfigError, ManifestError
from explainendo.features import LesionSamples
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.io import Manifest
from explainendo.predict import HybridPredictor
from explainendo.sources import ColumnFeatures

from hybrid_data import make_tiny_phantoms

ORACLE = ["attr.tone", "attr.surface", "size_mm"]


def diagnosis():
    return HybridPredictor([ColumnFeatures(ORACLE)], fitter="logistic_regression", seed=0)


def tone_task():
    # the lesion's colour tone from its pixels (colour moments, LBP, HOG ...), not from the table
    return HybridPredictor([HandcraftedFeatures()], fitter="logistic_regression", label_column="attr.tone", seed=0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tasks")
    train = make_tiny_phantoms(folder / "train", n=80, seed=2)
    df = train.df.copy()
    df.loc[df.index[:8], "attr.tone"] = np.nan  # the task trains on the 72 lesions that have a tone
    return Manifest(df, train.root, name="tiny"), make_tiny_phantoms(folder / "test", n=30, seed=3)


@pytest.fixture(scope="module")
def model(data):
    return Diagnoser(predictor=diagnosis(), tasks={"tone": tone_task()}).fit(data[0])


def _predict(model, test):
    images = [str(test.path(i)) for i in test.images()]
    boxes = [test.boxes_for(i) for i in test.images()]
    table = test.df.assign(image=images)
    return model.predict(images, boxes=boxes, table=table, keep_frames=True), table


def test_each_lesion_carries_the_task_and_it_is_the_task_predictor_alone(model, data):
    train, test = data
    results, _ = _predict(model, test)
    lesion = results[0].lesion
    assert set(lesion.tasks) == {"tone"} and set(lesion.tasks["tone"]) == {"pale", "reddened", "unchanged"}
    assert sum(lesion.tasks["tone"].values()) == pytest.approx(1.0)
    called = np.array([r.lesion.task_label("tone") for r in results])
    truth = test.df.drop_duplicates("image")["attr.tone"].to_numpy()
    assert np.mean(called == truth) >= 0.8  # tone from colour: easy on these phantoms
    # the same as training the task's predictor by hand on the lesions that have a tone
    labelled = train.subset(train.df["attr.tone"].notna())
    alone = tone_task().fit(LesionSamples.from_manifest(labelled))
    by_hand = alone.predict_proba(LesionSamples.from_manifest(test))
    got = np.array([[r.lesion.tasks["tone"][c] for c in alone.classes_] for r in results])
    assert np.allclose(got, by_hand)
    assert "tasks" in results[0].to_dict()["lesions"][0]
    # the diagnosis is still the diagnosis
    assert set(lesion.probabilities) == {"neoplastic", "non_neoplastic"}


def test_explain_a_task_with_its_own_features(model, data):
    results, table = _predict(model, data[1])
    exp = model.explain(results[0], task="tone", table=table)
    assert exp.task == "tone" and exp.explained_class == results[0].lesion.task_label("tone")
    assert exp.group_shap and all(not g.startswith("columns") for g in exp.group_shap)
    assert exp.expected_value + sum(exp.group_shap.values()) == pytest.approx(exp.output, abs=1e-6)
    assert exp.features and exp.to_dict()["task"] == "tone"
    plain = model.explain(results[0], table=table)
    assert plain.task is None and plain.explained_class == results[0].label
    with pytest.raises(ConfigError, match="no task 'size'"):
        model.explain(results[0], task="size", table=table)


def test_saved_and_loaded_identical(model, data, tmp_path):
    model.save(tmp_path / "m")
    loaded = explainendo.load(tmp_path / "m")
    a, _ = _predict(model, data[1])
    b, _ = _predict(loaded, data[1])
    assert [r.lesion.tasks for r in a] == [r.lesion.tasks for r in b]
    assert [r.lesion.probabilities for r in a] == [r.lesion.probabilities for r in b]


def test_bad_tasks_raise_before_training(data):
    train = data[0]
    with pytest.raises(ConfigError, match="plain identifier"):
        Diagnoser(predictor=diagnosis(), tasks={"four class": tone_task()}).fit(train)
    with pytest.raises(ConfigError, match="not a Predictor"):
        Diagnoser(predictor=diagnosis(), tasks={"tone": "hybrid"}).fit(train)
    with pytest.raises(ConfigError, match="mapping"):
        Diagnoser(predictor=diagnosis(), tasks=[tone_task()]).fit(train)
    lost = HybridPredictor([HandcraftedFeatures()], fitter="logistic_regression", label_column="attr.difficulty")
    with pytest.raises(ManifestError, match="attr.difficulty"):
        Diagnoser(predictor=diagnosis(), tasks={"difficulty": lost}).fit(train)
