"""Hospital tables into manifests: CSV, .xlsx and COCO JSON; xywh boxes; patient ids from file names."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from explainendo.cli import app
from explainendo.errors import ManifestError
from explainendo.io import Manifest
from explainendo.io.importing import coco_table, import_csv, import_table, read_table


def _images(folder, names, size=(64, 48)):
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((size[1], size[0], 3), 120, np.uint8)).save(path)


def test_xywh_boxes_become_corners_and_a_typo_names_the_column():
    table = pd.DataFrame({"file": ["a.jpg"], "mrn": ["007"], "dx": ["neoplastic"], "x": ["10"], "y": ["5"],
                          "w": ["20"], "h": ["8"], "tone": ["red"]})
    out = import_table(table, image="file", patient="mrn", label="dx", boxes="xywh", attributes=["tone"])
    assert out.loc[0, ["x1", "y1", "x2", "y2"]].tolist() == [10, 5, 30, 13]
    assert out.loc[0, "attr.tone"] == "red" and out.loc[0, "patient"] == "007"
    with pytest.raises(ManifestError, match="'diagnosis'"):
        import_table(table, image="file", patient="mrn", label="diagnosis")


def test_patient_ids_from_the_image_paths():
    table = pd.DataFrame({"image": ["P01/img1.jpg", "P01/img2.jpg", "P02/x.jpg"], "label": ["a", "b", "a"]})
    out = import_table(table, patient_pattern="^([^/]+)/")
    assert out["patient"].tolist() == ["P01", "P01", "P02"]
    named = import_table(table.assign(image=["p_7_a.jpg", "p_7_b.jpg", "p_9.jpg"]), patient_pattern=r"p_(?P<patient>\d+)")
    assert named["patient"].tolist() == ["7", "7", "9"]
    with pytest.raises(ManifestError, match=r"no patient id in 1 image path.*'loose\.jpg'"):
        import_table(table.assign(image=["P01/a.jpg", "P01/b.jpg", "loose.jpg"]), patient_pattern="^([^/]+)/")
    with pytest.raises(ManifestError, match="has no group"):
        import_table(table, patient_pattern="^P")
    with pytest.raises(ManifestError, match="give one"):
        import_table(table.assign(patient="x"), patient_pattern="^([^/]+)/")


def test_an_excel_workbook_reads_as_text(tmp_path):
    frame = pd.DataFrame({"image": ["a.jpg", "b.jpg"], "patient": ["007", "008"], "label": ["n", "p"]})
    with pd.ExcelWriter(tmp_path / "lesions.xlsx") as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="cover", index=False)
        frame.to_excel(writer, sheet_name="lesions", index=False)
    read = read_table(tmp_path / "lesions.xlsx", sheet="lesions")
    assert read["patient"].tolist() == ["007", "008"]  # leading zeros kept: ids are text
    with pytest.raises(ManifestError, match="cannot read the workbook"):
        read_table(tmp_path / "lesions.xlsx", sheet="nope")
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf")
    with pytest.raises(ManifestError, match="save it as .xlsx"):
        read_table(tmp_path / "old.xls")


COCO = {
    "images": [{"id": 1, "file_name": "P01/a.jpg", "width": 64, "height": 48, "patient_id": "P01"},
               {"id": 2, "file_name": "P01/b.jpg", "width": 64, "height": 48, "patient_id": "P01"},
               {"id": 3, "file_name": "P02/c.jpg", "width": 64, "height": 48, "patient_id": "P02"}],
    "annotations": [{"id": 10, "image_id": 1, "category_id": 2, "bbox": [4, 6, 20, 10], "iscrowd": 0,
                     "attributes": {"tone": "red"}},
                    {"id": 11, "image_id": 1, "category_id": 1, "bbox": [30, 20, 10, 10], "iscrowd": 0},
                    {"id": 12, "image_id": 3, "category_id": 1, "bbox": [0, 0, 8, 8], "iscrowd": 0}],
    "categories": [{"id": 1, "name": "non_neoplastic"}, {"id": 2, "name": "neoplastic"}],
}


def test_a_coco_file_is_one_row_per_box():
    table = coco_table(COCO)
    assert len(table) == 4  # three boxes, and image 2 without any
    first = table[table["image"] == "P01/a.jpg"].iloc[0]
    assert (first["category"], first["tone"], first["patient_id"]) == ("neoplastic", "red", "P01")
    assert [first[c] for c in "xywh"] == ["4", "6", "20", "10"]
    empty = table[table["image"] == "P01/b.jpg"].iloc[0]
    assert empty["x"] == "" and empty["category"] == ""


@pytest.mark.parametrize("change, message", [
    (lambda d: d["annotations"][0].update(image_id=99), "image_id 99"),
    (lambda d: d["annotations"][0].update(iscrowd=1), "iscrowd"),
    (lambda d: d["annotations"][0].update(category_id=7), "category_id 7"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2]), r"annotations\[0\] \(id 10\): bbox"),
    (lambda d: d.pop("annotations"), "not a COCO detection file"),
])
def test_a_broken_coco_file_names_the_annotation(change, message):
    data = json.loads(json.dumps(COCO))
    change(data)
    with pytest.raises(ManifestError, match=message):
        coco_table(data)


def test_import_a_coco_export_from_the_command_line(tmp_path):
    _images(tmp_path / "export", ["P01/a.jpg", "P01/b.jpg", "P02/c.jpg"])
    (tmp_path / "export" / "instances.json").write_text(json.dumps(COCO))
    result = CliRunner().invoke(app, ["data", "import", str(tmp_path / "export" / "instances.json"),
                                      str(tmp_path / "export" / "manifest.csv"), "--image", "image",
                                      "--patient", "patient_id", "--label", "category", "--boxes", "xywh",
                                      "--attributes", "tone"])
    assert result.exit_code == 0, result.output
    manifest = Manifest.read_csv(tmp_path / "export" / "manifest.csv")
    boxed = manifest.df.dropna(subset=["x1"])
    assert sorted(boxed["label"]) == ["neoplastic", "non_neoplastic", "non_neoplastic"]
    assert boxed.loc[boxed["label"] == "neoplastic", ["x1", "y1", "x2", "y2"]].iloc[0].tolist() == [4, 6, 24, 16]
    assert set(manifest.df["patient"]) == {"P01", "P02"}
    report = manifest.validate(strict=False).report
    assert not [p for p in report.problems if p.kind == "missing_file"]
    # the same ids from the folder names instead of the image field
    result = CliRunner().invoke(app, ["data", "import", str(tmp_path / "export" / "instances.json"),
                                      str(tmp_path / "export" / "by_folder.csv"), "--patient-pattern", "^([^/]+)/",
                                      "--label", "category", "--boxes", "xywh"])
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(tmp_path / "export" / "by_folder.csv")["patient"]) == {"P01", "P02"}
