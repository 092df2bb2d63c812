"""The systems' default out-of-distribution flag (issue 24.6): ``ood="default"`` in every system's constructor (a
plain string: get_params / clone / config / save keep it), fitted as ``default_ood_detector()``; ``ood=None`` off; a
model folder of the previous version (no ``ood`` parameter, no OOD component) loads and predicts as it did; the
CLI's results.csv carries the flag when the model has it and is unchanged when not. A small gastric system with no
networks in its predictor (handcrafted features, logistic regression), so the embedding is the only backbone."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import clone

import explainendo
from explainendo import ColonFrameDetector, ERCPAssistant, EUSCystClassifier, GastricDiagnoser, InSample
from explainendo.bundle import write_checksums
from explainendo.commands import diagnose_images
from explainendo.errors import ConfigError
from explainendo.explain.ood import DEFAULT_OOD, OODDetector, default_ood_detector
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.localize import WholeFrame
from explainendo.predict import HybridPredictor
from explainendo.synth import generate

SYSTEMS = (GastricDiagnoser, ERCPAssistant, ColonFrameDetector, EUSCystClassifier)


def small_gastric(**params):
    predictor = HybridPredictor([HandcraftedFeatures()], fitter="logistic_regression", stacking=InSample(),
                                positive_label="neoplastic")
    return GastricDiagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, **params)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ood_default")
    return (generate("gastric", 40, seed=0, size=64).write(root / "train"),
            generate("gastric", 12, seed=1, size=64).write(root / "test"))


@pytest.fixture(scope="module")
def fitted(data):
    """The same small system fitted with its default and with ``ood=None``."""
    return small_gastric().fit(data[0]), small_gastric(ood=None).fit(data[0])


def _predict(model, test):
    names = test.images()
    return model.predict([str(test.path(n)) for n in names], boxes=[test.boxes_for(n) for n in names])


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_system_defaults_to_the_embedding_detector(system):
    model = system()
    assert model.get_params()["ood"] == DEFAULT_OOD == "default"
    assert clone(model).get_params()["ood"] == "default"
    detector = model.checked_ood()
    assert isinstance(detector, OODDetector) and detector.get_params() == default_ood_detector().get_params()
    assert detector.embedding == "efficientnet_lite0" and detector is not model.checked_ood()  # new each time
    assert system(ood=None).checked_ood() is None
    off = clone(model).set_params(ood=None)
    assert off.get_params()["ood"] is None and model.get_params()["ood"] == "default"
    custom = system(ood=OODDetector(coverage=0.9))
    assert clone(custom).get_params()["ood"].coverage == 0.9


def test_bare_engine_stays_opt_in_and_bad_values_are_refused():
    assert explainendo.Diagnoser().get_params()["ood"] is None
    with pytest.raises(ConfigError, match="ood must be an OODDetector, 'default' or None"):
        GastricDiagnoser(ood="on").checked_ood()


def test_default_fits_the_flag_and_none_switches_it_off(fitted, data):
    on, off = fitted
    assert isinstance(on.ood_, OODDetector) and on.ood_.embedding == "efficientnet_lite0"
    assert on.ood == "default"  # fit fitted a clone of the default, the parameter is as given
    assert off.ood_ is None and all(r.ood is None and r.ood_score is None for r in _predict(off, data[1]))
    results = _predict(on, data[1])
    assert all(r.ood is not None and all(les.ood is not None for les in r.lesions) for r in results)
    # the flag adds nothing to the diagnosis itself
    assert [r.probability for r in results] == pytest.approx([r.probability for r in _predict(off, data[1])])


def test_default_on_too_little_data_warns_and_fits_none(data, tmp_path):
    few = generate("gastric", 12, seed=2, size=64).write(tmp_path / "few")
    with pytest.warns(UserWarning, match="without its out-of-distribution flag.*ood=None"):
        model = small_gastric().fit(few)
    assert model.ood_ is None
    with pytest.raises(ConfigError, match="needs at least 19"):  # an explicit detector is not left out
        small_gastric(ood=OODDetector()).fit(few)


def test_save_load_round_trip_with_the_default(fitted, data, tmp_path):
    on, _ = fitted
    loaded = explainendo.load(on.save(tmp_path / "m"))
    assert loaded.get_params()["ood"] == "default" and loaded.ood_.get_params() == on.ood_.get_params()
    assert loaded.ood_.thresholds_ == on.ood_.thresholds_
    a, b = _predict(on, data[1]), _predict(loaded, data[1])
    np.testing.assert_allclose([r.ood_score for r in a], [r.ood_score for r in b], rtol=1e-5)
    np.testing.assert_allclose([r.lesions[0].ood_score for r in a], [r.lesions[0].ood_score for r in b], rtol=1e-5)
    assert [r.ood for r in a] == [r.ood for r in b]


def test_a_folder_of_the_previous_version_loads_and_predicts_as_before(fitted, data, tmp_path):
    _, off = fitted
    folder = off.save(tmp_path / "old")
    meta = yaml.safe_load((folder / "component.yaml").read_text())
    meta["params"].pop("ood")  # the systems had no ood parameter before
    assert "ood" not in meta["state"]
    (folder / "component.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    write_checksums(folder)
    loaded = explainendo.load(folder)
    assert loaded.ood_ is None  # no OOD component: results carry no flag, as they did
    assert loaded.get_params()["ood"] == "default"  # the parameter reads today's default: a refit fits the flag
    before, now = _predict(off, data[1]), _predict(loaded, data[1])
    assert [r.to_dict() for r in now] == [r.to_dict() for r in before]
    assert all(r.ood is None for r in now)


def test_diagnose_csv_with_the_default_and_without_any_flag(fitted, data, tmp_path):
    import shutil

    import cv2

    on, off = fitted
    images = tmp_path / "images"
    images.mkdir()
    for name in data[1].images()[:4]:
        shutil.copy(data[1].path(name), images / Path(name).name)
    cv2.imwrite(str(images / "zz_noise.png"), np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    diagnose_images(on.save(tmp_path / "on"), images, tmp_path / "out_on", cards=False, progress=False)
    diagnose_images(off.save(tmp_path / "off"), images, tmp_path / "out_off", cards=True, progress=False)
    rows = pd.read_csv(tmp_path / "out_on" / "results.csv", dtype=str, keep_default_na=False)
    assert {"ood", "ood_frame_score", "ood_lesion_score"} <= set(rows.columns)
    assert rows["ood"].isin(["true", "false"]).all() and rows["ood"].iloc[-1] == "true"  # the noise frame
    plain = pd.read_csv(tmp_path / "out_off" / "results.csv")
    assert not any(c.startswith("ood") for c in plain.columns) and len(plain) == len(rows) == 5
