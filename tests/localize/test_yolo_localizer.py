"""YoloLocalizer: one short training run proves the train and predict paths (no claim it detects anything)."""

import numpy as np
import pytest
import torch

from explainendo.errors import ConfigError, ManifestError, ModelFileError
from explainendo.localize import Localizer, YoloLocalizer
from explainendo.types import Box


@pytest.fixture(scope="module")
def yolo(phantom_set, tmp_path_factory):
    train, _ = phantom_set
    threads = torch.get_num_threads()
    loc = YoloLocalizer("yolov8n.yaml", imgsz=64, epochs=1, batch=4, conf=0.0, max_det=5, seed=0,
                        workdir=str(tmp_path_factory.mktemp("yolo"))).fit(train)
    assert torch.get_num_threads() == threads  # ultralytics' thread change is undone
    return loc


def test_yolo_trains_and_predicts_boxes(yolo, phantom_set):
    _, test = phantom_set
    assert yolo.names_ == ["polyp"]
    out = yolo.locate_batch([test.path(n) for n in test.images()])
    assert len(out) == len(test.images())
    for boxes in out:
        assert len(boxes) <= 5
        assert all(isinstance(b, Box) and b.is_inside(64, 64, tol=0) and b.label == "polyp" for b in boxes)
        assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)
    # the YOLO dataset lives in the work folder, not beside the data
    assert not list(test.root.glob("**/*.cache")) and not list(phantom_set[0].root.glob("labels"))


def test_yolo_save_load_identical(yolo, phantom_set, tmp_path):
    _, test = phantom_set
    yolo.save(tmp_path / "y")
    files = sorted(p.name for p in (tmp_path / "y").iterdir())
    assert files == ["component.yaml", "model.safetensors"]  # no pickle
    loaded = Localizer.load(tmp_path / "y")
    assert isinstance(loaded, YoloLocalizer)
    imgs = [test.path(n) for n in test.images()] + [np.zeros((30, 50, 3), np.uint8)]
    a, b = yolo.locate_batch(imgs), loaded.locate_batch(imgs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert len(x) == len(y)
        for p, q in zip(x, y):
            assert np.allclose(p.to_xyxy(), q.to_xyxy(), atol=1e-3) and p.score == pytest.approx(q.score, abs=1e-5)


def test_yolo_bad_input(phantom_set, tmp_path):
    train, _ = phantom_set
    with pytest.raises(ConfigError, match="never downloads"):
        YoloLocalizer("yolov8n.pt", workdir=str(tmp_path)).fit(train)
    with pytest.raises(ConfigError):
        YoloLocalizer(imgsz=0, workdir=str(tmp_path)).fit(train)
    with pytest.raises(ManifestError):
        YoloLocalizer(workdir=str(tmp_path)).fit(train.subset(np.zeros(len(train), bool)))
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "component.yaml").write_text("kind: yolo_localizer\nparams: {}\nstate: {}\n")
    with pytest.raises(ModelFileError):
        Localizer.load(tmp_path / "y")


def test_yolo_predicts_with_its_num_threads_not_ultralytics_own(yolo, phantom_set, tmp_path):
    from ultralytics.utils import torch_utils

    _, test = phantom_set
    yolo.save(tmp_path / "y")
    loaded = Localizer.load(tmp_path / "y")  # a fresh predictor: its first call runs select_device
    n = torch_utils.NUM_THREADS + 1  # a count ultralytics would not choose by itself
    loaded.num_threads = n
    before, seen = torch.get_num_threads(), []
    handle = loaded._predictor.model.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        loaded.locate(test.path(test.images()[0]))
    finally:
        handle.remove()
    assert seen and set(seen) == {n}
    assert torch.get_num_threads() == before and torch_utils.NUM_THREADS == n - 1


def test_yolo_saved_with_device_cuda_loads_and_predicts_on_the_cpu(yolo, phantom_set, tmp_path, as_if_saved_on_a_gpu):
    _, test = phantom_set
    yolo.save(tmp_path / "y")
    as_if_saved_on_a_gpu(tmp_path / "y")
    loaded = Localizer.load(tmp_path / "y")
    assert loaded.device == "cuda"
    imgs = [test.path(n) for n in test.images()]
    a, b = yolo.locate_batch(imgs), loaded.locate_batch(imgs)
    assert [len(x) for x in a] == [len(y) for y in b]
    for x, y in zip(a, b):
        for p, q in zip(x, y):
            assert np.allclose(p.to_xyxy(), q.to_xyxy(), atol=1e-3) and p.score == pytest.approx(q.score, abs=1e-5)


def test_yolo_exposes_the_neck_feature_map_for_eigencam(yolo, phantom_set):
    """Issue 19: the detector exposes the feature maps saliency needs (the neck layer feeding Detect, P3)."""
    from explainendo.explain.localizer_saliency import EigenCAM
    from explainendo.io import read_image

    _, test = phantom_set
    frame = read_image(test.path(test.images()[0]))
    wide = np.ascontiguousarray(np.concatenate([frame, frame], axis=1))  # 64 x 128: letterboxed with padding
    layer = yolo.feature_layer
    assert layer is yolo.model_.model[yolo.model_.model[-1].f[0]]
    square, padded = yolo.feature_maps([frame, wide])
    assert square.shape[1:] == (8, 8)  # stride 8 at imgsz 64
    assert padded.shape[1:] == (4, 8)  # the padding rows above and below the wide frame are cut away
    cams = EigenCAM().maps(yolo, [frame, wide])
    assert [c.shape for c in cams] == [(64, 64), (64, 128)]
    assert all(0 <= c.min() and c.max() <= 1 for c in cams)
