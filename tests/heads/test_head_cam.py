"""The heads' class activation maps (issue 24): the fast path (the CAM stage's output kept from the forward, the later
stages and every head back-propagated at once) gives the map a plain full-graph computation gives; the map's
resolution is the chosen stage's; ``HeadCAM`` is checked, saved and loaded with the model, and a model saved before
it loads with the default."""

import copy

import numpy as np
import pytest
import torch
import yaml

from explainendo.errors import ConfigError
from explainendo.explain import gradcam as gradcam_module
from explainendo.explain.gradcam import ClassTarget, scale_cam
from explainendo.heads import AttributeHeads, HeadCAM
from explainendo.specs import AttributeSpec
from explainendo.training import Training


def _full_graph_cam(heads, samples, head: str, target: int, method: str):
    """The map computed the plain way: one forward from the image with the CAM stage's output kept in the graph,
    the head's score of ``target`` back-propagated to it, the method's formula written out."""
    stage = heads._cam_stage()
    backbone = heads.net_.backbone
    crops, _, _, _ = heads._encode(samples, heads.net_specs_, need_labels=False)
    x = backbone.preprocess(crops.float() / 255)
    kept = None
    for i, block in enumerate(backbone.stages):
        x = block(x)
        if i == stage:
            kept = x
    logits = heads.net_.heads[head](x.mean(dim=(2, 3)))
    grads, = torch.autograd.grad(logits[:, target].sum(), kept)
    kept = kept.detach()
    if method == "layercam":
        raw = torch.relu((torch.relu(grads) * kept).sum(1))
    else:  # gradcam
        raw = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * kept).sum(1))
    return [scale_cam(cam, crop.shape[:2][::-1]) for cam, crop in zip(raw.numpy(), samples.crops)]


@pytest.mark.parametrize("method", ["layercam", "gradcam"])
def test_maps_of_all_heads_at_once_equal_a_full_graph_computation(tiny_heads, tiny_test, method):
    heads = copy.deepcopy(tiny_heads).set_params(cam=HeadCAM(method=method, layer="auto"))
    assert heads._cam_stage() == 1 and heads._cam_grid() == (16, 16)  # ResNet-18 at 64 px: layer1, stride 4
    samples = tiny_test.subset([0, 1, 2])
    heads.predict_proba(samples)  # keeps the stage's output: the maps below start from it
    maps = heads.gradcam(samples, attributes=["bleeding", "tone"], targets={"bleeding": 1, "tone": ClassTarget(2)})
    for head, target in (("bleeding", 1), ("tone", 2)):
        expected = _full_graph_cam(heads, samples, head, target, method)
        for got, want in zip(maps[head], expected):
            np.testing.assert_allclose(got, want, atol=1e-4)
    assert not np.allclose(maps["bleeding"][0], maps["tone"][0])  # two heads, two maps (no cross-talk)


def test_the_map_resolution_is_the_chosen_stage_s_at_128_px(tiny_train, monkeypatch):
    heads = AttributeHeads([AttributeSpec("bleeding", ("no", "yes"))], backbone="efficientnet_lite0",
                           pretrained=False, image_size=128, seed=0,
                           training=Training(epochs=1, batch_size=8, num_threads=1)).fit(tiny_train.subset(range(8)))
    grids = heads._stage_grids()
    assert grids[-1] == (4, 4)  # the last feature map at 128 px: what the maps were made of before
    assert heads._cam_stage() == 8 and heads._cam_grid() == (4, 4)  # the default: the last map
    heads.set_params(cam=HeadCAM(method="layercam", layer="auto"))
    assert heads._cam_stage() == 3 and heads._cam_grid() == (16, 16)  # auto: stride 8
    raw_shapes = []
    real = gradcam_module.scale_cam
    monkeypatch.setattr(gradcam_module, "scale_cam",
                        lambda cam, size: (raw_shapes.append(cam.shape), real(cam, size))[1])
    sample = tiny_train.subset([0])
    heads.gradcam(sample)
    heads.set_params(cam=HeadCAM(method="gradcam", layer="last")).gradcam(sample)
    heads.set_params(cam=HeadCAM(layer=5)).gradcam(sample)
    assert raw_shapes == [(16, 16), (4, 4), (8, 8)]


def test_settings_are_checked():
    with pytest.raises(ConfigError, match="method"):
        HeadCAM(method="scorecam").check_params()
    for layer in (-1, "first", 1.5, True):
        with pytest.raises(ConfigError, match="layer"):
            HeadCAM(layer=layer).check_params()
    with pytest.raises(ConfigError, match="out of range"):
        AttributeHeads(backbone="resnet18", cam=HeadCAM(layer=5)).check_params()  # stages 0-4
    assert HeadCAM(layer="auto").resolve([(64, 64), (32, 32), (16, 16), (8, 8), (4, 4)]) == 2
    # nothing 12 wide: the deepest of the largest maps
    assert HeadCAM(layer="auto").resolve([(8, 8), (8, 8), (4, 4), (2, 2)]) == 1
    assert HeadCAM(layer="last").resolve([(8, 8), (4, 4)]) == 1


def test_the_setting_is_saved_and_an_older_model_loads_with_the_default(tiny_heads, tiny_test, tmp_path):
    heads = copy.deepcopy(tiny_heads).set_params(cam=HeadCAM(method="gradcam++", layer=2))
    heads.save(tmp_path / "heads")
    loaded = AttributeHeads.load(tmp_path / "heads")
    assert loaded.cam == HeadCAM(method="gradcam++", layer=2) and loaded._cam_stage() == 2
    sample = tiny_test.subset([0])
    for a, b in zip(heads.gradcam(sample)["tone"], loaded.gradcam(sample)["tone"]):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # a model saved before HeadCAM existed has no ``cam`` parameter: it loads with the default
    path = tmp_path / "heads" / "component.yaml"
    meta = yaml.safe_load(path.read_text())
    del meta["params"]["cam"]
    path.write_text(yaml.safe_dump(meta, sort_keys=False))
    old = AttributeHeads.load(tmp_path / "heads")
    assert old.cam is None and old._cam == HeadCAM(method="gradcam", layer="last") and old._cam_stage() == 4
    got = old.gradcam(sample, attributes=["tone"], targets={"tone": 1})["tone"]  # Grad-CAM of the last map, as before
    np.testing.assert_allclose(got[0], _full_graph_cam(old, sample, "tone", 1, "gradcam")[0], atol=1e-4)
