"""SoftMaskLocalizer and WholeFrame: training and prediction paths, save/load, bad input."""

import numpy as np
import pandas as pd
import pytest

from explainendo.errors import ConfigError, ManifestError, ModelFileError, NotFittedError
from explainendo.io import Manifest
from explainendo.localize import Localizer, SoftMaskLocalizer, WholeFrame
from explainendo.localize import UNetTraining


def _tiny(**kw):
    args = dict(encoder="vgg", image_size=32, training=UNetTraining(epochs=2, batch_size=4), base_channels=4, seed=0)
    args.update(kw)
    return SoftMaskLocalizer(**args)


@pytest.fixture(scope="module")
def fitted(phantom_set):
    train, _ = phantom_set
    return _tiny().fit(train)


def test_softmask_fit_and_locate(fitted, phantom_set):
    _, test = phantom_set
    assert len(fitted.history_) == 2 and all(np.isfinite(h["loss"]) for h in fitted.history_)
    assert fitted.label_ == "polyp"
    for name in test.images():
        boxes = fitted.locate(test.path(name))
        assert len(boxes) == 1  # min_score=0: always one box, as for the ampulla
        b = boxes[0]
        assert b.is_inside(64, 64, tol=0) and 0 < b.score <= 1 and b.label == "polyp"
    masks = fitted.predict_masks([np.zeros((50, 70, 3), np.uint8)])
    assert masks.shape == (1, 32, 32) and ((masks >= 0) & (masks <= 1)).all()


def test_softmask_same_seed_same_model(fitted, phantom_set):
    train, test = phantom_set
    again = _tiny().fit(train)
    img = [test.path(n) for n in test.images()]
    assert again.locate_batch(img) == fitted.locate_batch(img)
    assert [h["loss"] for h in again.history_] == [h["loss"] for h in fitted.history_]


def test_softmask_save_load_identical(fitted, phantom_set, tmp_path):
    _, test = phantom_set
    fitted.save(tmp_path / "m")
    assert (tmp_path / "m" / "component.yaml").is_file() and (tmp_path / "m" / "model.safetensors").is_file()
    loaded = Localizer.load(tmp_path / "m")
    assert isinstance(loaded, SoftMaskLocalizer) and loaded.get_params() == fitted.get_params()
    imgs = [test.path(n) for n in test.images()]
    assert loaded.locate_batch(imgs) == fitted.locate_batch(imgs)
    with pytest.raises(ModelFileError):
        WholeFrame.load(tmp_path / "m")  # a soft-mask folder is not a WholeFrame


def test_locate_batch_keeps_going_past_a_broken_item(fitted, phantom_set, tmp_path):
    _, test = phantom_set
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    imgs = [test.path(test.images()[0]), bad, np.zeros((40, 40, 3), np.uint8)]
    out = fitted.locate_batch(imgs)
    assert len(out) == 3 and out[1] == [] and len(out[0]) == 1 and len(out[2]) == 1
    assert len(fitted.errors_) == 1 and "broken.png" in fitted.errors_[0][0]


def test_efficientnet_lite0_encoder_uses_imagenet_weights(phantom_set):
    import torch

    from explainendo.heads.backbones import efficientnet_lite0_weights_path

    train, test = phantom_set
    loc = SoftMaskLocalizer("efficientnet_lite0", image_size=32, training=UNetTraining(epochs=1, batch_size=4))
    src = torch.load(efficientnet_lite0_weights_path(), map_location="cpu", weights_only=True)
    body = loc._build(pretrained=True).encoder.body
    assert torch.equal(body.conv_stem.weight, src["_conv_stem.weight"])
    assert torch.equal(body.blocks[6][0].conv_pwl.weight, src["_blocks.15._project_conv.weight"])
    loc.fit(train.subset(np.arange(len(train)) < 4))
    assert len(loc.locate(test.path(test.images()[0]))) == 1


def test_bad_manifests(phantom_set, tmp_path):
    train, _ = phantom_set
    with pytest.raises(ManifestError, match="empty"):
        _tiny().fit(train.subset(np.zeros(len(train), bool)))
    no_boxes = Manifest(train.df.drop(columns=["x1", "y1", "x2", "y2"]), train.root)
    with pytest.raises(ManifestError, match="no boxes"):
        _tiny().fit(no_boxes)
    outside = train.df.copy()
    outside.loc[0, ["x1", "y1", "x2", "y2"]] = [50, 50, 200, 90]  # past the 64x64 image
    with pytest.raises(ManifestError, match="exceeds"):
        _tiny().fit(Manifest(outside, train.root))
    with pytest.raises(ManifestError):
        _tiny().fit(pd.DataFrame({"image": ["a.png"]}))


def test_bad_parameters_and_unfitted(phantom_set, tmp_path):
    train, _ = phantom_set
    with pytest.raises(ConfigError):
        _tiny(image_size=50).fit(train)
    with pytest.raises(ConfigError):
        _tiny(encoder="resnet").fit(train)
    with pytest.raises(NotFittedError):
        _tiny().locate(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ModelFileError):
        Localizer.load(tmp_path)
    (tmp_path / "component.yaml").write_text("format: explainendo-component\nformat_version: 5\nkind: nonsense\n"
                                             "params: {}\n")
    with pytest.raises(ModelFileError, match="unknown component kind 'nonsense'"):
        Localizer.load(tmp_path)


def test_whole_frame_removes_the_black_border(tmp_path):
    img = np.zeros((100, 120, 3), np.uint8)
    img[10:90, 20:110] = 120
    img[2:6, 2:30] = 255  # burnt-in text in the border is ignored
    (box,) = WholeFrame().locate(img)
    assert box.to_xyxy() == (20, 10, 110, 90) and box.score == 1
    (full,) = WholeFrame(remove_border=False).locate(img)
    assert full.to_xyxy() == (0, 0, 120, 100)
    assert WholeFrame().locate(np.zeros((10, 10, 3), np.uint8))[0].to_xyxy() == (0, 0, 10, 10)
    wf = WholeFrame(label="frame").fit(None)
    wf.save(tmp_path / "wf")
    again = Localizer.load(tmp_path / "wf")
    assert isinstance(again, WholeFrame) and again.locate(img) == wf.locate(img)
    crop = again.locate(img)[0].crop(img, enlarge=1.2)
    assert crop.shape[:2] == (96, 108)


def _threads_seen_by(net, run):
    """torch's thread count at each forward of ``net`` while ``run()`` runs."""
    import torch

    seen = []
    handle = net.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        run()
    finally:
        handle.remove()
    return seen


def test_softmask_predicts_with_its_num_threads_and_restores_the_callers(fitted, phantom_set):
    import torch

    _, test = phantom_set
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        fitted.training.num_threads = 1
        seen = _threads_seen_by(fitted.model_, lambda: fitted.locate(test.path(test.images()[0])))
        assert seen == [1] and torch.get_num_threads() == 3
    finally:
        fitted.training.num_threads = None
        torch.set_num_threads(before)


def test_softmask_saved_with_device_cuda_loads_and_predicts_on_the_cpu(fitted, phantom_set, tmp_path,
                                                                       as_if_saved_on_a_gpu):
    _, test = phantom_set
    fitted.save(tmp_path / "m")
    as_if_saved_on_a_gpu(tmp_path / "m")
    loaded = Localizer.load(tmp_path / "m")
    assert loaded.training.device == "cuda" and loaded.device_ == "cpu"
    imgs = [test.path(n) for n in test.images()]
    assert loaded.locate_batch(imgs) == fitted.locate_batch(imgs)
