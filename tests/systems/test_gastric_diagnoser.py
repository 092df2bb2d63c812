"""GastricDiagnoser with the real sources (attribute heads + handcrafted), tiny settings.

Skipped until explainendo.heads, explainendo.handcrafted and explainendo.localize are on the branch.
"""

import numpy as np
import pytest

pytest.importorskip("explainendo.heads")
pytest.importorskip("explainendo.handcrafted")
pytest.importorskip("explainendo.localize")

import explainendo  # noqa: E402
from explainendo import GastricDiagnoser  # noqa: E402
from explainendo.features import LesionSamples  # noqa: E402
from explainendo.io import Manifest  # noqa: E402
from explainendo.specs import GASTRIC_ATTRIBUTES  # noqa: E402
from explainendo.synth import generate  # noqa: E402


def test_preset_defaults():
    from explainendo.handcrafted import HandcraftedFeatures
    from explainendo.heads import AttributeHeads
    from explainendo.localize import YoloLocalizer

    model = GastricDiagnoser()
    assert isinstance(model.localizer, YoloLocalizer)
    heads, handcrafted = model.sources
    assert isinstance(heads, AttributeHeads) and isinstance(handcrafted, HandcraftedFeatures)
    assert [s.name for s in heads.specs] == [s.name for s in GASTRIC_ATTRIBUTES]
    assert model.fitter == "auto" and model.enlarge == 1.0 and model.positive_label == "neoplastic"
    assert model.group_selection == "one_se" and model.prefer_groups == "attributes"


@pytest.fixture(scope="module")
def gastric(tmp_path_factory):
    root = tmp_path_factory.mktemp("gastric")
    written = generate("gastric", 48, seed=0, size=64).write(root / "train")
    # real datasets lack some attribute labels: no bleeding labels here, so that head must be skipped
    train = Manifest(written.df.drop(columns=["attr.bleeding"]), written.root, name="no-bleeding")
    test = generate("gastric", 8, seed=1, size=64).write(root / "test")
    # no YOLO here (its training is the localize tests' job): ground-truth boxes train, boxes= predict.
    # oof_folds=0 trains the heads once (out-of-fold training is tested in tests/test_hybrid.py): CI budget
    model = GastricDiagnoser(localizer=None, heads={"epochs": 1, "image_size": 32, "batch_size": 32,
                                                    "pretrained": False},
                             oof_folds=0, cv=3, candidates=("logistic_regression", "xgboost"), seed=0)
    model.fit(train)
    return model, train, test, root


def test_gastric_end_to_end_with_heads_and_handcrafted(gastric):
    model, _, test, root = gastric
    used = {s["name"]: s for s in model.sources_used_}
    assert set(used) == {"attributes", "handcrafted"}
    assert used["attributes"]["trained_attributes"] == [s.name for s in GASTRIC_ATTRIBUTES if s.name != "bleeding"]
    assert "bleeding" not in model.groups_
    assert {"tone", "surface", "lbp", "hog"} <= set(model.groups_)
    # group selection ran with the heads' groups preferred ("attributes"), the handcrafted ones not
    first = model.group_selection_[model.group_selection_["step"] == 1]
    heads_groups = set(next(s for s in model.sources_ if s.name == "attributes").groups)
    assert set(first.loc[first["preferred"], "left_out"]) == heads_groups
    assert {"lbp", "hog"} <= set(first.loc[~first["preferred"], "left_out"])
    names = test.images()
    results = model.predict([test.path(n) for n in names], boxes=[test.boxes_for(n) for n in names])
    assert all(r.ok and r.label in ("neoplastic", "non_neoplastic") for r in results)
    assert any(k.startswith("tone.p_") for k in results[0].features)
    ex = model.explain(test.path(names[0]), box=test.boxes_for(names[0])[0])
    assert ex.explained_class == "neoplastic"
    assert ex.expected_value + sum(ex.group_shap.values()) == pytest.approx(ex.output, abs=1e-3)
    assert "tone" in ex.gradcams and "bleeding" not in ex.gradcams and ex.gradcams["tone"].max() <= 1.0
    assert (ex.save_card(root / "card.png")).stat().st_size > 10_000


def test_gastric_bundle_roundtrip(gastric):
    model, _, test, root = gastric
    model.save(root / "bundle")
    loaded = explainendo.load(root / "bundle")
    assert type(loaded) is GastricDiagnoser
    assert loaded.prefer_groups == "attributes" and loaded.group_selection_.equals(model.group_selection_)
    samples = LesionSamples.from_manifest(test)
    a, b = model.predict_samples(samples), loaded.predict_samples(samples)
    np.testing.assert_allclose(a["p_neoplastic"], b["p_neoplastic"], atol=1e-6)
    assert list(a["predicted"]) == list(b["predicted"])
