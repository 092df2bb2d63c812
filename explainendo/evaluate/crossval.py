"""K-fold cross-validation by patient with the ERCP paper's tables (Kim et al., Sci Rep 2021: five folds, every
figure "mean ± SD" over the folds).

* :func:`cross_validate_predictor`: a :class:`~explainendo.predict.Predictor` (a hybrid or a CNN) on the lesions
  of a manifest (cut from its boxes), for any label column: the binary ``label`` or a four-class
  ``attr.difficulty``. Per fold: precision, recall and F1 of every class, their macro averages, accuracy and
  AUC (binary: of the positive class; more classes: the macro one-vs-rest AUC). ``table()`` is the paper's
  Tables 2 and 3.
* :func:`cross_validate_localizer`: a :class:`~explainendo.localize.Localizer` on the boxes of a manifest. Per
  fold: mIoU, area precision and recall, centroid distance, success at IoU 0.3 and at centroid distance 0.05,
  mAP50 (class-agnostic, as :func:`~explainendo.evaluate.detection.evaluate_localizer`), and the success curves, whose mean ± SD
  over the folds :func:`plot_cv_success` draws in the layout of the paper's Fig. 3.

Folds keep every ``by`` group (patient, video) whole; the predictor's folds are also stratified by the label.
Each fold trains a clone of the model: nothing given is changed. A fold whose training fails with a library
error (e.g. a class missing from its training part) is recorded in ``failures`` with the reason and the others
go on; the summary is over the folds that ran and says how many those are.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError, EvaluationError, ExplainendoError
from .cv import format_mean_sd

log = logging.getLogger(__name__)


@dataclass
class CVReport:
    """What a cross-validation found. ``folds``: one row per fold that ran (``fold``, sizes, the metrics,
    ``fit_seconds``); ``predictions``: per lesion (predictor) or per image and target (localizer) of every
    test fold; ``curves``: per fold success curves (localizer only); ``failures``: ``{"fold", "error"}`` of the
    folds that could not train; ``meta``: the settings; ``models`` / ``test_samples``: each fold's fitted
    predictor and test lesions (``keep_models=True`` only)."""

    folds: pd.DataFrame
    predictions: pd.DataFrame
    metrics: list[str]
    curves: pd.DataFrame | None = None
    failures: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    models: list = field(default_factory=list, repr=False)
    test_samples: list = field(default_factory=list, repr=False)

    def summary(self, decimals: int = 3) -> pd.DataFrame:
        """One row per metric: ``n_folds`` (folds where it is defined), ``mean``, ``sd`` (ddof 1), ``summary``
        (``"0.641 ± 0.021"``)."""
        rows = []
        for metric in self.metrics:
            values = self.folds[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            mean = float(values.mean()) if len(values) else math.nan
            sd = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            rows.append({"metric": metric, "n_folds": int(len(values)), "mean": mean, "sd": sd,
                         "summary": format_mean_sd(mean, sd, decimals)})
        return pd.DataFrame(rows)

    def table(self, decimals: int = 3) -> pd.DataFrame:
        """The paper's layout. Predictor: one row per class and ``macro avg`` with ``precision``, ``recall``,
        ``f1`` as mean ± SD, then ``accuracy`` and ``AUC`` rows (in ``precision``'s column). Localizer: the
        summary's metrics as one row."""
        s = self.summary(decimals).set_index("metric")["summary"]
        if self.meta.get("task") == "localizer":
            return s.to_frame(self.meta.get("localizer", "localizer")).T
        classes = list(self.meta["classes"])
        rows = {c: {m: s[f"{m}:{c}"] for m in ("precision", "recall", "f1")} for c in classes}
        rows["macro avg"] = {m: s[f"macro_{m}"] for m in ("precision", "recall", "f1")}
        rows["accuracy"] = {"precision": s["accuracy"], "recall": "", "f1": ""}
        rows["AUC"] = {"precision": s["auc"], "recall": "", "f1": ""}
        return pd.DataFrame.from_dict(rows, orient="index")

    def to_markdown(self, decimals: int = 3) -> str:
        t = self.table(decimals)
        ran = len(self.folds)
        lines = [f"{ran} of {self.meta.get('k', ran)} folds by {self.meta.get('by', 'patient')}"
                 + (f" ({len(self.failures)} failed: "
                    + "; ".join(f"fold {f['fold']}: {f['error']}" for f in self.failures) + ")" if self.failures else ""),
                 "", "| | " + " | ".join(map(str, t.columns)) + " |", "|---" * (len(t.columns) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(str(v) for v in row) + " |" for name, row in t.iterrows()]
        return "\n".join(lines)


def _fit_fold(estimator, data, fold: int, failures: list) -> tuple[object | None, float]:
    """A clone of ``estimator`` fitted on ``data`` and the seconds it took; None (and the reason appended to
    ``failures``) when a library error says this fold's training part cannot train it."""
    from sklearn.base import clone

    start = time.perf_counter()
    try:
        return clone(estimator).fit(data), time.perf_counter() - start
    except ExplainendoError as exc:
        failures.append({"fold": fold, "error": str(exc)})
        log.warning("fold %d could not be trained: %s", fold, exc)
        return None, time.perf_counter() - start


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ConfigError(f"k={k!r}: cross-validation needs an integer number of folds >= 2", hint="the paper: 5")
    return int(k)


def _check_groups(table: pd.DataFrame, by: str, k: int) -> np.ndarray:
    from ..errors import ManifestError

    if by not in table.columns or table[by].isna().any():
        raise ManifestError(f"folds by {by!r} need a {by!r} for every row", source=by,
                            hint=f"add a {by} column (or pass by= a column every row has)")
    groups = table[by].astype(str).to_numpy()
    if len(set(groups)) < k:
        raise ManifestError(f"{len(set(groups))} {by} group(s) cannot make {k} folds", source=by, hint="lower k")
    return groups


def cross_validate_predictor(predictor, manifest, k: int = 5, by: str = "patient", label_column: str | None = None,
                             positive: str | None = None, enlarge: float = 1.0, seed: int = 0,
                             keep_models: bool = False) -> CVReport:
    """``k``-fold CV of ``predictor`` on the lesions of ``manifest`` (module docstring). ``label_column`` is the
    task (default: the predictor's own ``label_column``, else ``label``): the predictor is trained on it.
    ``positive``: for a binary task, the class whose probability the AUC ranks (default: the predictor's last
    class, its explained one). ``keep_models``: the report's ``models`` holds each fold's fitted predictor and
    ``test_samples`` its test lesions (to explain them afterwards)."""
    from sklearn.base import clone
    from sklearn.metrics import precision_recall_fscore_support, roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold

    from ..errors import ManifestError
    from ..features import LesionSamples
    from ..predict import Predictor
    from ..progress import task
    from .auc import auc_score

    k = _check_k(k)
    if not isinstance(predictor, Predictor):
        raise ConfigError(f"cross_validate_predictor needs a Predictor, got {type(predictor).__name__}")
    predictor.check_params()
    label_column = label_column or str(getattr(predictor, "label_column", None) or "label")
    if "label_column" in predictor.get_params(deep=False):  # the folds' tables carry the task as ``label``
        predictor = clone(predictor).set_params(label_column="label")
    if label_column not in manifest.df.columns:
        raise ManifestError(f"the manifest has no column {label_column!r} to cross-validate", source=label_column,
                            hint=f"columns: {list(manifest.df.columns)}")
    labelled = manifest.subset(manifest.df[label_column].notna().to_numpy())
    if len(labelled) < len(manifest):
        log.warning("%d row(s) without %s left out", len(manifest) - len(labelled), label_column)
    samples = LesionSamples.from_manifest(labelled, enlarge=enlarge)
    table = samples.table.copy()
    table["label"] = table[label_column].astype(str)
    samples = LesionSamples(crops=samples.crops, boxes=samples.boxes, frames=samples.frames, masks=samples.masks,
                            table=table, enlarge=samples.enlarge)
    groups = _check_groups(table, by, k)
    truth = table["label"].to_numpy()
    classes_all = sorted(set(truth))
    if positive is not None and positive not in classes_all:
        raise ConfigError(f"positive={positive!r} is not a {label_column} value", hint=f"values: {classes_all}")
    predictor.check_data(table)
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    rows, preds, failures, classes, models, tests = [], [], [], None, [], []
    with task(f"{k}-fold CV of {predictor.describe()} on {label_column}", total=k) as bar:
        for fold, (tr, te) in enumerate(splitter.split(np.zeros(len(truth)), truth, groups), start=1):
            assert not set(groups[tr]) & set(groups[te])
            model, fit_s = _fit_fold(predictor, samples.subset(tr), fold, failures)
            if model is None:
                bar.advance()
                continue
            test = samples.subset(te)
            classes = [str(c) for c in model.classes_]
            proba = np.asarray(model.predict_proba(test), dtype=float)
            called = np.asarray(classes, dtype=object)[np.nan_to_num(proba, nan=-1.0).argmax(1)]
            t = truth[te]
            p_, r_, f_, _ = precision_recall_fscore_support(t, called, labels=classes, zero_division=0.0)
            row = {"fold": fold, "train_lesions": len(tr), "test_lesions": len(te), "fit_seconds": fit_s}
            for c, pv, rv, fv in zip(classes, p_, r_, f_):
                row.update({f"precision:{c}": pv, f"recall:{c}": rv, f"f1:{c}": fv})
            row.update(macro_precision=float(p_.mean()), macro_recall=float(r_.mean()), macro_f1=float(f_.mean()),
                       accuracy=float(np.mean(called == t)), auc=_auc(t, proba, classes, positive, fold,
                                                                       auc_score, roc_auc_score))
            rows.append(row)
            frame = table.iloc[te][[c for c in ("image", "patient") if c in table]].copy()
            frame["fold"], frame["truth"], frame["predicted"] = fold, t, called
            for j, c in enumerate(classes):
                frame[f"p:{c}"] = proba[:, j]
            preds.append(frame)
            if keep_models:
                models.append(model)
                tests.append(test)
            bar.advance()
    if not rows:
        raise EvaluationError(f"no fold of {k} could be trained", hint="; ".join(
            f"fold {f['fold']}: {f['error']}" for f in failures))
    metrics = [f"{m}:{c}" for c in classes for m in ("precision", "recall", "f1")]
    metrics += ["macro_precision", "macro_recall", "macro_f1", "accuracy", "auc"]
    return CVReport(folds=pd.DataFrame(rows), predictions=pd.concat(preds, ignore_index=True), metrics=metrics,
                    failures=failures, models=models, test_samples=tests, meta={"task": "predictor", "k": k, "by": by, "label_column": label_column,
                                             "classes": classes, "predictor": predictor.describe(), "seed": seed})


def _auc(truth, proba, classes, positive, fold, auc_score, roc_auc_score) -> float:
    present = set(truth)
    if len(present) < 2:
        log.warning("fold %d: one class in its test part, no AUC", fold)
        return math.nan
    if len(classes) == 2:
        pos = classes[-1] if positive is None else positive
        return float(auc_score(truth == pos, proba[:, classes.index(pos)], positive=True))
    if present != set(classes):
        log.warning("fold %d: classes %s absent from its test part, no one-vs-rest AUC", fold,
                    sorted(set(classes) - present))
        return math.nan
    p = np.nan_to_num(proba, nan=0.0)
    return float(roc_auc_score(truth, p / p.sum(1, keepdims=True), multi_class="ovr", average="macro",
                               labels=classes))


LOCALIZER_METRICS = ("mIoU", "area_precision", "area_recall", "centroid_distance_mean", "success_iou_0.3",
                     "success_centroid_0.05", "mAP50")


def cross_validate_localizer(localizer, manifest, k: int = 5, by: str = "patient", seed: int = 0) -> CVReport:
    """``k``-fold CV of ``localizer`` on the boxes of ``manifest`` (module docstring): the best box of each
    image against each of its boxes, ``evaluate_localizer``'s figures per fold."""

    from ..io.splits import group_kfold
    from ..progress import task
    from ..types import Box
    from .detection import localization_table, success_curve, summarize

    k = _check_k(k)
    if not hasattr(localizer, "fit") or not hasattr(localizer, "locate_batch"):
        raise ConfigError(f"cross_validate_localizer needs a Localizer, got {type(localizer).__name__}")
    clean = manifest.validate(strict=True)
    _check_groups(clean.df, by, k)
    rows, curves, preds, failures = [], [], [], []
    with task(f"{k}-fold CV of {type(localizer).__name__}", total=k) as bar:
        for fold, (train, test) in enumerate(group_kfold(clean, k, by=by, stratify=None, seed=seed), start=1):
            model, fit_s = _fit_fold(localizer, train, fold, failures)
            if model is None:
                bar.advance()
                continue
            images = test.images()
            t0 = time.perf_counter()
            found = model.locate_batch([test.path(i) for i in images])
            ms = 1000 * (time.perf_counter() - t0) / max(len(images), 1)
            gts = [test.boxes_for(i) for i in images]
            sizes = [(int(w), int(h)) for w, h in
                     test.image_table().set_index("image").loc[images, ["width", "height"]].itertuples(index=False)]
            strip = lambda boxes: [Box(b.x1, b.y1, b.x2, b.y2, score=b.score) for b in boxes]  # noqa: E731
            found, gts = [strip(f) for f in found], [strip(g) for g in gts]  # localization: classes not checked
            res = summarize(found, gts, sizes, top_k=1)
            loc_table = localization_table(found, gts, sizes, top_k=1)
            loc_table.insert(0, "fold", fold)
            loc_table["image"] = [images[i] for i in loc_table["image"]]
            preds.append(loc_table)
            curve = success_curve(loc_table)
            curve.insert(0, "fold", fold)
            curves.append(curve)
            rows.append({"fold": fold, "train_images": len(train.images()), "test_images": len(images),
                         "fit_seconds": fit_s, **{m: float(res[m]) for m in LOCALIZER_METRICS},
                         "ms_per_image": ms, "unreadable": len(getattr(model, "errors_", []))})
            bar.advance()
    if not rows:
        raise EvaluationError(f"no fold of {k} could be trained", hint="; ".join(
            f"fold {f['fold']}: {f['error']}" for f in failures))
    return CVReport(folds=pd.DataFrame(rows), predictions=pd.concat(preds, ignore_index=True),
                    metrics=list(LOCALIZER_METRICS), curves=pd.concat(curves, ignore_index=True), failures=failures,
                    meta={"task": "localizer", "k": k, "by": by, "localizer": type(localizer).__name__, "seed": seed})


def cv_success_bands(reports: dict[str, CVReport]) -> pd.DataFrame:
    """Mean and SD over the folds of each success curve: ``method``, ``kind``, ``threshold``, ``mean``,
    ``sd``."""
    frames = []
    for name, rep in reports.items():
        if rep.curves is None:
            raise EvaluationError(f"{name!r} is not a localizer's CV report: it has no success curves")
        g = rep.curves.groupby(["kind", "threshold"], sort=False)["success"]
        band = g.agg(mean="mean", sd=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else math.nan).reset_index()
        band.insert(0, "method", name)
        frames.append(band)
    return pd.concat(frames, ignore_index=True)


def plot_cv_success(reports: dict[str, CVReport], title: str | None = None):
    """The paper's Fig. 3: success rate over IoU thresholds 0.0-0.9 and over centroid distance 0.01-0.1, the
    mean over the folds with a ± SD band, one line per method. Returns the matplotlib ``Figure``."""
    import matplotlib.pyplot as plt

    bands = cv_success_bands(reports)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for name, part in bands.groupby("method", sort=False):
        for ax, kind in zip(axes, ("iou", "centroid")):
            b = part[part["kind"] == kind]
            ax.plot(b["threshold"], b["mean"], marker="o", ms=3, label=name)
            ax.fill_between(b["threshold"], b["mean"] - b["sd"].fillna(0), b["mean"] + b["sd"].fillna(0), alpha=0.2)
    axes[0].set(xlabel="IoU threshold", ylabel="success rate", ylim=(0, 1.02), title="IoU")
    axes[1].set(xlabel="normalised centroid distance threshold", ylim=(0, 1.02), title="centroid distance")
    axes[1].legend(loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["CVReport", "cross_validate_predictor", "cross_validate_localizer", "cv_success_bands", "plot_cv_success"]
