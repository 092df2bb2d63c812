"""``explainendo localize predict`` on a saved localizer, with a broken file in the folder."""

import sys

import cv2
import numpy as np
import pytest
import pandas as pd
from typer.testing import CliRunner

from explainendo.cli import app
from explainendo.localize import WholeFrame


def test_import_is_light():
    import subprocess

    code = "import explainendo.localize, explainendo.evaluate.detection, sys; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_cli_predict_writes_boxes(tmp_path):
    WholeFrame(remove_border=False).fit().save(tmp_path / "wf")
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    cv2.imwrite(str(imgs / "a.png"), np.full((20, 30, 3), 100, np.uint8))
    (imgs / "b.png").write_bytes(b"broken")
    res = CliRunner().invoke(app, ["localize", "predict", str(tmp_path / "wf"), str(imgs), "--out",
                                   str(tmp_path / "boxes.csv")])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(tmp_path / "boxes.csv")
    assert len(table) == 2
    row = table[table["image"].str.endswith("a.png")].iloc[0]
    assert (row["x2"], row["y2"]) == (30, 20)
    assert table[table["image"].str.endswith("b.png")]["x1"].isna().all()
    bad = CliRunner().invoke(app, ["localize", "predict", str(tmp_path / "nothing"), str(imgs)])
    assert bad.exit_code == 2


def test_cli_trains_a_detector_and_evaluates_it_on_another_manifest(tmp_path, phantom_writer):
    import json

    train = phantom_writer.single(tmp_path / "train", n=8, size=64, seed=0)
    other = phantom_writer.single(tmp_path / "other", n=4, size=64, seed=1)
    train.to_csv(tmp_path / "train" / "manifest.csv")
    other.to_csv(tmp_path / "other" / "manifest.csv")
    runner = CliRunner()
    res = runner.invoke(app, ["localize", "train", str(tmp_path / "train" / "manifest.csv"), "--out",
                              str(tmp_path / "det"), "--epochs", "1", "--image-size", "64"])
    assert res.exit_code == 0, res.output
    assert "centernet_localizer" in res.output
    res = runner.invoke(app, ["localize", "evaluate", str(tmp_path / "det"), str(tmp_path / "other" / "manifest.csv"),
                              "--out", str(tmp_path / "figures.json")])
    assert res.exit_code == 0, res.output
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["images"] == 4 and figures["targets"] == 4 and figures["unreadable"] == 0
    assert {"mAP50", "mIoU", "success_iou_0.3", "ms_per_image"} <= set(figures)
    # the whole frame on the same manifest: IoU of the frame with each phantom's box, by hand
    WholeFrame(remove_border=False).fit().save(tmp_path / "wf")
    res = runner.invoke(app, ["localize", "evaluate", str(tmp_path / "wf"), str(tmp_path / "other" / "manifest.csv"),
                              "--out", str(tmp_path / "wf.json")])
    assert res.exit_code == 0, res.output
    by_hand = np.mean([(r.x2 - r.x1) * (r.y2 - r.y1) / 64 ** 2 for r in other.df.itertuples()])
    assert json.loads((tmp_path / "wf.json").read_text())["mIoU"] == pytest.approx(by_hand, rel=1e-6)
    bad = runner.invoke(app, ["localize", "train", str(tmp_path / "train" / "manifest.csv"), "--out",
                              str(tmp_path / "x"), "--method", "softmask", "--val", "kvasir-seg"])
    assert bad.exit_code != 0


def test_evaluate_names_the_dropped_rows_and_why_none_is_left(tmp_path, phantom_writer):
    """A CSV written elsewhere with absolute image paths: every row escapes the CSV's folder (the default
    root), so nothing is left; the error says so and how to fix it, not "the manifest has no boxes"."""
    import warnings

    from explainendo.errors import ManifestError
    from explainendo.evaluate.detection import evaluate_localizer
    from explainendo.io import Manifest

    other = phantom_writer.single(tmp_path / "other", n=4, size=64, seed=1)
    absolute = other.df.copy()
    absolute["image"] = [str(other.path(i)) for i in absolute["image"]]
    csv = Manifest(absolute, tmp_path / "elsewhere").to_csv(tmp_path / "elsewhere" / "manifest.csv")
    WholeFrame(remove_border=False).fit().save(tmp_path / "wf")
    res = CliRunner().invoke(app, ["localize", "evaluate", str(tmp_path / "wf"), str(csv)])
    assert res.exit_code != 0
    assert "path_escapes_root=4" in res.output and "--root" in res.output, res.output
    assert "has no boxes" not in res.output
    # the same CSV with --root at the images' folder evaluates all 4
    res = CliRunner().invoke(app, ["localize", "evaluate", str(tmp_path / "wf"), str(csv), "--root",
                                   str(tmp_path / "other")])
    assert res.exit_code == 0, res.output
    assert "images 4" in res.output
    # one file gone: 3 evaluated, the fourth counted and named
    gone = other.path(other.images()[0])
    gone.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figures, _ = evaluate_localizer(WholeFrame(remove_border=False).fit(), other)
    assert figures["images"] == 3 and figures["dropped_rows"] == 1
    assert any(gone.name in str(w.message) for w in caught)
    with pytest.raises(ManifestError, match="has no boxes"):
        evaluate_localizer(WholeFrame(remove_border=False).fit(), Manifest(other.df.drop(columns=["x1", "y1", "x2", "y2"]), other.root))
