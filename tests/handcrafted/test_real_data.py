"""A few real Kvasir-SEG lesions (skipped where the shared data is absent)."""

import logging

import numpy as np
import pytest

from explainendo.features import LesionSamples
from explainendo.handcrafted import HandcraftedFeatures
from explainendo.handcrafted.hsi_saturation_entropy import hsi_saturation
from explainendo.io import load_dataset


@pytest.fixture(scope="module")
def kvasir_samples(shared_data):
    manifest = load_dataset("kvasir-seg", shared_data / "kvasir-seg-256")
    first = manifest.df["image"].drop_duplicates().head(6)
    return LesionSamples.from_manifest(manifest.subset(manifest.df["image"].isin(first)), keep_frames=False)


def test_real_lesions_give_finite_features_that_agree_with_full_resolution_statistics(kvasir_samples, caplog):
    with caplog.at_level(logging.WARNING, logger="explainendo.handcrafted"):
        frame = HandcraftedFeatures().transform(kvasir_samples)
    assert caplog.records == []
    assert np.isfinite(frame.to_numpy()).all()
    np.testing.assert_allclose(frame["aspect_ratio.width_over_height"],
                               [b.width / b.height for b in kvasir_samples.boxes])
    for row, crop in zip(frame.itertuples(index=False), kvasir_samples.crops):
        pixels = crop.reshape(-1, 3) / 255.0
        # the colour subsample (stride <= 2 here) keeps the full-resolution moments to within 0.01
        np.testing.assert_allclose([row[frame.columns.get_loc(f"color_moments.{c}_mean")] for c in "rgb"],
                                   pixels.mean(axis=0), atol=0.01)
        np.testing.assert_allclose([row[frame.columns.get_loc(f"color_moments.{c}_std")] for c in "rgb"],
                                   pixels.std(axis=0), atol=0.01)
        saturation = hsi_saturation(*pixels.T)
        counts = np.bincount(np.minimum((saturation * 32).astype(int), 31), minlength=32)
        p = counts[counts > 0] / counts.sum()
        assert row[frame.columns.get_loc("hsi_saturation_entropy.entropy")] == pytest.approx(-(p * np.log2(p)).sum(),
                                                                                          abs=0.05)
