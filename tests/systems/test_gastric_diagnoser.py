"""GastricDiagnoser with the real sources (attribute heads + handcrafted), tiny settings; its defaults; the
semi-supervised route through the facade; parameters checked before training."""

import numpy as np
import pytest
from sklearn.base import clone

import explainendo
from explainendo import GastricDiagnoser, InSample
from explainendo.errors import ConfigError
from explainendo.features import LesionSamples
from explainendo.fit import FitterSelector, GroupEliminator
from explainendo.heads import AttributeHeads
from explainendo.io import Manifest
from explainendo.localize import WholeFrame
from explainendo.specs import GASTRIC_ATTRIBUTES
from explainendo.synth import generate
from explainendo.systems.gastric import gastric_heads, gastric_predictor
from explainendo.heads import PseudoLabel
from explainendo.training import Training
from ood_checks import check_default_ood

TINY_HEADS = {"image_size": 32, "pretrained": False, "training": Training(epochs=1, batch_size=32, num_threads=1)}


def test_preset_defaults_are_built_in_fit_not_in_init():
    from explainendo.handcrafted import HandcraftedFeatures
    from explainendo.localize import SoftMaskLocalizer
    from explainendo.predict import HeldOut, HybridPredictor

    model = GastricDiagnoser(seed=3)
    assert model.localizer is None and model.predictor is None  # __init__ only stores
    assert clone(model).get_params() == model.get_params()
    localizer, predictor = model.checked_parts()
    # the default localizer works offline: a soft-mask U-Net on the ImageNet EfficientNet-Lite0 encoder, seeded
    assert isinstance(localizer, SoftMaskLocalizer) and localizer.encoder == "efficientnet_lite0"
    assert localizer.seed == 3
    assert isinstance(predictor, HybridPredictor) and predictor.positive_label == "neoplastic"
    heads, handcrafted = predictor.sources
    assert isinstance(heads, AttributeHeads) and isinstance(handcrafted, HandcraftedFeatures)
    assert [s.name for s in heads.specs] == [s.name for s in GASTRIC_ATTRIBUTES] and heads.seed == 3
    assert isinstance(predictor.stacking, HeldOut) and isinstance(predictor.fitter, FitterSelector)
    assert isinstance(predictor.group_selection, GroupEliminator)
    assert predictor.group_selection.prefer_keep == "attributes"


def _tiny_predictor(**heads):
    return gastric_predictor(heads=gastric_heads(0, **{**TINY_HEADS, **heads}),
                             fitter=FitterSelector(candidates=("logistic_regression", "xgboost"), cv=3, seed=0),
                             stacking=InSample(), seed=0)


@pytest.fixture(scope="module")
def gastric(tmp_path_factory):
    root = tmp_path_factory.mktemp("gastric")
    written = generate("gastric", 48, seed=0, size=64).write(root / "train")
    # real datasets lack some attribute labels: no bleeding labels here, so that head must be left out
    train = Manifest(written.df.drop(columns=["attr.bleeding"]), written.root, name="no-bleeding")
    test = generate("gastric", 8, seed=1, size=64).write(root / "test")
    # ground-truth boxes train, boxes= predict (the localizer's training is the localize tests' job);
    # InSample trains the heads once (stacking is tested in tests/test_hybrid.py): CI budget
    model = GastricDiagnoser(localizer=WholeFrame(remove_border=False), predictor=_tiny_predictor(), seed=0)
    return model.fit(train), train, test, root


def test_gastric_end_to_end_with_heads_and_handcrafted(gastric):
    model, _, test, root = gastric
    predictor = model.predictor_
    used = {s["name"]: s for s in predictor.sources_used_}
    assert set(used) == {"attributes", "handcrafted"}
    assert used["attributes"]["trained_attributes"] == [s.name for s in GASTRIC_ATTRIBUTES if s.name != "bleeding"]
    assert "bleeding" not in predictor.groups_
    assert {"tone", "surface", "lbp", "hog"} <= set(predictor.groups_)
    # group selection ran with the heads' groups preferred ("attributes"), the handcrafted ones not
    first = predictor.group_selection_[predictor.group_selection_["step"] == 1]
    heads_groups = set(next(s for s in predictor.sources_ if s.name == "attributes").groups)
    assert set(first.loc[first["preferred"], "left_out"]) == heads_groups
    assert {"lbp", "hog"} <= set(first.loc[~first["preferred"], "left_out"])
    names = test.images()
    results = model.predict([test.path(n) for n in names], boxes=[test.boxes_for(n) for n in names])
    assert len(results) == len(names) and all(r.ok and r.label in ("neoplastic", "non_neoplastic") for r in results)
    assert any(k.startswith("tone.p_") for k in results[0].features)
    assert all(r.frame is None for r in results)  # frames are kept only on request
    ex = model.explain(test.path(names[0]), box=test.boxes_for(names[0])[0], class_index=1)
    assert ex.explained_class == "neoplastic"
    assert ex.expected_value + sum(ex.group_shap.values()) == pytest.approx(ex.output, abs=1e-3)
    assert "tone" in ex.gradcams and "bleeding" not in ex.gradcams and ex.gradcams["tone"].max() <= 1.0
    assert (ex.save_card(root / "card.png")).stat().st_size > 10_000


def test_gastric_bundle_roundtrip(gastric):
    model, _, test, root = gastric
    model.save(root / "bundle")
    loaded = explainendo.load(root / "bundle")
    assert type(loaded) is GastricDiagnoser and loaded.get_params()["seed"] == 0
    assert loaded.predictor_.group_selection_.equals(model.predictor_.group_selection_)
    assert loaded.predictor_.sources_[0].calibration_ == model.predictor_.sources_[0].calibration_
    samples = LesionSamples.from_manifest(test)
    np.testing.assert_allclose(model.predictor_.predict_proba(samples), loaded.predictor_.predict_proba(samples),
                               atol=1e-6)
    assert loaded.get_params()["ood"] == "default" and loaded.ood_.thresholds_ == model.ood_.thresholds_
    np.testing.assert_allclose(loaded.ood_.score_lesions(samples)[0], model.ood_.score_lesions(samples)[0], rtol=1e-5)


def test_semi_supervised_heads_through_the_facade_and_bad_settings_before_training(tmp_path):
    train = generate("gastric", 24, seed=0, size=64).write(tmp_path / "train")
    extra = generate("gastric", 12, seed=5, size=64).write(tmp_path / "unlabeled")
    unlabeled = Manifest(extra.df.drop(columns=[c for c in extra.df if c == "label" or c.startswith("attr.")]),
                         extra.root, name="unlabeled")
    from explainendo import Diagnoser

    # an unknown method is refused before anything trains (it used to drop the heads silently)
    bad = Diagnoser(predictor=_tiny_predictor(semi_supervised="fixmatch_typo"))
    with pytest.raises(ConfigError, match="semi_supervised"):
        bad.fit(train)
    # pseudo-labelling needs unlabeled lesions: refused, not silently trained on handcrafted features only
    semi = Diagnoser(predictor=_tiny_predictor(semi_supervised=PseudoLabel(threshold=0.0)))
    with pytest.raises(ConfigError, match="unlabeled"):
        semi.fit(train)
    model = semi.fit(train, unlabeled=unlabeled)
    heads = model.predictor_.sources_[0]
    assert [s["name"] for s in model.predictor_.sources_used_] == ["attributes", "handcrafted"]
    assert sum(heads.pseudo_label_counts_.values()) > 0  # the unlabeled crops were pseudo-labelled
    assert semi.predictor.sources[0].get_params()["semi_supervised__threshold"] == 0.0
    assert not hasattr(semi.predictor.sources[0], "net_")  # fit trained clones, never the given heads


def test_the_default_flags_noise_and_few_held_out_frames(gastric):
    model, _, test, _ = gastric
    names = test.images()
    check_default_ood(model, model.predict([test.path(n) for n in names], boxes=[test.boxes_for(n) for n in names]),
                      size=64)
