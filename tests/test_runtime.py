"""ONNX export and onnxruntime inference (explainendo.runtime): a tiny gastric model (soft-mask U-Net localizer,
attribute heads, handcrafted features, logistic regression) trained here, exported with the command line, loaded
with runtime="onnx": the whole predict agrees with torch within 1e-4 and Grad-CAM within 1e-3, the folder still
verifies, a missing onnxruntime is a typed error naming the install, and a graph that disagrees with torch is
refused."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import explainendo
from explainendo.bundle import verify_bundle
from explainendo.cli import app
from explainendo.errors import ConfigError, MissingDependencyError, ModelFileError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    from explainendo import GastricDiagnoser, InSample
    from explainendo.localize import SoftMaskLocalizer, UNetTraining
    from explainendo.synth import generate
    from explainendo.systems.gastric import gastric_heads, gastric_predictor
    from explainendo.training import Training

    root = tmp_path_factory.mktemp("onnx_model")
    train = generate("gastric", 24, seed=0, size=64).write(root / "train")
    heads = gastric_heads(0, image_size=32, pretrained=False, backbone="resnet18",
                          training=Training(epochs=1, batch_size=32, num_threads=1, device="cpu"))
    localizer = SoftMaskLocalizer(image_size=32, base_channels=4, seed=0,
                                  training=UNetTraining(epochs=1, batch_size=8, num_threads=1))
    predictor = gastric_predictor(heads=heads, fitter="logistic_regression", stacking=InSample(),
                                  group_selection=None, seed=0)
    model = GastricDiagnoser(localizer=localizer, predictor=predictor, seed=0, ood=None).fit(train)
    return model.save(root / "model")


@pytest.fixture(scope="module")
def images():
    from explainendo.synth import generate

    return [np.asarray(im) for im in generate("gastric", 5, seed=7, size=64).images]


@pytest.fixture(scope="module")
def exported(saved_model):
    result = CliRunner().invoke(app, ["export", str(saved_model), "--onnx"])
    assert result.exit_code == 0, result.output
    return saved_model, result.output


def test_export_writes_one_onnx_file_per_network_and_the_folder_still_verifies(exported):
    folder, output = exported
    listed = verify_bundle(folder)  # the new files are in checksums.sha256; nothing foreign
    assert {"localizer/network.onnx", "predictor/sources/00_attributes/network.onnx", "onnx.yaml"} <= set(listed)
    assert "2 network(s) exported" in output and "largest difference from torch" in output
    import yaml

    index = yaml.safe_load((folder / "onnx.yaml").read_text())
    kinds = {e["path"]: e["kind"] for e in index["networks"]}
    assert kinds == {"localizer": "softmask_localizer", "predictor/sources/00_attributes": "attribute_heads"}
    assert all(e["max_abs_diff"] <= 1e-4 for e in index["networks"])
    assert explainendo.load(folder).predict  # still loads as a torch model


def test_onnx_runtime_matches_torch_through_the_whole_predict(exported, images):
    folder, _ = exported
    torch_model = explainendo.load(folder)
    onnx_model = explainendo.load(folder, runtime="onnx")
    from explainendo.runtime import onnx_networks

    assert len(onnx_networks(onnx_model)) == 2 and onnx_networks(torch_model) == []
    masks_t = torch_model.localizer_.predict_masks(images)
    masks_o = onnx_model.localizer_.predict_masks(images)
    assert np.abs(masks_t - masks_o).max() <= 1e-4
    for a, b in zip(torch_model.predict(images), onnx_model.predict(images)):
        assert (a.box.x1, a.box.y1, a.box.x2, a.box.y2) == (b.box.x1, b.box.y1, b.box.x2, b.box.y2)
        assert abs(a.box.score - b.box.score) <= 1e-4  # the mask's peak: float error only
        assert max(abs(a.probabilities[c] - b.probabilities[c]) for c in a.probabilities) <= 1e-4
        fa, fb = a.lesions[0].features, b.lesions[0].features
        assert max(abs(fa[k] - fb[k]) for k in fa if np.isfinite(fa[k])) <= 1e-4  # the heads' probabilities
    result = onnx_model.predict(images[0], keep_frames=True)[0]
    assert onnx_model.explain(result).gradcams
    # Grad-CAM: the feature map from onnxruntime, the gradient through the torch heads: torch's maps
    from explainendo.features import LesionSamples

    samples = LesionSamples.from_images(images, [r.box for r in torch_model.predict(images)])
    cams_t = torch_model.predictor_.sources_[0].gradcam(samples)
    cams_o = onnx_model.predictor_.sources_[0].gradcam(samples)
    assert set(cams_t) == set(cams_o) == {"bleeding", "elevation", "depression", "boundary", "surface", "tone",
                                          "landmark"}
    assert max(float(np.abs(a - b).max()) for k in cams_t for a, b in zip(cams_t[k], cams_o[k])) <= 1e-3


def test_an_earlier_cam_stage_is_a_graph_output_and_an_older_graph_falls_back_to_torch(exported, images):
    """Heads whose CAM reads an earlier stage export that stage's map (``gradcam_feature_map_stage<k>``) and their
    Grad-CAM starts from it; the folder's graph, exported with the last map only, still serves their probabilities
    and Grad-CAM then runs the stages up to the CAM stage in torch: the maps are torch's either way."""
    from explainendo.features import LesionSamples
    from explainendo.heads import HeadCAM
    from explainendo.runtime import FEATURE_MAP, OnnxNetwork, _export_bytes, onnx_graph

    folder, _ = exported
    torch_heads = explainendo.load(folder).predictor_.sources_[0]
    onnx_heads = explainendo.load(folder, runtime="onnx").predictor_.sources_[0]
    assert onnx_heads.onnx_.output_names[-1] == FEATURE_MAP  # exported with the default: the last map
    cam = HeadCAM(method="layercam", layer="auto")
    for heads in (torch_heads, onnx_heads):
        heads.set_params(cam=cam)
    samples = LesionSamples.from_images(images[:2], [r.box for r in explainendo.load(folder).predict(images[:2])])
    reference = torch_heads.gradcam(samples)
    older = onnx_heads.gradcam(samples)  # no output of stage 1 in this graph: torch computes it
    graph = onnx_graph(onnx_heads)
    assert graph.output_names[-1] == f"{FEATURE_MAP}_stage{onnx_heads._cam_stage()}"
    onnx_heads.onnx_ = OnnxNetwork(_export_bytes(graph, 17), graph.input_name, graph.output_names, threads=1)
    onnx_heads.predict_proba(samples)  # keeps the stage's map from the graph
    assert onnx_heads._recalled_feature_maps(*onnx_heads._encode(samples, onnx_heads.net_specs_,
                                                                 need_labels=False)[:2])
    newer = onnx_heads.gradcam(samples)
    for name in reference:
        for a, b, c in zip(reference[name], older[name], newer[name]):
            assert np.abs(a - b).max() <= 1e-3 and np.abs(a - c).max() <= 1e-3


def test_a_missing_onnxruntime_is_a_typed_error_naming_the_install(exported, monkeypatch):
    folder, _ = exported
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'explainendo\[onnx\]'"):
        explainendo.load(folder, runtime="onnx")
    result = CliRunner().invoke(app, ["export", str(folder), "--onnx"])
    assert result.exit_code == 2 and "explainendo[onnx]" in result.output
    assert isinstance(MissingDependencyError("x"), ImportError)


def test_unexported_folders_bad_runtimes_and_edited_exports_are_refused(saved_model, exported, tmp_path):
    folder, _ = exported
    with pytest.raises(ConfigError, match="runtime="):
        explainendo.load(folder, runtime="tensorrt")
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(folder, plain)
    for path in ("onnx.yaml", "localizer/network.onnx", "predictor/sources/00_attributes/network.onnx"):
        (plain / path).unlink()
    from explainendo.bundle import write_checksums

    write_checksums(plain)
    with pytest.raises(ConfigError, match="no ONNX export"):
        explainendo.load(plain, runtime="onnx")
    edited = tmp_path / "edited"
    shutil.copytree(folder, edited)
    with open(edited / "localizer" / "network.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelFileError, match="checksum"):
        explainendo.load(edited, runtime="onnx")


def test_a_graph_that_disagrees_with_torch_is_refused_and_nothing_is_written(saved_model, tmp_path, monkeypatch):
    import explainendo.runtime as runtime

    monkeypatch.setattr(runtime, "parity", lambda *a, **k: 0.5)
    with pytest.raises(ModelFileError, match="differs from torch"):
        runtime.export_onnx(saved_model, tmp_path / "copy")
    assert not (tmp_path / "copy" / "onnx.yaml").exists()
    assert not list((tmp_path / "copy").rglob("*.onnx"))
    result = CliRunner().invoke(app, ["export", str(saved_model)])
    assert result.exit_code == 2 and "--onnx" in result.output


def test_the_video_command_runs_onnx_with_box_reuse(exported, tmp_path):
    import json

    from explainendo.synth import generate
    from explainendo.synth.clips import make_clip

    folder, _ = exported
    phantom = generate("gastric", 1, seed=3, size=64)
    box = phantom.table.loc[0, ["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)
    clip = make_clip(phantom.images[0], box, seed=0, size=64, approach_frames=4, hold_frames=4, frozen_frames=[10],
                     resume_frames=2).write(tmp_path / "clip.mp4")
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(app, ["video", str(folder), str(clip), "--out", str(out), "--no-explain",
                                      "--runtime", "onnx", "--reuse-box"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert len(records) == 20 and any(r["box_reused"] for r in records) and not records[0]["box_reused"]
    assert "localizer skipped on" in result.output
