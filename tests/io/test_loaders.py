"""Loaders on a few real files of each shared dataset, plus format errors on small fakes."""

import shutil

import numpy as np
import pytest
from PIL import Image

from explainendo.errors import ManifestError
from explainendo.io import load_dataset, load_dsoc, load_edd2020, load_folder, load_kvasir_seg, load_voc_txt, load_yolo_txt
from explainendo.io.loaders import dsoc_video, edd2020_centre


def test_edd2020_real(shared_data):
    m = load_edd2020(shared_data / "edd2020")
    assert m.summary()["images"] == 386 and set(m.df["centre"]) == {"ACB", "AJ", "B", "F", "INAB", "NAF"}
    counts = m.df["box_label"].value_counts().to_dict()
    assert counts == {"BE": 286, "polyp": 228, "suspicious": 98, "HGD": 80, "cancer": 57}  # SOURCE.txt
    # the first file's first VOC line is "4 153 278 362 cancer"
    first = m.rows_for("originalImages/EDD2020_ACB0000.jpg").iloc[0]
    assert (first.x1, first.y1, first.x2, first.y2, first.box_label) == (4, 153, 278, 362, "cancer")
    # the YOLO copy of the same boxes agrees to within rounding
    y = load_edd2020(shared_data / "edd2020", labels="bbox_yolotype")
    fy = y.rows_for("originalImages/EDD2020_ACB0000.jpg").iloc[0]
    assert abs(fy.x1 - 4) < 2 and abs(fy.y2 - 362) < 2 and fy.box_label == "cancer"
    neo = load_edd2020(shared_data / "edd2020", neoplastic_label=True)
    assert neo.df["label"].value_counts().to_dict() == {"non_neoplastic": 286, "neoplastic": 137}
    sub = m.select_groups(m.df["patient"].unique()[:5]).validate()
    assert sub.report.ok and sub.df["width"].notna().all()


def test_kvasir_csv_and_json_agree(shared_data):
    m = load_kvasir_seg(shared_data / "kvasir-seg-256")
    j = load_kvasir_seg(shared_data / "kvasir-seg-256", boxes="json")
    assert m.summary()["images"] == 998 and (m.df["label"] == "polyp").all()
    a = m.rows_for(m.df["image"][0]).iloc[0]
    b = j.rows_for(m.df["image"][0]).iloc[0]
    assert abs(a.x1 - b.x1) < 2 and abs(a.y2 - b.y2) < 2  # both in 256x256 pixels


def test_dsoc_videos_and_cp_child(shared_data):
    m = load_dsoc(shared_data / "dsoc-cholangioscopy")
    assert m.summary()["images"] == 1033 and m.df["video"].nunique() >= 10
    assert set(m.df["box_label"].dropna()) == {"irregular nodulation", "irregular surface", "irregular vascularity"}
    assert m.df["box_label"].isna().sum() == 189 + 17  # frames with no box (SOURCE.txt)
    assert dsoc_video("-10min-Clipchamp-_mp4-0001_jpg.rf.79") == "10min-Clipchamp"
    assert dsoc_video("10-202407290001018_jpg.rf.a07") == "still_202407290001"
    c = load_dataset("cp-child", shared_data / "cp-child-normal-256")
    assert len(c) == 1000 and (c.df["label"] == "normal").all() and not c.has_boxes


def test_voc_and_yolo_format_errors(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    Image.fromarray(np.zeros((50, 100, 3), np.uint8)).save(tmp_path / "images" / "f1.png")
    (tmp_path / "labels" / "f1.txt").write_text("0 0.5 0.5 0.2 0.4\n")
    m = load_yolo_txt(tmp_path, "images", "labels", ["lesion"])
    r = m.df.iloc[0]
    # cx=50, cy=25, w=20, h=20 -> (40, 15, 60, 35)
    assert (r.x1, r.y1, r.x2, r.y2, r.box_label) == (40, 15, 60, 35, "lesion")
    (tmp_path / "labels" / "f1.txt").write_text("3 0.5 0.5 0.2 0.4\n")
    with pytest.raises(ManifestError, match="class id 3"):
        load_yolo_txt(tmp_path, "images", "labels", ["lesion"])
    (tmp_path / "labels" / "f1.txt").write_text("1 2 3\n")
    with pytest.raises(ManifestError, match="line 1"):
        load_voc_txt(tmp_path, "images", "labels")
    with pytest.raises(ManifestError, match="folder not found"):
        load_voc_txt(tmp_path, "nope", "labels")
    with pytest.raises(ManifestError, match="no images"):
        load_folder(tmp_path / "labels")
    with pytest.raises(ManifestError, match="unknown dataset"):
        load_dataset("imagenet")
    with pytest.raises(ManifestError):
        edd2020_centre("IMG_0001")


def test_dsoc_frames_assemble_into_clips_in_their_real_order(shared_data):
    from explainendo.io import video_clips
    from explainendo.io.loaders import dsoc_frame

    assert dsoc_frame("-10min-Clipchamp-_mp4-0012_jpg.rf.79") == 12 and dsoc_frame("10-2024072900_jpg.rf.a") is None
    m = load_dsoc(shared_data / "dsoc-cholangioscopy")
    clips = video_clips(m)
    assert len(clips) == 10 and not any(v.startswith("still_") for v in clips)  # stills have no frame number
    frame_of = dict(zip(m.df["image"], m.df["frame"]))
    for video, paths in clips.items():
        numbers = [frame_of[str(p.relative_to(m.root))] for p in paths]
        assert numbers == sorted(set(numbers))  # real order, one image per frame number (augmented copies dropped)
        assert all(m.df.loc[m.df["image"] == str(p.relative_to(m.root)), "video"].iloc[0] == video for p in paths)
    with pytest.raises(ManifestError, match="frame"):
        video_clips(load_dataset("cp-child", shared_data / "cp-child-normal-256"))
