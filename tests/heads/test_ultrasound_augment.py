"""UltrasoundAugment: each transform does what its docstring says, on hand-made tensors."""

import numpy as np
import pytest
import torch

from sklearn.base import clone
from explainendo.errors import ConfigError
from explainendo.heads import Augment, UltrasoundAugment

NOTHING = dict(horizontal_flip=False, rotation=0.0, scale=0.0, shift=0.0, gain=0.0, gamma=0.0, tgc=0.0, sector=0.0)


def ramp(n=4, size=32):
    """Brightness rising left to right, the same in every row and channel."""
    x = torch.linspace(0.1, 0.9, size).repeat(n, 3, size, 1)
    return x


def test_with_every_range_zero_it_changes_nothing():
    x = ramp()
    out = UltrasoundAugment(**NOTHING).apply(x, torch.Generator().manual_seed(0))
    assert torch.allclose(out, x, atol=1e-5)


def test_flips_are_left_right_only_and_never_on_frames():
    x = torch.zeros(64, 3, 8, 8)
    x[:, :, :4, :2] = 1.0  # a bright patch top-left: depth must stay on top
    aug = UltrasoundAugment(**{**NOTHING, "horizontal_flip": True})
    out = aug.apply(x, torch.Generator().manual_seed(1))
    top_right = out[:, 0, :4, 6:].mean(dim=(1, 2)) > 0.9
    assert 10 < int(top_right.sum()) < 54  # about half flipped left-right
    assert float(out[:, :, 4:].abs().max()) < 1e-6  # nothing moved to the bottom: no vertical flip
    frames = aug.apply(x, torch.Generator().manual_seed(1), frames=True)
    assert torch.allclose(frames, x, atol=1e-5)
    assert aug.tta_flips == ((-1,),) and UltrasoundAugment(horizontal_flip=False).tta_flips == ()
    assert Augment().tta_flips == ((-1,), (-2,), (-1, -2))


def test_gain_gamma_and_tgc_are_monotone_intensity_changes():
    x = ramp(n=16)
    out = UltrasoundAugment(**{**NOTHING, "gain": 0.3, "gamma": 0.3}).apply(x, torch.Generator().manual_seed(2))
    row = out[:, 0, 5]
    assert (row[:, 1:] >= row[:, :-1] - 1e-6).all()  # the order of grey levels (the speckle's pattern) is kept
    assert not torch.allclose(out, x)
    tgc = UltrasoundAugment(**{**NOTHING, "tgc": 0.5}).apply(torch.full((16, 3, 20, 20), 0.5),
                                                             torch.Generator().manual_seed(3))
    depth_profile = tgc[:, 0, :, 10]
    slopes = depth_profile[:, -1] - depth_profile[:, 0]
    assert (slopes > 0.01).any() and (slopes < -0.01).any()  # gain rising or falling along depth
    assert torch.allclose(tgc[:, 0, :, 0], tgc[:, 0, :, 19])  # the same at every column of one depth


def test_sector_crop_blacks_out_the_sides_and_the_depth_beyond_the_window():
    x = torch.ones(32, 3, 40, 40)
    out = UltrasoundAugment(**{**NOTHING, "sector": 1.0, "sector_min": 0.5}).apply(x, torch.Generator().manual_seed(4))
    for img in out[:, 0]:
        kept = img > 0.5
        assert bool(kept[0, 20]) and not bool(kept[-1, 0])  # the top centre stays, a deep corner goes
        rows, cols = np.nonzero(kept.numpy())
        assert rows.min() == 0 and abs((cols.min() + cols.max()) / 2 - 19.5) <= 1  # a centred window from the top


def test_bad_settings_raise_and_clone_keeps_them():
    with pytest.raises(ConfigError, match="rotation"):
        UltrasoundAugment(rotation=90).check_params()
    with pytest.raises(ConfigError, match="horizontal_flip"):
        UltrasoundAugment(horizontal_flip="yes").check_params()
    aug = UltrasoundAugment(gain=0.1)
    assert clone(aug) == aug and clone(aug).get_params()["gain"] == 0.1
