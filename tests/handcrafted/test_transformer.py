"""HandcraftedFeatures as a feature source and an sklearn transformer; save/load; determinism."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from explainendo.errors import ConfigError, ModelFileError
from explainendo.features import FeatureSource, LesionSamples
from explainendo.handcrafted import HandcraftedFeatures, extract
from explainendo.types import Box


def lesion(reddened: bool, seed: int) -> np.ndarray:
    """A smooth mucosa-coloured crop; reddened ones have more red and less green."""
    rng = np.random.default_rng(seed)
    base = np.array([200, 80, 90] if reddened else [190, 120, 110], float)
    noise = rng.normal(0, 12, (48, 48, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def samples_for(n: int) -> tuple[list[np.ndarray], np.ndarray]:
    labels = np.arange(n) % 2
    return [lesion(bool(y), seed) for seed, y in enumerate(labels)], labels


def test_feature_source_contract_with_lesion_samples():
    frames = [np.random.default_rng(i).integers(0, 256, (60, 80, 3), dtype=np.uint8) for i in range(3)]
    boxes = [Box(10, 10, 50, 30), Box(0, 0, 20, 40), Box(5, 5, 35, 35)]
    mask = np.zeros((40, 20), bool)
    mask[5:15, 2:17] = True  # 15 wide, 10 high
    samples = LesionSamples.from_images(frames, boxes, masks=[None, mask, None],
                                        table=pd.DataFrame({"image": ["a.png", "b.png", "c.png"]}))
    source = HandcraftedFeatures()
    assert isinstance(source, FeatureSource)
    assert source.name == "handcrafted"
    assert source.fit(samples) is source
    frame = source.transform(samples)
    assert list(frame.columns) == [c for cols in source.groups.values() for c in cols]
    assert list(source.groups) == ["aspect_ratio", "color_principal_component", "hsi_saturation_entropy", "lbp",
                                   "hog", "color_moments"]
    # aspect ratio: box 40/20 = 2; mask 15/10 = 1.5 (mask wins over the 20x40 box); box 30/30 = 1
    assert frame["aspect_ratio.width_over_height"].tolist() == [2.0, 1.5, 1.0]
    assert frame.dtypes.eq(np.float64).all()


def test_warnings_name_the_image_of_lesion_samples(caplog):
    samples = LesionSamples(crops=[np.zeros((8, 8, 3), np.uint8)], boxes=[Box(0, 0, 8, 8)],
                            masks=[np.zeros((8, 8), bool)], table=pd.DataFrame({"image": ["frame_7.png"]}))
    HandcraftedFeatures().transform(samples)
    assert "crop 0 (frame_7.png)" in caplog.text


def test_pipeline_crops_to_classifier_separates_tone():
    crops, labels = samples_for(40)
    pipe = make_pipeline(HandcraftedFeatures(params={"extractors": ["color_moments", "color_principal_component"]}),
                         StandardScaler(), LogisticRegression())
    scores = cross_val_score(pipe, crops, labels, cv=4)
    assert scores.mean() > 0.9
    pipe.fit(crops, labels)
    names = pipe[0].get_feature_names_out()
    assert names[0] == "color_moments.r_mean" and len(names) == 12
    assert pipe.predict(crops[:4]).tolist() == labels[:4].tolist()


def test_sklearn_api_clone_params_set_output_and_arrays():
    features = HandcraftedFeatures(params={"lbp": {"points": 16}}, strict=True)
    copy = clone(features)
    assert copy.get_params() == {"params": {"lbp": {"points": 16}}, "strict": True}
    crops = np.random.default_rng(0).integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)  # (N, H, W, C) batch
    frame = copy.fit_transform(crops)
    assert "lbp.hist_17" in frame.columns and len(frame) == 3
    assert list(copy.set_output(transform="pandas").transform(list(crops)).columns) == \
        list(copy.get_feature_names_out())
    with pytest.raises(ConfigError, match="batch"):
        copy.transform(crops[0])  # a single crop is ambiguous: give a list
    with pytest.raises(ConfigError, match="unknown key lbp.p"):
        HandcraftedFeatures(params={"lbp": {"p": 8}}).fit([crops[0]])


def test_save_load_round_trip(tmp_path: Path):
    features = HandcraftedFeatures(params={"extractors": ["hog", "aspect_ratio"], "hog": {"cell_size": 4}})
    path = features.save(tmp_path / "hc") / "component.yaml"
    content = yaml.safe_load(path.read_text())
    assert path.name == "component.yaml" and content["kind"] == "handcrafted"
    assert content["params"]["params"]["hog"]["cell_size"] == 4  # the resolved params, never a file path
    loaded = HandcraftedFeatures.load(tmp_path / "hc")
    crops = [np.random.default_rng(1).integers(0, 256, (30, 30, 3), dtype=np.uint8)]
    pd.testing.assert_frame_equal(loaded.transform(crops), features.transform(crops))
    # errors: missing, foreign kind, stale columns
    with pytest.raises(ModelFileError, match="no component.yaml"):
        HandcraftedFeatures.load(tmp_path / "nothing")
    path.write_text(yaml.safe_dump({**content, "kind": "attribute_heads"}))
    with pytest.raises(ModelFileError, match="holds a attribute_heads, not a HandcraftedFeatures"):
        HandcraftedFeatures.load(tmp_path / "hc")
    path.write_text(yaml.safe_dump({**content, "kind": "handcrafted", "state": {"columns": ["hog.bin_0"]}}))
    with pytest.raises(ModelFileError, match="columns differ"):
        HandcraftedFeatures.load(tmp_path / "hc")


def test_deterministic_and_independent_of_batch_order():
    crops, _ = samples_for(6)
    crops.append(np.random.default_rng(9).integers(0, 256, (224, 224, 3), dtype=np.uint8))
    first = extract(crops)
    again = extract(crops)
    pd.testing.assert_frame_equal(first, again)
    reversed_rows = extract(crops[::-1]).iloc[::-1].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, reversed_rows)
    # the seed matters only for k-means: another seed moves the dominant colours a little, nothing else
    other = extract(crops, params={"color_principal_component": {"seed": 7}})
    pd.testing.assert_frame_equal(first.drop(columns=first.filter(like="color_principal").columns),
                                  other.drop(columns=other.filter(like="color_principal").columns))
    np.testing.assert_allclose(first.filter(like="color_principal"), other.filter(like="color_principal"),
                               atol=0.05)
