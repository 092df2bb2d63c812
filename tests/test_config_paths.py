"""A train config's relative paths are read from the config file's folder, not the working directory."""

from pathlib import Path

import pytest

from explainendo.config import read_config


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.yaml"
    path.write_text(text)
    return path


def test_data_and_out_paths_are_relative_to_the_config(tmp_path, monkeypatch):
    config = _write(tmp_path / "project", "model: {kind: gastric_diagnoser}\n"
                    "data: {manifest: data/train.csv, root: images, unlabeled: data/unlabeled.csv}\n"
                    "out: ../models/mine\n")
    monkeypatch.chdir(tmp_path)  # another folder than the config's
    read = read_config(config)
    base = (tmp_path / "project").resolve()
    assert read["data"]["manifest"] == str(base / "data/train.csv")
    assert read["data"]["root"] == str(base / "images")
    assert read["data"]["unlabeled"] == str(base / "data/unlabeled.csv")
    assert Path(read["out"]).resolve() == (tmp_path / "models" / "mine").resolve()


def test_absolute_paths_and_builtin_names_are_kept(tmp_path):
    absolute = tmp_path / "elsewhere" / "train.csv"
    config = _write(tmp_path / "p", f"model: {{kind: diagnoser, localizer: {{kind: yolo_localizer, model: yolov8n.yaml}},"
                    f" predictor: {{kind: hybrid_predictor, sources: [{{kind: attribute_heads, pretrained: true}}]}}}}\n"
                    f"data: {{manifest: {absolute}, synth: {{system: gastric, n: 4}}}}\n")
    read = read_config(config)
    assert read["data"]["manifest"] == str(absolute)
    assert read["model"]["localizer"]["model"] == "yolov8n.yaml"
    assert read["model"]["predictor"]["sources"][0]["pretrained"] is True
    assert "out" not in read  # the default (the config's own path without .yaml) is already beside it


def test_weight_files_are_relative_to_the_config(tmp_path):
    config = _write(tmp_path / "p", "model: {kind: diagnoser, localizer: {kind: yolo_localizer, model: w/best.pt, "
                    "workdir: runs}, predictor: {kind: hybrid_predictor, sources: [{kind: attribute_heads, pretrained: w/lite0.pth}]}}\n"
                    "data: {synth: {system: gastric, n: 4, out: phantoms}}\n")
    read = read_config(config)
    base = (tmp_path / "p").resolve()
    assert read["model"]["localizer"]["model"] == str(base / "w/best.pt")
    assert read["model"]["localizer"]["workdir"] == str(base / "runs")
    assert read["model"]["predictor"]["sources"][0]["pretrained"] == str(base / "w/lite0.pth")
    assert read["data"]["synth"]["out"] == str(base / "phantoms")


def test_a_relative_manifest_is_not_looked_for_in_the_working_directory(tmp_path, monkeypatch):
    from explainendo.commands import train_from_config
    from explainendo.errors import ExplainendoError

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("image,patient,label\n")  # in the working directory only
    config = _write(tmp_path / "configs", "model: {kind: gastric_diagnoser}\ndata: {manifest: data/train.csv}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExplainendoError) as err:
        train_from_config(config)
    assert str(tmp_path / "configs" / "data" / "train.csv") in str(err.value)


def test_each_component_says_which_of_its_parameters_name_files():
    from explainendo.heads import AttributeHeads
    from explainendo.localize import CenterNetLocalizer, YoloLocalizer

    assert AttributeHeads.names_a_file("pretrained", "w.pth") and not AttributeHeads.names_a_file("pretrained", True)
    assert YoloLocalizer.names_a_file("model", "best.pt") and not YoloLocalizer.names_a_file("model", "yolov8n.yaml")
    assert not CenterNetLocalizer.names_a_file("encoder", "efficientnet_lite0")
