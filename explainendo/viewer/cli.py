"""``explainendo view RESULTS_DIR``: the results viewer (:mod:`explainendo.viewer`) on a local web server."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Optional

import typer

from ..commands import _fail as fail  # the one CLI error exit


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def view_command(results: Path = typer.Argument(..., help="the --out folder of `explainendo diagnose`"),
                 model: Optional[Path] = typer.Option(
                     None, "--model", help="the model folder for explanations and corrections (default: the one the "
                                           "run's ledger.json names)"),
                 images: Optional[Path] = typer.Option(
                     None, "--images", help="where the run's images are now, if they moved since the run"),
                 host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (default: this machine "
                                                                      "only)"),
                 port: int = typer.Option(8765, "--port", help="port to listen on"),
                 study: Optional[Path] = typer.Option(
                     None, "--study", help="a reader-study file (docs/reader_study.md): serve the reading session "
                                           "instead of the viewer")) -> None:
    """Open a diagnose output folder in a local web app: the case table (sort, filter), each case's frame with its
    box, attributes, group contributions and Grad-CAM maps, and attribute correction for hybrid models. With
    --study: the reading session of a reader study (with / without AI, crossover, answers saved as given)."""
    from ..errors import ExplainendoError

    try:
        if study is not None:
            from .study_app import create_study_app

            app = create_study_app(study, results=results, model=model, images=images)
        else:
            from .app import create_app

            app = create_app(results, model=model, images=images)
        import uvicorn
    except ExplainendoError as exc:  # MissingDependencyError too
        fail(exc)
    except ImportError as exc:  # uvicorn
        fail(ExplainendoError(f"the viewer needs {exc.name}", hint="pip install 'explainendo[viewer]'"))
    if not _loopback(host):
        typer.secho(f"warning: listening on {host}: anyone who can reach it sees these images and diagnoses "
                    "(the viewer has no login)", fg="yellow", err=True)
    state = app.state
    if study is not None:
        s = state.study
        typer.echo(f"reader study {s.name}: {len(s.cases)} cases, {len(s.readers)} readers; answers go to {s.answers}")
        typer.echo(f"reading session on http://{host}:{port}/ (Ctrl+C stops it)")
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    typer.echo(f"{state.results.n} cases in {results}; model: "
               + (state.explainer.model_path or "given" if state.explainer.available else "none")
               + (f" ({state.explainer.note})" if state.explainer.note else ""))
    typer.echo(f"viewer on http://{host}:{port}/ (Ctrl+C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
