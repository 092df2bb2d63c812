"""cross_validate_predictor: folds by patient, the per-fold figures against hand counts, the paper's table."""

import numpy as np
import pytest

from explainendo.errors import ConfigError, ManifestError
from explainendo.evaluate import cross_validate_predictor
from explainendo.predict import HybridPredictor
from explainendo.sources import ColumnFeatures

from hybrid_data import make_tiny_phantoms


@pytest.fixture(scope="module")
def lesions(tmp_path_factory):
    return make_tiny_phantoms(tmp_path_factory.mktemp("cv") / "m", n=100, seed=4)


def hybrid(columns):
    return HybridPredictor([ColumnFeatures(columns)], fitter="logistic_regression", seed=0)


def test_binary_folds_by_patient_hand_counts_and_table(lesions):
    before = lesions.df.copy()
    rep = cross_validate_predictor(hybrid(["attr.tone", "attr.surface", "size_mm"]), lesions, k=5, seed=0)
    assert lesions.df.equals(before)  # nothing given is changed
    p = rep.predictions
    assert len(p) == len(lesions) and sorted(p["image"]) == sorted(lesions.df["image"])  # each lesion once
    assert p.groupby("patient")["fold"].nunique().max() == 1  # a patient lies in one fold
    assert list(rep.folds["fold"]) == [1, 2, 3, 4, 5] and not rep.failures
    for _, f in rep.folds.iterrows():
        part = p[p["fold"] == f["fold"]]
        for c in ("neoplastic", "non_neoplastic"):
            tp = np.sum((part["predicted"] == c) & (part["truth"] == c))
            assert f[f"precision:{c}"] == pytest.approx(tp / np.sum(part["predicted"] == c))
            assert f[f"recall:{c}"] == pytest.approx(tp / np.sum(part["truth"] == c))
        assert f["accuracy"] == pytest.approx(np.mean(part["predicted"] == part["truth"]))
        assert f["macro_recall"] == pytest.approx(np.mean([f["recall:neoplastic"], f["recall:non_neoplastic"]]))
    s = rep.summary().set_index("metric")
    assert s.loc["accuracy", "mean"] == pytest.approx(rep.folds["accuracy"].mean())
    assert s.loc["accuracy", "sd"] == pytest.approx(rep.folds["accuracy"].std(ddof=1))
    # the oracle features of a rule with 5% label noise: near the Bayes rate 0.95
    assert s.loc["accuracy", "mean"] > 0.85 and s.loc["auc", "mean"] > 0.9
    t = rep.table()
    assert list(t.index) == ["neoplastic", "non_neoplastic", "macro avg", "accuracy", "AUC"]
    assert t.loc["accuracy", "precision"] == s.loc["accuracy", "summary"] and " ± " in t.loc["macro avg", "f1"]
    assert "5 of 5 folds by patient" in rep.to_markdown()


def test_four_classes_from_another_label_column(lesions):
    # the task column becomes each fold's label; a feature that is the label itself makes every figure exact
    rep = cross_validate_predictor(hybrid(["attr.tone"]), lesions, k=3, label_column="attr.tone")
    assert rep.meta["classes"] == ["pale", "reddened", "unchanged"]
    s = rep.summary().set_index("metric")
    assert s.loc["accuracy", "summary"] == "1.000 ± 0.000" and s.loc["auc", "mean"] == pytest.approx(1.0)
    assert s.loc["f1:pale", "n_folds"] == 3
    # a predictor that names its own column: the same folds, the same figures
    own = HybridPredictor([ColumnFeatures(["attr.tone"])], fitter="logistic_regression", seed=0,
                          label_column="attr.tone")
    again = cross_validate_predictor(own, lesions, k=3)
    assert again.meta["label_column"] == "attr.tone" and again.folds.equals(rep.folds.assign(
        fit_seconds=again.folds["fit_seconds"]))


def test_refuses_before_training(lesions):
    with pytest.raises(ConfigError, match="folds"):
        cross_validate_predictor(hybrid(["size_mm"]), lesions, k=1)
    with pytest.raises(ManifestError, match="no column"):
        cross_validate_predictor(hybrid(["size_mm"]), lesions, label_column="attr.difficulty")
    with pytest.raises(ManifestError, match="cannot make 60 folds"):
        cross_validate_predictor(hybrid(["size_mm"]), lesions, k=60)
    with pytest.raises(ManifestError, match="'centre'"):
        cross_validate_predictor(hybrid(["size_mm"]), lesions, by="centre")
    with pytest.raises(ConfigError, match="positive"):
        cross_validate_predictor(hybrid(["size_mm"]), lesions, positive="cancer")
