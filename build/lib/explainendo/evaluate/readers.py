"""Reader studies: endoscopists against the model (man-machine comparison), agreement, and AI assistance.

Inputs are a table of reader calls: one row per case, one column per reader (a DataFrame, or a mapping
``reader -> calls``), and optionally each reader's experience level (novice / junior / senior / expert).

* :func:`reader_metrics`: each reader's accuracy, sensitivity, specificity, PPV, NPV with Wilson intervals,
  and McNemar's p-value against the model on the same cases.
* :func:`man_machine_table`: per experience level the mean ± SD over its readers of each metric, then the
  model with its Wilson intervals (the layout of the gastric paper's man-machine comparison).
* :func:`reader_agreement`: Fleiss' kappa among all readers and within each level.
* :func:`accuracy_with_without_ai`: each reader's accuracy without and with AI assistance and the Wilcoxon
  signed-rank test of the paired change across readers; :func:`compare_reader_groups`: Mann-Whitney U of a
  per-reader value between two levels. Paired Likert scores go straight to
  :func:`~explainendo.evaluate.ranks.wilcoxon_signed_rank`.

Per-reader p-values are not adjusted for multiplicity; readers are treated as fixed (not an MRMC analysis).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import EvaluationError
from ._checks import TestResult, as_1d, same_length
from .agreement import fleiss_kappa
from .classification import BINARY_METRICS, METRIC_TITLES, binary_metrics, binary_pair
from .cv import format_mean_sd
from .paired import mcnemar_test
from .ranks import mann_whitney_u, wilcoxon_signed_rank

#: Experience levels in the order tables show them.
EXPERIENCE_LEVELS = ("novice", "junior", "senior", "expert")


def reader_metrics(y_true, reader_calls, positive=1, levels: Mapping[str, str] | None = None, model=None,
                   confidence: float = 0.95) -> pd.DataFrame:
    """One row per reader (then the model, when ``model`` is given): ``reader, level`` and for each metric
    ``<metric>``, ``<metric>_low``, ``<metric>_high``; with a model, ``p_accuracy_vs_model`` (McNemar on
    correctness over all cases).

    ``model``: the model's calls on the same cases, or ``(name, calls)``.
    """
    calls = _calls_frame(reader_calls, y_true)
    levels = _levels(calls, levels)
    model_name, model_calls = _model(model, y_true)
    rows = []
    model_correct = None
    if model_calls is not None:
        truth, called = binary_pair(y_true, model_calls, positive)
        model_correct = truth == called
    for reader in calls.columns:
        row = {"reader": reader, "level": levels.get(reader)}
        row.update(_wide_metrics(y_true, calls[reader].to_numpy(), positive, confidence))
        if model_correct is not None:
            truth, called = binary_pair(y_true, calls[reader].to_numpy(), positive)
            row["p_accuracy_vs_model"] = mcnemar_test(truth == called, model_correct).pvalue
        rows.append(row)
    if model_calls is not None:
        row = {"reader": model_name, "level": "model"}
        row.update(_wide_metrics(y_true, model_calls, positive, confidence))
        row["p_accuracy_vs_model"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def man_machine_table(y_true, reader_calls, levels: Mapping[str, str], positive=1, model=None,
                      confidence: float = 0.95, percent: bool = True, order=EXPERIENCE_LEVELS) -> pd.DataFrame:
    """Readers by experience level against the model.

    Rows: each level in ``order`` that has readers (then any other levels, then ``"all readers"``), and the
    model. Columns: ``n_readers`` and per metric a text cell: readers' ``mean ± SD`` over the readers of the
    level (sample SD; one reader gives SD 0), the model's ``value [low, high]`` (Wilson). The numbers behind
    the cells are in :func:`reader_metrics`.
    """
    per_reader = reader_metrics(y_true, reader_calls, positive, levels, model, confidence)
    readers = per_reader[per_reader["level"] != "model"]
    missing = readers["level"].isna()
    if missing.any():
        raise EvaluationError(f"readers without a level: {readers.loc[missing, 'reader'].tolist()[:5]}",
                              hint="give every reader a level, e.g. {'r1': 'expert'}")
    present = list(dict.fromkeys(readers["level"]))
    ordered = [lv for lv in order if lv in present] + [lv for lv in present if lv not in order]
    scale = 100.0 if percent else 1.0
    places = 1 if percent else 3
    rows, index = [], []
    for level in ordered + ["all readers"]:
        part = readers if level == "all readers" else readers[readers["level"] == level]
        row = {"n_readers": len(part)}
        for metric in BINARY_METRICS:
            values = part[metric].dropna().to_numpy(dtype=float)
            sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
            row[METRIC_TITLES[metric]] = (format_mean_sd(scale * values.mean(), scale * sd, places)
                                          if values.size else "n/a")
        rows.append(row)
        index.append(level)
    model_rows = per_reader[per_reader["level"] == "model"]
    for _, m in model_rows.iterrows():
        row = {"n_readers": 0}
        for metric in BINARY_METRICS:
            if pd.isna(m[metric]):
                row[METRIC_TITLES[metric]] = "n/a"
            else:
                row[METRIC_TITLES[metric]] = (f"{scale * m[metric]:.{places}f} [{scale * m[metric + '_low']:.{places}f}, "
                                              f"{scale * m[metric + '_high']:.{places}f}]")
        rows.append(row)
        index.append(m["reader"])
    table = pd.DataFrame(rows, index=index)
    table.index.name = "Group"
    return table


def reader_agreement(reader_calls, levels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Fleiss' kappa among all readers, and within each level that has at least two readers.

    Columns ``group, n_readers, kappa``; a group whose readers all gave the same call to every case has
    kappa NaN (undefined) rather than failing the table.
    """
    calls = _calls_frame(reader_calls, None)
    groups = {"all readers": list(calls.columns)}
    if levels is not None:
        lv = _levels(calls, levels)
        for level in list(EXPERIENCE_LEVELS) + sorted(set(lv.values()) - set(EXPERIENCE_LEVELS), key=str):
            members = [r for r in calls.columns if lv.get(r) == level]
            if len(members) >= 2:
                groups[level] = members
    rows = []
    for name, members in groups.items():
        try:
            kappa = fleiss_kappa(calls[members])
        except EvaluationError:
            kappa = np.nan
        rows.append({"group": name, "n_readers": len(members), "kappa": kappa})
    return pd.DataFrame(rows)


def accuracy_with_without_ai(y_true, without_ai, with_ai, positive=1,
                             levels: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, TestResult]:
    """Each reader's accuracy without and with AI assistance, and Wilcoxon's signed-rank test across readers.

    ``without_ai`` / ``with_ai``: reader call tables with the same reader columns (same cases). Returns
    ``(table with reader, level, accuracy_without, accuracy_with, change; the Wilcoxon TestResult)``.
    """
    without = _calls_frame(without_ai, y_true)
    with_ = _calls_frame(with_ai, y_true)
    if set(without.columns) != set(with_.columns):
        raise EvaluationError(f"readers differ: without AI {list(without.columns)}, with AI {list(with_.columns)}",
                              hint="pass the same readers in both tables")
    lv = _levels(without, levels)
    rows = []
    for reader in without.columns:
        acc = []
        for table in (without, with_):
            truth, called = binary_pair(y_true, table[reader].to_numpy(), positive)
            acc.append(float(np.mean(truth == called)))
        rows.append({"reader": reader, "level": lv.get(reader), "accuracy_without": acc[0], "accuracy_with": acc[1],
                     "change": acc[1] - acc[0]})
    table = pd.DataFrame(rows)
    test = wilcoxon_signed_rank(table["accuracy_with"], table["accuracy_without"])
    return table, test


def compare_reader_groups(values: Mapping[str, float], levels: Mapping[str, str], group_a: str,
                          group_b: str) -> TestResult:
    """Mann-Whitney U of a per-reader value (accuracy, a Likert mean ...) between the readers of two levels."""
    a = [v for r, v in values.items() if levels.get(r) == group_a]
    b = [v for r, v in values.items() if levels.get(r) == group_b]
    if not a or not b:
        raise EvaluationError(f"no readers in level {group_a!r} ({len(a)}) or {group_b!r} ({len(b)})",
                              hint=f"levels present: {sorted(set(levels.values()))}")
    return mann_whitney_u(a, b)


# ------------------------------------------------------------------------------------------- helpers
def _wide_metrics(y_true, calls, positive, confidence) -> dict:
    out = {}
    for _, r in binary_metrics(y_true, calls, positive, confidence=confidence).iterrows():
        out[r["metric"]] = r["value"]
        out[r["metric"] + "_low"] = r["ci_low"]
        out[r["metric"] + "_high"] = r["ci_high"]
    return out


def _calls_frame(reader_calls, y_true) -> pd.DataFrame:
    if isinstance(reader_calls, pd.DataFrame):
        frame = reader_calls.reset_index(drop=True)
    elif isinstance(reader_calls, Mapping):
        try:
            frame = pd.DataFrame({str(k): list(as_1d(v, f"calls of {k!r}")) for k, v in reader_calls.items()})
        except ValueError as exc:
            raise EvaluationError(f"readers rated different numbers of cases ({exc})") from None
    else:
        raise EvaluationError(f"reader calls must be a DataFrame (one column per reader) or a mapping, got "
                              f"{type(reader_calls).__name__}")
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise EvaluationError(f"reader calls table has shape {frame.shape}", hint="one row per case, one column per reader")
    frame.columns = [str(c) for c in frame.columns]
    if y_true is not None:
        same_length(y_true=as_1d(y_true, "y_true"), reader_calls=frame.iloc[:, 0].to_numpy())
    return frame


def _levels(calls: pd.DataFrame, levels) -> dict:
    if levels is None:
        return {}
    levels = {str(k): v for k, v in dict(levels).items()}
    unknown = set(levels) - set(calls.columns)
    if unknown:
        raise EvaluationError(f"levels name readers not in the calls table: {sorted(unknown)[:5]}")
    return levels


def _model(model, y_true):
    if model is None:
        return None, None
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], str):
        name, calls = model
    else:
        name, calls = "model", model
    calls = as_1d(calls, "model calls")
    same_length(y_true=as_1d(y_true, "y_true"), model=calls)
    return name, calls
