"""data_root: an argument, else $EXPLAINENDO_DATA, else the checkout's shared/data; never the working directory."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from explainendo.errors import ConfigError, ManifestError
from explainendo.io import data_root, load_edd2020, roots

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """A working directory with a decoy ../shared/data, which must never be read."""
    cwd = tmp_path / "work" / "cwd"
    cwd.mkdir(parents=True)
    (tmp_path / "work" / "shared" / "data" / "edd2020").mkdir(parents=True)
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(roots.DATA_ENV, raising=False)
    return tmp_path


def test_the_argument_wins_then_the_environment_variable(elsewhere, monkeypatch):
    data = elsewhere / "data"
    data.mkdir()
    monkeypatch.setenv("EXPLAINENDO_DATA", str(data))
    assert data_root() == data
    assert data_root(elsewhere / "other") == elsewhere / "other"  # as given, even when it does not exist
    assert data_root("") == data  # an empty option is no option
    monkeypatch.setenv("EXPLAINENDO_DATA", str(elsewhere / "missing"))
    with pytest.raises(ConfigError, match="EXPLAINENDO_DATA names .*missing.*not a folder"):
        data_root()


def test_without_either_the_checkout_folder_is_used_from_any_working_directory(elsewhere):
    expected = (REPO.parent / "shared" / "data").resolve()
    if not expected.is_dir():
        pytest.skip(f"no shared data beside the checkout ({expected})")
    assert data_root() == expected
    assert roots.checkout_data_root() == expected


def test_nothing_given_and_no_checkout_folder_is_a_config_error(elsewhere, monkeypatch):
    monkeypatch.setattr(roots, "checkout_data_root", lambda: None)
    with pytest.raises(ConfigError, match="no data folder given.*EXPLAINENDO_DATA"):
        data_root()
    with pytest.raises(ConfigError, match="no data folder"):  # not the decoy ../shared/data/edd2020
        load_edd2020()


def test_loaders_read_their_folder_under_the_data_root(elsewhere, monkeypatch):
    data = elsewhere / "data"
    (data / "edd2020").mkdir(parents=True)
    monkeypatch.setenv("EXPLAINENDO_DATA", str(data))
    with pytest.raises(ManifestError, match="folder not found") as info:
        load_edd2020()
    assert str(data / "edd2020" / "originalImages") in str(info.value)


def test_cli_data_summary_finds_the_dataset_through_the_environment_variable(shared_data, elsewhere, monkeypatch):
    from explainendo.cli import app

    monkeypatch.setenv("EXPLAINENDO_DATA", str(shared_data))
    res = CliRunner().invoke(app, ["data", "summary", "edd2020", "--no-validate"])
    assert res.exit_code == 0, res.output
    assert "386" in res.output
    monkeypatch.setattr(roots, "checkout_data_root", lambda: None)
    monkeypatch.delenv("EXPLAINENDO_DATA")
    res = CliRunner().invoke(app, ["data", "summary", "edd2020", "--no-validate"])
    assert res.exit_code == 2 and "no data folder given" in res.output


def test_cli_demo_is_given_the_resolved_data_root_or_none(elsewhere, monkeypatch):
    import explainendo.demo
    from explainendo.cli import app

    seen = []
    monkeypatch.setattr(explainendo.demo, "run_demo", lambda **kw: seen.append(kw))
    data = elsewhere / "data"
    data.mkdir()
    monkeypatch.setenv("EXPLAINENDO_DATA", str(data))
    assert CliRunner().invoke(app, ["demo", "--out", str(elsewhere / "out")]).exit_code == 0
    monkeypatch.setattr(roots, "checkout_data_root", lambda: None)
    monkeypatch.delenv("EXPLAINENDO_DATA")
    assert CliRunner().invoke(app, ["demo", "--out", str(elsewhere / "out")]).exit_code == 0  # no data: fine
    assert seen == [{"out": elsewhere / "out", "data_root": data}, {"out": elsewhere / "out"}]
