"""DeepScoreFeatures: a CNN's score as one hybrid feature group, out-of-fold, saved and loaded safely."""

import numpy as np
import pytest

import explainendo
from explainendo.errors import ConfigError, NotFittedError
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.hybrid import HybridDiagnoser
from explainendo.sources import DeepScoreFeatures
from explainendo.synth import generate

CNN = {"backbone": "resnet18", "pretrained": False, "image_size": 32, "epochs": 1, "batch_size": 16, "seed": 0}


@pytest.fixture(scope="module")
def samples():
    return generate("gastric", 32, seed=11, size=96).to_samples()


def test_score_column_is_the_positive_class_probability(samples):
    source = DeepScoreFeatures(classifier_params=CNN, positive="neoplastic").fit(samples)
    assert source.groups == {"deep": ["deep.p_neoplastic"]}
    frame = source.transform(samples)
    proba = source.model_.predict_proba(samples)
    assert np.allclose(frame["deep.p_neoplastic"], proba[:, list(source.classes_).index("neoplastic")])
    assert ((frame >= 0) & (frame <= 1)).all().all()
    cams = source.gradcam(samples.subset([0]))["deep"]
    assert cams[0].shape == samples.crops[0].shape[:2]
    with pytest.raises(NotFittedError):
        DeepScoreFeatures(classifier_params=CNN).transform(samples)
    with pytest.raises(ConfigError, match="positive class"):
        DeepScoreFeatures(classifier_params=CNN, positive="cancer").fit(samples)


def test_hybrid_uses_out_of_fold_scores_and_round_trips(samples, tmp_path):
    model = HybridDiagnoser(sources=[HandcraftedFeatures(), DeepScoreFeatures(classifier_params=CNN, positive="neoplastic")],
                            fitter="logistic_regression", oof_folds=2, cv=2, positive_label="neoplastic")
    model.fit(samples)
    used = {s["name"]: s for s in model.sources_used_}
    assert used["deep_score"]["out_of_fold"] and not used["handcrafted"]["out_of_fold"]
    in_sample = model.sources_[1].transform(samples)["deep.p_neoplastic"].to_numpy()
    # the fitter's rows come from fold models, not from the model trained on every lesion
    assert not np.allclose(model.training_features_["deep.p_neoplastic"].to_numpy(), in_sample)
    before = model.predict_samples(samples)
    model.save(tmp_path / "bundle")
    after = explainendo.load(tmp_path / "bundle").predict_samples(samples)
    assert np.allclose(before["p_neoplastic"], after["p_neoplastic"])
