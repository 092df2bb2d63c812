"""The model commands of the CLI: ``train``, ``diagnose`` and ``explain`` (registered in :mod:`explainendo.cli`).

``diagnose`` writes as it goes: each image's row is appended (and flushed) to ``results.csv`` and
``results.jsonl`` before the next image is read, and its card is written at once, so a run stopped
half-way keeps everything it finished; the same command run again resumes it (:mod:`explainendo.resume`).
``results.json`` (the whole list) is written at the end.
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
#: what a diagnose run writes in its folder; ``--overwrite`` deletes these and nothing else (``ledger.json`` is
#: :data:`explainendo.resume.LEDGER`)
DIAGNOSE_OUTPUTS = ("results.csv", "results.jsonl", "results.json", "broken.txt", "cards", "ledger.json")


def _diagnose_inputs(images: Path) -> tuple[Optional[list[str]], str, Optional[int]]:
    """A diagnose run's inputs: ``(names, digest, count)``. A folder's images or one image are a list of names,
    known before any is read (the names ``iter_frames`` gives them, in its order: a folder's sorted); a video (or
    a folder without images) is read as a stream: ``names`` None, the digest from its path and byte size, the
    count the frames its container declares (None when unknown)."""
    from .io.sources import Frame, _expand, is_single_image
    from .resume import sha256_lines

    if images.is_dir() or is_single_image(images):
        listed = list(_expand(images))  # names and paths only: nothing is read yet
        if not any(isinstance(item, Frame) for _, item in listed):  # a Frame here: the folder holds no images
            names = [name for name, _ in listed]
            return names, sha256_lines(names), len(names)
    size = images.stat().st_size if images.is_file() else None
    count = None
    if images.is_file():
        import cv2

        capture = cv2.VideoCapture(str(images))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
        capture.release()
    return None, sha256_lines([f"stream {images}", f"bytes {size}"]), count


def _frames_after(images: Path, done: int):
    """The frames of a streamed input (a video) after the first ``done`` (decoded, not diagnosed, to get there)."""
    from .io.sources import iter_frames

    for position, frame in enumerate(iter_frames(images)):
        if position >= done:
            yield frame


def _remove_diagnose_outputs(out: Path) -> None:
    import shutil

    for name in DIAGNOSE_OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _diagnose_summary(csv_path: Path) -> dict:
    """Counts by status, and every error row (image and message), read back from the whole ``results.csv``."""
    summary = {"ok": 0, "no_lesion": 0, "error": 0, "broken": []}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            summary[row["status"]] += 1
            if row["status"] == "error":
                summary["broken"].append({"image": row["image"], "error": row["message"]})
    return summary


def _write_json_list(path: Path, lines) -> None:
    """A JSON list from JSON texts, one at a time (flat memory for a long run)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for k, line in enumerate(lines):
            f.write(("\n" if k == 0 else ",\n") + line)
        f.write("\n]\n")


def _row(d, classes: list[str], tasks: dict[str, list[str]] | None = None, ood: bool = False) -> dict:
    """One CSV row of a :class:`~explainendo.types.Result`; ``tasks``: the model's further tasks and their
    classes (columns ``<task>_label`` and ``<task>_p_<class>`` of the primary lesion); ``ood``: the model has an
    OOD detector (columns ``ood``: frame or primary lesion flagged, ``ood_frame_score``, ``ood_lesion_score``)."""
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
    if ood:
        les = d.lesion
        row.update({"ood": "" if d.ood is None and (les is None or les.ood is None)
                    else str(bool(d.ood or (les is not None and les.ood))).lower(),
                    "ood_frame_score": "" if d.ood_score is None else f"{d.ood_score:.4f}",
                    "ood_lesion_score": "" if les is None or les.ood_score is None else f"{les.ood_score:.4f}"})
    return row


def row_columns(model) -> tuple:
    """What :func:`_row` needs of a model besides the result: ``(classes, tasks, has_ood)``."""
    tasks = {name: [str(c) for c in t.classes_] for name, t in getattr(model, "tasks_", {}).items()}
    return list(model.classes_), tasks, getattr(model, "ood_", None) is not None


def diagnosis_row(model, d, index: int, columns: tuple, measurements=None, card_format: str = "html",
                  write_card=None) -> tuple[dict, dict]:
    """A diagnose run's CSV row and JSONL record of result ``d``, input ``index`` of the whole run (both engines,
    local and Ray, build their rows here: :mod:`explainendo.archive_ray`). ``columns``: :func:`row_columns`.
    ``write_card(name, save)``: given, a diagnosed image's card is rendered (``save(path)`` writes it) and the
    path it returns is the record's ``card``; a card that cannot be made is the record's ``card_error``."""
    d.frame_index = index  # the input's place in the whole run, also when resumed
    row = _row(d, *columns)
    record = d.to_dict()
    if write_card is not None and row["status"] == "ok":
        try:
            record["card"] = str(write_card(f"{index:05d}_{Path(d.image).stem}.{card_format}",
                                            model.explain(d, table=measurements).save_card))
        except ExplainendoError as exc:
            record["card_error"] = str(exc)
    d.frame = None  # the pixels go as soon as the card is written: a long video streams in flat memory
    return row, record


def diagnose_images(model_dir: Path, images: Path, out: Path, table: Optional[Path] = None, cards: bool = True,
                    card_format: str = "html", progress: bool = True, overwrite: bool = False,
                    retry_errors: bool = False, say=None, engine: str = "local", ray_address: Optional[str] = None,
                    workers: Optional[int] = None, ray_object_store_mb: Optional[int] = None) -> dict:
    """Diagnose every image into ``out``: ``results.csv`` / ``results.jsonl`` (one row per input, in input order,
    appended and flushed as each is done), a card per diagnosed image, then ``results.json`` and ``broken.txt``
    (written whole, atomically, from the rows).

    Resumable (:mod:`explainendo.resume`): run again with the same arguments and the inputs already in the rows
    are skipped (a torn last row is cut off and done again); a folder holding another model's or input list's
    rows is refused (:class:`~explainendo.errors.ConfigError`) unless ``overwrite`` (which deletes
    :data:`DIAGNOSE_OUTPUTS` first). An unreadable image is a row with status ``error``, never fatal, and is not
    tried again on resume unless ``retry_errors`` (the rows from the first error on are then done again, which
    keeps the input order). ``say``: called with a line when a run resumes. Returns the counts by status over
    all rows, ``broken`` (image, error), ``resumed`` (rows found done) and ``total`` (None: unknown).

    ``engine="ray"``: the images are diagnosed on Ray Data (:mod:`explainendo.archive_ray`: one model per worker,
    ``workers`` of them, on a local Ray unless ``ray_address``); the rows, written here in input order, are the
    local run's, and the run resumes the same way. Ray missing is a
    :class:`~explainendo.errors.MissingDependencyError` before any work."""
    import contextlib

    import pandas as pd

    from . import bundle
    from .errors import ConfigError
    from .progress import task
    from .resume import AppendedRows, atomic_write, open_ledger, remove_temporaries, run_identity
    from .types import Result

    if engine not in ("local", "ray"):
        raise ConfigError(f"--engine {engine!r} is not an engine", hint="local (the default) or ray")
    if engine == "ray":
        from .archive_ray import require_ray

        require_ray()
    elif ray_address is not None or workers is not None or ray_object_store_mb is not None:
        raise ConfigError("--ray-address and --workers apply to --engine ray", hint="add --engine ray")
    if card_format not in ("html", "png"):
        raise ConfigError(f"--card-format {card_format!r} is not a card format", hint="html or png")
    model = bundle.load(model_dir)
    measurements = pd.read_csv(table) if table is not None else None
    model.check_table(measurements)  # a model reading table columns without its table: refused before any output
    columns = row_columns(model)
    fields = list(_row(Result(image=""), *columns))
    names, inputs_digest, total = _diagnose_inputs(images)
    if engine == "ray" and names is None:
        raise ConfigError(f"--engine ray diagnoses a folder of images or one image; {images} is read as a stream "
                          "(a video)", source=str(images), hint="diagnose a video with --engine local (the default)")
    if overwrite:
        _remove_diagnose_outputs(out)
    out.mkdir(parents=True, exist_ok=True)
    resumed = open_ledger(out, run_identity(model_dir, images, inputs_digest, table, cards, card_format, fields),
                          DIAGNOSE_OUTPUTS)
    for folder in (out, out / "cards"):
        remove_temporaries(folder)  # what a killed run's unfinished atomic writes left
    rows = AppendedRows(out, fields)

    batch = max(int(getattr(model, "batch_size", 1) or 1), 1)
    complete = []

    def rows_to_keep(found: list[dict]) -> int:
        """Check the rows found, and say how many stay: up to the first error with ``retry_errors``, then down
        to a whole number of batches unless every input is done, so that the resumed run reads the same
        batches as an uninterrupted one (a network's float32 output changes in the 7th digit with its batch)."""
        complete.append(len(found))
        if names is not None:
            wrong = next((i for i, r in enumerate(found) if i >= len(names) or r["image"] != names[i]), None)
            if wrong is not None:
                raise ConfigError(f"row {wrong + 1} of results.csv is {found[wrong]['image']!r}, but input "
                                  f"{wrong + 1} is {names[wrong] if wrong < len(names) else 'past the last input'!r}"
                                  ": the rows are not this input list's, in order", source=str(out),
                                  hint="pass --overwrite to delete them and start again")
        n = next((i for i, r in enumerate(found) if r["status"] == "error"), len(found)) if retry_errors \
            else len(found)
        return n if n == total else n - n % batch

    found, torn = rows.recover(keep=rows_to_keep)
    done = len(found)
    if resumed and say is not None:
        redone = complete[0] - done
        say(f"resuming in {out}: {done} of {total if total is not None else '?'} inputs already done"
            + (f"; {redone} done again (" + ("from the first error, " if retry_errors else "")
               + f"to start at a whole batch of {batch})" if redone else "")
            + ("; an unfinished row cut off" if torn else ""))
    source = names[done:] if names is not None else _frames_after(images, done)
    bar_context = task("diagnosing", total, completed=done) if progress else contextlib.nullcontext(None)

    def write_card(name, save):
        return atomic_write(out / "cards" / name, save)

    with rows, bar_context as bar:
        if engine == "ray":
            from .archive_ray import ray_diagnoses

            done_rows = ray_diagnoses(model_dir, source, done, batch, out=out, table=measurements,
                                      card_format=card_format, write_card=write_card if cards else None,
                                      address=ray_address, workers=workers, object_store_mb=ray_object_store_mb)
        else:
            done_rows = (diagnosis_row(model, d, i, columns, measurements, card_format, write_card if cards else None)
                         for i, d in enumerate(model.predict(source, table=measurements, stream=True,
                                                             keep_frames=cards), start=done))
        for row, record in done_rows:
            rows.append(row, record)
            if bar is not None:
                bar.advance()
    summary = _diagnose_summary(rows.csv_path)
    atomic_write(out / "results.json", lambda tmp: _write_json_list(tmp, rows.records()))
    broken = out / "broken.txt"
    if summary["broken"]:
        atomic_write(broken, lambda tmp: tmp.write_text(
            "".join(f"{b['image']}\t{b['error']}\n" for b in summary["broken"]), encoding="utf-8"))
    elif broken.exists():  # an earlier run's list, of errors done again with retry_errors
        broken.unlink()
    return {**summary, "resumed": done, "total": total}


def diagnose(model: Path = typer.Argument(..., help="a saved model folder"),
             images: Path = typer.Argument(..., help="an image, a folder of images or a video"),
             out: Path = typer.Option(Path("diagnoses"), "--out", help="output folder"),
             table: Optional[Path] = typer.Option(None, help="CSV of per-image measurements (column 'image')"),
             cards: bool = typer.Option(True, help="write one explanation card per image"),
             card_format: str = typer.Option("html", help="html (self-contained) or png"),
             overwrite: bool = typer.Option(False, "--overwrite", help="delete --out's results of an earlier run and "
                                                                      "start again (default: resume it)"),
             retry_errors: bool = typer.Option(False, "--retry-errors", help="on resume, diagnose again from the "
                                                                            "first unreadable image on"),
             engine: str = typer.Option("local", "--engine", help="local (this process) or ray (Ray Data, one model "
                                                                  "per worker; pip install 'explainendo[ray]')"),
             ray_address: Optional[str] = typer.Option(None, "--ray-address", help="--engine ray: a running Ray "
                                                       "cluster's address (default: start a local Ray on the cores "
                                                       "this process may use)"),
             workers: Optional[int] = typer.Option(None, "--workers", help="--engine ray: model workers (default: "
                                                   "one per core)")) -> None:
    """Diagnose images with a saved model: results.csv/.json and one card per image in --out. Run the same command
    again to resume a stopped run (see ledger.json in --out). ``--engine ray`` runs a folder on Ray Data with the
    same rows."""
    try:
        summary = diagnose_images(model, images, out, table=table, cards=cards, card_format=card_format,
                                  overwrite=overwrite, retry_errors=retry_errors, engine=engine,
                                  ray_address=ray_address, workers=workers,
                                  say=lambda line: typer.secho(line, fg="yellow", err=True))
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
def _corrections(values: list[str]) -> dict[str, str]:
    """``--set ATTRIBUTE=CLASS`` options as ``{attribute: class}`` (the model checks the names)."""
    from .errors import ConfigError

    out: dict[str, str] = {}
    for value in values:
        attribute, sep, cls = value.partition("=")
        if not sep or not attribute.strip() or not cls.strip():
            raise ConfigError(f"--set {value!r} is not ATTRIBUTE=CLASS", hint="e.g. --set boundary=clear")
        if attribute.strip() in out:
            raise ConfigError(f"--set gives attribute {attribute.strip()!r} twice", hint="set each attribute once")
        out[attribute.strip()] = cls.strip()
    return out


def explain(model: Path = typer.Argument(..., help="a saved model folder"),
            image: Path = typer.Argument(..., help="one image"),
            out: Optional[Path] = typer.Option(None, help="card path (.html or .png); default <image>.card.html"),
            table: Optional[Path] = typer.Option(None, help="CSV of per-image measurements (column 'image')"),
            box: Optional[str] = typer.Option(None, help="explain this region instead of the localizer's: x1,y1,x2,y2 "
                                                         "in pixels"),
            set_: Optional[list[str]] = typer.Option(None, "--set", help="correct an attribute, ATTRIBUTE=CLASS "
                                                     "(repeatable, e.g. --set boundary=clear): the diagnosis is made "
                                                     "again from the corrected attributes"),
            localizer_saliency: str = typer.Option("eigencam", help="where the localizer looked, on the card: "
                                                   "eigencam (one forward pass), d-rise (500 masked passes: "
                                                   "box-specific, model-agnostic, slow) or none")) -> None:
    """Explain one image: the diagnosis, the group contributions in words, where the localizer looked, and a card.
    With ``--set`` a clinician corrects attributes (``Diagnoser.intervene``): the diagnosis before and after is
    printed, and the card is the corrected explanation's."""
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
        corrections = _corrections(set_ or [])
        m = bundle.load(model)
        ex = before = m.explain(image, box=region, table=pd.read_csv(table) if table is not None else None,
                                localizer_saliency=None if localizer_saliency.lower() == "none" else localizer_saliency)
        if corrections:
            ex = m.intervene(before.result, corrections, lesion=before.lesion_index)
            # a correction does not move the box: where the localizer looked stays the first explanation's
            ex.localizer_saliency = before.localizer_saliency
            ex.localizer_saliency_method = before.localizer_saliency_method
        card = ex.save_card(out or Path(f"{image.stem}.card.html"))
    except ExplainendoError as exc:
        _fail(exc)
    d = ex.lesion
    if corrections:
        typer.echo(f"{ex.result.image}: before correction {before.lesion.label} (p={before.lesion.probability:.3f}, "
                   f"{ex.result.predictor})")
        typer.echo(f"after correction ({', '.join(f'{a}={c}' for a, c in d.interventions.items())}): {d.label} "
                   f"(p={d.probability:.3f})")
    else:
        typer.echo(f"{ex.result.image}: {d.label} (p={d.probability:.3f}, {ex.result.predictor})")
    typer.echo(f"why ({ex.space} of '{ex.explained_class}', base {ex.expected_value:+.2f}):")
    for sentence in ex.sentences(top=8):
        typer.echo(f"  {sentence}")
    heat = ex.localizer_box_heat()
    if heat:
        typer.echo(f"where the localizer looked ({ex.localizer_saliency_method}): {heat['heat']:.0%} of the map in the "
                   f"box, which is {heat['area']:.0%} of the frame")
    typer.echo(f"card: {card}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("diagnose")(diagnose)
    app.command("explain")(explain)
