import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from explainendo.cli import app

from hybrid_data import make_tiny_phantoms

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    train = make_tiny_phantoms(root / "train", n=80, seed=4)
    config = {"model": {"kind": "diagnoser", "predictor": {
                  "kind": "hybrid_predictor", "positive_label": "neoplastic", "stacking": {"kind": "in_sample"},
                  "fitter": {"kind": "fitter_selector", "cv": 3},
                  "sources": [{"kind": "columns", "columns": ["attr.tone", "attr.surface", "size_mm"]}]}},
              "data": {"manifest": str(root / "train" / "manifest.csv"), "test_fraction": 0.25},
              "out": str(root / "model")}
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(root / "config.yaml")])
    assert result.exit_code == 0, result.output
    return root, result.output


def test_train_prints_selection_and_saves(trained):
    root, output = trained
    assert "<- selected" in output and "held-out accuracy on the manifest's boxes" in output
    # the report measures from pixels too, through the localizer (here: none, the whole frame)
    assert "held-out accuracy from pixels (through the localizer)" in output
    assert (root / "model" / "component.yaml").is_file() and (root / "model" / "checksums.sha256").is_file()


def test_diagnose_folder_with_a_broken_image(trained):
    root, _ = trained
    images = root / "test"
    test = make_tiny_phantoms(images, n=6, seed=5)
    (images / "zz_broken.png").write_bytes(b"\x89PNG broken")
    out = root / "diag"
    result = runner.invoke(app, ["diagnose", str(root / "model"), str(images), "--out", str(out),
                                 "--table", str(images / "manifest.csv")])
    assert result.exit_code == 0, result.output
    assert "6 diagnosed" in result.output and "1 unreadable" in result.output and "zz_broken.png" in result.output
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 7 and (table["status"] == "ok").sum() == 6
    assert table.loc[table["status"] == "error", "image"].str.endswith("zz_broken.png").all()
    assert set(table.loc[table["status"] == "ok", "label"]) <= {"neoplastic", "non_neoplastic"}
    records = json.loads((out / "results.json").read_text())
    assert len(records) == 7 and len((out / "results.jsonl").read_text().splitlines()) == 7
    assert len(list((out / "cards").glob("*.html"))) == 6
    assert "zz_broken.png" in (out / "broken.txt").read_text()
    assert set(test.images()) == {p.split("/")[-1] for p in table.loc[table["status"] == "ok", "image"]}


def test_explain_one_image_and_errors(trained, tmp_path):
    root, _ = trained
    images = root / "one"
    test = make_tiny_phantoms(images, n=2, seed=6)
    card = tmp_path / "card.png"
    result = runner.invoke(app, ["explain", str(root / "model"), str(images / test.images()[0]), "--out", str(card),
                                 "--table", str(images / "manifest.csv")])
    assert result.exit_code == 0, result.output
    assert "why (" in result.output and card.read_bytes()[:4] == b"\x89PNG"
    box = ",".join(str(v) for v in test.boxes_for(test.images()[0])[0].to_xyxy())
    result = runner.invoke(app, ["explain", str(root / "model"), str(images / test.images()[0]), "--box", box,
                                 "--out", str(tmp_path / "boxed.html"), "--table", str(images / "manifest.csv"),
                                 "--localizer-saliency", "none"])
    assert result.exit_code == 0, result.output
    assert "data:image/png;base64," in (tmp_path / "boxed.html").read_text()
    result = runner.invoke(app, ["explain", str(root / "model"), str(images / test.images()[0]), "--box", "1,2,3"])
    assert result.exit_code == 2 and "not four numbers" in result.output
    result = runner.invoke(app, ["explain", str(tmp_path / "nope"), str(images / test.images()[0])])
    assert result.exit_code == 2 and "model folder not found" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {kind: diagnoser}\nfittr: auto\n")
    result = runner.invoke(app, ["train", str(bad)])
    assert result.exit_code == 2 and "fittr" in result.output
    bad.write_text("model: {kind: gastric_diagnoser, predictor: {kind: hybrid_predictor, sources: [{kind: handcrafted}], "
                   "stacking: {kind: held_out, fraction: 1.5}}}\ndata: {manifest: nowhere.csv}\n")
    result = runner.invoke(app, ["train", str(bad)])  # refused before the data are read or anything trains
    assert result.exit_code == 2 and "fraction=1.5" in result.output


def test_example_configs_build(tmp_path):
    from pathlib import Path

    from explainendo.config import build_model, read_config
    from explainendo.engine import Diagnoser
    from explainendo.predict import HeldOut

    examples = Path(__file__).resolve().parents[1] / "examples"
    own = build_model(read_config(examples / "hybrid_own_data.yaml"))
    assert type(own) is Diagnoser and own.enlarge == 1.2
    assert [s.name for s in own.predictor.sources] == ["handcrafted", "columns"]
    gastric = build_model(read_config(examples / "gastric_phantoms.yaml"))
    assert type(gastric).__name__ == "GastricDiagnoser" and isinstance(gastric.predictor.stacking, HeldOut)
    assert gastric.localizer.encoder == "efficientnet_lite0"
    from explainendo.specs import ERCP_ATTRIBUTES

    ercp = build_model(read_config(examples / "ercp_phantoms.yaml"))
    assert type(ercp).__name__ == "ERCPAssistant" and ercp.localizer.multi is False
    assert tuple(ercp.predictor.sources[0].specs) == ERCP_ATTRIBUTES
    assert ercp.checked_tasks()["four_class"].label_column == "attr.difficulty"
    from explainendo.systems.colon import FRAME_LESION_EXTRACTORS, QUALITY_GROUPS

    colon = build_model(read_config(examples / "colon_phantoms.yaml"))
    assert type(colon).__name__ == "ColonFrameDetector" and colon.localizer.class_agnostic is True
    handcrafted, deep = colon.predictor.sources
    assert handcrafted.params["extractors"] == [*QUALITY_GROUPS, *FRAME_LESION_EXTRACTORS]
    assert deep.keep == ["tumor"]
    from explainendo.heads import UltrasoundAugment
    from explainendo.specs import EUS_ATTRIBUTES

    eus = build_model(read_config(examples / "eus_phantoms.yaml"))
    assert type(eus).__name__ == "EUSCystClassifier" and eus.input == "cyst" and eus.localizer.multi is False
    heads, texture = eus.predictor.sources
    assert tuple(heads.specs) == EUS_ATTRIBUTES and isinstance(heads.augment, UltrasoundAugment)
    assert "locule_count" in texture.params["extractors"] and eus.predictor.positive_label == "mucinous"
    assert "wall_profile" in texture.params["extractors"]
    from explainendo.predict import BoxJitter

    assert eus.predictor.box_jitter == BoxJitter()  # as eus_predictor()'s default


def test_train_on_phantoms_writes_data_beside_the_model(tmp_path):
    config = {"model": {"kind": "diagnoser", "predictor": {
                  "kind": "hybrid_predictor", "fitter": "logistic_regression", "stacking": {"kind": "in_sample"},
                  "sources": [{"kind": "columns", "columns": ["attr.tone", "attr.surface", "attr.boundary"]}]}},
              "data": {"synth": {"system": "gastric", "n": 40, "size": 64, "images_per_patient": 1}},
              "out": str(tmp_path / "m")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m_data" / "manifest.csv").is_file() and (tmp_path / "m" / "checksums.sha256").is_file()
    assert not (tmp_path / "m" / "data").exists()


def test_train_honours_the_split_column_and_prints_dropped_rows(tmp_path):
    train = make_tiny_phantoms(tmp_path / "data", n=40, seed=5)
    df = pd.read_csv(tmp_path / "data" / "manifest.csv", dtype=str)
    patients = sorted(df["patient"].unique())
    df["split"] = df["patient"].map(lambda p: "test" if patients.index(p) % 4 == 0 else "train")
    df.loc[1, "image"] = "missing.png"  # CSV line 3: dropped, and printed with its line
    df.to_csv(tmp_path / "data" / "manifest.csv", index=False)
    config = {"model": {"kind": "diagnoser", "predictor": {
                  "kind": "hybrid_predictor", "positive_label": "neoplastic", "stacking": {"kind": "in_sample"},
                  "fitter": "logistic_regression", "sources": [{"kind": "columns", "columns": ["attr.tone", "size_mm"]}]}},
              "data": {"manifest": str(tmp_path / "data" / "manifest.csv")}, "out": str(tmp_path / "m")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0, result.output
    assert "dropped: line 3 (missing.png): missing_file" in result.output
    n_test = int((df["split"] == "test").sum() - (df.loc[1, "split"] == "test"))
    assert f"on {n_test} lesions" in result.output  # the held-out test is the manifest's own test rows
    config["data"]["test_fraction"] = 0.2
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(tmp_path / "c.yaml")])
    assert result.exit_code == 2 and "give one" in result.output
    assert train is not None


def test_diagnose_refuses_a_missing_table_and_fails_when_nothing_was_diagnosed(trained, tmp_path):
    root, _ = trained
    images = root / "train"
    result = runner.invoke(app, ["diagnose", str(root / "model"), str(images), "--out", str(tmp_path / "a")])
    assert result.exit_code == 2 and "reads the per-image column(s)" in result.output and "--table" in result.output
    assert not (tmp_path / "a" / "results.csv").exists()  # refused before any image was read
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not an image")
    (broken / "y.png").write_bytes(b"")
    result = runner.invoke(app, ["diagnose", str(root / "model"), str(broken), "--out", str(tmp_path / "b"),
                                 "--table", str(images / "manifest.csv")])
    assert result.exit_code == 1 and "no image could be diagnosed (2 failed)" in result.output


def test_train_config_root_names_the_images_folder(tmp_path):
    make_tiny_phantoms(tmp_path / "images", n=30, seed=6)
    (tmp_path / "tables").mkdir()
    (tmp_path / "images" / "manifest.csv").rename(tmp_path / "tables" / "lesions.csv")  # the CSV away from its images
    config = {"model": {"kind": "diagnoser", "predictor": {
                  "kind": "hybrid_predictor", "positive_label": "neoplastic", "stacking": {"kind": "in_sample"},
                  "fitter": "logistic_regression", "sources": [{"kind": "columns", "columns": ["size_mm"]}]}},
              "data": {"manifest": str(tmp_path / "tables" / "lesions.csv")}, "out": str(tmp_path / "m")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(tmp_path / "c.yaml")])
    assert result.exit_code == 2 and "dropped: line 2" in result.output  # without root: every file is missing
    config["data"]["root"] = str(tmp_path / "images")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(tmp_path / "c.yaml")])
    assert result.exit_code == 0 and "dropped" not in result.output, result.output
