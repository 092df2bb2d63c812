"""``scale_cam``: the min-max scaling and bilinear resize of a raw Grad-CAM map, against hand values."""

import numpy as np

from explainendo.explain.gradcam import scale_cam


def test_scale_cam_by_hand():
    cam = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = scale_cam(cam, (2, 2))
    assert out.dtype == np.float32
    assert np.allclose(out, (cam - 1) / (1e-7 + 3), atol=1e-6)
    wide = scale_cam(cam, (4, 2))  # size is (width, height)
    assert wide.shape == (2, 4) and np.isclose(wide.max(), 1.0, atol=1e-6) and np.isclose(wide.min(), 0.0)
    assert np.allclose(scale_cam(np.zeros((3, 3)), (5, 5)), 0.0)  # a flat map stays 0, never NaN
