import numpy as np
import pandas as pd
import pytest

from explainendo.errors import FeatureExtractionError, ManifestError
from explainendo.features import LesionSamples, check_feature_frame, groups_from_columns
from explainendo.io import Manifest
from explainendo.types import Box


def _frame(value: int) -> np.ndarray:
    frame = np.zeros((40, 60, 3), np.uint8)
    frame[10:20, 20:40] = value
    return frame


def test_from_images_crops_each_box_and_subset_keeps_rows_aligned():
    frames = [_frame(50), _frame(200)]
    boxes = [Box(20, 10, 40, 20), Box(20, 10, 40, 20)]
    table = pd.DataFrame({"patient": ["a", "b"], "label": ["x", "y"]})
    samples = LesionSamples.from_images(frames, boxes, table=table)
    assert [c.shape for c in samples.crops] == [(10, 20, 3), (10, 20, 3)]
    assert samples.crops[1].min() == 200
    second = samples.subset([1])
    assert len(second) == 1 and second.table.loc[0, "patient"] == "b" and second.crops[0].min() == 200
    assert samples.labels("attr.tone").isna().all()


def test_mismatched_lengths_are_refused():
    with pytest.raises(FeatureExtractionError, match="2 boxes for 1 crops"):
        LesionSamples(crops=[np.zeros((2, 2, 3), np.uint8)], boxes=[Box(0, 0, 1, 1)] * 2)


def test_from_manifest_reads_each_image_once_and_crops_all_boxes(tmp_path):
    import cv2
    cv2.imwrite(str(tmp_path / "a.png"), _frame(120))
    df = pd.DataFrame({"image": ["a.png", "a.png"], "patient": ["p", "p"],
                       "x1": [20, 0], "y1": [10, 0], "x2": [40, 10], "y2": [20, 5]})
    samples = LesionSamples.from_manifest(Manifest(df, tmp_path), enlarge=1.0)
    assert len(samples) == 2 and samples.crops[0].shape == (10, 20, 3) and samples.crops[1].shape == (5, 10, 3)
    assert samples.frames[0] is samples.frames[1]
    with pytest.raises(ManifestError, match="no boxes"):
        LesionSamples.from_manifest(Manifest(df[["image", "patient"]], tmp_path))


def test_groups_and_output_checks():
    assert groups_from_columns(["tone.p_pale", "tone.p_reddened", "lbp.hist_0"]) == {
        "tone": ["tone.p_pale", "tone.p_reddened"], "lbp": ["lbp.hist_0"]}
    with pytest.raises(FeatureExtractionError, match="not named"):
        groups_from_columns(["nodot"])
    with pytest.raises(FeatureExtractionError, match="3 rows for 2"):
        check_feature_frame(pd.DataFrame({"a.b": [1, 2, 3]}), 2, "src")
