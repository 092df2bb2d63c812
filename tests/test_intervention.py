"""Attribute intervention (test-time intervention of concept-bottleneck models, Koh et al. 2020): a clinician
corrects attributes and the hybrid diagnoses again from them (``Diagnoser.intervene``, ``HybridPredictor.intervene``,
``explainendo explain --set``). A real tiny gastric model (~10 s): ResNet-18 heads at 32 px for one epoch, the
handcrafted features, a logistic regression stacked in-sample, the whole frame as the lesion."""

import copy
import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from explainendo import CNNClassifier, Diagnoser, GastricDiagnoser, HybridPredictor, InSample
from explainendo.cli import app
from explainendo.errors import ConfigError
from explainendo.fit import GroupEliminator
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.localize import WholeFrame
from explainendo.predict import RandomInterventions
from explainendo.synth import generate
from explainendo.systems.gastric import gastric_heads, gastric_predictor
from explainendo.training import Training

CORRECTIONS = {"boundary": "clear", "tone": "reddened"}


def _tiny_heads(**options):
    return gastric_heads(0, image_size=32, pretrained=False, backbone="resnet18",
                         training=Training(epochs=1, batch_size=32, num_threads=1, device="cpu"), **options)


@pytest.fixture(scope="module")
def phantoms():
    return generate("gastric", 32, seed=0, size=64)


@pytest.fixture(scope="module")
def train_manifest(phantoms, tmp_path_factory):
    return phantoms.write(tmp_path_factory.mktemp("intervention_train"))


@pytest.fixture(scope="module")
def model(train_manifest):
    predictor = gastric_predictor(heads=_tiny_heads(), fitter="logistic_regression", stacking=InSample(),
                                  group_selection=None, seed=0)
    return GastricDiagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, seed=0,
                            ood=None).fit(train_manifest)


@pytest.fixture(scope="module")
def image():
    return generate("gastric", 1, seed=5, size=64).images[0]


@pytest.fixture()
def result(model, image):
    return model.predict(image, keep_frames=True)[0]


def by_hand(model, features: dict, corrections: dict) -> np.ndarray:
    """The class probabilities the fitter implies for the corrected row, computed from the logistic regression's
    own weights: the head columns set to the one-hot, missing values filled with the training means, standardised,
    ``p = sigmoid(w . z + b)``."""
    hybrid = model.predictor_
    row = dict(features)
    for attribute, value in corrections.items():
        for column in hybrid.groups_[attribute]:
            row[column] = 1.0 if column == f"{attribute}.p_{value}" else 0.0
    x = np.array([row[c] if np.isfinite(row[c]) else hybrid.feature_means_[c] for c in hybrid.fitter_columns_])
    scale, lr = hybrid.fitter_.named_steps["scale"], hybrid.fitter_.named_steps["model"]
    z = (x - scale.mean_) / scale.scale_
    p = 1.0 / (1.0 + np.exp(-(z @ lr.coef_[0] + lr.intercept_[0])))
    return np.array([1.0 - p, p])  # classes_ = [non_neoplastic, neoplastic]


def test_intervention_predicts_as_the_fitter_implies(model, result):
    assert model.classes_ == ["non_neoplastic", "neoplastic"]
    ex = model.intervene(result, CORRECTIONS)
    lesion = ex.lesion
    expected = by_hand(model, result.lesion.features, CORRECTIONS)
    assert np.allclose([lesion.probabilities[c] for c in model.classes_], expected, atol=1e-9)
    assert lesion.label == model.classes_[int(expected.argmax())]
    assert lesion.probability == pytest.approx(expected.max())
    # the one-hot of the corrected class, the other features as they were
    assert lesion.features["boundary.p_clear"] == 1.0 and lesion.features["boundary.p_unclear"] == 0.0
    assert [lesion.features[f"tone.p_{c}"] for c in ("unchanged", "reddened", "pale")] == [0.0, 1.0, 0.0]
    untouched = [c for c in result.lesion.features if not c.startswith(("boundary.", "tone."))]
    assert all(lesion.features[c] == result.lesion.features[c] or
               (np.isnan(lesion.features[c]) and np.isnan(result.lesion.features[c])) for c in untouched)
    assert lesion.interventions == CORRECTIONS
    # the change is real: the fitter weighs the corrected columns
    before = np.array([result.lesion.probabilities[c] for c in model.classes_])
    assert not np.allclose(before, expected, atol=1e-6)


def test_the_explanation_is_of_the_corrected_features(model, result):
    ex = model.intervene(result, CORRECTIONS)
    assert ex.explained_class == ex.lesion.label
    original = model.explain(result, class_index=model.classes_.index(ex.explained_class))  # the same class
    assert ex.expected_value + sum(ex.group_shap.values()) == pytest.approx(ex.output, abs=1e-6)
    p = ex.lesion.probabilities[ex.explained_class]
    assert ex.output == pytest.approx(np.log(p / (1 - p)), abs=1e-6)  # LR: log-odds of the explained class
    assert ex.expected_value == pytest.approx(original.expected_value)  # same background
    assert ex.group_shap["tone"] != pytest.approx(original.group_shap["tone"])
    assert sorted(ex.gradcams) == sorted(original.gradcams)  # Grad-CAM unchanged: the same crop
    for name, cam in original.gradcams.items():
        assert np.allclose(ex.gradcams[name], cam)
    assert ex.features["tone.p_reddened"] == 1.0
    assert "tone: reddened (1.00)" in " ".join(ex.sentences())


def test_the_given_result_is_not_changed(model, result):
    before = copy.deepcopy(result.to_dict())
    features = dict(result.lesion.features)
    new = model.intervene(result, CORRECTIONS, explain=False)
    assert new is not result and new.lesion is not result.lesion
    assert result.to_dict() == before
    assert result.lesion.features.keys() == features.keys()
    assert all(result.lesion.features[k] == v or (np.isnan(v) and np.isnan(result.lesion.features[k]))
               for k, v in features.items())
    assert result.lesion.interventions == {}
    assert new.frame is result.frame and new.image == result.image
    # recorded for the JSON lines, the card, anyone reading the result
    assert new.to_dict()["lesions"][new.primary]["interventions"] == CORRECTIONS
    assert "interventions" not in result.to_dict()["lesions"][result.primary]


def test_correcting_to_what_the_head_already_says_leaves_the_diagnosis(model, result):
    lesion = result.lesion
    sure = dict(lesion.features, **{"boundary.p_unclear": 0.001, "boundary.p_clear": 0.999})
    sure_result = dataclasses.replace(result, lesions=[dataclasses.replace(lesion, features=sure)])
    p_sure = model.predictor_.predict_proba_features(pd.DataFrame([sure]))[0]
    new = model.intervene(sure_result, {"boundary": "clear"}, explain=False)
    assert np.allclose([new.lesion.probabilities[c] for c in model.classes_], p_sure, atol=2e-3)
    # exactly one-hot already: exactly the same; and a second correction keeps the first one's record
    once = model.intervene(result, {"boundary": "clear"}, explain=False)
    twice = model.intervene(once, {"boundary": "clear", "tone": "pale"}, explain=False)
    again = model.intervene(once, {"boundary": "clear"}, explain=False)
    assert again.lesion.probabilities == once.lesion.probabilities
    assert twice.lesion.interventions == {"boundary": "clear", "tone": "pale"}


def test_class_names_fold_case_and_location_is_correctable(model, result):
    hybrid = model.predictor_
    known = hybrid.correctable_attributes()
    assert known["boundary"] == ["unclear", "clear"] and known["tone"] == ["unchanged", "reddened", "pale"]
    assert known["location"] == ["upper_middle", "lower", "indistinguishable"]  # the landmark head, as mapped
    assert not any(g in known for g in ("lbp", "hog", "aspect_ratio"))  # handcrafted groups are not attributes
    new = model.intervene(result, {"tone": " Reddened ", "location": "lower"}, explain=False)
    assert new.lesion.interventions == {"tone": "reddened", "location": "lower"}
    assert new.lesion.features["location.p_lower"] == 1.0


def test_errors_name_what_is_valid(model, result):
    with pytest.raises(ConfigError, match="unknown attribute 'colour'") as info:
        model.intervene(result, {"colour": "red"})
    assert "boundary" in str(info.value) and "tone" in str(info.value)
    with pytest.raises(ConfigError, match="'landmark'") as info:
        model.intervene(result, {"landmark": "fundus"})
    assert "location" in str(info.value)
    with pytest.raises(ConfigError, match="'sharp' is not a class of attribute 'boundary'") as info:
        model.intervene(result, {"boundary": "sharp"})
    assert "unclear, clear" in str(info.value)
    with pytest.raises(ConfigError, match="non-empty mapping"):
        model.intervene(result, {})
    with pytest.raises(ConfigError, match="not a class"):
        model.intervene(result, {"boundary": 1})
    with pytest.raises(ConfigError, match="lesion 3 does not exist"):
        model.intervene(result, CORRECTIONS, lesion=3)
    with pytest.raises(ConfigError, match="takes a Result"):
        model.intervene("frame.png", CORRECTIONS)


def test_a_result_without_its_frame(model, image):
    bare = model.predict(image)[0]
    assert bare.frame is None
    new = model.intervene(bare, CORRECTIONS, explain=False)
    assert np.allclose([new.lesion.probabilities[c] for c in model.classes_],
                       by_hand(model, bare.lesion.features, CORRECTIONS))
    with pytest.raises(ConfigError, match="holds no frame") as info:
        model.intervene(bare, CORRECTIONS)
    assert "explain=False" in str(info.value)


def test_predictors_without_attribute_heads_refuse(phantoms, train_manifest, result):
    samples = phantoms.to_samples()
    cnn = Diagnoser(localizer=WholeFrame(remove_border=False), predictor=CNNClassifier(
        network=_tiny_heads())).fit(samples)
    cnn_result = cnn.predict(result.frame, keep_frames=True)[0]
    with pytest.raises(ConfigError, match="no named attributes to correct") as info:
        cnn.intervene(cnn_result, CORRECTIONS)
    assert "attribute heads" in str(info.value)
    handcrafted = Diagnoser(localizer=WholeFrame(remove_border=False), predictor=HybridPredictor(
        [HandcraftedFeatures()], fitter="logistic_regression")).fit(samples)
    with pytest.raises(ConfigError, match="no attribute heads"):
        handcrafted.intervene(handcrafted.predict(result.frame, keep_frames=True)[0], CORRECTIONS)


def test_an_attribute_the_fitter_dropped_is_set_with_a_warning(model, phantoms, result):
    hybrid = copy.deepcopy(model.predictor_).set_params(
        group_selection=GroupEliminator(rule="one_se", cv=3))
    hybrid.refit_fitter(phantoms.to_samples())  # the heads stay; the fitter is chosen again, dropping groups
    features = pd.DataFrame([result.lesion.features])
    dropped = [a for a in hybrid.correctable_attributes() if a in hybrid.dropped_groups_]
    kept = [a for a in hybrid.correctable_attributes() if a not in hybrid.dropped_groups_]
    if not dropped:
        pytest.skip(f"group selection kept every attribute on these phantoms ({hybrid.dropped_groups_})")
    attribute = dropped[0]
    value = hybrid.correctable_attributes()[attribute][0]
    with pytest.warns(UserWarning, match="cannot change the diagnosis"):
        proba, corrected = hybrid.intervene(features, {attribute: value})
    assert np.allclose(proba, hybrid.predict_proba_features(features))  # the fitter does not read it
    assert corrected[f"{attribute}.p_{value}"].iloc[0] == 1.0  # yet the clinician's reading is recorded
    if kept:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            hybrid.intervene(features, {kept[0]: hybrid.correctable_attributes()[kept[0]][0]})
    assert features.equals(pd.DataFrame([result.lesion.features]))  # the given features are not changed


def test_the_card_shows_the_correction(model, result, tmp_path):
    ex = model.intervene(result, CORRECTIONS)
    page = ex.save_card(tmp_path / "card.html").read_text()
    assert "Corrected by a clinician" in page and "boundary = clear" in page and "tone = reddened" in page
    assert "after correction" in page
    assert (ex.save_card(tmp_path / "card.png")).stat().st_size > 1000
    plain = model.explain(result).to_html()
    assert "Corrected by a clinician" not in plain


def test_cli_explain_with_set(model, image, tmp_path):
    folder = model.save(tmp_path / "model")
    path = tmp_path / "frame.png"
    Image.fromarray(image).save(path)
    card = tmp_path / "card.html"
    runner = CliRunner()
    r = runner.invoke(app, ["explain", str(folder), str(path), "--out", str(card),
                            "--set", "boundary=clear", "--set", "tone=reddened"])
    assert r.exit_code == 0, r.output
    before = model.predict(image)[0]
    after = model.intervene(before, CORRECTIONS, explain=False)
    assert f"before correction {before.label} (p={before.probability:.3f}" in r.output
    assert f"after correction (boundary=clear, tone=reddened): {after.label} (p={after.probability:.3f})" in r.output
    assert "Corrected by a clinician" in card.read_text()
    r = runner.invoke(app, ["explain", str(folder), str(path), "--out", str(card), "--set", "boundary"])
    assert r.exit_code == 2 and "ATTRIBUTE=CLASS" in r.output
    r = runner.invoke(app, ["explain", str(folder), str(path), "--out", str(card), "--set", "boundary=sharp"])
    assert r.exit_code == 2 and "unclear, clear" in r.output


def test_the_gastric_preset_takes_an_intervention_strategy():
    strategy = RandomInterventions(p=0.5, copies=1)
    assert gastric_predictor(interventions=strategy).interventions is strategy
    assert gastric_predictor().interventions is None  # off by default


def test_intervention_training_with_real_heads(model, phantoms, result, tmp_path):
    """``HybridPredictor(interventions=RandomInterventions(...))`` on the gastric heads: every correctable attribute,
    the landmark head's ``location`` included, finds its truth (``attr.<attribute>``) in the phantoms' table; the
    strategy survives save / load."""
    hybrid = copy.deepcopy(model.predictor_).set_params(interventions=RandomInterventions(p=0.5, copies=1))
    samples = phantoms.to_samples()
    hybrid.refit_fitter(samples)  # the heads stay; the fitter learns from its rows and their intervened copies
    facts = hybrid.interventions_
    assert facts["attributes"] == list(hybrid.correctable_attributes()) and "location" in facts["attributes"]
    assert facts["rows"] == len(samples) and facts["rows_added"] == len(samples)
    assert all(0 < facts["values_set"][a] < len(samples) for a in facts["attributes"])
    features = pd.DataFrame([result.lesion.features])
    proba, _ = hybrid.intervene(features, CORRECTIONS)
    hybrid.save(tmp_path / "hybrid")
    loaded = HybridPredictor.load(tmp_path / "hybrid")
    assert loaded.interventions == hybrid.interventions and loaded.interventions_ == facts
    np.testing.assert_array_equal(loaded.intervene(features, CORRECTIONS)[0], proba)
