"""Grad-CAM right after a prediction of the same lesions reuses that forward's feature maps (an explanation of what
was just predicted runs the backbone once, not twice): the maps are identical to a fresh Grad-CAM's, other lesions
or new weights are never served the kept maps."""

import numpy as np
import pytest

from explainendo.features import LesionSamples
from explainendo.synth import generate
from explainendo.systems.gastric import gastric_heads
from explainendo.training import Training
from explainendo.types import Box


@pytest.fixture(scope="module")
def heads_and_samples():
    data = generate("gastric", 24, seed=0, size=64)
    boxes = [Box(*row) for row in data.table[["x1", "y1", "x2", "y2"]].to_numpy(float)]
    samples = LesionSamples.from_images([np.asarray(i) for i in data.images], boxes,
                                        table=data.table.reset_index(drop=True))
    heads = gastric_heads(0, image_size=32, pretrained=False, backbone="resnet18",
                          training=Training(epochs=1, batch_size=32, num_threads=1, device="cpu")).fit(samples)
    return heads, samples


def _count_backbone(heads, monkeypatch):
    calls = []
    real = heads._feature_map
    monkeypatch.setattr(heads, "_feature_map", lambda x: (calls.append(len(x)), real(x))[1])
    return calls


def test_gradcam_after_predict_reuses_the_forward_and_gives_the_same_maps(heads_and_samples, monkeypatch):
    heads, samples = heads_and_samples
    first, other = samples.subset([0, 1, 2, 3, 4]), samples.subset([5, 6, 7])
    heads._feature_maps = None
    fresh = heads.gradcam(first)  # nothing kept: the backbone runs (crop and frame heads)
    calls = _count_backbone(heads, monkeypatch)
    heads.predict_proba(first)
    reused = heads.gradcam(first)
    assert calls == []  # no backbone forward for the explanation
    assert set(reused) == set(fresh) and "landmark" in reused  # crop heads and the frame head alike
    for name in fresh:
        for a, b in zip(fresh[name], reused[name]):
            np.testing.assert_array_equal(a, b)
    heads.predict_proba(other)  # other lesions went forward since: the first ones' maps are not served
    heads.gradcam(first)
    assert calls == [5, 5]


def test_new_weights_drop_the_kept_maps(heads_and_samples):
    heads, samples = heads_and_samples
    few = samples.subset([0, 1])
    heads.predict_proba(few)
    assert heads._recalled_feature_maps(*heads._encode(few, heads.net_specs_, need_labels=False)[:2])
    refit = heads.fit(samples)  # a new training: new weights
    assert refit._feature_maps is None
