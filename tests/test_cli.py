from typer.testing import CliRunner

from explainendo import __version__
from explainendo.cli import app

runner = CliRunner()


def test_version_and_help():
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"explainendo {__version__}"
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "data" in r.output


def test_data_summary_real_and_unknown(shared_data):
    r = runner.invoke(app, ["data", "summary", "dsoc", "--root", str(shared_data / "dsoc-cholangioscopy")])
    assert r.exit_code == 0, r.output
    assert "1033" in r.output and "manifest OK" in r.output
    r = runner.invoke(app, ["data", "summary", "imagenet"])
    assert r.exit_code == 2 and "unknown dataset" in r.output


def test_bench_refuses_settings_it_cannot_honour_before_training(tmp_path):
    r = runner.invoke(app, ["bench", "edd2020", "--out", str(tmp_path), "--colour-constancy", "retinex"])
    assert r.exit_code == 2 and "colour-constancy 'retinex'" in r.output
    r = runner.invoke(app, ["bench", "phantoms", "--out", str(tmp_path), "--centre-wise"])
    assert r.exit_code == 2 and "needs centres" in r.output
    r = runner.invoke(app, ["bench", "edd2020", "--out", str(tmp_path), "--holdout", "0.5", "--oof-folds", "3"])
    assert r.exit_code == 2 and "give one" in r.output
