"""``explainendo localize ...``: train a localizer on a dataset, and locate lesions in images or videos."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..commands import _fail as fail  # the one CLI error exit

localize_app = typer.Typer(help="Train lesion localizers and locate lesions.", no_args_is_help=True)


@localize_app.command("train")
def train(dataset: str = typer.Argument(..., help="edd2020 | kvasir-seg | dsoc | a manifest CSV"),
          out: Path = typer.Option(..., help="folder to save the trained localizer in"),
          method: str = typer.Option("centernet", help="centernet | boxreg | softmask | yolo"),
          root: Optional[Path] = typer.Option(
              None, help="dataset folder (default: <data folder>/<name>; data folder: $EXPLAINENDO_DATA, else "
                         "shared/data beside the explainendo checkout)"),
          epochs: int = typer.Option(30, help="training epochs"),
          image_size: Optional[int] = typer.Option(None, help="network input size (default: the method's)"),
          val: Optional[str] = typer.Option(None, help="centernet / boxreg: a validation dataset or manifest CSV "
                                                       "(early stopping on its mAP50)"),
          encoder: str = typer.Option("efficientnet_lite0", help="soft-mask encoder: vgg | efficientnet_lite0"),
          device: str = typer.Option("cpu", help="cpu | cuda | auto"),
          seed: int = typer.Option(0)) -> None:
    """Train on every image of the dataset (split it first, e.g. into a manifest CSV, to keep a test set)."""
    from ..errors import ExplainendoError
    from ..io import load_dataset
    from .box_regression import BoxRegressionLocalizer
    from .center_localizer import CenterNetLocalizer, DetectorTraining
    from .soft_mask_localizer import SoftMaskLocalizer, UNetTraining
    from .yolo import YoloLocalizer

    try:
        manifest = load_dataset(dataset, root)
        if val is not None and method not in ("centernet", "boxreg"):
            raise typer.BadParameter("--val is for centernet and boxreg")
        if method in ("centernet", "boxreg"):
            cls = CenterNetLocalizer if method == "centernet" else BoxRegressionLocalizer
            loc = cls(image_size=image_size or 160, seed=seed, training=DetectorTraining(epochs=epochs, device=device))
            loc.fit(manifest, None if val is None else load_dataset(val, root))  # progress bar per epoch
        elif method == "softmask":
            loc = SoftMaskLocalizer(encoder, image_size=image_size or 256, seed=seed,
                                    training=UNetTraining(epochs=epochs, device=device))
            loc.fit(manifest)  # a progress bar per epoch
        elif method == "yolo":
            loc = YoloLocalizer(imgsz=image_size or 640, epochs=epochs, seed=seed, device=device)
            loc.fit(manifest, verbose=True)  # ultralytics' own training log
        else:
            raise typer.BadParameter(f"unknown method {method!r}: use centernet, boxreg, softmask or yolo")
        loc.save(out)
    except ExplainendoError as exc:
        fail(exc)
    typer.echo(f"saved {loc.kind} to {out}")


@localize_app.command("predict")
def predict(model: Path = typer.Argument(..., help="folder written by 'localize train' / Localizer.save"),
            images: Path = typer.Argument(..., help="an image, a folder of images or a video"),
            out: Optional[Path] = typer.Option(None, help="CSV to write (default: print)")) -> None:
    """Locate lesions; one CSV row per box (frames without a box get one empty row)."""
    import pandas as pd

    from ..errors import ExplainendoError
    from ..io import iter_frames
    from .base import Localizer

    try:
        loc = Localizer.load(model)
        names = [f.name for f in iter_frames(images)]  # cheap for images; videos decode twice
        boxes = loc.locate_batch(images)
    except ExplainendoError as exc:
        fail(exc)
    rows = []
    for name, bs in zip(names, boxes):
        rows += [{"image": name, **b.to_dict()} for b in bs] or [{"image": name}]
    table = pd.DataFrame(rows)
    for name, err in loc.errors_:
        typer.secho(f"skipped {name}: {err}", fg="yellow", err=True)
    if out:
        table.to_csv(out, index=False)
        typer.echo(f"wrote {len(table)} rows to {out}")
    else:
        typer.echo(table.to_string(index=False))


@localize_app.command("evaluate")
def evaluate(model: Path = typer.Argument(..., help="folder written by 'localize train' / Localizer.save"),
             dataset: str = typer.Argument(..., help="edd2020 | kvasir-seg | dsoc | a manifest CSV with boxes"),
             root: Optional[Path] = typer.Option(None, help="dataset / manifest image folder"),
             by_class: bool = typer.Option(False, help="check each box's class (default: localization only)"),
             out: Optional[Path] = typer.Option(None, help="JSON file to write the figures to")) -> None:
    """A saved localizer on another manifest (e.g. another centre's polyps): mAP50, mAP50-95, mIoU, success at
    IoU 0.3 / 0.5, centroid distance, ms per image."""
    import json

    from ..errors import ExplainendoError
    from ..evaluate.detection import evaluate_localizer
    from ..io import load_dataset
    from .base import Localizer

    try:
        loc = Localizer.load(model)
        res, _ = evaluate_localizer(loc, load_dataset(dataset, root), class_agnostic=not by_class)
    except ExplainendoError as exc:
        fail(exc)
    for name, err in loc.errors_:
        typer.secho(f"skipped {name}: {err}", fg="yellow", err=True)
    typer.echo("  ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()))
    if out:
        Path(out).write_text(json.dumps(res, indent=1, default=float))
        typer.echo(f"wrote {out}")
