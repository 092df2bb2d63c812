"""Fixtures for the heads tests: tiny self-drawn lesions (see toy_lesions.py) and one fitted model."""

import importlib.util
from pathlib import Path

import pytest

from explainendo.training import Training

from explainendo.features import LesionSamples

_spec = importlib.util.spec_from_file_location("toy_lesions", Path(__file__).with_name("toy_lesions.py"))
toy_lesions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy_lesions)
TINY_SPECS, draw_samples = toy_lesions.TINY_SPECS, toy_lesions.draw_samples


@pytest.fixture(scope="session")
def tiny_train() -> LesionSamples:
    return draw_samples(48, seed=1)


@pytest.fixture(scope="session")
def tiny_test() -> LesionSamples:
    return draw_samples(16, seed=2)


@pytest.fixture(scope="session")
def tiny_heads(tiny_train):
    """One small fitted model shared by the read-only tests (fit once: CPU time is scarce)."""
    from explainendo.heads import AttributeHeads

    # ResNet-18 from random init is the cheapest backbone on CPU; 64 px gives a 2x2 feature map, so
    # Grad-CAM maps have some structure. EfficientNet-Lite0 is covered by test_backbones.
    return AttributeHeads(TINY_SPECS, backbone="resnet18", pretrained=False, image_size=64, seed=0,
                          training=Training(epochs=2, batch_size=16, num_threads=1)).fit(tiny_train.subset(range(32)))
