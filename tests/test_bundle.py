import shutil

import numpy as np
import pytest
import yaml

import explainendo
from explainendo.bundle import load_bundle
from explainendo.errors import ModelFileError
from explainendo.features import LesionSamples
from explainendo.fit import DEFAULT_CANDIDATES
from explainendo.hybrid import HybridDiagnoser
from explainendo.sources import ColumnFeatures

from hybrid_data import make_tiny_phantoms

ORACLE = ["attr.tone", "attr.surface", "size_mm"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    return make_tiny_phantoms(folder / "train", n=80, seed=2), make_tiny_phantoms(folder / "test", n=30, seed=3)


@pytest.mark.parametrize("fitter", ["xgboost", "svm", "decision_tree", "logistic_regression",
                                    "sparse_logistic_regression"])
def test_save_then_load_gives_identical_predictions(tmp_path, data, fitter):
    train, test = data
    model = HybridDiagnoser(None, [ColumnFeatures(ORACLE)], fitter=fitter, seed=0).fit(train)
    model.save(tmp_path / "model")
    loaded = explainendo.load(tmp_path / "model")
    samples = LesionSamples.from_manifest(test)
    a, b = model.predict_samples(samples), loaded.predict_samples(samples)
    np.testing.assert_array_equal(a["p_neoplastic"].to_numpy(), b["p_neoplastic"].to_numpy())
    assert loaded.fitter_name_ == fitter and loaded.classes_ == model.classes_
    assert loaded.stacking_ == model.stacking_ and loaded.holdout == model.holdout
    prov = yaml.safe_load((tmp_path / "model" / "provenance.yaml").read_text())
    assert prov["seed"] == 0 and len(prov["training_manifest_sha256"]) == 64 and "numpy" in prov["versions"]
    assert not list((tmp_path / "model").rglob("*.pkl"))


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory, data):
    train, _ = data
    folder = tmp_path_factory.mktemp("saved") / "m"
    HybridDiagnoser(None, [ColumnFeatures(ORACLE)], fitter="auto", cv=3, seed=0).fit(train).save(folder)
    return folder


@pytest.fixture()
def saved(tmp_path, saved_once):
    shutil.copytree(saved_once, tmp_path / "m")  # each test may damage its own copy
    return tmp_path / "m"


def test_auto_fitter_bundle_keeps_the_selection_table(saved):
    loaded = load_bundle(saved)
    assert set(loaded.selection_["candidate"]) == set(DEFAULT_CANDIDATES)


def test_tampered_file_is_refused(saved):
    fitter_file = next((saved / "fitter").glob("model.*"))
    fitter_file.write_bytes(fitter_file.read_bytes()[:-3] + b"xyz")
    with pytest.raises(ModelFileError, match="modified") as err:
        explainendo.load(saved)
    assert fitter_file.name in str(err.value)


def test_tampered_config_is_refused(saved):
    cfg = saved / "config.yaml"
    cfg.write_text(cfg.read_text().replace("hybrid", "gastric"))
    with pytest.raises(ModelFileError, match="config.yaml"):
        explainendo.load(saved)


def test_foreign_and_missing_files_are_refused(saved, tmp_path):
    (saved / "fitter" / "extra.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelFileError, match="foreign") as err:
        explainendo.load(saved)
    assert "extra.pkl" in str(err.value)
    (saved / "fitter" / "extra.pkl").unlink()
    (saved / "fitter" / "background.safetensors").unlink()
    with pytest.raises(ModelFileError, match="missing") as err:
        explainendo.load(saved)
    assert "background.safetensors" in str(err.value)
    # a folder that is not a bundle at all
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.pt").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="config.yaml"):
        explainendo.load(other)


def test_foreign_component_kind_is_refused_even_with_valid_checksums(saved):
    # rewrite a component's kind to a class path and re-sign the checksums: still never imported
    import hashlib
    comp = next((saved / "sources").iterdir()) / "component.yaml"
    comp.write_text(comp.read_text().replace("kind: columns", "kind: os.system"))
    lines = []
    for line in (saved / "checksums.sha256").read_text().splitlines():
        digest, rel = line.split("  ", 1)
        lines.append(f"{hashlib.sha256((saved / rel).read_bytes()).hexdigest()}  {rel}")
    (saved / "checksums.sha256").write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelFileError, match="unknown component kind 'os.system'"):
        explainendo.load(saved)
