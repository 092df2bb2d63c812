"""Model folders: component.yaml per component, provenance, checksums; nothing is unpickled or imported by
name from a file, and every kind of tampering is refused with a ModelFileError naming the file."""

import hashlib
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import explainendo
from explainendo.components import Component, register_component
from explainendo.engine import Diagnoser
from explainendo.errors import ConfigError, ModelFileError
from explainendo.features import LesionSamples
from explainendo.fit import DEFAULT_CANDIDATES, FitterSelector
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.localize.base import Localizer
from explainendo.predict import HybridPredictor
from explainendo.sources import ColumnFeatures
from explainendo.types import Box

from hybrid_data import make_tiny_phantoms

ORACLE = ["attr.tone", "attr.surface", "size_mm"]


def resign(folder: Path) -> None:
    """Rewrite checksums.sha256 for every file, in save's own format ``<sha256>  <relpath>``: a forger who
    edits a file and fixes the checksums too."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "checksums.sha256")
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(folder).as_posix()}" for p in files]
    (folder / "checksums.sha256").write_text("\n".join(lines) + "\n")


def hybrid(fitter="logistic_regression", sources=None, **kw) -> HybridPredictor:
    return HybridPredictor(sources or [ColumnFeatures(ORACLE)], fitter=fitter, seed=0, **kw)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    return make_tiny_phantoms(folder / "train", n=80, seed=2), make_tiny_phantoms(folder / "test", n=30, seed=3)


@pytest.fixture()
def no_unpickling(monkeypatch):
    """Loading a model folder must never unpickle anything."""
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading a model folder")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)


@pytest.mark.parametrize("fitter", ["xgboost", "svm", "decision_tree", "logistic_regression",
                                    "sparse_logistic_regression"])
def test_save_then_load_gives_identical_predictions(tmp_path, data, fitter, no_unpickling):
    train, test = data
    model = Diagnoser(predictor=hybrid(fitter)).fit(train)
    model.save(tmp_path / "model")
    loaded = explainendo.load(tmp_path / "model")
    assert isinstance(loaded, Diagnoser) and loaded.localizer_ is None
    samples = LesionSamples.from_manifest(test)
    a, b = model.predictor_.predict_proba(samples), loaded.predictor_.predict_proba(samples)
    assert a.shape == (len(test), 2)
    np.testing.assert_array_equal(a, b)
    p, q = loaded.predictor_, model.predictor_
    assert p.fitter_name_ == fitter and p.classes_ == q.classes_ and loaded.classes_ == model.classes_
    assert p.stacking_ == q.stacking_ and p.stacking == q.stacking and p.get_params()["seed"] == 0
    assert p.feature_columns_ == q.feature_columns_ and p.groups_ == q.groups_
    folder = tmp_path / "model"
    prov = yaml.safe_load((folder / "provenance.yaml").read_text())
    assert prov["seeds"]["predictor__seed"] == 0 and len(prov["training_manifest_sha256"]) == 64
    assert "numpy" in prov["versions"] and loaded.provenance_ == prov
    # every folder is one component in the one schema; the parent records each child's kind
    top = yaml.safe_load((folder / "component.yaml").read_text())
    assert top["format"] == "explainendo-component" and top["format_version"] == 5 and top["kind"] == "diagnoser"
    assert top["state"]["predictor"] == {"path": "predictor", "kind": "hybrid_predictor"}
    assert top["state"]["localizer"] is None
    assert yaml.safe_load((folder / "predictor" / "component.yaml").read_text())["kind"] == "hybrid_predictor"
    # every file but the checksums is listed
    listed = {line.split("  ", 1)[1] for line in (folder / "checksums.sha256").read_text().splitlines()}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert listed == on_disk - {"checksums.sha256"}
    assert not list(folder.rglob("*.pkl")) and not list(folder.rglob("*.pt"))
    assert list(folder.rglob("model.json" if fitter == "xgboost" else "model.skops"))


@pytest.fixture(scope="module")
def saved_once(tmp_path_factory, data):
    train, _ = data
    folder = tmp_path_factory.mktemp("saved") / "m"
    Diagnoser(predictor=hybrid(FitterSelector(cv=3, seed=0))).fit(train).save(folder)
    return folder


@pytest.fixture()
def saved(tmp_path, saved_once):
    shutil.copytree(saved_once, tmp_path / "m")  # each test may damage its own copy
    return tmp_path / "m"


def test_auto_fitter_bundle_keeps_the_selection_table(saved, no_unpickling):
    loaded = Diagnoser.load(saved)
    assert set(loaded.predictor_.selection_["candidate"]) == set(DEFAULT_CANDIDATES)
    assert (saved / "predictor" / "fitter" / "selection.csv").is_file()


def test_saving_again_replaces_the_model_and_refuses_other_folders(saved, data, tmp_path):
    train, _ = data
    Diagnoser(predictor=hybrid("decision_tree")).fit(train).save(saved)  # an older model of ours: replaced
    assert explainendo.load(saved).predictor_.fitter_name_ == "decision_tree"
    other = tmp_path / "not_a_model"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an explainendo model"):
        Diagnoser(predictor=hybrid("decision_tree")).fit(train).save(other)
    assert (other / "notes.txt").read_text() == "mine"


def test_tampered_file_is_refused(saved):
    fitter_file = next((saved / "predictor" / "fitter").glob("model.*"))
    fitter_file.write_bytes(fitter_file.read_bytes()[:-3] + b"xyz")
    with pytest.raises(ModelFileError, match="modified") as err:
        explainendo.load(saved)
    assert fitter_file.name in str(err.value)


def test_tampered_component_file_is_refused(saved):
    cfg = saved / "component.yaml"
    cfg.write_text(cfg.read_text().replace("batch_size: 16", "batch_size: 17"))
    with pytest.raises(ModelFileError, match="modified") as err:
        explainendo.load(saved)
    assert "component.yaml" in str(err.value)


def test_foreign_and_missing_files_are_refused(saved, tmp_path):
    (saved / "predictor" / "fitter" / "extra.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelFileError, match="foreign") as err:
        explainendo.load(saved)
    assert "extra.pkl" in str(err.value)
    (saved / "predictor" / "fitter" / "extra.pkl").unlink()
    (saved / "predictor" / "fitter" / "background.safetensors").unlink()
    with pytest.raises(ModelFileError, match="missing") as err:
        explainendo.load(saved)
    assert "background.safetensors" in str(err.value)
    # the checksums file itself missing: a diagnoser never loads unchecked
    (saved / "checksums.sha256").unlink()
    with pytest.raises(ModelFileError, match="checksums"):
        explainendo.load(saved)
    # a folder that is not a model at all
    other = tmp_path / "other"
    other.mkdir()
    (other / "model.pt").write_bytes(b"junk")
    with pytest.raises(ModelFileError, match="component.yaml"):
        explainendo.load(other)
    with pytest.raises(ModelFileError, match="not found"):
        explainendo.load(tmp_path / "nowhere")


def test_malformed_checksum_lines_are_refused(saved):
    sums = saved / "checksums.sha256"
    sums.write_text(sums.read_text() + "abc  ../../etc/passwd\n")
    with pytest.raises(ModelFileError, match="malformed line"):
        explainendo.load(saved)


def test_foreign_component_kind_is_refused_even_with_valid_checksums(saved):
    # rewrite a component's kind to a class path and re-sign the checksums: still never imported
    comp = next((saved / "predictor" / "sources").iterdir()) / "component.yaml"
    assert "kind: columns" in comp.read_text()
    comp.write_text(comp.read_text().replace("kind: columns", "kind: os.system"))
    resign(saved)
    with pytest.raises(ModelFileError, match="os.system"):
        explainendo.load(saved)


def test_child_whose_kind_disagrees_with_its_parent_is_refused_even_with_valid_checksums(saved):
    child = saved / "predictor" / "component.yaml"
    text = child.read_text()
    assert "kind: hybrid_predictor" in text
    child.write_text(text.replace("kind: hybrid_predictor", "kind: cnn_classifier"))
    resign(saved)
    with pytest.raises(ModelFileError, match="cnn_classifier") as err:
        explainendo.load(saved)
    assert "hybrid_predictor" in str(err.value)


def test_older_component_format_version_is_refused_even_with_valid_checksums(saved):
    top = saved / "component.yaml"
    top.write_text(top.read_text().replace("format_version: 5", "format_version: 1"))
    resign(saved)
    with pytest.raises(ModelFileError, match="format_version 1"):
        explainendo.load(saved)


def _not_a_fitter(x):
    return x


def test_untrusted_skops_types_are_refused_even_with_valid_checksums(tmp_path, data, no_unpickling):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    train, _ = data
    folder = tmp_path / "m"
    Diagnoser(predictor=hybrid("logistic_regression")).fit(train).save(folder)
    skops_file = folder / "predictor" / "fitter" / "model.skops"
    assert skops_file.is_file()
    X = np.random.default_rng(0).uniform(0, 1, size=(20, 3))
    evil = Pipeline([("f", FunctionTransformer(_not_a_fitter)), ("lr", LogisticRegression())]).fit(X, np.arange(20) % 2)
    assert sio.get_untrusted_types(data=sio.dumps(evil))  # the trap holds a type skops does not trust
    skops_file.write_bytes(sio.dumps(evil))
    resign(folder)
    with pytest.raises(ModelFileError, match="untrusted") as err:
        explainendo.load(folder)
    assert "model.skops" in str(err.value)


def test_old_format_folder_is_refused_naming_its_version(tmp_path):
    old = tmp_path / "old"
    (old / "fitter").mkdir(parents=True)
    (old / "config.yaml").write_text(yaml.safe_dump({
        "format": "explainendo-model", "format_version": 1, "kind": "hybrid",
        "params": {"fitter": "logistic_regression", "seed": 0}}))
    (old / "provenance.yaml").write_text(yaml.safe_dump({"versions": {"explainendo": "0.3.7", "numpy": "1.26.4"},
                                                         "seed": 0}))
    (old / "fitter" / "model.skops").write_bytes(b"not read")
    resign(old)
    with pytest.raises(ModelFileError, match="0.3.7") as err:
        explainendo.load(old)
    assert "format 1" in str(err.value) and "config.yaml" in str(err.value)
    with pytest.raises(ModelFileError, match="0.3.7"):
        Diagnoser.load(old)
    # without a provenance the version is unknown, and still refused
    (old / "provenance.yaml").unlink()
    resign(old)
    with pytest.raises(ModelFileError, match="earlier version"):
        explainendo.load(old)


# ---- a localizer of the user's own, registered in this file ------------------------------------------
@register_component("toy_localizer_test")
class ToyLocalizer(Localizer):
    """Always the same box: enough to check that a registered user localizer trains, saves and loads."""

    needs_fit = False

    def __init__(self, box=(6.0, 6.0, 50.0, 52.0), score: float = 0.8):
        self.box = box
        self.score = score

    def fit(self, manifest, **kw):
        self.fitted_ = True
        return self

    def _locate_arrays(self, images):
        return [[Box(*self.box, score=self.score, label="lesion")] for _ in images]


def test_registered_user_localizer_saves_and_loads(tmp_path, data, no_unpickling):
    train, test = data
    predictor = hybrid(sources=[ColumnFeatures(ORACLE), HandcraftedFeatures()])
    model = Diagnoser(localizer=ToyLocalizer(box=(4.0, 5.0, 48.0, 50.0)), predictor=predictor).fit(train)
    images = [str(test.path(name)) for name in test.images()[:8]]
    before = model.predict(images, table=test.df)
    assert [r.box.to_xyxy() for r in before] == [(4.0, 5.0, 48.0, 50.0)] * len(images)
    model.save(tmp_path / "m")
    component = yaml.safe_load((tmp_path / "m" / "localizer" / "component.yaml").read_text())
    assert component["kind"] == "toy_localizer_test" and component["params"]["score"] == 0.8
    loaded = explainendo.load(tmp_path / "m")
    assert isinstance(loaded.localizer_, ToyLocalizer) and tuple(loaded.localizer_.box) == (4.0, 5.0, 48.0, 50.0)
    after = loaded.predict(images, table=test.df)
    assert [r.to_dict() for r in after] == [r.to_dict() for r in before]
    assert all(r.ok and len(r.lesions) == 1 for r in after)
    # the lone localizer folder loads on its own too (no checksums for a lone component)
    alone = Component.load(tmp_path / "m" / "localizer")
    assert isinstance(alone, ToyLocalizer) and alone.locate(np.zeros((60, 60, 3), np.uint8))[0].score == 0.8
