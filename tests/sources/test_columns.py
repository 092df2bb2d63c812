import numpy as np
import pandas as pd
import pytest

from explainendo.errors import FeatureExtractionError, ModelFileError, NotFittedError
from explainendo.features import LesionSamples, check_feature_frame
from explainendo.sources import ColumnFeatures
from explainendo.types import Box


def _samples(table):
    table = pd.DataFrame(table)
    crops = [np.zeros((4, 4, 3), np.uint8)] * len(table)
    return LesionSamples(crops=crops, boxes=[Box(0, 0, 4, 4)] * len(table), table=table)


def test_numeric_and_categorical_columns():
    train = _samples({"size_mm": [3.0, 12.5, np.nan], "attr.tone": ["pale", "reddened", "pale"]})
    src = ColumnFeatures(["size_mm", "attr.tone"]).fit(train)
    assert src.groups == {"size_mm": ["size_mm.value"], "tone": ["tone.pale", "tone.reddened"]}
    new = _samples({"size_mm": [7.0, 1.0, 2.0], "attr.tone": ["reddened", "unchanged", None]})
    out = check_feature_frame(src.transform(new), 3, "columns")
    assert list(out.columns) == ["size_mm.value", "tone.pale", "tone.reddened"]
    np.testing.assert_array_equal(out.iloc[0], [7.0, 0.0, 1.0])
    np.testing.assert_array_equal(out.iloc[1, 1:], [0.0, 0.0])  # unseen category: all zeros
    assert out.iloc[2, 1:].isna().all()  # missing value: unknown, imputed later by the hybrid


def test_errors_and_roundtrip(tmp_path):
    with pytest.raises(NotFittedError):
        ColumnFeatures(["x"]).groups
    src = ColumnFeatures(["size_mm"], name="measures")
    with pytest.raises(FeatureExtractionError, match="size_mm"):
        src.fit(_samples({"other": [1.0]}))
    src.fit(_samples({"size_mm": [1.0, 2.0]}))
    src.save(tmp_path / "c")
    back = ColumnFeatures.load(tmp_path / "c")
    assert back.name == "measures" and back.groups == src.groups
    (tmp_path / "c" / "component.yaml").write_text("format: explainendo-component\nformat_version: 5\n"
                                                   "kind: handcrafted\n")
    with pytest.raises(ModelFileError, match="holds a handcrafted, not a ColumnFeatures"):
        ColumnFeatures.load(tmp_path / "c")
