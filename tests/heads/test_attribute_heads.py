import numpy as np
import pandas as pd
import pytest
import torch

from explainendo.errors import ConfigError, FeatureExtractionError, ManifestError, ModelFileError, NotFittedError
from explainendo.features import FeatureSource, LesionSamples
from explainendo.heads import AttributeHeads, paste_on_frame
from explainendo.heads.attribute_heads import masked_head_loss
from explainendo.heads import Augment, PseudoLabel
from explainendo.specs import AttributeSpec
from explainendo.training import Training

CROP_SPECS = (AttributeSpec("bleeding", ("no", "yes")), AttributeSpec("tone", ("unchanged", "reddened", "pale")))


def _small(training: dict | None = None, **kw):
    """Tiny heads; ``training``: Training settings over the tiny ones (1 thread: robust when CI cores are shared)."""
    params = dict(specs=CROP_SPECS, backbone="resnet18", pretrained=False, image_size=32, seed=0,
                  training=Training(**{"epochs": 1, "batch_size": 8, "num_threads": 1, **(training or {})}))
    params.update(kw)
    return AttributeHeads(**params)


def test_transform_columns_groups_and_probabilities(tiny_heads, tiny_test):
    assert isinstance(tiny_heads, FeatureSource) and tiny_heads.name == "attributes"
    frame = tiny_heads.transform(tiny_test)
    assert list(frame.columns) == ["bleeding.p_no", "bleeding.p_yes", "tone.p_unchanged", "tone.p_reddened",
                                   "tone.p_pale", "location.p_upper_middle", "location.p_lower",
                                   "location.p_indistinguishable"]
    assert tiny_heads.groups == {"bleeding": ["bleeding.p_no", "bleeding.p_yes"],
                                 "tone": ["tone.p_unchanged", "tone.p_reddened", "tone.p_pale"],
                                 "location": ["location.p_upper_middle", "location.p_lower",
                                              "location.p_indistinguishable"]}
    for columns in tiny_heads.groups.values():
        np.testing.assert_allclose(frame[columns].sum(axis=1), 1.0, atol=1e-5)
    # per-landmark probabilities stay out of the table but are summed through the mapping table
    proba = tiny_heads.predict_proba(tiny_test)
    assert proba["landmark"].shape == (len(tiny_test), 2)
    np.testing.assert_allclose(frame["location.p_lower"], proba["landmark"][:, 0], atol=1e-6)  # antrum
    np.testing.assert_allclose(frame["location.p_upper_middle"], proba["landmark"][:, 1], atol=1e-6)  # fundus
    assert (frame["location.p_indistinguishable"] == 0).all()


def test_evaluate_reports_every_head(tiny_heads, tiny_test):
    report = tiny_heads.evaluate(tiny_test)
    assert list(report.index) == ["bleeding", "tone", "landmark", "location"]
    assert (report["n"] == len(tiny_test)).all()
    assert report[["auc", "macro_f1", "accuracy"]].apply(lambda c: c.between(0, 1)).all().all()


def test_masked_loss_ignores_unlabelled_rows():
    logits = torch.randn(4, 3, requires_grad=True)
    labels = torch.tensor([2, -1, 0, -1])
    loss = masked_head_loss(logits, labels)
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.all(logits.grad[[1, 3]] == 0) and torch.any(logits.grad[[0, 2]] != 0)
    assert masked_head_loss(logits, torch.full((4,), -1)) is None


def test_partial_labels_are_masked_and_unlabelled_heads_skipped(tiny_train):
    samples = tiny_train.subset(range(16))
    table = samples.table.copy()
    table.loc[::2, "attr.bleeding"] = np.nan  # half the bleeding labels missing
    table["attr.tone"] = np.nan  # no tone labels at all
    samples = LesionSamples(samples.crops, samples.boxes, samples.frames, table=table)
    with pytest.warns(UserWarning, match="'tone' not trained"):
        model = _small().fit(samples)
    assert model.trained_attributes_ == ["bleeding"] and "tone" in model.skipped_attributes_
    assert list(model.transform(samples).columns) == ["bleeding.p_no", "bleeding.p_yes"]


def test_save_load_gives_identical_outputs(tiny_heads, tiny_test, tmp_path):
    tiny_heads.save(tmp_path / "heads")
    assert {p.name for p in (tmp_path / "heads").iterdir()} == {"model.safetensors", "component.yaml"}
    loaded = AttributeHeads.load(tmp_path / "heads")
    pd.testing.assert_frame_equal(tiny_heads.transform(tiny_test), loaded.transform(tiny_test))
    a, b = tiny_heads.gradcam(tiny_test.subset([0])), loaded.gradcam(tiny_test.subset([0]))
    for name in a:
        np.testing.assert_allclose(a[name][0], b[name][0], atol=1e-6)
    # a bundle of another kind, or a damaged one, is refused
    text = (tmp_path / "heads" / "component.yaml").read_text()
    (tmp_path / "heads" / "component.yaml").write_text(text.replace("kind: attribute_heads", "kind: sole_dl"))
    with pytest.raises(ModelFileError, match="kind"):
        AttributeHeads.load(tmp_path / "heads")
    with pytest.raises(ModelFileError, match="no component.yaml"):
        AttributeHeads.load(tmp_path / "nothing")


def test_gradcam_all_heads_from_one_forward_per_input(tiny_heads, tiny_test):
    samples = tiny_test.subset([0, 1, 2])
    maps = tiny_heads.gradcam(samples)
    assert set(maps) == {"bleeding", "tone", "landmark"}
    for name in ("bleeding", "tone"):
        assert [m.shape for m in maps[name]] == [c.shape[:2] for c in samples.crops]
    assert [m.shape for m in maps["landmark"]] == [f.shape[:2] for f in samples.frames]
    for m in maps["bleeding"]:
        assert m.dtype == np.float32 and m.min() >= 0 and m.max() <= 1 + 1e-6
    # explicit targets give different maps for different classes of the same head
    yes = tiny_heads.gradcam(samples, attributes=["bleeding"], targets={"bleeding": "yes"})
    no = tiny_heads.gradcam(samples, attributes=["bleeding"], targets={"bleeding": 0})
    assert set(yes) == {"bleeding"}
    assert any(not np.allclose(a, b) for a, b in zip(yes["bleeding"], no["bleeding"]))
    on_frame = paste_on_frame(maps["bleeding"][0], samples.boxes[0], samples.frames[0].shape)
    assert on_frame.shape == samples.frames[0].shape[:2]
    rows, cols = samples.boxes[0].pixel_slice(48, 48)
    assert on_frame.sum() == pytest.approx(maps["bleeding"][0].sum(), rel=1e-5)
    assert on_frame[rows, cols].sum() == pytest.approx(on_frame.sum(), rel=1e-6)


def test_gradcam_counts_backbone_forwards(tiny_heads, tiny_test):
    calls = []
    hook = tiny_heads.net_.backbone.stages[0].register_forward_hook(lambda m, i, o: calls.append(1))
    try:
        tiny_heads.gradcam(tiny_test.subset([0, 1]))
    finally:
        hook.remove()
    assert len(calls) == 2  # one for all crop heads, one for the landmark head's frames


def test_training_is_seeded_and_leaves_global_rng_alone(tiny_train, tiny_test):
    samples = tiny_train.subset(range(16))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = _small(seed=5).fit(samples).transform(tiny_test)
    assert torch.equal(torch.rand(1), before)
    b = _small(seed=5).fit(samples).transform(tiny_test)
    c = _small(seed=6).fit(samples).transform(tiny_test)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a.to_numpy(), c.to_numpy())


def test_pseudo_labelling_uses_unlabelled_crops(tiny_train, tiny_test):
    labelled, unlabelled = tiny_train.subset(range(12)), tiny_train.subset(range(12, 36))
    model = _small(semi_supervised=PseudoLabel(threshold=0.0)).fit(
        labelled, unlabeled=unlabelled, validation=tiny_test)
    assert model.pseudo_label_counts_ == {"bleeding": 24, "tone": 24}  # threshold 0 keeps every crop
    assert [h["phase"] for h in model.history_] == ["supervised", "pseudo_label"]
    assert all("val_macro_f1" in h for h in model.history_)
    with pytest.raises(ConfigError, match="needs unlabeled"):
        _small(semi_supervised="pseudo_label").fit(labelled)


def test_bad_inputs_get_typed_errors(tiny_heads, tiny_train, tiny_test):
    with pytest.raises(NotFittedError):
        _small().transform(tiny_test)
    with pytest.raises(FeatureExtractionError, match="LesionSamples"):
        tiny_heads.transform([np.zeros((8, 8, 3), np.uint8)])
    with pytest.raises(ConfigError, match="fixmatch"):
        _small(semi_supervised="fixmatch").fit(tiny_train)
    with pytest.raises(ConfigError, match="image_size"):
        _small(image_size=8).fit(tiny_train)
    table = tiny_train.table.copy()
    table.loc[3, "attr.tone"] = "purple"
    with pytest.raises(ManifestError, match="purple"):
        _small().fit(LesionSamples(tiny_train.crops, tiny_train.boxes, table=table))
    with pytest.raises(ConfigError, match="no trained head"):
        tiny_heads.gradcam(tiny_test, attributes=["elevation"])
    with pytest.raises(ConfigError, match="not a class"):
        tiny_heads.gradcam(tiny_test, targets={"tone": "blue"})


def test_one_broken_crop_does_not_sink_the_batch(tiny_heads, tiny_test):
    crops = list(tiny_test.crops)
    crops[1] = np.zeros((0, 5, 3), np.uint8)
    broken = LesionSamples(crops, tiny_test.boxes, tiny_test.frames, table=tiny_test.table)
    with pytest.warns(UserWarning, match="unusable"):
        frame = tiny_heads.transform(broken)
    assert frame.iloc[1].isna().all() and frame.drop(index=1).notna().all().all()
    good = tiny_heads.transform(tiny_test)
    pd.testing.assert_frame_equal(frame.drop(index=1), good.drop(index=1))


def test_gastric_phantoms_end_to_end(tmp_path):
    """The real contract: synth phantoms -> all seven gastric heads -> columns the fitter can use."""
    from explainendo.features import check_feature_frame
    from explainendo.specs import GASTRIC_ATTRIBUTES
    from explainendo.synth import generate

    samples = generate("gastric", 12, seed=3, size=96).to_samples()
    model = AttributeHeads(GASTRIC_ATTRIBUTES, backbone="resnet18", pretrained=False, image_size=32,
                           training=Training(epochs=1, batch_size=12, num_threads=1)).fit(samples)
    assert model.trained_attributes_ == [s.name for s in GASTRIC_ATTRIBUTES]
    frame = check_feature_frame(model.transform(samples), len(samples), "attributes")
    assert list(model.groups) == ["bleeding", "elevation", "depression", "boundary", "surface", "tone", "location"]
    assert model.predict_proba(samples)["landmark"].shape == (len(samples), 26)
    np.testing.assert_allclose(frame[model.groups["location"]].sum(axis=1), 1.0, atol=1e-5)
    report = model.evaluate(samples)
    assert "location" in report.index and report.loc["landmark", "n"] == len(samples)


def _lit_from_above(n=64, size=32):
    """A relief lit from the top of the image: brightness falls from top to bottom (the shading cue)."""
    shade = np.repeat(np.linspace(1.0, 0.4, size, dtype=np.float32)[:, None], size, axis=1)
    return torch.from_numpy(np.repeat(shade[None, None], 3, axis=1).repeat(n, axis=0))


def _top_brighter(x):
    half = x.shape[-2] // 2
    return (x[..., :half, :].mean(dim=(1, 2, 3)) > x[..., half:, :].mean(dim=(1, 2, 3))).numpy()


def test_augmentation_keeps_the_light_side_without_flips():
    from explainendo.heads.attribute_heads import augment_batch

    x = _lit_from_above()
    kept = _top_brighter(augment_batch(x, torch.Generator().manual_seed(0), flips=False))
    flipped = _top_brighter(augment_batch(x, torch.Generator().manual_seed(0), flips=True))
    assert kept.all()  # rotation +-20 deg, shear and scale never move the light to the other side
    # a vertical flip (half of the draws) lights the relief from below: a dome then shades like a crater
    assert 0.25 < (~flipped).mean() < 0.75


def test_flips_setting_is_kept_in_the_saved_heads(tiny_train, tiny_test, tmp_path):
    heads = _small(augment=Augment(flips=False)).fit(tiny_train)
    assert heads.get_params()["augment__flips"] is False
    heads.save(tmp_path / "heads")
    loaded = AttributeHeads.load(tmp_path / "heads")
    assert isinstance(loaded.augment, Augment) and loaded.augment.flips is False
    pd.testing.assert_frame_equal(loaded.transform(tiny_test), heads.transform(tiny_test))


def test_tta_is_the_mean_over_the_crop_and_its_flips(tiny_heads, tiny_test):
    import copy
    from dataclasses import replace

    plain = tiny_heads.predict_proba(tiny_test)
    views = [plain] + [tiny_heads.predict_proba(replace(tiny_test, crops=[np.ascontiguousarray(np.flip(c, axes))
                                                                         for c in tiny_test.crops]))
                       for axes in ((1,), (0,), (0, 1))]
    tta = copy.deepcopy(tiny_heads).set_params(tta=True)
    averaged = tta.predict_proba(tiny_test)
    for name in ("bleeding", "tone"):  # crop heads: the mean of the four views
        expected = np.mean([v[name] for v in views], axis=0)
        np.testing.assert_allclose(averaged[name], expected, atol=2e-3)
        assert not np.allclose(averaged[name], plain[name], atol=1e-4)  # the flips do change the answer
    np.testing.assert_allclose(averaged["landmark"], plain["landmark"], atol=1e-6)  # frames are never flipped
    with pytest.raises(ConfigError, match="flips"):
        copy.deepcopy(tiny_heads).set_params(tta=True, augment__flips=False).predict_proba(tiny_test)


def test_heads_predict_with_their_num_threads_and_restore_the_callers(tiny_heads, tiny_test):
    import torch

    before, seen = torch.get_num_threads(), []
    head = next(iter(tiny_heads.net_.heads.values()))  # every forward runs the heads
    handle = head.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        torch.set_num_threads(3)
        tiny_heads.transform(tiny_test)  # num_threads=1
        assert seen and set(seen) == {1} and torch.get_num_threads() == 3
    finally:
        handle.remove()
        torch.set_num_threads(before)


def test_heads_saved_with_device_cuda_load_and_predict_on_a_cpu_only_machine(tiny_heads, tiny_test, tmp_path,
                                                                              monkeypatch):
    import yaml

    tiny_heads.save(tmp_path / "heads")
    path = tmp_path / "heads" / "component.yaml"
    config = yaml.safe_load(path.read_text())
    config["params"]["training"]["device"] = "cuda"  # as written by heads trained on a GPU (components carry no checksum)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # this machine, or any, without CUDA
    loaded = AttributeHeads.load(tmp_path / "heads")
    assert loaded.training.device == "cuda"  # the saved setting is kept; it runs where it can
    assert next(loaded.net_.parameters()).device.type == "cpu"
    pd.testing.assert_frame_equal(loaded.transform(tiny_test), tiny_heads.transform(tiny_test))
    a, b = loaded.gradcam(tiny_test.subset([0])), tiny_heads.gradcam(tiny_test.subset([0]))
    for name in a:
        np.testing.assert_array_equal(a[name][0], b[name][0])


def test_training_on_cuda_without_cuda_is_a_config_error_before_any_training(tiny_train, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        _small(training={"device": "cuda"}).fit(tiny_train)
