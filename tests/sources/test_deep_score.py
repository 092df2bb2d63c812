"""DeepScoreFeatures: a CNN's score as one hybrid feature group, out-of-fold, saved and loaded safely."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import explainendo
from explainendo.engine import Diagnoser
from explainendo.errors import ConfigError, NotFittedError
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.heads import AttributeHeads
from explainendo.predict import CNNClassifier, HybridPredictor, OutOfFold
from explainendo.sources import DeepScoreFeatures
from explainendo.synth import generate
from explainendo.training import Training


def cnn() -> CNNClassifier:
    return CNNClassifier(AttributeHeads(backbone="resnet18", pretrained=False, image_size=32, seed=0,
                                        training=Training(epochs=1, batch_size=16, num_threads=1)))


@pytest.fixture(scope="module")
def samples():
    return generate("gastric", 32, seed=11, size=96).to_samples()


def test_score_column_is_the_positive_class_probability(samples):
    source = DeepScoreFeatures(classifier=cnn(), positive="neoplastic").fit(samples)
    assert source.groups == {"deep": ["deep.p_neoplastic"]}
    assert isinstance(source.model_, CNNClassifier) and not hasattr(source.classifier, "classes_")  # a clone
    frame = source.transform(samples)
    proba = source.model_.predict_proba(samples)
    assert np.allclose(frame["deep.p_neoplastic"], proba[:, list(source.classes_).index("neoplastic")])
    assert ((frame >= 0) & (frame <= 1)).all().all()
    cams = source.gradcam(samples.subset([0]))["deep"]
    assert cams[0].shape == samples.crops[0].shape[:2]
    with pytest.raises(NotFittedError):
        DeepScoreFeatures(classifier=cnn()).transform(samples)
    with pytest.raises(ConfigError, match="positive class"):
        DeepScoreFeatures(classifier=cnn(), positive="cancer").fit(samples)
    with pytest.raises(ConfigError, match="classifier"):
        DeepScoreFeatures(classifier=LogisticRegression()).check_params()
    with pytest.raises(TypeError):
        DeepScoreFeatures(classifier_params={"backbone": "resnet18"})  # the old way of configuring it is gone


def test_hybrid_uses_out_of_fold_scores_and_round_trips(samples, tmp_path):
    predictor = HybridPredictor(sources=[HandcraftedFeatures(), DeepScoreFeatures(classifier=cnn(), positive="neoplastic")],
                                fitter="logistic_regression", stacking=OutOfFold(2), positive_label="neoplastic")
    model = Diagnoser(predictor=predictor).fit(samples)
    fitted = model.predictor_
    used = {s["name"]: s for s in fitted.sources_used_}
    assert used["deep_score"]["supervised"] and used["deep_score"]["folds"] == 2
    assert not used["handcrafted"]["supervised"] and "folds" not in used["handcrafted"]
    assert fitted.stacking_["mode"] == "out_of_fold"
    in_sample = fitted.sources_[1].transform(samples)["deep.p_neoplastic"].to_numpy()
    # the fitter's rows come from fold models, not from the model trained on every lesion
    assert not np.allclose(fitted.training_features_["deep.p_neoplastic"].to_numpy(), in_sample)
    before = fitted.predict_proba(samples)
    model.save(tmp_path / "bundle")
    assert (tmp_path / "bundle" / "predictor" / "sources" / "01_deep_score" / "classifier" / "network" /
            "model.safetensors").is_file()
    loaded = explainendo.load(tmp_path / "bundle")
    assert isinstance(loaded.predictor_.sources_[1].model_, CNNClassifier)
    after = loaded.predictor_.predict_proba(samples)
    assert np.allclose(before, after)
    assert fitted.classes_[-1] == "neoplastic" == loaded.classes_[-1]
