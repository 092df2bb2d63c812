"""The CAM methods and targets of ``explain.gradcam`` against maps computed by hand."""

import numpy as np
import pytest
import torch

from explainendo.explain.gradcam import (CAM_METHODS, ClassTarget, GradCAM, GradCAMPlusPlus, LayerCAM,
                                         PredictedClass)

# one lesion, two channels on a 2x2 grid
A = torch.tensor([[[[1.0, 0.0], [2.0, 1.0]],
                   [[0.0, 3.0], [1.0, 0.0]]]])
G = torch.tensor([[[[0.5, -1.0], [0.0, 1.0]],
                   [[1.0, 0.0], [-2.0, 0.5]]]])


def test_gradcam_by_hand():
    # W = mean gradient per channel: 0.125 and -0.125; 0.125 A0 - 0.125 A1 = [[.125, -.375], [.125, .125]]
    np.testing.assert_allclose(GradCAM()(A, G)[0].numpy(), [[0.125, 0.0], [0.125, 0.125]], atol=1e-7)


def test_layercam_by_hand():
    # ReLU(G) A per position: channel 0 [[.5, 0], [0, 1]], channel 1 zero everywhere (where G > 0, A = 0)
    np.testing.assert_allclose(LayerCAM()(A, G)[0].numpy(), [[0.5, 0.0], [0.0, 1.0]], atol=1e-7)


def test_gradcam_plus_plus_by_hand():
    # a = g^2 / (2 g^2 + sum(A) g^3), sum(A) = 4 in both channels: g = 0.5 -> 0.25, g = 1 -> 1/6; the negative and
    # zero gradients weigh nothing. W0 = 0.5 * 0.25 + 1 / 6 = W1 = 1 / 6 + 0.5 * 0.25 = 7/24; map = 7/24 (A0 + A1)
    expected = 7 / 24 * np.array([[1.0, 3.0], [3.0, 1.0]])
    np.testing.assert_allclose(GradCAMPlusPlus()(A, G)[0].numpy(), expected, rtol=1e-5)


def test_methods_by_name_and_targets():
    assert CAM_METHODS.list() == ["gradcam", "gradcam++", "layercam"]
    assert CAM_METHODS.get("layercam") is LayerCAM
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])
    np.testing.assert_allclose(ClassTarget(2)(logits).numpy(), [-1.0, 0.5])
    np.testing.assert_allclose(PredictedClass()(logits).numpy(), [2.0, 3.0])


def test_layercam_on_a_tiny_network_by_hand():
    """A hand-made network: stage A = 1x1 conv of a 1-channel image into 2 channels (weights 2 and -1, then ReLU),
    score = v . mean_ij A with v = (1, -3). dscore/dA_kij = v_k / 4: LayerCAM = ReLU(1/4 A_0) = x / 2 where x > 0."""
    conv = torch.nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([2.0, -1.0]).view(2, 1, 1, 1))
    x = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]]])
    activations = torch.relu(conv(x)).detach().requires_grad_(True)
    score = (torch.tensor([1.0, -3.0]) * activations.mean(dim=(2, 3))).sum()
    grads, = torch.autograd.grad(score, activations)
    np.testing.assert_allclose(LayerCAM()(activations, grads)[0].detach().numpy(), [[0.5, 0.0], [1.5, 0.25]],
                               atol=1e-7)
    # Grad-CAM's channel weights are v / 4 (a uniform gradient): where x = -2, A = (0, 2) gives -3/4 * 2 -> ReLU 0
    np.testing.assert_allclose(GradCAM()(activations, grads)[0].detach().numpy(), [[0.5, 0.0], [1.5, 0.25]],
                               atol=1e-7)


@pytest.mark.parametrize("method", [GradCAM(), GradCAMPlusPlus(), LayerCAM()])
def test_a_zero_gradient_gives_a_zero_map(method):
    assert torch.count_nonzero(method(A, torch.zeros_like(G))) == 0
