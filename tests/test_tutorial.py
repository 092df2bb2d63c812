"""docs/tutorial_own_data.md, command by command, on a small generated hospital folder.

The commands are the tutorial's; only the YAML's training budgets are cut (epochs, image sizes) so the test
takes about a minute on 2 cores. Each step checks what the tutorial says it gives.
"""

import importlib.util
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from explainendo.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
ATTRS = "tone,surface,boundary,bleeding"


def _generator():
    spec = importlib.util.spec_from_file_location("make_hospital_data",
                                                  ROOT / "examples" / "own_data" / "make_hospital_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_hospital_data"] = module
    spec.loader.exec_module(module)
    return module


def _ci_budget(config: dict) -> dict:
    """The tutorial's CPU YAML with its training budgets cut for CI."""
    localizer = config["model"]["localizer"]
    localizer.update(image_size=64, training={"kind": "unet_training", "epochs": 1, "batch_size": 16})
    heads = config["model"]["predictor"]["sources"][0]
    heads.update(image_size=64, training={"kind": "training", "epochs": 1, "batch_size": 32, "device": "cpu"})
    return config


def _run(*args):
    result = runner.invoke(app, list(args))
    return result


@pytest.mark.slow
def test_the_own_data_tutorial_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = _generator().write(Path("hospital"), n=96, size=128, seed=1)
    hospital = pd.read_csv(files["train"])
    assert {"file", "patient_id", "diagnosis", "x", "y", "w", "h"} <= set(hospital.columns)
    both = pd.concat([hospital, pd.read_csv(files["test"])])
    assert both["file"].duplicated().sum() == 1  # one image holds two lesions
    assert (Path("hospital") / both["file"].iloc[0]).suffix == ".jpg"

    # 1. import
    for part in ("train", "test"):
        r = _run("data", "import", f"hospital/lesions_{part}.csv", f"hospital/{part}.csv", "--image", "file",
                 "--patient", "patient_id", "--label", "diagnosis", "--centre", "hospital", "--boxes", "xywh",
                 "--attributes", ATTRS)
        assert r.exit_code == 0, r.output
    train = pd.read_csv("hospital/train.csv")
    assert {"image", "patient", "label", "centre", "x1", "y1", "x2", "y2", "attr.tone"} <= set(train.columns)
    merged = train.merge(hospital, left_on=["image", "x1", "y1"], right_on=["file", "x", "y"])
    assert len(merged) == len(train) and (merged["x2"] - merged["x1"] == merged["w"]).all()  # xywh -> xyxy
    assert _run("data", "import", "hospital/lesions_train.csv", "elsewhere/train.csv", "--image", "file",
                "--patient", "patient_id").exit_code == 2  # a manifest must sit above its images

    config = _ci_budget(yaml.safe_load((ROOT / "examples" / "own_data" / "own_data_cpu.yaml").read_text()))
    Path("own_data_cpu.yaml").write_text(yaml.safe_dump(config))

    # 2. validate: OK; then a bad cell is found with its line
    r = _run("data", "validate", "hospital/train.csv", "--config", "own_data_cpu.yaml")
    assert r.exit_code == 0 and "OK" in r.output, r.output
    broken = train.copy()
    broken.loc[2, "attr.tone"] = "Yes"
    broken.to_csv("hospital/broken.csv", index=False)
    r = _run("data", "validate", "hospital/broken.csv", "--config", "own_data_cpu.yaml")
    assert r.exit_code == 1 and "line 4" in r.output and "bad_attribute" in r.output

    # 3. train
    r = _run("train", "own_data_cpu.yaml")
    assert r.exit_code == 0, r.output
    assert Path("models/own_cpu/component.yaml").is_file()

    # 4. evaluate on the test set: on its boxes and from pixels
    r = _run("evaluate", "model", "models/own_cpu", "hospital/test.csv", "--out", "evaluation")
    assert r.exit_code == 0, r.output
    assert "on the manifest's boxes" in r.output and "from pixels (through the localizer)" in r.output
    assert "Accuracy" in r.output and "AUC" in r.output
    pixels = pd.read_csv("evaluation/predictions_pixels.csv")
    assert len(pixels) == pd.read_csv("hospital/test.csv")["image"].nunique()

    # 5. diagnose and explain
    r = _run("diagnose", "models/own_cpu", "hospital/images", "--out", "diagnoses")
    assert r.exit_code == 0, r.output
    results = pd.read_csv("diagnoses/results.csv")
    assert len(results) == len(list(Path("hospital/images").glob("*.jpg"))) and (results["status"] == "ok").any()
    r = _run("explain", "models/own_cpu", "hospital/images/IMG_0001.jpg", "--out", "card.html")
    assert r.exit_code == 0, r.output
    card = Path("card.html").read_text()
    assert "Research use only" in card or "research use" in card.lower()

    # 6. compare with a CNN on the same lesions
    r = _run("bench", "hospital/train.csv", "--hybrid", "own_data_cpu.yaml", "--sole-backbones", "efficientnet_lite0",
             "--positive", "neoplastic", "--out", "compare", "--quick", "--epochs", "1", "--image-size", "64")
    assert r.exit_code == 0, r.output
    report = Path("compare/report.md").read_text()
    assert "## Contenders" in report and "AttributeHeads" in report and "sole_dl_efficientnet_lite0" in report
    assert json.loads(Path("compare/results.json").read_text())["meta"]["contenders"]["hybrid"].startswith(
        "HybridPredictor")
