"""Compare models on the same test cases: the gastric paper's table, as data, markdown, CSV and ROC plot.

:func:`compare_models` computes, for each model, accuracy, sensitivity, specificity, PPV, NPV (Wilson 95%
intervals, with the counts n/N) and the AUC (DeLong interval, or a cluster bootstrap when ``groups`` is
given), and for each model against the reference model (the first one unless named) the p-values the
papers use: McNemar for accuracy, sensitivity and specificity (paired correctness on the same cases),
chi-square for PPV and NPV (two proportions with different denominators), DeLong for the AUC.
:func:`compare_splits` stacks several comparisons (internal / external test, image / video level) into one
report. Every number the markdown shows is a rounding of a number in ``results`` / ``tests`` (a test checks
this), so the CSV and the report never disagree.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import EvaluationError
from ._checks import as_1d, as_scores, binary_truth, check_confidence, is_positive, same_length
from .classification import METRIC_TITLES, binary_metrics, binary_pair, counts_from_masks, metric_fractions
from .paired import chi_square_test, mcnemar_test

#: Which test compares which metric between two models.
TEST_FOR_METRIC = {"accuracy": "McNemar", "sensitivity": "McNemar", "specificity": "McNemar",
                   "ppv": "chi-square", "npv": "chi-square", "auc": "DeLong"}

_RESULT_COLUMNS = ["model", "metric", "value", "ci_low", "ci_high", "numerator", "denominator", "ci_method"]
_TEST_COLUMNS = ["metric", "model_a", "model_b", "test", "statistic", "pvalue", "note"]


class _ReportFiles:
    """File outputs shared by both reports; they build on ``to_frame``, ``to_dict``, ``to_markdown`` and
    ``plot_roc``."""

    def to_csv(self, path) -> Path:
        """Write :meth:`to_frame` as CSV (numbers unrounded); returns the path."""
        path = _parent_made(path)
        self.to_frame().to_csv(path, index=False)
        return path

    def to_json(self, path) -> Path:
        """Write :meth:`to_dict` as JSON; returns the path."""
        path = _parent_made(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    def save(self, directory, stem: str = "comparison") -> dict[str, Path]:
        """Write ``<stem>.md``, ``<stem>.csv``, ``<stem>.json`` and ``<stem>_roc.png`` into ``directory``."""
        directory = Path(directory)
        md = _parent_made(directory / f"{stem}.md")
        md.write_text(self.to_markdown())
        roc = directory / f"{stem}_roc.png"
        self.plot_roc(roc)
        return {"markdown": md, "csv": self.to_csv(directory / f"{stem}.csv"),
                "json": self.to_json(directory / f"{stem}.json"), "roc": roc}


def _parent_made(path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class ModelComparison(_ReportFiles):
    """The outcome of :func:`compare_models`.

    ``results``: one row per (model, metric) with ``value, ci_low, ci_high, numerator, denominator,
    ci_method``. ``tests``: one row per (metric, compared pair) with ``test, statistic, pvalue, note``
    (``model_a`` is the reference). ``table``: the paper's table as text (see :meth:`table`).
    """

    results: pd.DataFrame
    tests: pd.DataFrame
    models: list[str]
    reference: str
    n: int
    n_positive: int
    n_negative: int
    positive: Any
    confidence: float = 0.95
    title: str = "Model comparison"
    percent: bool = True
    decimals: int = 1
    notes: list[str] = field(default_factory=list)
    #: Cluster-bootstrap settings for the AUC interval (``None`` when DeLong was used).
    bootstrap: dict[str, int] | None = None
    #: what one row is, for the report's first line ("cases", "videos", "patients")
    unit: str = "cases"
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    # ----------------------------------------------------------------------------------------- table
    @property
    def table(self) -> pd.DataFrame:
        """Rows = metrics, one column per model with ``value [low, high] (n/N)``, then the test and p-value
        of each model against the reference (one ``p (ref vs other)`` column per other model)."""
        metrics = [m for m in METRIC_TITLES if m in set(self.results["metric"])]
        out = pd.DataFrame(index=[METRIC_TITLES[m] for m in metrics])
        out.index.name = "Metric"
        for model in self.models:
            rows = self.results[self.results["model"] == model].set_index("metric")
            out[model] = [self._cell(rows.loc[m]) if m in rows.index else "n/a" for m in metrics]
        for other in self.models:
            if other == self.reference:
                continue
            tests = self.tests[self.tests["model_b"] == other].set_index("metric")
            out[_p_column(self.reference, other)] = [
                format_pvalue(tests.loc[m, "pvalue"]) if m in tests.index else "n/a" for m in metrics]
            if len(self.models) == 2:
                out["Test"] = [tests.loc[m, "test"] if m in tests.index else "n/a" for m in metrics]
        return out

    def _cell(self, row) -> str:
        if pd.isna(row["value"]):
            den = row["denominator"]
            return "n/a" + (f" ({int(row['numerator'])}/{int(den)})" if not pd.isna(den) else "")
        is_auc = row.name == "auc"
        text = (f"{self.fmt(row['value'], is_auc)} [{self.fmt(row['ci_low'], is_auc)}, "
                f"{self.fmt(row['ci_high'], is_auc)}]")
        if not pd.isna(row["denominator"]):
            text += f" ({int(row['numerator'])}/{int(row['denominator'])})"
        return text

    def fmt(self, value: float, is_auc: bool = False) -> str:
        """How the report writes a value: a percentage with ``decimals`` places, or the AUC with three."""
        if is_auc or not self.percent:
            return f"{value:.3f}"
        return f"{100 * value:.{self.decimals}f}%"

    # -------------------------------------------------------------------------------------- outputs
    def to_markdown(self, level: int = 2) -> str:
        """The report: a heading, the case counts, the table and how intervals and p-values were made."""
        lines = [f"{'#' * level} {self.title}", "",
                 f"{self.n} {self.unit}: {self.n_positive} positive ({self.positive!r}), {self.n_negative} negative.",
                 "", _markdown_table(self.table), ""]
        conf = f"{round(100 * self.confidence)}%"
        ci = set(self.results["ci_method"].dropna())
        lines.append(f"Cells: value [{conf} CI] (n/N). Intervals: {', '.join(sorted(ci))}.")
        if len(self.models) > 1:
            lines.append("p-values: McNemar (accuracy, sensitivity, specificity; exact when fewer than 25 "
                         "discordant cases), chi-square (PPV, NPV; Fisher exact when an expected count is below "
                         "5), DeLong (AUC); two-sided.")
        lines.extend(self.notes)
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """One row per (model, metric): results plus, for non-reference models, the test against the
        reference (``test, statistic, pvalue``)."""
        merged = self.results.merge(
            self.tests.rename(columns={"model_b": "model"})[["metric", "model", "test", "statistic", "pvalue"]],
            on=["metric", "model"], how="left")
        return merged

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN -> None) of everything the report shows."""
        return _json_safe({
            "title": self.title, "models": list(self.models), "reference": self.reference, "n": self.n,
            "n_positive": self.n_positive, "n_negative": self.n_negative, "positive": self.positive,
            "confidence": self.confidence, "results": self.results.to_dict(orient="records"),
            "tests": self.tests.to_dict(orient="records"), "notes": list(self.notes), "bootstrap": self.bootstrap})

    def plot_roc(self, path=None, ax=None):
        """ROC curves of every model that has scores, with its AUC and interval in the legend.

        Returns the matplotlib Figure (drawn without pyplot, so it never opens a window); saved to ``path``
        when given. Models without scores appear as their single operating point.
        """
        from matplotlib.figure import Figure

        fig = None
        if ax is None:
            fig = Figure(figsize=(5, 5), dpi=120)
            ax = fig.add_subplot(1, 1, 1)
        else:
            fig = ax.figure
        for model in self.models:
            rows = self.results[self.results["model"] == model].set_index("metric")
            if model in self.curves:
                fpr, tpr = self.curves[model]
                auc = rows.loc["auc"]
                ax.plot(fpr, tpr, lw=1.6, label=f"{model} (AUC {auc['value']:.3f} [{auc['ci_low']:.3f}, "
                                                    f"{auc['ci_high']:.3f}])")
            else:
                sens, spec = rows.loc["sensitivity", "value"], rows.loc["specificity", "value"]
                ax.plot([1 - spec], [sens], "o", label=f"{model} (operating point)")
        ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("Sensitivity")
        ax.set_title(self.title)
        ax.legend(loc="lower right", fontsize=8)
        if path is not None:
            fig.savefig(_parent_made(path), bbox_inches="tight")
        return fig


def compare_models(y_true, predictions: Mapping[str, Any], positive=1, groups=None, reference: str | None = None,
                   confidence: float = 0.95, n_boot: int = 2000, seed: int = 0, title: str = "Model comparison",
                   percent: bool = True, decimals: int = 1, unit: str = "cases") -> ModelComparison:
    """Evaluate several models on the same cases and test each against the reference.

    ``predictions``: ``{name: (y_pred, score)}``; ``score`` (probability of the positive class) may be
    ``None``, and a bare ``y_pred`` array is accepted too. ``positive``: the positive label as it appears in
    ``y_true`` and ``y_pred``. ``groups``: patient/video id per case; when given, AUC intervals come from a
    cluster bootstrap (``n_boot`` replicates, ``seed``) instead of DeLong, and the report notes that the
    p-values treat cases as independent. ``reference``: the model the others are tested against (default:
    the first). ``unit`` names what one row is in the report ("cases", "images", "videos").
    """
    confidence = check_confidence(confidence)
    if not isinstance(predictions, Mapping) or not predictions:
        raise EvaluationError("predictions must be a non-empty mapping name -> (y_pred, score)",
                              hint="e.g. {'hybrid': (pred_h, prob_h), 'sole_dl': (pred_d, prob_d)}")
    t = as_1d(y_true, "y_true")
    truth = binary_truth(t, positive)
    models = [str(name) for name in predictions]
    reference = models[0] if reference is None else str(reference)
    if reference not in models:
        raise EvaluationError(f"reference {reference!r} is not one of the models {models}")
    group_arr = None
    if groups is not None:
        group_arr = as_1d(groups, "groups")
        same_length(y_true=t, groups=group_arr)

    called, scores, frames = {}, {}, []
    for name, value in predictions.items():
        name = str(name)
        y_pred, score = _unpack(name, value)
        p = as_1d(y_pred, f"y_pred of {name!r}")
        same_length(y_true=t, **{f"y_pred of {name!r}": p})
        _, called[name] = binary_pair(t, p, positive)
        metrics = binary_metrics(t, p, positive, score=None, confidence=confidence)
        metrics["ci_method"] = "Wilson"
        if score is not None:
            s = as_scores(score, f"score of {name!r}")
            same_length(y_true=t, **{f"score of {name!r}": s})
            scores[name] = s
            metrics = pd.concat([metrics, _auc_row(t, s, positive, group_arr, confidence, n_boot, seed)],
                                ignore_index=True)
        metrics.insert(0, "model", name)
        frames.append(metrics)
    results = pd.concat(frames, ignore_index=True)[_RESULT_COLUMNS]
    results["numerator"] = results["numerator"].astype("Int64")
    results["denominator"] = results["denominator"].astype("Int64")

    tests = []
    for other in models:
        if other != reference:
            tests.extend(_pair_tests(truth, called[reference], called[other], scores.get(reference),
                                     scores.get(other), reference, other, confidence))
    tests_frame = pd.DataFrame(tests, columns=_TEST_COLUMNS)

    curves = {}
    if scores:
        from sklearn.metrics import roc_curve

        for name, s in scores.items():
            fpr, tpr, _ = roc_curve(truth.astype(int), s)
            curves[name] = (fpr, tpr)
    notes, bootstrap = [], None
    if group_arr is not None:
        bootstrap = {"n_groups": int(len(np.unique(group_arr))), "n_boot": int(n_boot), "seed": int(seed)}
        notes.append(f"AUC intervals: cluster bootstrap over {bootstrap['n_groups']} groups ({n_boot} "
                     f"replicates, seed {seed}); the p-values treat the cases as independent.")
    if any(tests_frame["metric"].isin(["ppv", "npv"])):
        notes.append("PPV/NPV: the two models' calls overlap, so the chi-square p-value is approximate.")
    return ModelComparison(results=results, tests=tests_frame, models=models, reference=reference, n=int(t.size),
                           n_positive=int(truth.sum()), n_negative=int((~truth).sum()), positive=positive,
                           confidence=confidence, title=title, percent=percent, decimals=decimals, notes=notes,
                           curves=curves, bootstrap=bootstrap, unit=unit)


def compare_models_by_group(y_true, predictions: Mapping[str, Any], groups, how: str = "mean",
                            threshold: float = 0.5, positive=1, negative=None, **kwargs) -> ModelComparison:
    """:func:`compare_models` at group level (video or patient): each model's frame scores are aggregated
    with :func:`~explainendo.evaluate.classification.aggregate_by_group` (``how`` = mean / max / vote) and the
    groups are compared. A model without scores is aggregated by majority vote of its calls."""
    from .classification import aggregate_by_group

    t = as_1d(y_true, "y_true")
    level_truth, level_preds = None, {}
    for name, value in predictions.items():
        y_pred, score = _unpack(str(name), value)
        if score is None:
            p = as_1d(y_pred, f"y_pred of {name!r}")
            agg = aggregate_by_group(t, is_positive(p, positive, "y_pred").astype(float), groups, how="vote",
                                     positive=positive, negative=negative)
        else:
            agg = aggregate_by_group(t, score, groups, how=how, threshold=threshold, positive=positive,
                                     negative=negative)
        if level_truth is None:
            level_truth = agg["y_true"].to_numpy()
        level_preds[str(name)] = (agg["y_pred"].to_numpy(), None if score is None else agg["score"].to_numpy())
    kwargs.setdefault("title", f"Model comparison by group ({how})")
    kwargs.setdefault("unit", "groups")
    return compare_models(level_truth, level_preds, positive=positive, **kwargs)


@dataclass
class SplitComparison(_ReportFiles):
    """Several :class:`ModelComparison` (one per test split) reported together."""

    comparisons: dict[str, ModelComparison]
    title: str = "Model comparison across test splits"

    @property
    def results(self) -> pd.DataFrame:
        return pd.concat([c.results.assign(split=name) for name, c in self.comparisons.items()], ignore_index=True)

    @property
    def tests(self) -> pd.DataFrame:
        return pd.concat([c.tests.assign(split=name) for name, c in self.comparisons.items()], ignore_index=True)

    @property
    def table(self) -> pd.DataFrame:
        """The per-split tables stacked, with the split as the outer index level."""
        return pd.concat({name: c.table for name, c in self.comparisons.items()}, names=["Split", "Metric"])

    def to_markdown(self) -> str:
        parts = [f"# {self.title}", ""]
        for c in self.comparisons.values():
            parts.append(c.to_markdown(level=2))
        return "\n".join(parts)

    def to_frame(self) -> pd.DataFrame:
        frames = [c.to_frame().assign(split=name) for name, c in self.comparisons.items()]
        frame = pd.concat(frames, ignore_index=True)
        return frame[["split"] + [col for col in frame.columns if col != "split"]]

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "splits": {name: c.to_dict() for name, c in self.comparisons.items()}}

    def plot_roc(self, path=None):
        """One ROC panel per split; returns the Figure, saved to ``path`` when given."""
        from matplotlib.figure import Figure

        k = len(self.comparisons)
        fig = Figure(figsize=(4.5 * k, 4.5), dpi=120)
        for i, c in enumerate(self.comparisons.values()):
            c.plot_roc(ax=fig.add_subplot(1, k, i + 1))
        if path is not None:
            fig.savefig(_parent_made(path), bbox_inches="tight")
        return fig


def compare_splits(comparisons: Mapping[str, ModelComparison], title: str | None = None) -> SplitComparison:
    """Stack comparisons of the same models on several test splits (e.g. ``{"internal image": ...,
    "external image": ..., "internal video": ...}``) into one report; each keeps its own title."""
    if not comparisons:
        raise EvaluationError("no comparisons to stack", hint="pass {split name: compare_models(...)}")
    models = {name: tuple(c.models) for name, c in comparisons.items()}
    if len(set(models.values())) > 1:
        raise EvaluationError(f"the splits compare different models: {models}", hint="compare the same models")
    comps = {}
    for name, c in comparisons.items():
        if not isinstance(c, ModelComparison):
            raise EvaluationError(f"split {name!r} is a {type(c).__name__}, not a ModelComparison")
        if c.title == "Model comparison" or c.title.startswith("Model comparison by group"):
            c = dataclasses.replace(c, title=str(name))  # a copy: the caller's object keeps its title
        comps[str(name)] = c
    return SplitComparison(comps, title or "Model comparison across test splits")


# ------------------------------------------------------------------------------------------- helpers
def format_pvalue(p: float) -> str:
    """``"<0.001"``, else three decimals; ``"n/a"`` when the test could not be run."""
    if p is None or (isinstance(p, float) and math.isnan(p)) or pd.isna(p):
        return "n/a"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _p_column(reference: str, other: str) -> str:
    return f"p ({reference} vs {other})"


def _unpack(name: str, value) -> tuple[Any, Any]:
    if isinstance(value, Mapping):
        return value.get("y_pred"), value.get("score")
    if isinstance(value, tuple) and len(value) == 2:
        return value
    if isinstance(value, tuple):
        raise EvaluationError(f"predictions[{name!r}] is a tuple of {len(value)}; expected (y_pred, score)")
    return value, None


def _auc_row(t, s, positive, groups, confidence, n_boot, seed) -> pd.DataFrame:
    from .auc import bootstrap_auc_ci, delong_ci

    if groups is None:
        res = delong_ci(t, s, confidence, positive)
    else:
        res = bootstrap_auc_ci(t, s, n_boot=n_boot, seed=seed, groups=groups, confidence=confidence,
                               positive=positive)
    return pd.DataFrame([{"metric": "auc", "value": res.auc, "ci_low": res.low, "ci_high": res.high,
                          "numerator": pd.NA, "denominator": pd.NA, "ci_method": res.method}])


def _pair_tests(truth, called_a, called_b, score_a, score_b, name_a, name_b, confidence) -> list[list]:
    from .auc import delong_test

    rows = []
    correct_a, correct_b = called_a == truth, called_b == truth
    for metric, mask in (("accuracy", np.ones_like(truth)), ("sensitivity", truth), ("specificity", ~truth)):
        if not mask.any():
            rows.append([metric, name_a, name_b, "McNemar", np.nan, np.nan, "no cases of this class"])
            continue
        res = mcnemar_test(correct_a[mask], correct_b[mask])
        rows.append([metric, name_a, name_b, res.name, res.statistic, res.pvalue, ""])
    frac_a = metric_fractions(counts_from_masks(truth, called_a))
    frac_b = metric_fractions(counts_from_masks(truth, called_b))
    for metric in ("ppv", "npv"):
        (xa, na), (xb, nb) = frac_a[metric], frac_b[metric]
        try:
            res = chi_square_test(xa, na, xb, nb)
            rows.append([metric, name_a, name_b, res.name, res.statistic, res.pvalue, ""])
        except EvaluationError:
            who = " and ".join(name for name, den in ((name_a, na), (name_b, nb)) if den == 0)
            kind = "positive" if metric == "ppv" else "negative"
            rows.append([metric, name_a, name_b, "chi-square", np.nan, np.nan,
                         f"no {metric.upper()}: {who} made no {kind} calls"])
    if score_a is not None and score_b is not None:
        res = delong_test(truth, score_a, score_b, positive=True, confidence=confidence)
        rows.append(["auc", name_a, name_b, res.name, res.statistic, res.pvalue, ""])
    return rows


def _markdown_table(frame: pd.DataFrame) -> str:
    header = [frame.index.name or ""] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for idx, row in frame.iterrows():
        lines.append("| " + " | ".join([str(idx)] + [str(v) for v in row.to_list()]) + " |")
    return "\n".join(lines)


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return None if math.isnan(obj) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    return obj
