"""The model commands of the CLI: ``train``, ``diagnose`` and ``explain`` (registered in :mod:`explainendo.cli`).

``diagnose`` writes as it goes: each image's row is appended (and flushed) to ``results.csv`` and
``results.jsonl`` before the next image is read, and its card is written at once, so a run stopped
half-way keeps everything it finished. ``results.json`` (the whole list) is written at the end.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Optional

import typer

from .errors import ExplainendoError


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg="red", err=True)
    raise typer.Exit(2)


# ---- train ------------------------------------------------------------------------------------------
def _training_data(config: dict, out: Path):
    from .io.manifest import Manifest
    from .errors import ConfigError

    data = config.get("data") or {}
    bayes = None
    if "manifest" in data:
        manifest = Manifest.read_csv(data["manifest"], data.get("root"))
    elif "synth" in data:
        from . import synth

        opts = dict(data["synth"])
        system = opts.pop("system", "gastric")
        # the phantoms go beside the model folder, never inside it (a bundle holds only its own files)
        folder = Path(opts.pop("out", None) or out.parent / f"{out.name}_data")
        phantoms = synth.generate(system, **opts)
        manifest = phantoms.write(folder)
        bayes = getattr(phantoms, "bayes_rate", None)
    else:
        raise ConfigError("config 'data' needs 'manifest' or 'synth'", hint="see examples/gastric_phantoms.yaml")
    return manifest.validate(strict=False, check_images=False), bayes, float(data.get("test_fraction", 0) or 0)


def _data_manifest(value, what: str):
    from .io.manifest import Manifest

    return Manifest.read_csv(value) if value else None


def _repeated(groups):
    """``groups`` when some id repeats (several rows per patient: a cluster bootstrap is due), else None."""
    return groups if groups is not None and len(set(groups)) < len(groups) else None


def pixel_rows(model, manifest, table=None):
    """Each image of ``manifest`` once through ``model`` from pixels (localizer, then diagnosis), as a
    DataFrame: ``image`` (the manifest's name), ``label`` / ``patient`` where the manifest has them, ``status``
    (ok | no_lesion | error), ``predicted`` (the primary lesion's class; empty unless ok), one ``p:<class>``
    column per class (0 unless ok) and ``iou`` (the primary box against the image's first true box; 0 when
    nothing was found; NaN without a true box). ``table``: per-lesion measurements, keyed by image path."""
    import numpy as np
    import pandas as pd

    from .types import Box

    classes = [str(c) for c in model.classes_]
    images = manifest.df.drop_duplicates("image")
    rows = []
    for (_, truth), result in zip(images.iterrows(), model.predict([str(manifest.path(n)) for n in images["image"]],
                                                                    stream=True, table=table)):
        found = result.ok and not result.no_lesion
        row = {"image": truth["image"], "status": "ok" if found else ("error" if result.error else "no_lesion"),
               "predicted": result.label if found else ""}
        row.update({f"p:{c}": float(result.probabilities.get(c, 0.0)) if found else 0.0 for c in classes})
        box = [truth.get(c, np.nan) for c in ("x1", "y1", "x2", "y2")]
        has_box = all(pd.notna(v) for v in box)   # the manifest's box columns are numbers or empty
        row["iou"] = (result.box.iou(Box(*map(float, box))) if found else 0.0) if has_box else float("nan")
        rows.append(row)
    keep = ["image"] + [c for c in ("label", "patient") if c in images]
    return pd.DataFrame(rows).merge(images[keep], on="image", how="left")


def _mean_iou(pixels) -> float:
    """Mean IoU over the images of :func:`pixel_rows` that have a true box (NaN when none has)."""
    ious = pixels["iou"].dropna()
    return float(ious.mean()) if len(ious) else float("nan")


def _measurements(model, manifest):
    """The manifest's rows keyed by image path, when the model reads table columns (else None)."""
    if not model.predictor_.table_columns():
        return None
    return manifest.df.assign(image=[str(manifest.path(name)) for name in manifest.df["image"]])


def evaluate_from_pixels(model, test) -> dict:
    """Accuracy of ``model`` on a labelled manifest, twice: on its boxes (diagnosis alone) and from pixels
    through the localizer (a frame where it finds nothing counts as wrong), with the primary box's IoU."""
    import numpy as np

    from .features import LesionSamples

    samples = LesionSamples.from_manifest(test, enlarge=model.enlarge)
    predicted = model.predictor_.predict(samples)
    truth = samples.labels("label").astype(str).to_numpy()
    report = {"test_lesions": int(len(samples)), "accuracy_boxes": float(np.mean(predicted == truth))}
    pixels = pixel_rows(model, test, _measurements(model, test))
    found = pixels["status"] == "ok"
    correct = found & (pixels["predicted"] == pixels["label"].astype(str))
    report.update({"test_images": len(pixels), "accuracy_pixels": float(correct.mean()) if len(pixels) else float("nan"),
                   "images_with_lesion_found": int(found.sum()), "mean_iou": _mean_iou(pixels)})
    return report


def evaluate_saved_model(model, test, positive: str | None = None, say=None) -> dict:
    """The paper's table for a trained diagnoser on a labelled test manifest, twice: on the manifest's boxes
    (the diagnosis alone, one row per lesion) and from pixels (each image through the localizer; the
    primary lesion's call against the image's label; an image where nothing is found is called negative and
    counted in ``images_without_lesion``). ``positive``: default the model's last class (its positive label).
    Returns ``{"boxes": ModelComparison | None, "pixels": ModelComparison, "predictions_boxes": DataFrame,
    "predictions_pixels": DataFrame, "images_without_lesion": int, "mean_iou": float (NaN without boxes),
    "dropped": [problem lines]}``."""
    import numpy as np

    from .errors import ManifestError
    from .evaluate import compare_models
    from .features import LesionSamples

    classes = [str(c) for c in model.classes_]
    positive = classes[-1] if positive is None else str(positive)
    if positive not in classes:
        raise ManifestError(f"positive class {positive!r} is not a class of the model", hint=f"classes: {classes}")
    clean = test.validate(strict=False, require_label=True)
    dropped = [str(p) for p in clean.report.problems if p.row is not None]
    for line in dropped:
        (say or (lambda _: None))(f"dropped: {line}")
    if len(clean) == 0:
        raise ManifestError("no labelled, readable row in the test manifest", source=test.name or None)
    measurements = _measurements(model, clean)
    model.check_table(measurements)
    out: dict = {"dropped": dropped, "boxes": None, "predictions_boxes": None}
    patients = lambda t: _repeated(t["patient"].astype(str).to_numpy()) if "patient" in t else None  # noqa: E731
    if clean.has_boxes:
        boxed = clean.subset(clean.df[["x1", "y1", "x2", "y2"]].notna().all(axis=1))
        samples = LesionSamples.from_manifest(boxed, enlarge=model.enlarge)
        score = np.asarray(model.predictor_.predict_proba(samples), dtype=float)[:, classes.index(positive)]
        y = (samples.table["label"].astype(str) == positive).to_numpy().astype(int)
        pred = (score >= 0.5).astype(int)
        frame = samples.table[[c for c in ("image", "patient", "label") if c in samples.table]].copy()
        frame["score"], frame["y_pred"] = score, pred
        out["boxes"] = compare_models(y, {"on given boxes": (pred, score)}, positive=1,
                                      groups=patients(samples.table),
                                      title=f"{len(samples)} lesions on the manifest's boxes", unit="lesions")
        out["predictions_boxes"] = frame
    pixels = pixel_rows(model, clean, measurements)
    pixels = pixels.rename(columns={f"p:{positive}": "score"}).drop(
        columns=[f"p:{c}" for c in classes if c != positive])
    y = (pixels["label"].astype(str) == positive).to_numpy().astype(int)
    pred = (pixels["score"] >= 0.5).to_numpy().astype(int)
    out["pixels"] = compare_models(y, {"from pixels": (pred, pixels["score"].to_numpy())}, positive=1,
                                   groups=patients(pixels),
                                   title=f"{len(pixels)} images from pixels (through the localizer)", unit="images")
    out["predictions_pixels"] = pixels.assign(y_pred=pred)
    out["images_without_lesion"] = int((pixels["status"] != "ok").sum())
    out["mean_iou"] = _mean_iou(pixels)
    out["positive"] = positive
    return out


def train_from_config(path: Path, say=None) -> tuple[object, dict]:
    """Train the model a config describes and save it; returns (model, report). ``say``: called with each
    line worth printing before training starts (the rows validation dropped, with their CSV lines)."""
    from .config import build_model, read_config
    from .io.splits import train_val_test_split

    config = read_config(path)
    out = Path(config.get("out") or Path(path).with_suffix(""))
    model = build_model(config)  # every parameter checked before the data are read or anything trains
    manifest, bayes, test_fraction = _training_data(config, out)
    dropped = [str(p) for p in (manifest.report.problems if manifest.report else []) if p.row is not None]
    for line in dropped:
        (say or (lambda _: None))(f"dropped: {line}")
    unlabeled = _data_manifest((config.get("data") or {}).get("unlabeled"), "unlabeled")
    seed = int(getattr(model, "seed", 0) or 0)
    report: dict = {"out": str(out), "rows": len(manifest), "bayes_rate": bayes, "dropped": dropped}
    test = None
    if "split" in manifest.df.columns and manifest.df["split"].notna().any():
        from .errors import ConfigError
        from .io.splits import split_by_column

        if test_fraction > 0:
            raise ConfigError("the manifest has a 'split' column and the config a data.test_fraction: give one",
                              source=str(path), hint="remove test_fraction to use the manifest's split")
        parts = split_by_column(manifest)
        if "val" in parts:
            raise ConfigError(f"{len(parts['val'])} row(s) have split = val, and `explainendo train` has no "
                              f"validation subset", source=str(path),
                              hint="mark them train or test (or drop them)")
        if "train" not in parts:
            raise ConfigError("no row has split = train", source=str(path))
        manifest, test = parts["train"], parts.get("test")
        report["split"] = {k: len(v) for k, v in parts.items()}
    elif test_fraction > 0:
        parts = train_val_test_split(manifest, val=0.0, test=test_fraction, seed=seed)
        manifest, test = parts["train"], parts["test"]
    report["train_rows"] = len(manifest)
    start = time.perf_counter()
    model.fit(manifest, unlabeled=unlabeled)
    report["train_seconds"] = time.perf_counter() - start
    model.save(out)
    predictor = model.predictor_
    report.update({"predictor": predictor.describe(), "sources": getattr(predictor, "sources_used_", []),
                   "skipped": getattr(predictor, "skipped_sources_", []),
                   "selection": getattr(predictor, "selection_", None)})
    if test is not None:
        if hasattr(model, "frame_call"):  # a frame detector (colonoscopy): the paper's frame report
            report["frame_reports"] = model.evaluate(test)
        else:
            report.update(evaluate_from_pixels(model, test))
    return model, report


def train(config: Path = typer.Argument(..., help="a YAML config (see examples/)")) -> None:
    """Train a diagnoser from a YAML config and save its model folder."""
    try:
        _, report = train_from_config(config, say=lambda line: typer.secho(line, fg="yellow", err=True))
    except ExplainendoError as exc:
        _fail(exc)
    if report["dropped"]:
        typer.secho(f"{len(report['dropped'])} manifest row(s) were dropped (listed above)", fg="yellow", err=True)
    typer.echo(f"predictor: {report['predictor']}")
    if report["selection"] is not None:
        for _, row in report["selection"].iterrows():
            typer.echo(f"  {row['candidate']:>26}  {row['metric']} {row['mean']:.3f} +/- {row['std']:.3f}"
                       f"{'  <- selected' if row['selected'] else ''}")
    for s in report["sources"]:
        typer.echo(f"source {s['name']}: {s['columns']} features")
    for s in report["skipped"]:
        typer.echo(f"source {s['name']} left out: {s['reason']}")
    if "accuracy_boxes" in report:
        bayes = f" (Bayes rate {report['bayes_rate']:.3f})" if report.get("bayes_rate") is not None else ""
        typer.echo(f"held-out accuracy on the manifest's boxes: {report['accuracy_boxes']:.3f} on "
                   f"{report['test_lesions']} lesions{bayes}")
        typer.echo(f"held-out accuracy from pixels (through the localizer): {report['accuracy_pixels']:.3f} on "
                   f"{report['test_images']} images; a lesion found in {report['images_with_lesion_found']}, "
                   f"mean IoU {report['mean_iou']:.2f}")
    for key, rep in (report.get("frame_reports") or {}).items():
        typer.echo(f"held-out frames ({key}): accuracy {rep.accuracy(0.5):.3f} on {rep.n_frames} frames at IoU 0.50; "
                   + ", ".join(f"{c} recall {rep.recall(c, 0.5):.3f}" for c in rep.classes))
    typer.echo(f"trained on {report['train_rows']} rows in {report['train_seconds']:.0f} s "
               f"({1000 * report['train_seconds'] / max(report['train_rows'], 1) / 60:.1f} min per 1,000 rows "
               f"on this machine)")
    typer.echo(f"model saved to {report['out']}")


# ---- diagnose ---------------------------------------------------------------------------------------
def _count_images(images: Path) -> Optional[int]:
    from .io.sources import IMAGE_EXTENSIONS

    if images.is_dir():
        return sum(1 for f in images.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
    return None if images.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv") else 1


def _row(d, classes: list[str], tasks: dict[str, list[str]] | None = None) -> dict:
    """One CSV row of a :class:`~explainendo.types.Result`; ``tasks``: the model's further tasks and their
    classes (columns ``<task>_label`` and ``<task>_p_<class>`` of the primary lesion)."""
    status = "error" if d.error else "no_lesion" if d.no_lesion else "ok"
    row = {"image": d.image, "status": status, "label": d.label or "",
           "probability": "" if d.probability is None else f"{d.probability:.6f}"}
    for c in classes:
        p = d.probabilities.get(c)
        row[f"p_{c}"] = "" if p is None else f"{p:.6f}"
    for name, names in (tasks or {}).items():
        probs = d.lesion.tasks.get(name, {}) if d.lesion is not None else {}
        row[f"{name}_label"] = max(probs, key=probs.get) if probs else ""
        row.update({f"{name}_p_{c}": f"{probs[c]:.6f}" if c in probs else "" for c in names})
    box = d.box.to_xyxy() if d.box is not None else ("", "", "", "")
    row.update({k: (f"{v:.1f}" if v != "" else "") for k, v in zip(("x1", "y1", "x2", "y2"), box)})
    row.update({"lesions": len(d.lesions), "predictor": d.predictor or "", "message": d.error or d.message or ""})
    return row


def diagnose_images(model_dir: Path, images: Path, out: Path, table: Optional[Path] = None, cards: bool = True,
                    card_format: str = "html", progress: bool = True) -> dict:
    """Diagnose every image; write results.csv / results.jsonl (appended per image), cards, results.json."""
    import pandas as pd
    from rich.progress import Progress

    from . import bundle
    from .types import Result

    model = bundle.load(model_dir)
    measurements = pd.read_csv(table) if table is not None else None
    model.check_table(measurements)  # a model reading table columns without its table: refused before any output
    out.mkdir(parents=True, exist_ok=True)
    classes = list(model.classes_)
    tasks = {name: [str(c) for c in t.classes_] for name, t in getattr(model, "tasks_", {}).items()}
    fields = list(_row(Result(image=""), classes, tasks))
    summary = {"ok": 0, "no_lesion": 0, "error": 0, "broken": []}
    all_rows = []
    csv_path, jsonl_path = out / "results.csv", out / "results.jsonl"
    with open(csv_path, "w", newline="") as fcsv, open(jsonl_path, "w") as fjson, \
            Progress(disable=not progress, transient=True) as bar:
        writer = csv.DictWriter(fcsv, fieldnames=fields)
        writer.writeheader()
        task = bar.add_task("diagnosing", total=_count_images(images))
        for i, d in enumerate(model.predict(images, table=measurements, stream=True, keep_frames=cards)):
            row = _row(d, classes, tasks)
            record = d.to_dict()
            if cards and row["status"] == "ok":
                try:
                    card = out / "cards" / f"{i:05d}_{Path(d.image).stem}.{card_format}"
                    model.explain(d, table=measurements).save_card(card)
                    record["card"] = str(card)
                except ExplainendoError as exc:
                    record["card_error"] = str(exc)
            d.frame = None  # the pixels go as soon as the card is written: a long video streams in flat memory
            writer.writerow(row)
            fcsv.flush()
            fjson.write(json.dumps(record) + "\n")
            fjson.flush()
            summary[row["status"]] += 1
            if d.error:
                summary["broken"].append({"image": d.image, "error": d.error})
            all_rows.append(record)
            bar.advance(task)
    (out / "results.json").write_text(json.dumps(all_rows, indent=1))
    if summary["broken"]:
        (out / "broken.txt").write_text("".join(f"{b['image']}\t{b['error']}\n" for b in summary["broken"]))
    return summary


def diagnose(model: Path = typer.Argument(..., help="a saved model folder"),
             images: Path = typer.Argument(..., help="an image, a folder of images or a video"),
             out: Path = typer.Option(Path("diagnoses"), "--out", help="output folder"),
             table: Optional[Path] = typer.Option(None, help="CSV of per-image measurements (column 'image')"),
             cards: bool = typer.Option(True, help="write one explanation card per image"),
             card_format: str = typer.Option("html", help="html (self-contained) or png")) -> None:
    """Diagnose images with a saved model: results.csv/.json and one card per image in --out."""
    try:
        summary = diagnose_images(model, images, out, table=table, cards=cards, card_format=card_format)
    except ExplainendoError as exc:
        _fail(exc)
    typer.echo(f"{summary['ok']} diagnosed, {summary['no_lesion']} without a lesion, {summary['error']} unreadable; "
               f"results in {out}")
    for b in summary["broken"]:
        typer.secho(f"skipped {b['image']}: {b['error']}", fg="yellow")
    if summary["error"] and not (summary["ok"] or summary["no_lesion"]):
        typer.secho(f"error: no image could be diagnosed ({summary['error']} failed)", fg="red", err=True)
        raise typer.Exit(1)


# ---- explain ----------------------------------------------------------------------------------------
def explain(model: Path = typer.Argument(..., help="a saved model folder"),
            image: Path = typer.Argument(..., help="one image"),
            out: Optional[Path] = typer.Option(None, help="card path (.html or .png); default <image>.card.html"),
            table: Optional[Path] = typer.Option(None, help="CSV of per-image measurements (column 'image')"),
            box: Optional[str] = typer.Option(None, help="explain this region instead of the localizer's: x1,y1,x2,y2 "
                                                         "in pixels")) -> None:
    """Explain one image: the diagnosis, the group contributions in words, and a card."""
    import pandas as pd

    from . import bundle
    from .errors import InvalidBoxError
    from .types import Box

    try:
        region = None
        if box is not None:
            try:
                region = Box(*[float(v) for v in box.split(",")])
            except (TypeError, ValueError):
                raise InvalidBoxError(f"--box {box!r} is not four numbers", hint="e.g. --box 10,20,110,140") from None
        m = bundle.load(model)
        ex = m.explain(image, box=region, table=pd.read_csv(table) if table is not None else None)
        card = ex.save_card(out or Path(f"{image.stem}.card.html"))
    except ExplainendoError as exc:
        _fail(exc)
    d = ex.lesion
    typer.echo(f"{ex.result.image}: {d.label} (p={d.probability:.3f}, {ex.result.predictor})")
    typer.echo(f"why ({ex.space} of '{ex.explained_class}', base {ex.expected_value:+.2f}):")
    for sentence in ex.sentences(top=8):
        typer.echo(f"  {sentence}")
    typer.echo(f"card: {card}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("diagnose")(diagnose)
    app.command("explain")(explain)
