"""The ``explainendo`` command line. Each sub-command imports its heavy modules only when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .commands import _fail as fail  # the one CLI error exit

from ._version import __version__

app = typer.Typer(name="explainendo", help="Explainable AI for gastrointestinal endoscopy.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
data_app = typer.Typer(help="Inspect and validate datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")
from .handcrafted_cli import handcrafted_app  # noqa: E402 (light: imports its libraries per command)
app.add_typer(handcrafted_app, name="handcrafted")
from .evaluate.cli import evaluate_app  # noqa: E402  (typer only; metrics load when a command runs)

app.add_typer(evaluate_app, name="evaluate")
from .localize.commands import localize_app  # noqa: E402 - typer only; torch loads when a command runs
app.add_typer(localize_app, name="localize")

#: where the data folder comes from when no option names it (explainendo.io.data_root)
DATA_ROOT_HELP = "$EXPLAINENDO_DATA, else shared/data beside the explainendo checkout"


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
                 root: Optional[Path] = typer.Option(
                     None, help=f"dataset folder (default: <data folder>/<name>; data folder: {DATA_ROOT_HELP})"),
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
        fail(exc)
    for k, v in manifest.summary().items():
        typer.echo(f"{k:>12}: {v}")


@data_app.command("import")
def data_import(table: Path = typer.Argument(..., help="a hospital's table, one row per lesion: .csv, .xlsx, or a "
                                                        "COCO .json (x, y, w, h and category columns)"),
                out: Path = typer.Argument(..., help="the manifest CSV to write (image paths relative to it)"),
                image: str = typer.Option("image", help="column holding the image path (relative to TABLE)"),
                patient: str = typer.Option("patient", help="column holding the patient id"),
                patient_pattern: Optional[str] = typer.Option(
                    None, help="take the patient id from each image path instead: a regular expression whose "
                               "first group is the id, e.g. '^([^/]+)/' (the first folder)"),
                sheet: Optional[str] = typer.Option(None, help="the workbook's sheet (name; default the first)"),
                label: Optional[str] = typer.Option("label", help="column holding the diagnosis ('' for none)"),
                centre: Optional[str] = typer.Option(None, help="column holding the centre / hospital"),
                video: Optional[str] = typer.Option(None, help="column holding the video id"),
                boxes: Optional[str] = typer.Option(None, help="xyxy or xywh (corner + width and height)"),
                box_columns: str = typer.Option("", help="the four box columns (default x1,y1,x2,y2 or x,y,w,h)"),
                attributes: str = typer.Option("", help="columns holding attribute labels: tone,surface -> "
                                                        "attr.tone, attr.surface")) -> None:
    """Turn a hospital's table (CSV, .xlsx, COCO JSON) into a manifest CSV (docs/data.md): its names, xywh boxes,
    attribute columns."""
    from .errors import ExplainendoError
    from .io.importing import import_csv

    try:
        written = import_csv(table, out, sheet=sheet, patient_pattern=patient_pattern,
                             image=image, patient=patient, label=label or None, centre=centre,
                             video=video, boxes=boxes, attributes=[a for a in attributes.split(",") if a],
                             box_columns=[c for c in box_columns.split(",") if c] or None)
    except ExplainendoError as exc:
        fail(exc)
    typer.echo(f"wrote {written}; next: explainendo data validate {written} --config YOUR_MODEL.yaml")


@data_app.command("validate")
def data_validate(manifest: Path = typer.Argument(..., help="a manifest CSV (docs/data.md)"),
                  root: Optional[Path] = typer.Option(None, help="folder the image paths are relative to "
                                                                 "(default: the CSV's folder)"),
                  config: Optional[Path] = typer.Option(
                      None, help="the YAML config of the model that will train: attribute values and the "
                                 "positive label are checked against it"),
                  model: Optional[str] = typer.Option(None, help="instead of --config: a preset, 'gastric', "
                                                                   "'ercp', 'colon' or 'eus'"),
                  images: bool = typer.Option(True, help="read each image's header (size, readability)")) -> None:
    """Check a manifest against the model that will train on it: every problem, with its CSV line.

    Exit status 0: nothing wrong; 1: problems (all listed); 2: the manifest or config cannot be read."""
    from .errors import ExplainendoError
    from .io.manifest import Manifest

    try:
        table = Manifest.read_csv(manifest, root)
        predictor = diagnoser = None
        if config is not None and model is not None:
            raise ExplainendoError("give --config or --model, not both")
        if config is not None:
            from .config import build_model, read_config

            diagnoser = build_model(read_config(config))
        elif model is not None:
            from .systems import ColonFrameDetector, ERCPAssistant, EUSCystClassifier, GastricDiagnoser

            presets = {"gastric": GastricDiagnoser, "ercp": ERCPAssistant, "colon": ColonFrameDetector,
                       "eus": EUSCystClassifier}
            if model not in presets:
                raise ExplainendoError(f"unknown preset {model!r}", hint="gastric, ercp, colon, eus, or --config FILE")
            diagnoser = presets[model]()
        if diagnoser is not None:
            predictor = diagnoser.checked_parts()[1]
        specs = diagnoser.data_specs() if diagnoser is not None else None
        clean = table.validate(strict=False, check_images=images, attributes=specs)
    except ExplainendoError as exc:
        fail(exc)
    report = clean.report
    notes = [p for p in report.problems if p.kind == "unused_attribute"]  # not a dropped row: a note
    problems = [p for p in report.problems if p.kind != "unused_attribute"]
    data_error = None
    if predictor is not None:
        try:
            predictor.check_data(clean.df[clean.df["label"].notna()] if "label" in clean.df else clean.df)
            if diagnoser.checked_tasks():
                diagnoser.check_task_data(clean.df)
        except ExplainendoError as exc:
            data_error = str(exc)
    unlabelled = int(table.df["label"].isna().sum()) if "label" in table.df else len(table.df)
    for p in problems:
        typer.echo(f"problem: {p}")
    if data_error:
        typer.echo(f"problem: {data_error}")
    for p in notes:
        typer.echo(f"note: {p}")
    if unlabelled:
        typer.echo(f"note: {unlabelled} row(s) have no label: a diagnoser does not train on them")
    bad = len(report.bad_rows)
    typer.echo(f"{table.name}: {len(table)} rows, {len(problems) + bool(data_error)} problem(s)"
               + (f"; {bad} row(s) would be dropped" if bad else "") + ("" if problems or data_error else "; OK"))
    if problems or data_error:
        raise typer.Exit(1)


@app.command("demo")
def demo(out: Path = typer.Option(Path("demo_output"), help="folder for the demo's outputs"),
         data_root: Optional[Path] = typer.Option(None, help=f"shared data folder (default: {DATA_ROOT_HELP})"),
         ) -> None:
    """Run the demo on embedded defaults (phantoms, and the shared data when present)."""
    from .demo import run_demo
    from .errors import ConfigError
    from .io import data_root as find_data_root
    try:
        found = {"data_root": find_data_root(data_root)}
    except ConfigError:  # no shared data: the demo only summarises it when there is some
        found = {}
    run_demo(out=out, **found)


from .synth.cli import synth_command  # noqa: E402  (light: the generators load when the command runs)

app.command("synth")(synth_command)

from .video.cli import video_command  # noqa: E402  (light: OpenCV and the model load when the command runs)

app.command("video")(video_command)

from .viewer.cli import view_command  # noqa: E402  (light: fastapi and the model load when the command runs)

app.command("view")(view_command)

from .commands import register as _register_model_commands  # noqa: E402  (train, diagnose, explain)

_register_model_commands(app)


@app.command("export")
def export(model: Path = typer.Argument(..., help="a saved model folder"),
           onnx: bool = typer.Option(False, "--onnx", help="export every network to ONNX (the format to write; "
                                                          "the only one for now)"),
           out: Optional[Path] = typer.Option(None, "--out", help="write a copy of the model folder with the exports "
                                                                 "there (default: add them to MODEL)"),
           atol: float = typer.Option(1e-4, "--atol", help="largest difference from torch allowed on random inputs")
           ) -> None:
    """Export a saved model's networks (attribute heads, CNN, U-Net, box localizers and the OOD embedding) to ONNX, checked against
    torch, and list them in the folder's checksums; then load it with explainendo.load(folder, runtime='onnx')."""
    from .errors import ConfigError, ExplainendoError
    from .runtime import export_onnx

    try:
        if not onnx:
            raise ConfigError("choose the format to export", hint="explainendo export MODEL --onnx")
        exported = export_onnx(model, out, atol=atol)
    except ExplainendoError as exc:
        fail(exc)
    folder = out if out is not None else model
    for item in exported:
        typer.echo(f"{item.file}: {item.kind}, {item.bytes / 2**20:.1f} MB, largest difference from torch "
                   f"{item.max_abs_diff:.2g} ({item.seconds:.1f} s)")
    typer.echo(f"{len(exported)} network(s) exported to ONNX in {folder}; checksums updated. Run them with "
               f"explainendo.load('{folder}', runtime='onnx') or explainendo video {folder} VIDEO --runtime onnx")


def _pairs(text: str, flag: str) -> tuple[tuple[str, str], ...]:
    from .errors import ConfigError

    out = []
    for item in (t for t in text.split(",") if t.strip()):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(f"{flag} {item!r}: expected name=value", hint=f"e.g. {flag} resnet50=weights/resnet50.pth")
        out.append((key.strip(), value.strip()))
    return tuple(out)


@app.command("bench")
def bench(target: str = typer.Argument(..., help="phantoms | edd2020 | a manifest CSV"),
          out: Path = typer.Option(Path("bench_output"), help="folder for the report"),
          quick: bool = typer.Option(False, help="small data and short training (minutes)"),
          seed: int = typer.Option(0, help="seed for data, splits and training"),
          n: Optional[int] = typer.Option(None, help="phantoms: how many images"),
          data_root: Optional[Path] = typer.Option(
              None, help=f"shared data folder, for edd2020 (default: {DATA_ROOT_HELP})"),
          positive: Optional[str] = typer.Option(None, help="the positive class (manifest CSV)"),
          external_centres: str = typer.Option("", help="comma-separated centres held out as external test"),
          sole_backbones: str = typer.Option("resnet50", help="comma-separated sole-DL backbones"),
          image_size: Optional[int] = typer.Option(None, help="CNN input size (all CNNs)"),
          epochs: Optional[int] = typer.Option(None, help="CNN training epochs (all CNNs)"),
          oof_folds: Optional[int] = typer.Option(None, help="patient folds for the hybrid's out-of-fold features"),
          holdout: Optional[float] = typer.Option(
              None, help="instead of out-of-fold features: fraction of patients held out for the hybrid's fitter "
                         "(its heads train once, on the rest)"),
          threads: Optional[int] = typer.Option(None, help="torch threads per CNN (default: 2)"),
          flips: bool = typer.Option(True, "--flips/--no-flips", help="random crop flips while training every CNN"),
          group_selection: Optional[str] = typer.Option(
              None, help="the hybrid's grouped-CV elimination of feature groups: one_se | best | none "
                         "(default: one_se)"),
          folds_by: str = typer.Option(
              "patient", help="what the hybrid's fitter selection, group elimination and stacking folds keep "
                              "whole: patient, or centre (leave centres out: selection that sees centre shift)"),
          colour_constancy: str = typer.Option(
              "none", help="colour constancy before the handcrafted features (illuminant of the whole frame): "
                           "none | grey_world | shades_of_grey | max_rgb"),
          centre_wise: bool = typer.Option(
              False, help="leave each centre out in turn (edd2020: every labelled centre but the external AJ) and "
                          "report every metric per centre"),
          hybrid: Optional[str] = typer.Option(
              None, help="the hybrid to compare: 'gastric' (the ENDOANGEL-ED predictor, attribute heads "
                         "included) or a train config YAML (its model's predictor); default: the preset's"),
          cnn_weights: str = typer.Option(
              "", help="local weights for sole-DL backbones: backbone=path.pth[,backbone=path.pth] "
                       "(a torchvision state_dict)"),
          save_models: bool = typer.Option(False, help="save each trained model under OUT/models/<name>")) -> None:
    """Hybrid vs sole-DL on the same lesions: the paper's table with CIs and p-values, ROC, latency."""
    import sys

    from rich.console import Console

    from .bench import BenchPreset, run_named_benchmark
    from .errors import ExplainendoError

    console = Console(stderr=True)
    try:
        preset = BenchPreset(quick=quick, seed=seed, image_size=image_size, epochs=epochs,
                             sole_backbones=tuple(b for b in sole_backbones.split(",") if b), oof_folds=oof_folds,
                             holdout=holdout, num_threads=threads, flips=flips, group_selection=group_selection,
                             folds_by=folds_by, colour_constancy=colour_constancy, hybrid=hybrid,
                             cnn_weights=_pairs(cnn_weights, "--cnn-weights"))
        with console.status("benchmark") as status:
            result = run_named_benchmark(
                target, out, preset, n=n, data_root=data_root, positive=positive,
                external_centres=[c for c in external_centres.split(",") if c], centre_wise=centre_wise,
                save_models=save_models, progress=lambda message: status.update(message),
                command="explainendo " + " ".join(sys.argv[1:]))
    except ExplainendoError as exc:
        fail(exc)
    typer.echo((result.out / "report.md").read_text())
    typer.echo(f"report: {Path(out) / 'report.md'}")


def main() -> None:  # console-script entry point
    app()


if __name__ == "__main__":
    main()
