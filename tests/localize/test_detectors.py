"""CenterNetLocalizer and BoxRegressionLocalizer: the box coding against hand values, the augmentation's
geometry, training on phantoms (against the whole-frame baseline), several lesions per frame, save / load,
a GPU-trained model on a CPU, bad parameters."""

import numpy as np
import pytest
import torch

from explainendo.errors import ConfigError, ManifestError
from explainendo.evaluate.detection import evaluate_localizer, mean_iou
from explainendo.localize import (BoxAugment, BoxRegressionLocalizer, CenterNetLocalizer, DetectorTraining,
                                  Localizer, WholeFrame)
from explainendo.localize.centernet import decode, distances_to_boxes, encode_targets, giou_loss


# ---- the coding, by hand ------------------------------------------------------------------------------------
def test_encode_targets_hand_values():
    # a 32x24 px box centred at (36, 20) on an 8x8 grid of 8 px cells: centre cell row 2, column 4
    heat, target, weight = encode_targets(np.array([[20.0, 8.0, 52.0, 32.0]]), np.array([1]), 2, (8, 8), 8)
    assert heat.shape == (2, 8, 8) and target.shape == (4, 8, 8) and weight.shape == (8, 8)
    assert heat[1, 2, 4] == 1.0 and (heat[1] == 1).sum() == 1 and not heat[0].any()
    assert heat[1, 2, 3] < 1 and heat[1, 2, 3] > heat[1, 2, 2]  # Gaussian falls off from the centre
    assert np.allclose(target[:, 2, 4], [20, 8, 52, 32])
    assert weight[2, 4] == weight.max() > 0
    assert not weight[7, 0] and not weight[0, 7]  # far cells regress nothing
    # the weights of one box sum to log(area)
    assert weight.sum() == pytest.approx(np.log(32 * 24), rel=1e-5)


def test_encode_targets_smaller_box_wins_shared_cells():
    big, small = [0.0, 0.0, 64.0, 64.0], [24.0, 24.0, 40.0, 40.0]
    _, target, _ = encode_targets(np.array([big, small]), np.array([0, 0]), 1, (8, 8), 8)
    assert np.allclose(target[:, 4, 4], small) and np.allclose(target[:, 2, 4], big)


def test_distances_to_boxes_hand_values():
    ltrb = torch.zeros(1, 4, 3, 4)
    ltrb[0, :, 1, 2] = torch.tensor([4.0, 2.0, 6.0, 8.0])
    boxes = distances_to_boxes(ltrb, 8)
    # cell (row 1, column 2) has its centre at (20, 12)
    assert boxes[0, :, 1, 2].tolist() == [16.0, 10.0, 26.0, 20.0]
    assert boxes[0, :, 0, 0].tolist() == [4.0, 4.0, 4.0, 4.0]


def test_giou_loss_hand_values():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]])
    b = torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0], [2.0, 0.0, 3.0, 1.0]])
    # identical: 0; IoU 1/3, hull = union: 2/3; disjoint with a gap: IoU 0, hull 3, union 2: 1 + 1/3
    assert giou_loss(a, b).tolist() == pytest.approx([0.0, 2 / 3, 4 / 3], abs=1e-5)


def test_decode_finds_each_peak_and_reads_its_box():
    logits = torch.full((1, 2, 8, 8), -10.0)
    logits[0, 0, 2, 2] = 2.0   # sigmoid 0.88, class 0
    logits[0, 1, 5, 6] = 0.0   # sigmoid 0.5, class 1
    logits[0, 0, 6, 1] = -4.0  # 0.018: under min_score
    ltrb = torch.full((1, 4, 8, 8), 4.0)
    found = decode(logits, ltrb, 8, min_score=0.05)[0]
    assert [(round(s, 3), c) for *_, s, c in found] == [(0.881, 0), (0.5, 1)]
    assert found[0][:4] == (16.0, 16.0, 24.0, 24.0)  # cell centre (20, 20) +- 4
    assert found[1][:4] == (48.0, 40.0, 56.0, 48.0)  # cell (row 5, column 6): centre (52, 44)


def test_decode_keeps_one_of_two_overlapping_peaks_of_a_class():
    logits = torch.full((1, 1, 8, 8), -10.0)
    logits[0, 0, 3, 3], logits[0, 0, 3, 5] = 1.0, 0.5  # two local maxima, two cells apart
    ltrb = torch.full((1, 4, 8, 8), 20.0)  # 40 px boxes 16 px apart: IoU 0.43
    assert len(decode(logits, ltrb, 8, min_score=0.05, nms_iou=0.4)[0]) == 1
    assert len(decode(logits, ltrb, 8, min_score=0.05, nms_iou=0.6)[0]) == 2


# ---- augmentation -------------------------------------------------------------------------------------------
def _marked(box, s=64):
    img = np.zeros((s, s, 3), np.uint8)
    x1, y1, x2, y2 = (int(v) for v in box)
    img[y1:y2, x1:x2] = 255
    return img


def _white_box(img):
    ys, xs = np.nonzero(img[..., 0] > 127)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("aug", [BoxAugment(flip=True, rotate90=True, scale=(1.0, 1.0), translate=0.0),
                                 BoxAugment(flip=True, rotate90=True, scale=(0.7, 1.3), translate=0.1)])
def test_augment_moves_boxes_with_the_pixels(aug):
    rng = np.random.default_rng(3)
    box = np.array([[8.0, 12.0, 40.0, 28.0]])
    for _ in range(12):
        img, boxes, classes = aug.geometric(_marked(box[0]), box, np.array([2]), rng)
        assert classes.tolist() == [2]
        assert np.allclose(boxes[0], _white_box(img), atol=1.5)


def test_augment_drops_a_box_pushed_out_of_the_frame():
    aug = BoxAugment(flip=False, rotate90=False, scale=(1.5, 1.5), translate=0.0, min_visible=0.4)
    boxes = np.array([[0.0, 0.0, 8.0, 8.0], [24.0, 24.0, 40.0, 40.0]])
    _, out, classes = aug.geometric(np.zeros((64, 64, 3), np.uint8), boxes, np.array([0, 1]), np.random.default_rng(0))
    assert classes.tolist() == [1] and np.allclose(out[0], [20, 20, 44, 44])


def test_augment_none_is_the_identity_and_colour_stays_in_range():
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    boxes = np.array([[1.0, 2.0, 10.0, 20.0]])
    same, b, _ = BoxAugment.none().geometric(img, boxes, np.array([0]), np.random.default_rng(0))
    assert (same == img).all() and np.allclose(b, boxes)
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    assert torch.equal(BoxAugment.none().colour(x, np.random.default_rng(0)), x)
    y = BoxAugment(hue=0.05).colour(x, np.random.default_rng(0))
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1 and not torch.equal(x, y)


# ---- training on phantoms -----------------------------------------------------------------------------------
def _training(epochs):
    return DetectorTraining(epochs=epochs, batch_size=8, lr=3e-3, num_threads=2)


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory, phantom_writer):
    root = tmp_path_factory.mktemp("detector-phantoms")
    return (phantom_writer.single(root / "train", n=48, size=64, seed=0),
            phantom_writer.single(root / "test", n=12, size=64, seed=1))


@pytest.fixture(scope="module")
def centernet(phantoms):
    return CenterNetLocalizer(image_size=64, training=_training(12), min_score=0.05, seed=0).fit(phantoms[0])


def _score(loc, manifest):
    imgs = manifest.images()
    preds = loc.locate_batch([manifest.path(i) for i in imgs])
    return mean_iou(preds, [manifest.boxes_for(i) for i in imgs], top_k=1)


def test_centernet_beats_the_whole_frame_on_phantoms(centernet, phantoms):
    test = phantoms[1]
    baseline = _score(WholeFrame(remove_border=False).fit(), test)
    got = _score(centernet, test)
    assert baseline < 0.15 and got > 0.5, (baseline, got)
    assert centernet.classes_ == ["polyp"]
    boxes = centernet.locate(test.path(test.images()[0]))
    assert boxes and boxes[0].label == "polyp" and all(b.is_inside(64, 64, tol=0) for b in boxes)
    assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)
    assert {"heatmap_loss", "box_loss", "seconds"} <= set(centernet.history_[0])
    assert centernet.history_[-1]["loss"] < centernet.history_[0]["loss"]


def test_centernet_validation_scores_and_keeps_the_best_epoch(phantoms):
    train, test = phantoms
    loc = CenterNetLocalizer(image_size=64, training=DetectorTraining(epochs=4, batch_size=8, lr=3e-3, patience=1,
                                                                      num_threads=2), seed=0)
    loc.fit(train, val_manifest=test)
    scores = [h["val_mAP50"] for h in loc.history_]
    assert "val_mIoU" in loc.history_[0]
    # patience 1: the run stops at the first epoch that is not better than the one before
    assert len(scores) == 4 or scores[-1] <= max(scores[:-1])
    # the kept weights are the best epoch's, and the cached validation at 64 px scores what evaluate_localizer
    # measures on the full frames (IoU is invariant to scaling both boxes), with AP's score floor of 0.01
    best = int(np.argmax(scores))
    loc.set_params(min_score=0.01)
    figures, _ = evaluate_localizer(loc, test)
    assert figures["mAP50"] == pytest.approx(scores[best], abs=1e-6)
    assert figures["mIoU"] == pytest.approx(loc.history_[best]["val_mIoU"], abs=1e-4)


def test_centernet_same_seed_same_model_and_save_load_identical(centernet, phantoms, tmp_path):
    train, test = phantoms
    imgs = [test.path(i) for i in test.images()]
    again = CenterNetLocalizer(image_size=64, training=_training(12), min_score=0.05, seed=0).fit(train)
    assert again.locate_batch(imgs) == centernet.locate_batch(imgs)
    centernet.save(tmp_path / "det")
    loaded = Localizer.load(tmp_path / "det")
    assert isinstance(loaded, CenterNetLocalizer) and loaded.get_params() == centernet.get_params()
    assert loaded.locate_batch(imgs) == centernet.locate_batch(imgs)


def test_centernet_saved_on_a_gpu_loads_and_predicts_on_the_cpu(centernet, phantoms, tmp_path, as_if_saved_on_a_gpu):
    test = phantoms[1]
    centernet.save(tmp_path / "gpu")
    as_if_saved_on_a_gpu(tmp_path / "gpu")
    loaded = Localizer.load(tmp_path / "gpu")
    assert loaded.get_params()["training__device"] == "cuda" and loaded.device_ == "cpu"
    imgs = [test.path(i) for i in test.images()]
    assert loaded.locate_batch(imgs) == centernet.locate_batch(imgs)


def test_centernet_returns_several_lesions_with_their_classes(tmp_path, phantom_writer):
    train = phantom_writer.multi(tmp_path / "train", n=64, size=96, seed=0)
    test = phantom_writer.multi(tmp_path / "test", n=10, size=96, seed=1, per_image=(2, 2))
    loc = CenterNetLocalizer(image_size=96, training=_training(14), min_score=0.3, seed=0).fit(train)
    assert loc.classes_ == ["polyp", "ulcer"]
    hits = 0
    for name in test.images():
        found = loc.locate(test.path(name))
        for truth in test.boxes_for(name):
            best = max(found, key=lambda b: b.iou(truth), default=None)
            hits += best is not None and best.iou(truth) >= 0.5 and best.label == truth.label
    assert hits >= 16, hits  # of 20 lesions, two per frame


def test_box_regression_beats_the_whole_frame_and_gives_one_box(phantoms, tmp_path):
    train, test = phantoms
    loc = BoxRegressionLocalizer(image_size=64, training=_training(24), seed=0).fit(train)
    baseline = _score(WholeFrame(remove_border=False).fit(), test)
    got = _score(loc, test)
    # at this seed 0.346 against the whole frame's 0.103 (2026-12-07, alone and in any worker now that the training no
    # longer depends on the global RNG state earlier tests leave: test_box_regression_training_is_its_seed_alone);
    # regression learns slower than the heatmap. The claim tested: at least three times the whole frame's mIoU.
    assert got > 3 * baseline, (baseline, got)
    assert all(len(loc.locate(test.path(i))) == 1 for i in test.images())  # min_score 0: always one box
    loc.save(tmp_path / "reg")
    imgs = [test.path(i) for i in test.images()]
    assert Localizer.load(tmp_path / "reg").locate_batch(imgs) == loc.locate_batch(imgs)


def test_box_regression_training_is_its_seed_alone(phantoms):
    """The regression head's dropout draws from torch's global RNG: whatever state earlier work left there, the same
    seed trains the same localizer, and the caller's RNG state is as it was (the cause of a test scoring 0.238 in
    one xdist worker and 0.355 alone)."""
    import torch

    train, test = phantoms
    imgs = [test.path(i) for i in test.images()]
    found = []
    for state in (1, 2):
        torch.manual_seed(state)
        before = torch.get_rng_state()
        loc = BoxRegressionLocalizer(image_size=64, training=_training(2), seed=0).fit(train)
        assert torch.equal(torch.get_rng_state(), before)
        found.append(loc.locate_batch(imgs))
    assert found[0] == found[1]


# ---- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(image_size=100), dict(out_stride=16), dict(encoder="resnet9"),
                                dict(min_score=1.5), dict(nms_iou=0), dict(training="fast"),
                                dict(augment=dict(flip=True)), dict(augment=BoxAugment(scale=(1.2, 0.8)))])
def test_bad_parameters_raise_before_training(kw, phantoms):
    with pytest.raises(ConfigError):
        CenterNetLocalizer(**kw).fit(phantoms[0])


def test_box_regression_refuses_several_classes_and_a_manifest_without_boxes(phantoms):
    with pytest.raises(ConfigError, match="one box per frame"):
        BoxRegressionLocalizer(class_agnostic=False).fit(phantoms[0])
    no_boxes = phantoms[0].df.drop(columns=["x1", "y1", "x2", "y2"])
    from explainendo.io import Manifest

    with pytest.raises(ManifestError, match="no boxes"):
        CenterNetLocalizer(image_size=64).fit(Manifest(no_boxes, phantoms[0].root))
