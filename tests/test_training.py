"""The one training loop (explainendo.training): settings checked before anything trains, seeded, early stopping
restores the best epoch, and the heads, the CNN classifier and the soft-mask U-Net all train through it."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from explainendo import training as training_module
from explainendo.components import build_component, encode_value
from explainendo.errors import ConfigError
from explainendo.localize import UNetTraining
from explainendo.training import Training, train_network


def _problem(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 3, generator=g)
    y = (x[:, 0] > 0).float()
    return x, y


def _fit(training, seed=0, validate=None, net=None):
    x, y = _problem()
    torch.manual_seed(seed)
    net = net or torch.nn.Linear(3, 1)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    history = train_network(net, len(x), lambda idx: loss_fn(net(x[idx])[:, 0], y[idx]), training,
                            generator=torch.Generator().manual_seed(seed), name="toy", validate=validate)
    return net, history


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(batch_size=1.5), dict(lr=0), dict(weight_decay=-1),
                                 dict(schedule="step"), dict(patience=0), dict(device="tpu"), dict(num_threads=0)])
def test_bad_settings_are_refused_before_training(bad):
    with pytest.raises(ConfigError, match="Training"):
        Training(**bad).check_params()
    net = torch.nn.Linear(3, 1)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ConfigError):
        _fit(Training(**bad), net=net)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # nothing trained


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_the_loop_learns_is_seeded_and_records_every_epoch(schedule):
    settings = Training(epochs=6, batch_size=8, lr=0.1, schedule=schedule, num_threads=1)
    net, history = _fit(settings)
    again, history_again = _fit(settings)
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert history[-1]["loss"] < history[0]["loss"]  # it learns
    assert [h["loss"] for h in history] == [h["loss"] for h in history_again]  # same seed, same run
    assert torch.equal(net.weight, again.weight) and not net.training


def test_early_stopping_stops_after_patience_and_restores_the_best_epoch():
    scores = iter([0.5, 0.9, 0.7, 0.6, 0.8, 0.95, 0.99])
    seen = []

    def validate():
        seen.append(net.weight.detach().clone())
        return {"score": next(scores), "val_note": 1.0}

    net = torch.nn.Linear(3, 1)
    _, history = _fit(Training(epochs=7, batch_size=8, lr=0.1, patience=3), validate=validate, net=net)
    assert len(history) == 5 and history[0]["val_note"] == 1.0  # epochs 3, 4, 5 were no better than epoch 2
    assert torch.equal(net.weight, seen[1])  # the best epoch's weights
    _, history = _fit(Training(epochs=7, batch_size=8, lr=0.1, patience=None), validate=lambda: {"score": 0.0})
    assert len(history) == 7  # patience None: never stops early


def test_a_batch_of_one_is_skipped_and_a_batch_with_nothing_to_learn_takes_no_step():
    settings = Training(epochs=1, batch_size=4, lr=0.1)
    assert settings.steps_per_epoch(9) == 2 and settings.steps_per_epoch(10) == 3 and settings.steps_per_epoch(1) == 1
    net = torch.nn.Linear(3, 1)
    before = net.weight.detach().clone()
    sizes = []
    train_network(net, 9, lambda idx: sizes.append(len(idx)), settings, generator=torch.Generator(), name="none")
    assert sizes == [4, 4] and torch.equal(net.weight, before)


def test_settings_are_values_that_clone_and_round_trip_through_yaml():
    for settings in (Training(epochs=3, schedule="cosine"), UNetTraining(epochs=4)):
        assert clone(settings) == settings and clone(settings) is not settings
        assert build_component(encode_value(settings)) == settings
    assert UNetTraining() != Training()  # the U-Net's defaults: Adam, cosine per epoch, all cores
    assert (UNetTraining().weight_decay, UNetTraining().schedule, UNetTraining().num_threads) == (0.0, "cosine", None)


def test_heads_cnn_and_unet_train_through_the_one_loop(monkeypatch, tmp_path):
    from explainendo.heads import AttributeHeads
    from explainendo.localize import SoftMaskLocalizer
    from explainendo.predict import CNNClassifier
    from explainendo.synth import generate

    calls = []
    real = training_module.train_network

    def counting(net, n, batch_loss, training, **kw):
        calls.append((kw["name"], type(training).__name__, training.epochs))
        return real(net, n, batch_loss, training, **kw)

    for module in ("explainendo.heads.attribute_heads", "explainendo.localize.soft_mask_localizer"):
        monkeypatch.setattr(f"{module}.train_network", counting)
    phantoms = generate("gastric", 12, seed=0, size=64)
    samples, data = phantoms.to_samples(), phantoms.write(tmp_path / "g")
    tiny = dict(backbone="resnet18", pretrained=False, image_size=32, training=Training(epochs=1, num_threads=1))
    AttributeHeads(**tiny).fit(samples)
    CNNClassifier(AttributeHeads(**tiny)).fit(samples)
    SoftMaskLocalizer(image_size=32, base_channels=4, training=UNetTraining(epochs=2, batch_size=4, num_threads=1)
                      ).fit(data)
    assert [c[1:] for c in calls] == [("Training", 1), ("Training", 1), ("UNetTraining", 2)]
    assert "diagnosis" in calls[1][0] and "soft-mask" in calls[2][0]
