"""The manifest specification of docs/data.md, rule by rule, and validation that names the CSV line."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from explainendo.cli import app
from explainendo.errors import ConfigError, ManifestError
from explainendo.heads.attribute_heads import encode_labels
from explainendo.io.manifest import Manifest
from explainendo.specs import AttributeSpec, gastric_attribute, parse_attribute_value

TONE = AttributeSpec("tone", ("normal", "reddened", "pale"))


def _images(folder, n=4, size=32):
    (folder / "img").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((size, size, 3), 40 * i + 20, np.uint8)).save(folder / "img" / f"{i}.png")


def _csv(folder, text):
    path = folder / "lesions.csv"
    path.write_text(text)
    return path


def test_ids_are_stripped_strings_and_a_spreadsheet_float_is_its_integer(tmp_path):
    _images(tmp_path)
    path = _csv(tmp_path, "image,patient,centre,label\n"
                          "img/0.png,7,A,x\nimg/1.png,7.0,A,x\nimg/2.png, P7 ,A,y\nimg/3.png,p7,A,y\n")
    m = Manifest.read_csv(path)
    assert m.df["patient"].tolist() == ["7", "7", "P7", "p7"]  # 7 == 7.0; case-sensitive: P7 != p7
    assert m.df["patient"].nunique() == 3
    assert Manifest.read_csv(_csv(tmp_path, "image,patient\nimg/0.png,007\n")).df["patient"].iloc[0] == "007"


def test_unknown_tokens_in_label_and_attributes(tmp_path):
    _images(tmp_path)
    path = _csv(tmp_path, "image,patient,label,attr.tone\n"
                          "img/0.png,1,neoplastic,Unknown\nimg/1.png,2,N/A,?\nimg/2.png,3, ,\nimg/3.png,4,x,NA\n")
    m = Manifest.read_csv(path)
    assert m.df["label"].isna().tolist() == [False, True, True, False]
    assert m.df["attr.tone"].isna().all()


@pytest.mark.parametrize("value, index", [("reddened", 1), ("Reddened", 1), (" PALE ", 2), ("0", 0), (1, 1),
                                          (2.0, 2), ("1.0", 1), ("unknown", -1), ("", -1), (np.nan, -1),
                                          ("Yes", None), ("3", None), (-1, None), (True, None), ("1.5", None)])
def test_attribute_values_by_name_any_case_or_by_index(value, index):
    assert parse_attribute_value(TONE, value) == index


def test_a_bad_attribute_cell_fails_loudly_with_its_csv_line(tmp_path):
    _images(tmp_path)
    path = _csv(tmp_path, "image,patient,label,attr.tone,attr.location\n"
                          "img/0.png,1,neoplastic,reddened,upper\n"
                          "\n"                                        # a blank line: pandas skips it, lines count it
                          "img/1.png,2,non_neoplastic,Yes,\n"
                          "img/2.png,3,neoplastic,1,\n")
    m = Manifest.read_csv(path)
    assert m.df["csv_line"].tolist() == [2, 4, 5]
    report = m.validate(strict=False, attributes=[TONE]).report
    bad = [p for p in report.problems if p.kind == "bad_attribute"]
    assert len(bad) == 1 and bad[0].line == 4 and "line 4" in str(bad[0]) and "'Yes'" in str(bad[0])
    assert any(p.kind == "unused_attribute" and "attr.location" in p.message for p in report.problems)
    with pytest.raises(ManifestError, match="line 4"):
        encode_labels(TONE, m.df["attr.tone"], m.df["csv_line"].tolist())
    with pytest.raises(ManifestError, match="line 4"):
        m.validate(strict=True, attributes=[TONE])


def test_box_cells_that_are_not_numbers_are_problems_not_missing_boxes(tmp_path):
    _images(tmp_path)
    path = _csv(tmp_path, "image,patient,x1,y1,x2,y2\nimg/0.png,1,2,2,10,10\nimg/1.png,2,2,2,10a,10\n")
    report = Manifest.read_csv(path).validate(strict=False).report
    assert [(p.kind, p.line) for p in report.problems] == [("bad_number", 3)]
    assert "x2 = '10a' is not a number" in str(report.problems[0])


def test_to_csv_does_not_write_the_line_column(tmp_path):
    _images(tmp_path)
    m = Manifest.read_csv(_csv(tmp_path, "image,patient\nimg/0.png,1\n"))
    back = pd.read_csv(m.to_csv(tmp_path / "out.csv"))
    assert "csv_line" not in back.columns
    with pytest.raises(ManifestError, match="reserved"):
        Manifest.read_csv(_csv(tmp_path, "image,patient,csv_line\nimg/0.png,1,9\n"))


def test_training_checks_the_data_before_any_network_trains(tmp_path):
    from explainendo.systems.gastric import GastricDiagnoser

    _images(tmp_path)
    path = _csv(tmp_path, "image,patient,label,x1,y1,x2,y2,attr.tone\n"
                          "img/0.png,1,neoplastic,2,2,20,20,reddened\n"
                          "img/1.png,2,non_neoplastic,2,2,20,20,Yes\n"
                          "img/2.png,3,neoplastic,2,2,20,20,\n")
    model = GastricDiagnoser()
    with pytest.raises(ManifestError, match="attr.tone, line 3"):
        model.fit(Manifest.read_csv(path))
    assert not hasattr(model, "localizer_")  # refused before the localizer trained
    good = _csv(tmp_path, "image,patient,label,x1,y1,x2,y2\nimg/0.png,1,a,2,2,20,20\nimg/1.png,2,b,2,2,20,20\n")
    with pytest.raises(ConfigError, match="positive_label 'neoplastic' is not a label"):
        GastricDiagnoser().fit(Manifest.read_csv(good))


def test_data_validate_command_lists_every_problem_with_its_line(tmp_path):
    _images(tmp_path)
    path = _csv(tmp_path, "image,patient,label,x1,y1,x2,y2,attr.tone\n"
                          "img/0.png,1,neoplastic,2,2,20,20,reddened\n"
                          "img/9.png,2,non_neoplastic,2,2,20,20,\n"
                          "img/1.png,3,non_neoplastic,2,2,20,20,Yes\n"
                          "img/2.png,4,neoplastic,2,2,99,20,\n")
    runner = CliRunner()
    r = runner.invoke(app, ["data", "validate", str(path), "--model", "gastric"])
    assert r.exit_code == 1, r.output
    assert "line 3 (img/9.png): missing_file" in r.output
    assert "line 4 (img/1.png): bad_attribute" in r.output
    assert "line 5 (img/2.png): box_outside_image" in r.output
    assert "3 problem(s)" in r.output
    clean = _csv(tmp_path, "image,patient,label,x1,y1,x2,y2,attr.tone\n"
                           "img/0.png,1,neoplastic,2,2,20,20,reddened\nimg/1.png,2,non_neoplastic,2,2,20,20,\n")
    r = runner.invoke(app, ["data", "validate", str(clean), "--model", "gastric"])
    assert r.exit_code == 0 and "OK" in r.output, r.output
    assert runner.invoke(app, ["data", "validate", str(tmp_path / "nope.csv")]).exit_code == 2
    assert gastric_attribute("tone").classes  # the preset's attribute specs are what --model gastric checks


def test_the_split_column_is_honoured_and_checked(tmp_path):
    from explainendo.errors import SplitError
    from explainendo.io import split_by_column

    _images(tmp_path)
    m = Manifest.read_csv(_csv(tmp_path, "image,patient,split\nimg/0.png,1,train\nimg/1.png,2,test\n"
                                         "img/2.png,1,train\nimg/3.png,3,val\n"))
    parts = split_by_column(m)
    assert {k: len(v) for k, v in parts.items()} == {"train": 2, "val": 1, "test": 1}
    leaky = Manifest.read_csv(_csv(tmp_path, "image,patient,split\nimg/0.png,1,train\nimg/1.png,1,test\n"))
    with pytest.raises(SplitError, match="patient '1' is in both"):
        split_by_column(leaky)
    typo = Manifest.read_csv(_csv(tmp_path, "image,patient,split\nimg/0.png,1,train\nimg/1.png,2,Test\n"))
    with pytest.raises(SplitError, match="line 3"):
        split_by_column(typo)


def test_measurement_columns_are_numbers_and_text_columns_stay_text(tmp_path):
    _images(tmp_path)
    m = Manifest.read_csv(_csv(tmp_path, "image,patient,size_mm,note,label_probability\n"
                                         "img/0.png,007,12.5,first,0.8\nimg/1.png,8,,second,0.3\n"
                                         "img/2.png,9,7,,1\n"))
    assert m.df["patient"].tolist() == ["007", "8", "9"]
    assert m.df["size_mm"].dtype == float and np.isnan(m.df["size_mm"].iloc[1]) and m.df["size_mm"].iloc[2] == 7.0
    assert (m.df["label_probability"] > 0.5).tolist() == [True, False, True]
    assert m.df["note"].iloc[0] == "first" and pd.isna(m.df["note"].iloc[2])
