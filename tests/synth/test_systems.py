"""What every generator promises: determinism, a valid manifest, boxes and masks inside the frame."""

import numpy as np
import pandas as pd
import pytest

from explainendo.io.manifest import Manifest
from explainendo.synth import SYSTEMS, generate, make_phantoms

N = 10


@pytest.fixture(scope="module", params=SYSTEMS)
def phantoms(request):
    return generate(request.param, N, seed=7, size=96)


def test_same_seed_same_bytes_and_other_seed_differs(phantoms):
    again = generate(phantoms.system, N, seed=7, size=96)
    assert all(np.array_equal(a, b) for a, b in zip(phantoms.images, again.images))
    pd.testing.assert_frame_equal(phantoms.table, again.table)
    other = generate(phantoms.system, N, seed=8, size=96)
    assert sum(np.array_equal(a, b) for a, b in zip(phantoms.images, other.images)) == 0


def test_frames_boxes_and_masks_are_consistent(phantoms):
    t = phantoms.table
    assert len(phantoms.images) == len(t) == len(phantoms.masks) == N
    assert t["image"].tolist() == [f"{phantoms.system}_{i:05d}.png" for i in range(N)]
    assert t["image"].is_unique and t["patient"].notna().all() and t["label"].notna().all()
    for img, mask, (_, r) in zip(phantoms.images, phantoms.masks, t.iterrows()):
        assert img.shape == (96, 96, 3) and img.dtype == np.uint8
        if mask is None:
            assert pd.isna(r[["x1", "y1", "x2", "y2"]]).all()
            continue
        assert 0 <= r.x1 < r.x2 <= 96 and 0 <= r.y1 < r.y2 <= 96
        ys, xs = np.nonzero(mask)
        assert xs.min() >= r.x1 and xs.max() < r.x2 and ys.min() >= r.y1 and ys.max() < r.y2
    if phantoms.system == "eus":
        assert all((im[..., 0] == im[..., 1]).all() and (im[..., 1] == im[..., 2]).all() for im in phantoms.images)
    assert phantoms.images[0][0, 0].max() == 0  # black outside the field of view / fan


def test_written_manifest_validates_and_files_repeat_byte_for_byte(phantoms, tmp_path):
    phantoms.write(tmp_path / "a")
    make_phantoms(phantoms.system, N, tmp_path / "b", seed=7, size=96)
    names = [*phantoms.table["image"], "manifest.csv", "phantoms.yaml"]
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in names)
    m = Manifest.read_csv(tmp_path / "a" / "manifest.csv").validate(check_files=True, require_label=True)
    assert len(m) == N and m.has_boxes == bool(phantoms.boxed_rows().size)


def test_to_samples_takes_only_boxed_rows(phantoms):
    boxed = phantoms.boxed_rows()
    if boxed.size == 0:
        pytest.skip("no boxed rows in this small set")
    samples = phantoms.to_samples()
    assert len(samples) == boxed.size
    assert all(c.shape[:2] == m.shape for c, m in zip(samples.crops, samples.masks))
