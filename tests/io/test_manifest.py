import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explainendo.errors import ManifestError
from explainendo.io import Manifest


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "data"
    (root / "img").mkdir(parents=True)
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(root / "img" / name)
    (root / "img" / "broken.png").write_bytes(b"not a png")
    secret = tmp_path / "secret.png"
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(secret)
    return root


def _rows():
    return [
        {"image": "img/a.png", "patient": "p1", "label": "neoplastic", "x1": 5, "y1": 5, "x2": 30, "y2": 20,
         "box_label": "lesion", "attr.tone": "reddened"},
        {"image": "img/a.png", "patient": "p1", "label": "neoplastic", "x1": 35, "y1": 5, "x2": 50, "y2": 30,
         "box_label": "lesion", "attr.tone": None},
        {"image": "img/b.png", "patient": "p2", "label": "non_neoplastic"},
    ]


def test_clean_manifest_round_trips_csv_and_fills_sizes(folder, tmp_path):
    m = Manifest(pd.DataFrame(_rows()), folder)
    v = m.validate()
    assert v.report.ok and len(v) == 3
    assert (v.df["width"] == 60).all() and (v.df["height"] == 40).all()
    path = v.to_csv(tmp_path / "out" / "m.csv")
    back = Manifest.read_csv(path, root=folder)
    assert back.df["image"].tolist() == v.df["image"].tolist()
    assert back.attributes == ["tone"]
    assert len(back.boxes_for("img/a.png")) == 2 and back.boxes_for("img/b.png") == []
    assert back.summary()["images"] == 2 and back.summary()["boxes"] == 2
    assert pd.isna(back.df.loc[1, "attr.tone"])  # unknown stays unknown, never a class


def test_every_problem_is_reported_and_non_strict_drops_bad_rows(folder, tmp_path):
    rows = _rows() + [
        {"image": "img/missing.png", "patient": "p3"},                     # missing file
        {"image": "../secret.png", "patient": "p4"},                       # escapes root
        {"image": str(tmp_path / "secret.png"), "patient": "p4"},          # absolute, outside root
        {"image": "img/c.png", "patient": "p5", "x1": 10, "y1": 10, "x2": 200, "y2": 30},  # outside 60x40
        {"image": "img/c.png", "patient": "p5", "x1": 10, "y1": 10, "x2": 5, "y2": 30},    # degenerate
        {"image": "img/c.png", "patient": "p5", "x1": 10, "y1": None, "x2": 20, "y2": 30},  # partial
        {"image": "img/broken.png", "patient": "p6"},                      # unreadable
        {"image": "img/b.png", "patient": None},                           # no patient
        dict(_rows()[0]),                                                  # duplicate of row 0
    ]
    m = Manifest(pd.DataFrame(rows), folder, name="test.csv")
    with pytest.raises(ManifestError) as info:
        m.validate(strict=True)
    kinds = {p.kind for p in info.value.problems}
    assert kinds == {"missing_file", "path_escapes_root", "box_outside_image", "degenerate_box", "partial_box",
                     "unreadable_image", "missing_patient", "duplicate_row"}
    assert "test.csv" in str(info.value)
    clean = m.validate(strict=False)
    assert clean.report.bad_rows == list(range(3, 12))
    assert len(clean) == 3 and set(clean.df["image"]) == {"img/a.png", "img/b.png"}
    assert "path_escapes_root=2" in clean.report.summary()


def test_missing_columns_and_required_labels(folder):
    with pytest.raises(ManifestError, match="patient"):
        Manifest(pd.DataFrame({"image": ["img/a.png"]}), folder)
    m = Manifest(pd.DataFrame({"image": ["img/a.png"], "patient": ["p"]}), folder)
    with pytest.raises(ManifestError, match="missing_label"):
        m.validate(require_label=True)
    with pytest.raises(ManifestError, match="missing_box"):
        m.validate(require_boxes=True)
    with pytest.raises(ManifestError, match="empty"):
        Manifest(pd.DataFrame({"image": [], "patient": []}), folder).validate()
    with pytest.raises(ManifestError, match="escapes"):
        m.path("../../etc/passwd")


def test_read_csv_errors(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        Manifest.read_csv(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ManifestError):
        Manifest.read_csv(bad)


def test_numeric_ids_stay_strings(folder, tmp_path):
    m = Manifest(pd.DataFrame({"image": ["img/a.png", "img/b.png"], "patient": [7, 7.0]}), folder)
    assert m.df["patient"].tolist() == ["7", "7"]
    back = Manifest.read_csv(m.to_csv(tmp_path / "m.csv"), root=folder)
    assert back.df["patient"].tolist() == ["7", "7"]
