"""Flip test-time augmentation of the box localizers (``tta="flip"``): the merge by hand, flip-equivariance of
the boxes, ``tta=None`` giving exactly the one-pass outputs, saving, an older folder without the parameter,
the onnxruntime path, bad values. Untrained networks (random weights): no training needed."""

import numpy as np
import pytest
import torch
import yaml

from explainendo.errors import ConfigError
from explainendo.localize import BoxRegressionLocalizer, CenterNetLocalizer, Localizer
from explainendo.localize.base import to_input
from explainendo.localize.centernet import decode, merge_flip
from explainendo.torch_threads import torch_threads
from explainendo.types import Box

SIZE = 64


def _fitted(cls, seed=0, **params):
    """``cls`` with a randomly initialised network, as if fitted (one class)."""
    loc = cls(image_size=SIZE, seed=seed, **params)
    loc._check_params()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        loc.model_ = loc._build(1, pretrained=False).eval()
    loc.classes_, loc.device_, loc.fitted_, loc.history_ = ["polyp"], "cpu", True, []
    return loc


@pytest.fixture(scope="module")
def frame():
    """An asymmetric frame at the network's size (no resize, so the mirror is exact)."""
    rng = np.random.default_rng(3)
    img = rng.integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    img[10:40, 5:30] = (230, 200, 80)
    return img


def _mirrored(boxes, width):
    return [(width - b.x2, b.y1, width - b.x1, b.y2, b.score) for b in boxes]


def _rows(boxes):
    return [(b.x1, b.y1, b.x2, b.y2, b.score) for b in boxes]


# ---- the merge, by hand -----------------------------------------------------------------------------------------
def test_merge_flip_hand_values():
    heat = torch.full((1, 1, 2, 3), -20.0)
    heat[0, 0, 0, 0] = 0.0                     # probability 0.5 at row 0, column 0
    flip_heat = torch.full((1, 1, 2, 3), -20.0)
    flip_heat[0, 0, 0, 2] = torch.logit(torch.tensor(0.9))  # column 2 of the mirror is column 0 of the frame
    ltrb = torch.zeros(1, 4, 2, 3)
    ltrb[0, :, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    flip_ltrb = torch.zeros(1, 4, 2, 3)
    flip_ltrb[0, :, 0, 2] = torch.tensor([5.0, 6.0, 7.0, 8.0])  # its left is the frame's right
    h, d = merge_flip(heat, ltrb, flip_heat, flip_ltrb)
    assert torch.sigmoid(h[0, 0, 0, 0]).item() == pytest.approx(0.7, abs=1e-6)
    assert torch.sigmoid(h[0, 0, 1, 1]).item() < 1e-6
    assert d[0, :, 0, 0].tolist() == [(1 + 7) / 2, (2 + 6) / 2, (3 + 5) / 2, (4 + 8) / 2]


def test_merge_flip_of_mirror_outputs_is_the_identity():
    g = torch.Generator().manual_seed(0)
    heat, ltrb = torch.randn(2, 3, 5, 6, generator=g), torch.rand(2, 4, 5, 6, generator=g) * 10
    h, d = merge_flip(heat, ltrb, heat.flip(-1), ltrb.flip(-1)[:, [2, 1, 0, 3]])
    assert torch.allclose(h, heat, atol=1e-4) and torch.allclose(d, ltrb)
    merged, plain = decode(h, d, 8, min_score=0.2), decode(heat, ltrb, 8, min_score=0.2)
    assert [len(m) for m in merged] == [len(p) for p in plain]
    assert np.allclose(np.array(sum(merged, [])), np.array(sum(plain, [])), atol=1e-3)


# ---- the localizers -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [CenterNetLocalizer, BoxRegressionLocalizer])
def test_flip_tta_boxes_are_mirrored_for_a_mirrored_frame(cls, frame):
    loc = _fitted(cls, tta="flip", **({"min_score": 0.05} if cls is CenterNetLocalizer else {}))
    boxes, flipped = loc.locate(frame), loc.locate(np.ascontiguousarray(frame[:, ::-1]))
    assert boxes and len(boxes) == len(flipped)
    assert np.allclose(sorted(_rows(flipped)), sorted(_mirrored(boxes, SIZE)), atol=1e-3)


@pytest.mark.parametrize("cls", [CenterNetLocalizer, BoxRegressionLocalizer])
def test_tta_none_is_the_one_pass_output_and_flip_changes_it(cls, frame):
    kw = {"min_score": 0.05} if cls is CenterNetLocalizer else {}
    loc = _fitted(cls, **kw)
    assert loc.tta is None and loc.get_params()["tta"] is None
    (outputs, count), = list(loc.forward_batches([frame]))
    with torch_threads(loc._training.num_threads), torch.inference_mode():  # the one-pass code, as before
        raw = loc.model_(to_input(np.stack([frame]), "cpu"))
    assert count == 1 and all(torch.equal(a, b) for a, b in zip(outputs, raw))
    found = [Box(x1, y1, x2, y2, score=s).clip(SIZE, SIZE)
             for x1, y1, x2, y2, s, _ in loc._decode(raw, loc.min_score)[0]]
    assert found and _rows(loc.locate(frame)) == _rows(found)  # the old decoding, box for box
    loc.set_params(tta="flip")
    assert _rows(loc.locate(frame)) != _rows(found)


def test_tta_is_saved_and_an_older_folder_without_it_loads_with_none(frame, tmp_path):
    loc = _fitted(CenterNetLocalizer, tta="flip", min_score=0.05)
    loc.save(tmp_path / "det")
    back = Localizer.load(tmp_path / "det")
    assert back.tta == "flip" and np.allclose(_rows(back.locate(frame)), _rows(loc.locate(frame)))
    path = tmp_path / "det" / "component.yaml"
    meta = yaml.safe_load(path.read_text())
    del meta["params"]["tta"]  # as saved before the parameter existed
    path.write_text(yaml.safe_dump(meta, sort_keys=False))
    old = Localizer.load(tmp_path / "det")
    assert old.tta is None
    loc.set_params(tta=None)
    assert _rows(old.locate(frame)) == _rows(loc.locate(frame))


def test_flip_tta_through_the_onnx_path_matches_torch(frame):
    loc = _fitted(CenterNetLocalizer, tta="flip", min_score=0.05)
    torch_boxes = _rows(loc.locate(frame))
    net = loc.model_

    def session(x):  # what explainendo.runtime gives the localizer: numpy in, numpy arrays out
        with torch.inference_mode():
            return [o.numpy() for o in net(torch.from_numpy(x))]

    loc.onnx_ = session
    assert np.allclose(_rows(loc.locate(frame)), torch_boxes, atol=1e-5)


@pytest.mark.parametrize("bad", ["hflip", "FLIP", True, 1])
def test_bad_tta_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="tta"):
        CenterNetLocalizer(tta=bad)._check_params()
    with pytest.raises(ConfigError, match="tta"):
        BoxRegressionLocalizer(tta=bad)._check_params()
