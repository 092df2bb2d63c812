"""``explainendo localize predict`` on a saved localizer, with a broken file in the folder."""

import sys

import cv2
import numpy as np
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
