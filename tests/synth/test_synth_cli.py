import yaml
from typer.testing import CliRunner

from explainendo.cli import app
from explainendo.io.manifest import Manifest


def test_synth_command_writes_a_valid_manifest_and_metadata(tmp_path):
    out = tmp_path / "g"
    result = CliRunner().invoke(app, ["synth", "gastric", "--n", "6", "--seed", "2", "--size", "96", "--out",
                                      str(out), "-o", "images_per_patient=3"])
    assert result.exit_code == 0, result.output
    assert "Bayes rate" in result.output
    m = Manifest.read_csv(out / "manifest.csv").validate(check_files=True)
    assert len(m) == 6 and m.df["patient"].nunique() == 2
    meta = yaml.safe_load((out / "phantoms.yaml").read_text())
    assert meta["options"] == {"images_per_patient": 3} and meta["size"] == 96


def test_synth_command_reads_mapping_options_and_refuses_bad_input(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(app, ["synth", "colon", "--n", "4", "--size", "64", "--out", str(tmp_path / "c"),
                             "-o", "proportions={normal: 0, unclear: 0, tumor: 1}"])
    assert ok.exit_code == 0, ok.output
    assert set(Manifest.read_csv(tmp_path / "c" / "manifest.csv").df["label"]) == {"tumor"}
    bad = runner.invoke(app, ["synth", "stomach", "--n", "2", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "unknown phantom generator" in bad.output
    bad_opt = runner.invoke(app, ["synth", "eus", "--n", "2", "--out", str(tmp_path / "y"), "-o", "colour=red"])
    assert bad_opt.exit_code == 2 and "bad option" in bad_opt.output
    assert not (tmp_path / "x").exists()
