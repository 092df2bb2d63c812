"""The default OOD detector's embedding in the ONNX export (explainendo.runtime): a small gastric system with no
network but the detector's EfficientNet-Lite0 (tests/test_ood_default.py's), exported with the command line; loaded
with runtime="onnx" its OOD scores of frames and lesions equal the torch-loaded model's and the torch backbone is
never built; a tampered probe or another embedding is refused, and so is a folder exported before the embedding
joined the export (the fix named)."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import explainendo
from explainendo.bundle import verify_bundle, write_checksums
from explainendo.cli import app
from explainendo.errors import ModelFileError
from explainendo.io.image import read_image

from test_ood_default import _predict, data, small_gastric  # noqa: F401  (data: the module's fixture, reused)

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def exported(data, tmp_path_factory):  # noqa: F811
    folder = small_gastric().fit(data[0]).save(tmp_path_factory.mktemp("onnx_ood") / "model")
    result = CliRunner().invoke(app, ["export", str(folder), "--onnx"])
    assert result.exit_code == 0, result.output
    return folder


def _copy(folder, tmp_path, edit):
    """A copy of the exported folder, edited by ``edit(copy)``, its checksums written again (so the check that
    refuses it is the one under test, not the checksums)."""
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    edit(copy)
    write_checksums(copy)
    return copy


def test_the_export_lists_the_ood_embedding(exported):
    assert "ood/network.onnx" in verify_bundle(exported)
    index = yaml.safe_load((exported / "onnx.yaml").read_text())
    (entry,) = index["networks"]  # the model's only network
    assert entry == {**entry, "path": "ood", "kind": "ood_detector", "file": "ood/network.onnx",
                     "weights": "local-imagenet:efficientnet_lite0", "outputs": ["embedding"],
                     "input": {"name": "images", "shape": ["n", 3, 160, 160], "range": [0.0, 1.0]}}
    assert "weights_sha256" not in entry and 0 <= entry["max_abs_diff"] <= index["atol"] == 1e-4
    assert not (exported / "ood" / "model.safetensors").exists()


def test_onnx_ood_scores_equal_torch_without_building_the_torch_backbone(exported, data):  # noqa: F811
    from explainendo.runtime import OnnxNetwork, onnx_networks

    torch_model = explainendo.load(exported)
    onnx_model = explainendo.load(exported, runtime="onnx")
    detector = onnx_model.ood_
    assert isinstance(detector.onnx_, OnnxNetwork) and onnx_networks(onnx_model) == [detector]
    a, b = _predict(torch_model, data[1]), _predict(onnx_model, data[1])
    np.testing.assert_allclose([r.ood_score for r in b], [r.ood_score for r in a], rtol=1e-4)
    np.testing.assert_allclose([les.ood_score for r in b for les in r.lesions],
                               [les.ood_score for r in a for les in r.lesions], rtol=1e-4)
    assert "_embedding_network" in torch_model.ood_.__dict__  # the torch model did build it
    assert "_embedding_network" not in detector.__dict__
    copy = pickle.loads(pickle.dumps(detector))  # the session travels as its graph's bytes and reopens
    frames = [read_image(data[1].path(n)) for n in data[1].images()[:3]]
    np.testing.assert_allclose(copy.score_frames(frames)[0], detector.score_frames(frames)[0], rtol=1e-6)
    assert "_embedding_network" not in copy.__dict__


def test_a_tampered_probe_or_another_embedding_is_refused(exported, tmp_path):
    def tamper_probe(folder):
        with np.load(folder / "ood" / "ood.npz", allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["embedding_probe"] = arrays["embedding_probe"] * 1.1
        np.savez(folder / "ood" / "ood.npz", **arrays)

    with pytest.raises(ModelFileError, match="probe image embeds differently") as info:
        explainendo.load(_copy(exported, tmp_path / "probe", tamper_probe), runtime="onnx")
    assert "explainendo export" in info.value.hint

    def other_embedding(folder):
        index = yaml.safe_load((folder / "onnx.yaml").read_text())
        index["networks"][0]["weights"] = "local-imagenet:resnet18"
        (folder / "onnx.yaml").write_text(yaml.safe_dump(index, sort_keys=False))

    with pytest.raises(ModelFileError, match="exported from other weights"):
        explainendo.load(_copy(exported, tmp_path / "other", other_embedding), runtime="onnx")


def test_an_index_exported_before_the_embedding_joined_is_refused_with_the_fix(exported, tmp_path):
    def older(folder):
        index = yaml.safe_load((folder / "onnx.yaml").read_text())
        index["networks"] = [e for e in index["networks"] if e["path"] != "ood"]
        (folder / "onnx.yaml").write_text(yaml.safe_dump(index, sort_keys=False))
        (folder / "ood" / "network.onnx").unlink()

    folder = _copy(exported, tmp_path, older)
    with pytest.raises(ModelFileError, match="OOD detector's embedding") as info:
        explainendo.load(folder, runtime="onnx")
    assert f"explainendo export {folder} --onnx" in info.value.hint
    assert explainendo.load(folder).ood_ is not None  # the torch runtime still loads it


def test_a_detector_without_embedding_has_nothing_to_export():
    from explainendo.explain.ood import OODDetector
    from explainendo.runtime import _is_network, onnx_graph

    plain = OODDetector()
    plain.spaces_ = {}  # as fitted: image statistics only
    assert not _is_network(plain) and onnx_graph(plain) is None
    assert not _is_network(OODDetector(embedding="efficientnet_lite0"))  # not fitted: nothing either
