"""``explainendo synth <system> --n N --seed S --size PX --out DIR``: write phantoms and their manifest."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..commands import _fail as fail  # the one CLI error exit


def _parse_options(pairs: list[str]) -> dict:
    """``key=value`` pairs; values are read as YAML (numbers, lists, mappings), e.g.
    ``proportions={normal: 0.5, unclear: 0.2, tumor: 0.3}``."""
    import yaml

    from ..errors import ConfigError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"option {pair!r} is not KEY=VALUE", hint="e.g. --option images_per_patient=2")
        try:
            out[key.strip().replace("-", "_")] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(f"option {key!r}: cannot read value {value!r} ({exc})") from None
    return out


def synth_command(
    system: str = typer.Argument(..., help="gastric | colon | ercp | eus"),
    n: int = typer.Option(100, "--n", help="number of images"),
    seed: int = typer.Option(0, "--seed", help="random seed (same seed, same bytes)"),
    size: int = typer.Option(256, "--size", help="image side in pixels"),
    out: Path = typer.Option(Path("phantoms"), "--out", help="output folder"),
    option: Optional[List[str]] = typer.Option(None, "--option", "-o",
                                               help="generator option KEY=VALUE (repeatable); see docs/phantoms.md"),
) -> None:
    """Write seeded synthetic phantoms (PNG), manifest.csv and phantoms.yaml into OUT."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ..errors import ExplainendoError
    from .phantoms import generate, generator_options

    console = Console(stderr=True)
    try:
        options = _parse_options(option or [])
        generator_options(system)  # an unknown system fails here, before the progress bar
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, transient=False) as bar:
            draw = bar.add_task(f"drawing {system}", total=n)
            phantoms = generate(system, n, seed=seed, size=size, progress=lambda k: bar.advance(draw, k), **options)
            write = bar.add_task("writing PNGs", total=n)
            manifest = phantoms.write(out, progress=lambda k: bar.advance(write, k))
    except ExplainendoError as exc:
        fail(exc)
    summary = manifest.summary()
    typer.echo(f"wrote {len(phantoms)} {system} phantoms to {out} ({summary.get('patients')} patients)")
    if "labels" in summary:
        typer.echo("labels: " + ", ".join(f"{k}={v}" for k, v in summary["labels"].items()))
    if phantoms.bayes_rate is not None:
        typer.echo(f"Bayes rate: {phantoms.bayes_rate:.4f} (exact), "
                   f"{phantoms.empirical_bayes_rate if phantoms.empirical_bayes_rate is not None else float('nan'):.4f}"
                   f" (Bayes classifier on this sample)")
