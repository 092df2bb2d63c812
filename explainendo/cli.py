"""The ``explainendo`` command line. Each sub-command imports its heavy modules only when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ._version import __version__

app = typer.Typer(name="explainendo", help="Explainable AI for gastrointestinal endoscopy.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Inspect and validate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
from .handcrafted_cli import handcrafted_app  # noqa: E402 (light: imports its libraries per command)
app.add_typer(handcrafted_app, name="handcrafted")
from .evaluate.cli import evaluate_app  # noqa: E402  (typer only; metrics load when a command runs)

app.add_typer(evaluate_app, name="evaluate")

DEFAULT_DATA_ROOT = Path("../shared/data")


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"explainendo {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Optional[bool] = typer.Option(None, "--version", callback=_version_callback, is_eager=True,
                                                  help="Print the version and exit.")) -> None:
    """Explainable AI for gastrointestinal endoscopy."""


@data_app.command("summary")
def data_summary(dataset: str = typer.Argument(..., help="edd2020 | kvasir-seg | cp-child | dsoc | a manifest CSV"),
                 root: Optional[Path] = typer.Option(None, help="dataset folder (default: ../shared/data/<name>)"),
                 validate: bool = typer.Option(True, help="check files and boxes")) -> None:
    """Load a dataset into a manifest and print its summary."""
    from .io.loaders import load_dataset
    from .errors import ExplainendoError
    try:
        manifest = load_dataset(dataset, root)
        if validate:
            manifest = manifest.validate(strict=False)
            typer.echo(manifest.report.summary())
    except ExplainendoError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2)
    for k, v in manifest.summary().items():
        typer.echo(f"{k:>12}: {v}")


@app.command("demo")
def demo(out: Path = typer.Option(Path("demo_output"), help="folder for the demo's outputs"),
         data_root: Path = typer.Option(DEFAULT_DATA_ROOT, help="shared data folder")) -> None:
    """Run the demo on embedded defaults (phantoms, and the shared data when present)."""
    from .demo import run_demo
    run_demo(out=out, data_root=data_root)


from .synth.cli import synth_command  # noqa: E402  (light: the generators load when the command runs)

app.command("synth")(synth_command)

from .commands import register as _register_model_commands  # noqa: E402  (train, diagnose, explain)

_register_model_commands(app)


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
