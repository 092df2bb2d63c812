"""``explainendo view``: binds to 127.0.0.1 unless told otherwise, warns when it is told otherwise, and refuses a
folder that is not a diagnose output before anything starts."""

import uvicorn
from typer.testing import CliRunner

from explainendo.cli import app

runner = CliRunner()


def _served(monkeypatch):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: calls.append((application, kw)))
    return calls


def test_view_serves_on_localhost_by_default(viewer_run, monkeypatch):
    calls = _served(monkeypatch)
    result = runner.invoke(app, ["view", str(viewer_run["out"]), "--model", str(viewer_run["model_dir"])])
    assert result.exit_code == 0, result.output
    (application, options), = calls
    assert options["host"] == "127.0.0.1" and options["port"] == 8765
    assert application.state.results.n == 9 and application.state.explainer.available
    assert "viewer on http://127.0.0.1:8765/" in result.output and "warning" not in result.output


def test_view_warns_when_listening_beyond_this_machine(viewer_run, monkeypatch):
    calls = _served(monkeypatch)
    result = runner.invoke(app, ["view", str(viewer_run["out"]), "--host", "0.0.0.0", "--port", "9000"])
    assert result.exit_code == 0, result.output
    assert calls[0][1] == {"host": "0.0.0.0", "port": 9000, "log_level": "warning"}
    assert "anyone who can reach it" in result.output


def test_view_refuses_what_is_not_a_diagnose_output(viewer_run, tmp_path, monkeypatch):
    calls = _served(monkeypatch)
    result = runner.invoke(app, ["view", str(tmp_path)])
    assert result.exit_code == 2 and "not a diagnose output folder" in result.output and not calls
    result = runner.invoke(app, ["view", str(viewer_run["out"]), "--model", str(tmp_path / "none")])
    assert result.exit_code == 2 and "model folder not found" in result.output and not calls
