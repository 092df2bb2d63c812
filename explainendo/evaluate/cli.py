"""``explainendo evaluate compare``: the model-comparison report from a CSV of predictions (``evaluate model``: a
saved model on a labelled test set; ``evaluate reader-study``: a finished reader study's tables).

One row per case; a truth column; per model a predicted-label column and optionally a score column (the
probability of the positive class); optionally a split column (internal / external ...) and a group column
(video or patient) for a group-level comparison as well. Writes ``comparison.md``, ``.csv``, ``.json`` and
``comparison_roc.png`` and prints the markdown.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..commands import _fail as fail  # the one CLI error exit

evaluate_app = typer.Typer(help="Metrics, statistical tests and model-comparison reports.", no_args_is_help=True)


@evaluate_app.command("compare")
def compare_command(
    predictions: Path = typer.Argument(..., help="CSV with one row per case"),
    truth: str = typer.Option(..., help="column with the true label"),
    positive: str = typer.Option(..., help="the positive label, as written in the CSV"),
    model: List[str] = typer.Option(..., help="NAME=PRED_COLUMN[:SCORE_COLUMN]; repeat per model, the first is "
                                              "the reference"),
    split_column: Optional[str] = typer.Option(None, help="column naming the test split of each row"),
    group_column: Optional[str] = typer.Option(None, help="video / patient column: adds a group-level comparison"),
    how: str = typer.Option("mean", help="group-level aggregation of scores: mean | max | vote"),
    out: Path = typer.Option(Path("comparison"), help="folder for the report files"),
    seed: int = typer.Option(0, help="seed of any bootstrap"),
) -> None:
    """Compare models on the same cases: Wilson CIs, McNemar / chi-square / DeLong p-values, ROC curves."""
    from ..errors import ExplainendoError

    try:
        report = build_report(predictions, truth, positive, model, split_column, group_column, how, seed)
        files = report.save(out)
    except ExplainendoError as exc:
        fail(exc)
    typer.echo(report.to_markdown())
    typer.echo("wrote " + ", ".join(str(p) for p in files.values()))


@evaluate_app.command("model")
def model_command(
    model: Path = typer.Argument(..., help="a saved model folder (explainendo train wrote it)"),
    test: Path = typer.Argument(..., help="a labelled test manifest CSV (docs/data.md)"),
    root: Optional[Path] = typer.Option(None, help="folder the test CSV's image paths are relative to"),
    positive: Optional[str] = typer.Option(None, help="the positive class (default: the model's positive label)"),
    out: Path = typer.Option(Path("evaluation"), help="folder for the report and per-case predictions"),
) -> None:
    """A saved model on a labelled test set: the paper's table with 95% CIs, on the test set's boxes and from
    pixels through the model's localizer."""
    from .. import bundle
    from ..commands import evaluate_saved_model
    from ..errors import ExplainendoError
    from ..io.manifest import Manifest

    try:
        loaded = bundle.load(model)
        if hasattr(loaded, "frame_call"):  # a frame detector (the colonoscopy system): the paper's frame report
            return _frame_reports(loaded, Manifest.read_csv(test, root), model, test, out)
        result = evaluate_saved_model(loaded, Manifest.read_csv(test, root), positive,
                                      say=lambda line: typer.secho(line, fg="yellow", err=True))
    except ExplainendoError as exc:
        fail(exc)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"# {model.name} on {test.name} (positive class: {result['positive']})", ""]
    for key in ("boxes", "pixels"):
        if result[key] is not None:
            parts += [result[key].to_markdown(), ""]
            result[f"predictions_{key}"].to_csv(out / f"predictions_{key}.csv", index=False)
    parts += [f"Images where the localizer found no lesion (called negative): {result['images_without_lesion']}."
              + (f" Mean IoU of the primary box with the image's first true box: {result['mean_iou']:.2f}."
                 if result["mean_iou"] == result["mean_iou"] else ""), ""]   # NaN: no true boxes
    if result["dropped"]:
        parts += [f"Rows dropped by validation: {len(result['dropped'])} (listed on stderr)."]
    text = "\n".join(parts)
    (out / "evaluation.md").write_text(text)
    typer.echo(text)
    typer.echo(f"wrote {out / 'evaluation.md'}")



@evaluate_app.command("reader-study")
def reader_study_command(
    study: Path = typer.Argument(..., help="the study file (docs/reader_study.md)"),
    answers: Optional[Path] = typer.Option(None, help="the answers file (default: the study's)"),
    results: Optional[Path] = typer.Option(None, help="the diagnose output folder (default: the study's)"),
    out: Path = typer.Option(Path("reader_study"), help="folder for the tables"),
) -> None:
    """A finished reader study as the paper's tables: readers by experience vs the model, Fleiss' kappa,
    Mann-Whitney U between levels, Wilcoxon with vs without AI, Likert items, reading time, MRMC (OR, Hillis ddf)."""
    from ..errors import ExplainendoError
    from .reader_study import analyse_reader_study

    try:
        report = analyse_reader_study(study, answers=answers, results=results)
        files = report.save(out)
    except ExplainendoError as exc:
        fail(exc)
    typer.echo(report.to_markdown())
    typer.echo(f"wrote {len(files)} files to {out}")

def _frame_reports(loaded, manifest, model: Path, test: Path, out: Path) -> None:
    """``evaluate model`` for a frame detector: every report of ``loaded.evaluate`` (all frames; set 1 / set 2;
    per source) as markdown, the per-frame calls as CSV."""
    reports = loaded.evaluate(manifest)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"# {model.name} on {test.name}", ""]
    for key, rep in reports.items():
        parts += [rep.to_markdown(), ""]
        rep.frames.to_csv(out / f"frames_{key.replace(' ', '_').replace('=', '')}.csv", index=False)
    unreadable = reports["all"].extra.get("unreadable") or []
    if unreadable:
        parts.append(f"Unreadable frames left out ({len(unreadable)}): {', '.join(unreadable[:20])}")
    text = "\n".join(parts)
    (out / "evaluation.md").write_text(text)
    typer.echo(text)
    typer.echo(f"wrote {out / 'evaluation.md'}")


def build_report(predictions, truth: str, positive: str, models: list[str], split_column: str | None = None,
                 group_column: str | None = None, how: str = "mean", seed: int = 0):
    """The :class:`~explainendo.evaluate.comparison.SplitComparison` that ``evaluate compare`` writes."""
    import pandas as pd

    from ..errors import EvaluationError
    from .comparison import compare_models, compare_models_by_group, compare_splits

    path = Path(predictions)
    if not path.is_file():
        raise EvaluationError("predictions file not found", source=str(path), hint="pass a CSV path")
    frame = pd.read_csv(path)
    specs = [_parse_model(spec) for spec in models]
    needed = [truth] + [c for _, pred, score in specs for c in (pred, score) if c] + \
        [c for c in (split_column, group_column) if c]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise EvaluationError(f"columns {missing} are missing (columns: {list(frame.columns)})", source=str(path),
                              hint="check --truth, --model, --split-column and --group-column")
    pos = _as_label(positive, frame[truth])
    splits = [("all cases", frame)] if split_column is None else \
        [(str(name), part) for name, part in frame.groupby(split_column, sort=False)]
    comparisons = {}
    for name, part in splits:
        preds = {m: (part[pred].to_numpy(), None if score is None else part[score].to_numpy())
                 for m, pred, score in specs}
        y = part[truth].to_numpy()
        comparisons[f"{name} (cases)"] = compare_models(y, preds, positive=pos, seed=seed, title=f"{name} (cases)")
        if group_column is not None:
            comparisons[f"{name} ({group_column})"] = compare_models_by_group(
                y, preds, groups=part[group_column].to_numpy(), how=how, positive=pos, seed=seed,
                title=f"{name} ({group_column} level, {how})", unit=f"{group_column} groups")
    return compare_splits(comparisons, title=f"Model comparison: {path.name}")


def _parse_model(spec: str) -> tuple[str, str, str | None]:
    from ..errors import EvaluationError

    name, sep, cols = spec.partition("=")
    pred, _, score = cols.partition(":")
    if not sep or not name or not pred:
        raise EvaluationError(f"--model {spec!r} is not NAME=PRED_COLUMN[:SCORE_COLUMN]",
                              hint="e.g. --model hybrid=pred_hybrid:prob_hybrid")
    return name, pred, score or None


def _as_label(text: str, column):
    """The positive label typed on the command line, converted to the truth column's type (``"1"`` -> 1)."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        try:
            value = float(text)
        except ValueError:
            return text
        return int(value) if value.is_integer() and pd.api.types.is_integer_dtype(column) else value
    return text
