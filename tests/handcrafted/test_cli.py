"""``explainendo handcrafted list | params | extract``."""

import pandas as pd
import yaml
from typer.testing import CliRunner

from explainendo.cli import app
from explainendo.synth import generate

runner = CliRunner()


def test_list_and_params(tmp_path):
    result = runner.invoke(app, ["handcrafted", "list", "color*"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["color_moments", "color_principal_component"]
    result = runner.invoke(app, ["handcrafted", "params"])
    assert result.exit_code == 0 and yaml.safe_load(result.output)["lbp"] == {"points": 8, "radius": 1.0}
    bad = tmp_path / "bad.yaml"
    bad.write_text("hog: {bins: 9}\n")
    result = runner.invoke(app, ["handcrafted", "params", "--params", str(bad)])
    assert result.exit_code == 2 and "unknown key hog.bins" in result.output


def test_extract_a_phantom_manifest(tmp_path):
    manifest = generate("gastric", 6, seed=1, size=128).write(tmp_path / "phantoms")
    out = tmp_path / "features.csv"
    result = runner.invoke(app, ["handcrafted", "extract", str(tmp_path / "phantoms" / "manifest.csv"),
                                 "--root", str(tmp_path / "phantoms"), "--out", str(out), "--limit", "4"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert len(table) == 4 and table["image"].nunique() == 4
    assert "lbp.hist_9" in table and table.filter(like=".").notna().all().all()
    assert manifest.has_boxes
