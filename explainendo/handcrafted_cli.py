"""``explainendo handcrafted ...``: list the extractors, print the params, extract a feature table.

Kept outside ``explainendo.handcrafted`` so ``explainendo --help`` does not import OpenCV and scikit-learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .commands import _fail as fail  # the one CLI error exit

handcrafted_app = typer.Typer(help="Handcrafted lesion features (ENDOANGEL-ED's six).", no_args_is_help=True)


@handcrafted_app.command("list")
def list_command(pattern: str = typer.Argument("*", help="glob over extractor names, e.g. 'color*'")) -> None:
    """List the registered extractors, their column count and what they measure."""
    from .handcrafted import get_extractor, list_extractors
    for name in list_extractors(pattern):
        extractor = get_extractor(name)()
        summary = (extractor.__doc__ or "").strip().splitlines()[0]
        typer.echo(f"{name:<28} {len(extractor.columns):>3} columns  {summary}")


@handcrafted_app.command("params")
def params_command(params: Optional[Path] = typer.Option(None, help="a params YAML to validate and complete")) -> None:
    """Print the complete, validated params (the defaults, or a file merged over them) as YAML."""
    import yaml

    from .errors import ExplainendoError
    from .handcrafted import load_params
    try:
        typer.echo(yaml.safe_dump(load_params(params), sort_keys=False), nl=False)
    except ExplainendoError as exc:
        fail(exc)


@handcrafted_app.command("extract")
def extract_command(dataset: str = typer.Argument(..., help="edd2020 | kvasir-seg | dsoc | a manifest CSV with boxes"),
                    out: Path = typer.Option(..., help="CSV to write: image, box and feature columns"),
                    root: Optional[Path] = typer.Option(None, help="dataset folder"),
                    params: Optional[Path] = typer.Option(None, help="params YAML (default: built-in)"),
                    enlarge: float = typer.Option(1.0, help="crop the box enlarged by this factor"),
                    limit: Optional[int] = typer.Option(None, help="only the first N images")) -> None:
    """Extract the handcrafted features of every box of a dataset into a CSV."""
    import pandas as pd

    from .errors import ExplainendoError
    from .features import LesionSamples
    from .handcrafted import HandcraftedFeatures
    from .io.loaders import load_dataset
    try:
        manifest = load_dataset(dataset, root)
        if limit is not None:
            manifest = manifest.subset(manifest.df["image"].isin(manifest.df["image"].drop_duplicates().head(limit)))
        samples = LesionSamples.from_manifest(manifest, enlarge=enlarge, keep_frames=False)
        features = HandcraftedFeatures(params=params).transform(samples)
    except ExplainendoError as exc:
        fail(exc)
    keep = [c for c in ("image", "patient", "label", "x1", "y1", "x2", "y2", "box_label") if c in samples.table]
    table = pd.concat([samples.table[keep], features], axis=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    typer.echo(f"{len(table)} lesions x {features.shape[1]} features -> {out}")
