"""The benchmark harness: train contenders (hybrid, sole-DL, ...) on the same rows, test them on every split.

This reproduces the comparison at the centre of the ENDOANGEL-ED paper (hybrid vs a sole deep-learning
model on the same lesion crops, internal and external tests, image and video level) on any manifest:

    train  = the rows both models learn from (one manifest)
    tests  = {"internal": ..., "external": ...}   (group-disjoint from train, checked)

Each contender sees the lesions through the manifest's boxes (the paper evaluated diagnosis on localized
lesions; localization is benchmarked separately in ``benchmarks/localize.py``). For every split the
harness writes the paper's table (accuracy, sensitivity, specificity, PPV, NPV with 95% Wilson intervals,
AUC with DeLong intervals; McNemar, chi-square and DeLong p-values), ROC curves, the per-lesion predictions,
and the per-lesion latency of each pipeline measured in the same run.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError, ExplainendoError, ManifestError
from .features import LesionSamples
from .io.manifest import Manifest
from .io.splits import assert_disjoint_groups

log = logging.getLogger(__name__)


@dataclass
class BenchmarkResult:
    out: Path
    predictions: pd.DataFrame                  # one row per (split, lesion, contender)
    reports: dict[str, Any]                     # split -> evaluate.ModelComparison (``<split> video`` too)
    latency: pd.DataFrame                       # contender -> seconds per lesion (prediction, with explanation)
    fit_seconds: dict[str, float]
    meta: dict = field(default_factory=dict)
    findings: dict[str, dict] = field(default_factory=dict)  # contender -> what it used and learnt (first split)
    per_centre: pd.DataFrame | None = None      # evaluate.metrics_by_group per split (column ``split``)
    group_shap: dict[str, pd.DataFrame] = field(default_factory=dict)  # hybrid -> mean |group SHAP|, group x split

    @property
    def comparison(self):
        """All splits in one :class:`~explainendo.evaluate.SplitComparison`."""
        from .evaluate import compare_splits
        return compare_splits(self.reports, title="Results by test split")

    def summary(self) -> pd.DataFrame:
        """One row per (split, model, metric) with value and 95% CI, as numbers."""
        return self.comparison.results


def _labels(samples: LesionSamples, label_column: str, positive: str) -> np.ndarray:
    y = samples.labels(label_column)
    if y.isna().any():
        raise ManifestError(f"{int(y.isna().sum())} lesion(s) have no '{label_column}'",
                            hint="drop unlabelled rows before benchmarking (Manifest.subset)")
    values = set(y.astype(str))
    if positive not in values:
        raise ManifestError(f"positive class {positive!r} does not occur in '{label_column}' ({sorted(values)})",
                            hint="pass the positive class name as it appears in the manifest")
    return (y.astype(str) == positive).to_numpy().astype(int)


def time_per_lesion(fn: Callable[[LesionSamples], Any], samples: LesionSamples, n: int = 20,
                    warmup: int = 2) -> float:
    """Median seconds per lesion of ``fn`` called on one lesion at a time (the clinical use: frame by frame)."""
    n = min(n, len(samples))
    for i in range(min(warmup, n)):
        fn(samples.subset([i]))
    times = []
    for i in range(n):
        start = time.perf_counter()
        fn(samples.subset([i]))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def machine_description() -> str:
    """CPU model, core count and OS, for every printed figure (timings mean little without them)."""
    import os
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}"


def run_header() -> str:
    """The first line of every benchmark's output: the machine, torch (its thread count and the vector kernels
    it runs on this CPU: results are bit-comparable only between runs where both match), Python, the UTC time."""
    import torch

    try:
        kernels = f", {torch.backends.cpu.get_cpu_capability()} kernels"
    except (AttributeError, RuntimeError):  # torch before 2.1
        kernels = ""
    return (f"machine: {machine_description()}, torch {torch.__version__} ({torch.get_num_threads()} threads"
            f"{kernels}), "
            f"python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def _positive_column(predictor, positive: str, name: str) -> int:
    classes = [str(c) for c in predictor.classes_]
    if positive not in classes:
        raise ConfigError(f"{name} has no class {positive!r}", hint=f"its classes: {classes}")
    return classes.index(positive)


def run_benchmark(train: Manifest, tests: dict[str, Manifest], contenders: dict[str, Any], positive: str,
                  out: str | Path, label_column: str = "label", enlarge: float = 1.0, group_by: str = "patient",
                  video_column: str | None = "video", latency_lesions: int = 20,
                  progress: Callable[[str], None] | None = None, meta: dict | None = None,
                  save_models: bool = False, rule: Sequence[str] | None = None) -> BenchmarkResult:
    """Train a clone of every predictor in ``contenders`` (name -> :class:`~explainendo.predict.Predictor`) on
    ``train``'s lesions, evaluate each on every manifest in ``tests``, write the report to ``out``. ``meta``
    (e.g. ``bayes_rate``, ``command``) joins the run's own facts in the report. ``save_models``: each trained
    predictor goes to ``out/models/<name>`` (``explainendo.load`` reads it). ``rule``: the feature groups
    that generated the labels (phantoms), to check a hybrid's SHAP against."""
    from sklearn.base import clone

    from .evaluate import compare_models, compare_models_by_group
    from .predict import HybridPredictor, Predictor

    if not contenders:
        raise ConfigError("no contenders to benchmark", hint="pass at least one predictor")
    if not tests:
        raise ConfigError("no test splits", hint="pass e.g. {'internal': ..., 'external': ...}")
    for name, predictor in contenders.items():
        if not isinstance(predictor, Predictor):
            raise ConfigError(f"contender {name!r} is a {type(predictor).__name__}, not a Predictor")
        predictor.check_params()  # every setting checked before the first training
    assert_disjoint_groups({"train": train, **tests}, by=group_by)
    say = progress or (lambda message: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    say(f"reading {len(train)} training lesions")
    train_samples = LesionSamples.from_manifest(train, enlarge=enlarge)
    _labels(train_samples, label_column, positive)
    fit_seconds: dict[str, float] = {}
    fitted: dict[str, Any] = {}
    for name, predictor in contenders.items():
        say(f"training {name}")
        start = time.perf_counter()
        fitted[name] = clone(predictor).fit(train_samples)
        fit_seconds[name] = time.perf_counter() - start
        if save_models:
            say(f"saving {name}")
            fitted[name].save(out / "models" / name)

    from .evaluate.classification import metrics_by_group

    predictions, reports, findings = [], {}, {}
    latency_rows, centre_tables, group_shap = [], [], {}
    for split, manifest in tests.items():
        say(f"testing on {split} ({len(manifest)} lesions)")
        samples = LesionSamples.from_manifest(manifest, enlarge=enlarge)
        y = _labels(samples, label_column, positive)
        per_model = {}
        for name, model in fitted.items():
            score = np.asarray(model.predict_proba(samples), dtype=float)[:, _positive_column(model, positive, name)]
            pred = (score >= 0.5).astype(int)
            per_model[name] = (pred, score)
            frame = samples.table[[c for c in ("image", "patient", video_column, "centre")
                                   if c and c in samples.table]].copy()
            frame["split"], frame["model"], frame["y_true"] = split, name, y
            frame["score"], frame["y_pred"] = score, pred
            predictions.append(frame)
        # several lesions per patient are not independent: AUC intervals from a patient-clustered bootstrap
        patients = samples.table[group_by].astype(str).to_numpy() if group_by in samples.table else None
        clustered = patients is not None and len(set(patients)) < len(patients)
        reports[split] = compare_models(y, per_model, positive=1, groups=patients if clustered else None,
                                        seed=0, title=f"{split} (lesion level)")
        if video_column and video_column in samples.table and samples.table[video_column].notna().all():
            groups = samples.table[video_column].to_numpy()
            if len(set(groups)) < len(groups):  # several frames per video: add the paper's video-level test
                reports[f"{split} video"] = compare_models_by_group(
                    y, per_model, groups, how="mean", positive=1, title=f"{split} (video level, mean score)")
        if "centre" in samples.table and samples.table["centre"].notna().all():
            centre_tables.append(metrics_by_group(y, per_model, samples.table["centre"].astype(str).to_numpy())
                                 .assign(split=split))
        for name, model in fitted.items():
            if isinstance(model, HybridPredictor):
                say(f"explaining {name} on {split}")
                values = model.shap_values(samples, class_index=model.classes_.index(positive)).group_values
                group_shap.setdefault(name, {})[split] = values.abs().mean()
        if split == next(iter(tests)):
            for name, model in fitted.items():
                if isinstance(model, HybridPredictor):
                    say(f"inspecting {name}")
                    findings[name] = {"split": split, **hybrid_findings(model, samples, y, per_model[name][0],
                                                                        positive, rule)}
                    for key, table in hybrid_feature_tables(model, train_samples, samples).items():
                        part = split if key == "test" else key
                        table.to_csv(out / f"features_{name}_{part}.csv", index=False)
            for name, model in fitted.items():
                say(f"timing {name}")
                latency_rows.append({
                    "model": name,
                    "predict_s_per_lesion": time_per_lesion(model.predict_proba, samples, latency_lesions),
                    "explained_s_per_lesion": time_per_lesion(model.explain, samples, latency_lesions),
                })
    latency = pd.DataFrame(latency_rows).set_index("model")
    predictions_df = pd.concat(predictions, ignore_index=True)
    result = BenchmarkResult(out=out, predictions=predictions_df, reports=reports, latency=latency,
                             fit_seconds=fit_seconds,
                             meta={"machine": machine_description(), "train_lesions": len(train_samples),
                                   "contenders": {n: describe_contender(p) for n, p in contenders.items()},
                                   "tests": {k: len(v) for k, v in tests.items()}, "positive": positive,
                                   "enlarge": enlarge, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                   **(meta or {})}, findings=findings,
                             per_centre=pd.concat(centre_tables, ignore_index=True) if centre_tables else None,
                             group_shap={name: pd.DataFrame(v) for name, v in group_shap.items()})
    result.models = fitted
    write_report(result)
    return result


def write_report(result: BenchmarkResult) -> Path:
    """``report.md``, ``predictions.csv``, ``comparison.csv``, ``roc.png``, ``results.json``."""
    out = result.out
    result.predictions.to_csv(out / "predictions.csv", index=False)
    lines = ["# Benchmark: " + " vs ".join(result.latency.index), "",
             f"Machine: {result.meta['machine']}. Date: {result.meta['date']}. "
             f"Training lesions: {result.meta['train_lesions']}. Test lesions: "
             + ", ".join(f"{k} {v}" for k, v in result.meta["tests"].items()) + ".", ""]
    if result.meta.get("bayes_rate") is not None:
        lines += [f"Bayes rate of the phantom rule (the best accuracy any model can reach): "
                  f"{100 * result.meta['bayes_rate']:.1f}%.", ""]
    if result.meta.get("command"):
        lines += ["Reproduce: `" + result.meta["command"] + "`", ""]
    if result.meta.get("contenders"):
        lines += ["## Contenders", ""] + [f"- **{name}**: {text}" for name, text in result.meta["contenders"].items()]
        lines += [""]
    comparison = result.comparison
    comparison.to_csv(out / "comparison.csv")
    comparison.plot_roc(out / "roc.png")
    lines += [comparison.to_markdown(), "", "![ROC curves](roc.png)", ""]
    lines += ["## Latency (median seconds per lesion, one lesion at a time)", "",
              "| model | predict (s) | predict + explanation (s) |", "|---|---:|---:|"]
    lines += [f"| {name} | {row.predict_s_per_lesion:.4f} | {row.explained_s_per_lesion:.4f} |"
              for name, row in result.latency.iterrows()] + [""]
    names = list(result.latency.index)
    if len(names) == 2:
        a, b = names
        ratio = result.latency.loc[a, "explained_s_per_lesion"] / result.latency.loc[b, "explained_s_per_lesion"]
        lines += [f"{a} with its explanation takes {ratio:.2f}x the time of {b} with its explanation.", ""]
    lines += ["## Training time (seconds)", ""] + [f"- {k}: {v:.1f}" for k, v in result.fit_seconds.items()] + [""]
    for name, found in result.findings.items():
        lines += findings_markdown(name, found)
    if result.per_centre is not None:
        result.per_centre.to_csv(out / "per_centre.csv", index=False)
        lines += ["## Per centre", ""] + per_centre_markdown(result.per_centre, split_column="split") + [""]
    for name, table in result.group_shap.items():
        table.to_csv(out / f"group_shap_{name}.csv")
        lines += [f"## What carries {name}'s diagnoses: mean |group SHAP| (positive class) per split", "",
                  "| group | " + " | ".join(table.columns) + " |", "|---|" + "---:|" * len(table.columns)]
        lines += [f"| {g} | " + " | ".join(f"{v:.3f}" for v in row) + " |"
                  for g, row in table.sort_values(table.columns[0], ascending=False).iterrows()] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    (out / "results.json").write_text(json.dumps({
        "meta": result.meta, "fit_seconds": result.fit_seconds,
        "latency": result.latency.reset_index().to_dict(orient="records"), "findings": result.findings,
        "comparison": result.comparison.to_dict()}, indent=2, default=str))
    return path


def _source_words(source: dict) -> str:
    calibrated = source.get("calibrated")
    return (f"{source['name']} ({source['columns']} columns"
            + (f"; calibrated on the fitter's rows: {', '.join(calibrated)})" if calibrated else ")"))


def _stacking_words(stacking: dict) -> str:
    mode, n_src, n_fit = stacking.get("mode"), stacking.get("source_lesions"), stacking.get("fitter_lesions")
    by = stacking.get("folds_by", "patient")
    return {"held_out": f"held-out {by} groups ({n_fit} lesions); the supervised sources trained once on {n_src} "
                        f"others",
            "out_of_fold": f"out-of-fold features of the supervised sources ({n_fit} lesions, {by}-grouped folds)",
            "in_sample": f"in-sample features ({n_fit} lesions; leaky)",
            "unsupervised": f"{n_fit} lesions (no source learns from labels)",
            "refit": f"{n_fit} lesions given to refit_fitter"}.get(mode, str(stacking))


def findings_markdown(name: str, found: dict) -> list[str]:
    """The report's section on what a hybrid contender used and learnt."""
    folds_by = (found.get("stacking") or {}).get("folds_by", "patient")
    lines = [f"## Inside {name} ({found['split']} split)", "",
             f"- fitter: {found['fitter']} (chosen by {folds_by}-grouped CV)" if found.get("selection") else
             f"- fitter: {found['fitter']}",
             "- fitter's training rows: " + _stacking_words(found.get("stacking") or {}),
             "- feature sources: " + "; ".join(_source_words(s) for s in found["sources"])]
    if found.get("dropped_groups"):
        lines += ["- feature groups dropped by grouped-CV elimination: " + ", ".join(found["dropped_groups"])]
    if found.get("selection"):
        lines += ["- CV scores: " + ", ".join(f"{row['candidate']} {row['mean']:.3f}" for row in found["selection"])]
    if found.get("attribute_auc"):
        lines += ["", "Attribute heads on the test lesions (AUC against the ground-truth attributes):", "",
                  "| attribute | n | AUC | accuracy |", "|---|---:|---:|---:|"]
        lines += [f"| {a} | {r['n']} | {r['auc']:.3f} | {r['accuracy']:.3f} |"
                  for a, r in found["attribute_auc"].items()]
    rule = found.get("rule")
    if rule:
        lines += ["", f"SHAP against the generating rule {rule['attributes']}: in {rule['n_correct']} correctly "
                      f"diagnosed lesions, the top-{len(rule['attributes'])} feature groups by |SHAP| are exactly "
                      f"the rule's attributes in **{100 * rule['top_k_exact']:.1f}%**; the top-3 lie inside the "
                      f"rule in {100 * rule['top_3_inside']:.1f}%. Mean |SHAP| per group: "
                      + ", ".join(f"{g} {v:.3f}" for g, v in rule["mean_abs_shap"].items()) + "."]
    return lines + [""]


def shap_rule_recovery(group_values: pd.DataFrame, rule: Sequence[str]) -> dict:
    """How often the ``len(rule)`` groups with the largest |SHAP| are exactly ``rule`` (rows = lesions)."""
    shap = group_values.abs()
    causal = set(rule)
    exact = shap.apply(lambda r: set(r.nlargest(len(causal)).index) == causal, axis=1)
    top3 = shap.apply(lambda r: set(r.nlargest(min(3, len(causal))).index) <= causal, axis=1)
    mean_abs = shap.mean().sort_values(ascending=False)
    return {"attributes": sorted(causal), "n_correct": int(len(shap)), "top_k_exact": float(exact.mean()),
            "top_3_inside": float(top3.mean()), "mean_abs_shap": {g: float(v) for g, v in mean_abs.items()}}


def hybrid_findings(model, samples: LesionSamples, y_true: np.ndarray, y_pred: np.ndarray, positive: str,
                    rule: Sequence[str] | None = None) -> dict:
    """What a fitted :class:`~explainendo.predict.HybridPredictor` used and learnt: the fitter, its CV table,
    the stacking, the sources; attribute AUC where the test lesions have ``attr.*`` labels; with ``rule``,
    how often SHAP's top groups (of the positive class) are the rule on the correctly diagnosed lesions."""
    selection = model.selection_
    out = {"fitter": model.fitter_name_, "stacking": model.stacking_, "dropped_groups": list(model.dropped_groups_),
           "sources": [{k: s[k] for k in ("name", "columns", "groups", "calibrated") if k in s}
                       for s in model.sources_used_],
           "selection": ([] if selection is None else selection[["candidate", "mean", "std"]].to_dict(orient="records"))}
    if any(c.startswith("attr.") for c in samples.table):
        for source in model.sources_:
            if hasattr(source, "evaluate"):
                table = source.evaluate(samples)
                out["attribute_auc"] = {a: {"n": int(r["n"]), "auc": float(r["auc"]), "accuracy": float(r["accuracy"])}
                                        for a, r in table.iterrows() if r["n"] > 0}
    if rule:
        correct = np.flatnonzero(np.asarray(y_pred) == np.asarray(y_true))
        groups = model.shap_values(samples.subset(correct), class_index=model.classes_.index(positive)).group_values
        out["rule"] = shap_rule_recovery(groups, list(rule))
    return out


def hybrid_feature_tables(model, train: LesionSamples, test: LesionSamples) -> dict[str, pd.DataFrame]:
    """``train``: the fitter's training rows (out-of-fold or held-out features) and ``test``: the features of
    ``test``, each beside the lesions' identifying and ``attr.*`` columns: the inputs to refit or compare
    fitters without training a CNN again."""
    keep = [c for c in test.table
            if c in ("image", "patient", "video", "label", "label_probability") or c.startswith("attr.")]
    rows = np.asarray(model.training_rows_)
    tables = {"train": (train.table.iloc[rows], model.training_features_), "test": (test.table, model.features(test))}
    return {k: pd.concat([t[[c for c in keep if c in t]].reset_index(drop=True), f.reset_index(drop=True)], axis=1)
            for k, (t, f) in tables.items()}


# ------------------------------------------------------------------------------------------ presets
@dataclass(frozen=True)
class BenchPreset:
    """The contenders' settings of a named benchmark (the ``explainendo bench`` flags), one object.

    Every CNN of a run (the hybrid's and the sole-DL ones) shares ``image_size``, ``epochs``, ``seed``,
    ``num_threads`` and ``flips``, so the comparison is like for like. The hybrid's strategies:
    ``oof_folds`` / ``holdout`` (stacking: give at most one), ``group_selection`` (one_se | best | none; None:
    the preset's own), ``folds_by`` (patient | centre: what the fitter selection, group elimination and
    stacking folds keep whole), ``colour_constancy`` (none | grey_world | shades_of_grey | max_rgb, applied
    before the handcrafted features, illuminant from the whole frame). ``quick``: small data, short
    training."""

    quick: bool = False
    seed: int = 0
    image_size: int | None = None
    epochs: int | None = None
    sole_backbones: tuple[str, ...] = ("resnet50",)
    oof_folds: int | None = None
    holdout: float | None = None
    num_threads: int | None = None
    flips: bool = True
    group_selection: str | None = None
    folds_by: str = "patient"
    colour_constancy: str = "none"
    hybrid: str | None = None
    cnn_weights: tuple[tuple[str, str], ...] = ()

    def check(self) -> None:
        """Refuse what cannot be honoured, before any training."""
        from .handcrafted.colour_constancy import METHODS

        stacking_strategy(self.oof_folds, self.holdout)
        group_selection_strategy(self.group_selection)
        if self.colour_constancy not in METHODS:
            raise ConfigError(f"--colour-constancy {self.colour_constancy!r}", hint=f"one of {list(METHODS)}")
        if not (isinstance(self.folds_by, str) and self.folds_by):
            raise ConfigError(f"--folds-by {self.folds_by!r}", hint="patient or centre")
        if self.hybrid is not None and self.hybrid != "gastric" and not Path(self.hybrid).is_file():
            raise ConfigError(f"--hybrid {self.hybrid!r}: neither 'gastric' nor a config file",
                              hint="--hybrid gastric, or --hybrid my_model.yaml (a train config)")
        for backbone, path in self.cnn_weights:
            if backbone not in self.sole_backbones:
                raise ConfigError(f"--cnn-weights for {backbone!r}, which is not among --sole-backbones "
                                  f"{list(self.sole_backbones)}")
            if not Path(path).is_file():
                raise ConfigError(f"--cnn-weights {backbone}={path}: no such file",
                                  hint="a torchvision state_dict (.pth) on this machine")


def cnn_params(preset: BenchPreset) -> dict:
    """The :class:`~explainendo.heads.AttributeHeads` settings shared by every CNN in a run (image size,
    :class:`~explainendo.training.Training`, augmentation, seed), so the comparison is like for like."""
    from .heads import Augment
    from .training import Training

    training = Training(epochs=preset.epochs or (3 if preset.quick else 10), batch_size=32, patience=4,
                        **({"num_threads": preset.num_threads} if preset.num_threads else {}))
    return {"image_size": preset.image_size or (96 if preset.quick else 128), "training": training,
            "augment": Augment(flips=preset.flips), "seed": preset.seed}


def stacking_strategy(oof_folds: int | None = None, holdout: float | None = None, default_folds: int = 5):
    """The CLI's ``--holdout`` / ``--oof-folds`` as a stacking strategy (both given: refused)."""
    from .predict import HeldOut, OutOfFold

    if holdout and oof_folds:
        raise ConfigError("--holdout and --oof-folds are two stacking strategies: give one",
                          hint="--holdout 0.5 (heads train once) or --oof-folds 5 (out-of-fold copies)")
    return HeldOut(float(holdout)) if holdout else OutOfFold(int(oof_folds or default_folds))


def group_selection_strategy(value: str | None, seed: int = 0, default: str = "one_se"):
    """``--group-selection one_se|best|none`` as a GroupEliminator (attribute groups preferred) or None."""
    from .fit import GroupEliminator

    value = default if value is None else value
    if value == "none":
        return None
    if value not in ("one_se", "best"):
        raise ConfigError(f"--group-selection {value!r}", hint="one_se, best or none")
    return GroupEliminator(rule=value, seed=seed, prefer_keep="attributes")


def handcrafted_source(preset: BenchPreset):
    """The six handcrafted features, with the preset's colour constancy (frame-wise illuminant)."""
    from .handcrafted import HandcraftedFeatures

    if preset.colour_constancy == "none":
        return HandcraftedFeatures()
    return HandcraftedFeatures(params={"colour_constancy": {"method": preset.colour_constancy}})


def sole_dl_contenders(backbones: Sequence[str], params: dict, enlarge: float = 1.0, weights=()) -> dict:
    """One :class:`~explainendo.predict.CNNClassifier` per backbone (``resnet50`` is the paper's;
    ``efficientnet_lite0`` has real ImageNet weights offline; a ResNet without a local weight file starts
    from random init, and says so). ``weights``: ``(backbone, path)`` pairs, a local state_dict for that backbone."""
    from .heads import AttributeHeads
    from .predict import CNNClassifier

    weights = dict(weights or ())
    out = {}
    for backbone in backbones:
        pretrained = weights.get(backbone, True if backbone == "efficientnet_lite0" else "auto")
        out[f"sole_dl_{backbone}"] = CNNClassifier(AttributeHeads(backbone=backbone, pretrained=pretrained, **params),
                                                   enlarge=enlarge)
    return out


def hybrid_from(preset: BenchPreset, positive: str):
    """The hybrid a user names: ``gastric`` (the ENDOANGEL-ED predictor, attribute heads included, with the
    run's CNN settings) or a train config YAML (its model's predictor, exactly as ``explainendo train``
    would build it)."""
    if preset.hybrid == "gastric":
        import dataclasses

        return gastric_phantom_contenders(dataclasses.replace(preset, sole_backbones=(), hybrid=None))["hybrid"]
    from .config import build_model, read_config

    predictor = build_model(read_config(preset.hybrid)).checked_parts()[1]
    if getattr(predictor, "positive_label", positive) not in (None, positive):
        raise ConfigError(f"the config's positive_label {predictor.positive_label!r} is not --positive {positive!r}")
    return predictor


def describe_contender(predictor) -> str:
    """What a contender is, in one line, for the report: its class and the settings that decide it."""
    from .predict import CNNClassifier, HybridPredictor

    if isinstance(predictor, HybridPredictor):
        sources = ", ".join(type(s).__name__ + (f"({getattr(s, 'backbone', '')})" if hasattr(s, "backbone") else "")
                            for s in predictor.sources)
        fitter = predictor.fitter if predictor.fitter is not None else "FitterSelector()"
        return (f"HybridPredictor: sources [{sources}]; fitter {fitter!r}; stacking {predictor.stacking!r}; "
                f"group selection {predictor.group_selection!r}; folds by {predictor.folds_by}")
    if isinstance(predictor, CNNClassifier):
        net = predictor.network
        pretrained = getattr(net, "pretrained", None)
        start = ("ImageNet weights" if pretrained is True else "random init" if pretrained is False else
                 "ImageNet weights if on this machine, else random init" if pretrained == "auto" else
                 f"weights from {pretrained}")
        training = getattr(net, "training", None)
        return (f"CNNClassifier: {getattr(net, 'backbone', '?')} from {start}, {getattr(net, 'image_size', '?')} px, "
                f"{getattr(training, 'epochs', '?')} epochs")
    return type(predictor).__name__


def gastric_phantom_contenders(preset: BenchPreset = BenchPreset()) -> dict:
    """The ENDOANGEL-ED hybrid predictor (seven heads on one EfficientNet-Lite0 + six handcrafted features,
    fitter chosen by grouped CV) against sole-DL CNNs, all CNNs with the same image size, epochs and seed
    (:class:`BenchPreset`; group selection: one_se unless the preset says otherwise)."""
    from .fit import FitterSelector
    from .systems.gastric import gastric_heads, gastric_predictor

    preset.check()
    params = cnn_params(preset)
    heads = gastric_heads(**{**params, "backbone": "efficientnet_lite0", "pretrained": True})  # params hold seed
    hybrid = gastric_predictor(heads=heads, handcrafted=handcrafted_source(preset),
                               fitter=FitterSelector(cv=3 if preset.quick else 5, seed=preset.seed),
                               stacking=stacking_strategy(preset.oof_folds, preset.holdout, default_folds=3),
                               group_selection=group_selection_strategy(preset.group_selection, preset.seed),
                               seed=preset.seed).set_params(folds_by=preset.folds_by)
    return {"hybrid": hybrid, **sole_dl_contenders(preset.sole_backbones, params, weights=preset.cnn_weights)}


def real_data_contenders(positive: str, preset: BenchPreset = BenchPreset()) -> dict:
    """For data without attribute labels (EDD2020): the hybrid uses the six handcrafted features plus the
    stacked score of an EfficientNet-Lite0 crop classifier as one feature group (``deep``); a second hybrid
    uses the handcrafted features alone (no CNN at all). Sole-DL CNNs as the baseline. Both hybrids take the
    preset's ``folds_by`` and ``colour_constancy``. Group selection: one_se unless the preset says (on EDD2020
    it took the external accuracy from 60.9% to 73.6%: the handcrafted groups that do not transfer are
    dropped; ``benchmarks/edd2020_transfer.py``, docs/benchmarks.md)."""
    from .fit import FitterSelector
    from .heads import AttributeHeads
    from .predict import CNNClassifier, HybridPredictor, InSample
    from .sources import DeepScoreFeatures

    preset.check()
    params = cnn_params(preset)
    deep = DeepScoreFeatures(CNNClassifier(AttributeHeads(backbone="efficientnet_lite0", pretrained=True, **params)),
                             positive=positive)
    selector = FitterSelector(cv=3 if preset.quick else 5, seed=preset.seed)
    hybrid = HybridPredictor([handcrafted_source(preset), deep], fitter=selector,
                             stacking=stacking_strategy(preset.oof_folds, preset.holdout),
                             group_selection=group_selection_strategy(preset.group_selection, preset.seed),
                             positive_label=positive, seed=preset.seed, folds_by=preset.folds_by)
    handcrafted_only = HybridPredictor([handcrafted_source(preset)], fitter=selector, stacking=InSample(),
                                       positive_label=positive, seed=preset.seed, folds_by=preset.folds_by)
    if preset.hybrid is not None:  # the hybrid the user names replaces the preset's two
        return {"hybrid": hybrid_from(preset, positive),
                **sole_dl_contenders(preset.sole_backbones, params, weights=preset.cnn_weights)}
    return {"hybrid": hybrid, "hybrid_handcrafted_only": handcrafted_only,
            **sole_dl_contenders(preset.sole_backbones, params, weights=preset.cnn_weights)}


def phantom_split(n: int, seed: int, out: Path, size: int = 256) -> tuple[Manifest, dict[str, Manifest], float]:
    """Gastric phantoms written to ``out/phantoms``; patient-wise train / test; returns the Bayes rate too."""
    from .io.splits import train_val_test_split
    from .synth import generate

    phantoms = generate("gastric", n, seed=seed, size=size)
    manifest = phantoms.write(out / "phantoms")
    manifest.df["video"] = manifest.df["patient"]  # a phantom patient's views play the paper's video
    split = train_val_test_split(manifest, val=0.0, test=0.3, seed=seed)
    return split["train"], {"internal": split["test"]}, float(phantoms.bayes_rate)


def edd2020_split(root: str | Path | None = None, seed: int = 0) -> tuple[Manifest, dict[str, Manifest]]:
    """EDD2020 lesions with a neoplastic reading (HGD, cancer vs Barrett's); centre AJ external, the other
    centres split patient-wise into train and an internal test."""
    from .io.loaders import load_edd2020
    from .io.splits import edd2020_centre_split

    manifest = load_edd2020(root, neoplastic_label=True)
    manifest = manifest.subset(manifest.df["label"].notna())
    split = edd2020_centre_split(manifest, seed=seed)
    return split["train"], {"internal": split["internal_test"], "external": split["external_test"]}


def run_named_benchmark(target: str, out: str | Path, preset: BenchPreset = BenchPreset(), n: int | None = None,
                        data_root: str | Path | None = None, positive: str | None = None,
                        external_centres: Sequence[str] = (), centre_wise: bool = False,
                        progress: Callable[[str], None] | None = None, command: str | None = None,
                        save_models: bool = False):
    """``target``: ``phantoms`` (gastric phantoms), ``edd2020`` (the shared EDD2020 set) or a manifest CSV
    (with ``label``, ``patient``, boxes, and ``centre`` when ``external_centres`` are named); contenders
    from ``preset`` (:class:`BenchPreset`). ``centre_wise``: instead of the train / test splits, leave each
    training centre out in turn (:func:`run_centre_wise`; EDD2020: every labelled centre but the
    external AJ, every lesion of them: ACB, B, INAB, NAF), returning a :class:`CentreWiseResult`."""
    from .io.splits import centre_split, train_val_test_split

    preset.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    meta: dict = {"target": target, "seed": preset.seed, "quick": preset.quick, "command": command,
                  "folds_by": preset.folds_by, "colour_constancy": preset.colour_constancy}
    if target == "phantoms":
        if centre_wise:
            raise ConfigError("--centre-wise needs centres; phantoms have none", hint="use edd2020 or a manifest")
        train, tests, bayes = phantom_split(n or (120 if preset.quick else 600), preset.seed, out, size=256)
        meta["bayes_rate"] = bayes
        from .synth.gastric import gastric_rule

        contenders = gastric_phantom_contenders(preset)
        rule = gastric_rule().causal_attributes
        positive = "neoplastic"
    else:
        if target == "edd2020" and centre_wise:
            from .io.loaders import EDD2020_EXTERNAL_CENTRES, load_edd2020

            manifest = load_edd2020(Path(data_root) / "edd2020" if data_root else None, neoplastic_label=True)
            train = manifest.subset(manifest.df["label"].notna() & ~manifest.df["centre"].isin(EDD2020_EXTERNAL_CENTRES))
            tests, positive = {}, positive or "neoplastic"
        elif target == "edd2020":
            root = Path(data_root) / "edd2020" if data_root else None
            train, tests = edd2020_split(root, preset.seed)
            positive = positive or "neoplastic"
        else:
            manifest = Manifest.read_csv(target).validate(strict=False, require_label=True, require_boxes=True)
            if not positive:
                raise ConfigError("--positive is needed for a manifest", hint="e.g. --positive neoplastic")
            has_split = "split" in manifest.df.columns and manifest.df["split"].notna().any()
            if centre_wise:
                train, tests = manifest, {}
            elif has_split:  # the manifest's own split (docs/data.md): train, and test as the internal test
                from .io.splits import split_by_column

                if external_centres:
                    raise ConfigError("the manifest has a 'split' column and --external-centres was given: give one",
                                      hint="mark the external centre's rows split = test, or drop the column")
                parts = split_by_column(manifest)
                if "train" not in parts or "test" not in parts:
                    raise ConfigError(f"the manifest's split column has {sorted(parts)}; the benchmark needs train "
                                      f"and test rows")
                train, tests = parts["train"], {"internal": parts["test"]}
            elif external_centres:
                split = centre_split(manifest, list(external_centres), seed=preset.seed)
                train, tests = split["train"], {"internal": split["internal_test"],
                                                "external": split["external_test"]}
            else:
                split = train_val_test_split(manifest, val=0.0, test=0.25, seed=preset.seed)
                train, tests = split["train"], {"internal": split["test"]}
        contenders = real_data_contenders(positive, preset)
        rule = None
    if centre_wise:
        return run_centre_wise(train, contenders, positive=positive, out=out, progress=progress, meta=meta)
    return run_benchmark(train, tests, contenders, positive=positive, out=out, progress=progress,
                         latency_lesions=5 if preset.quick else 20, meta=meta, save_models=save_models, rule=rule)


# ------------------------------------------------------------------------------------------ centre-wise
@dataclass
class CentreWiseResult:
    out: Path
    predictions: pd.DataFrame   # one row per (held-out centre, lesion, contender)
    per_centre: pd.DataFrame    # evaluate.metrics_by_group: one row per (centre, contender)
    summary: pd.DataFrame       # per contender: mean and SD over centres, pooled figures
    pooled: Any                 # evaluate.ModelComparison over every held-out lesion (None: one class only)
    fit_seconds: dict[str, float]
    meta: dict = field(default_factory=dict)


def centre_summary(per_centre: pd.DataFrame, metrics: Sequence[str] = ("accuracy", "auc")) -> pd.DataFrame:
    """Per model: the mean, SD, min and max over centres of each metric (centres weigh alike)."""
    rows = []
    for model, part in per_centre.groupby("model", sort=False):
        row: dict = {"model": model, "centres": int(len(part))}
        for metric in metrics:
            values = part[metric].dropna()
            row.update({f"{metric}_mean": float(values.mean()) if len(values) else np.nan,
                        f"{metric}_sd": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                        f"{metric}_min": float(values.min()) if len(values) else np.nan,
                        f"{metric}_max": float(values.max()) if len(values) else np.nan})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def per_centre_markdown(per_centre: pd.DataFrame, split_column: str | None = None) -> list[str]:
    """One markdown table row per (split, centre, model): n, accuracy, sensitivity, specificity, AUC."""
    pct = lambda v: "n/a" if pd.isna(v) else f"{100 * v:.1f}%"  # noqa: E731
    head = ["split"] if split_column else []
    lines = ["| " + " | ".join(head + ["centre", "model", "n (pos)", "accuracy", "sensitivity", "specificity",
                                        "AUC"]) + " |",
             "|" + "---|" * (len(head) + 3) + "---:|" * 4]
    for _, r in per_centre.iterrows():
        cells = ([str(r[split_column])] if split_column else []) + [
            str(r["group"]), str(r["model"]), f"{r['n']} ({r['positives']})", pct(r["accuracy"]),
            pct(r["sensitivity"]), pct(r["specificity"]), "n/a" if pd.isna(r["auc"]) else f"{r['auc']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def run_centre_wise(manifest: Manifest, contenders: dict[str, Any], positive: str, out: str | Path,
                    label_column: str = "label", enlarge: float = 1.0, centres: Sequence[str] | None = None,
                    progress: Callable[[str], None] | None = None, meta: dict | None = None) -> CentreWiseResult:
    """Leave one centre out: for each centre, train a clone of every contender on the other centres' lesions
    and test it on that centre's. Writes ``per_centre.csv`` (every metric per centre and contender, with
    intervals), ``predictions.csv``, ``report.md`` (per-centre table; mean, SD and range over centres;
    the pooled comparison over every held-out lesion with McNemar / DeLong against the first contender)
    and ``results.json``. Patients never span centres (checked)."""
    from sklearn.base import clone

    from .evaluate import compare_models
    from .evaluate.classification import metrics_by_group
    from .predict import Predictor

    if not contenders:
        raise ConfigError("no contenders to benchmark", hint="pass at least one predictor")
    for name, predictor in contenders.items():
        if not isinstance(predictor, Predictor):
            raise ConfigError(f"contender {name!r} is a {type(predictor).__name__}, not a Predictor")
        predictor.check_params()
    if "centre" not in manifest.df or manifest.df["centre"].isna().any():
        raise ManifestError("centre-wise benchmarking needs a 'centre' for every row", source="centre",
                            hint="add a centre column to the manifest")
    centres = list(centres) if centres is not None else sorted(manifest.df["centre"].astype(str).unique())
    if len(centres) < 2:
        raise ManifestError(f"centre-wise benchmarking needs two centres or more, found {centres}", source="centre")
    say = progress or (lambda message: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say(f"reading {len(manifest)} lesions of {len(centres)} centres")
    samples = LesionSamples.from_manifest(manifest, enlarge=enlarge)
    y_all = _labels(samples, label_column, positive)
    where = samples.table["centre"].astype(str).to_numpy()
    fit_seconds = {name: 0.0 for name in contenders}
    frames, failures = [], []
    for k, centre in enumerate(centres):
        test_rows, train_rows = np.flatnonzero(where == centre), np.flatnonzero(where != centre)
        shared = set(samples.table["patient"].iloc[test_rows]) & set(samples.table["patient"].iloc[train_rows])
        if shared:
            raise ManifestError(f"patient(s) {sorted(map(str, shared))[:5]} lie in centre {centre!r} and in others",
                                source="patient", hint="a patient must belong to one centre")
        train, test = samples.subset(train_rows), samples.subset(test_rows)
        for name, predictor in contenders.items():
            say(f"centre {centre} ({k + 1}/{len(centres)}): training {name} on {len(train)} lesions")
            start = time.perf_counter()
            try:
                model = clone(predictor).fit(train)
            except ExplainendoError as exc:  # this centre's training data cannot train it: say so, go on
                failures.append({"centre": centre, "model": name, "error": str(exc)})
                log.warning("centre %s: %s could not be trained: %s", centre, name, exc)
                continue
            finally:
                fit_seconds[name] += time.perf_counter() - start
            score = np.asarray(model.predict_proba(test), dtype=float)[:, _positive_column(model, positive, name)]
            frame = test.table[[c for c in ("image", "patient", "centre") if c in test.table]].copy()
            frame["model"], frame["y_true"], frame["score"] = name, y_all[test_rows], score
            frame["y_pred"] = (score >= 0.5).astype(int)
            frames.append(frame)
    predictions = pd.concat(frames, ignore_index=True)
    names = list(contenders)
    if failures:  # compare on the centres every contender was trained for
        lost = {f["centre"] for f in failures}
        predictions = predictions[~predictions["centre"].astype(str).isin(lost)].reset_index(drop=True)
        if predictions.empty:
            raise ConfigError("no centre could train every contender", hint="; ".join(
                f"{f['centre']} / {f['model']}: {f['error']}" for f in failures))
    first = predictions[predictions["model"] == names[0]].reset_index(drop=True)
    per_model = {name: (predictions.loc[predictions["model"] == name, "y_pred"].to_numpy(),
                        predictions.loc[predictions["model"] == name, "score"].to_numpy()) for name in names}
    per_centre = metrics_by_group(first["y_true"].to_numpy(), per_model, first["centre"].astype(str).to_numpy())
    summary = centre_summary(per_centre)
    patients = first["patient"].astype(str).to_numpy()
    try:
        pooled = compare_models(first["y_true"].to_numpy(), per_model, positive=1,
                                groups=patients if len(set(patients)) < len(patients) else None, seed=0,
                                title="every held-out lesion, pooled over the centres")
    except ExplainendoError as exc:  # e.g. the centres left hold one class: the per-centre table still stands
        pooled = None
        log.warning("no pooled comparison: %s", exc)
    result = CentreWiseResult(out=out, predictions=predictions, per_centre=per_centre, summary=summary,
                              pooled=pooled, fit_seconds=fit_seconds,
                              meta={"machine": machine_description(), "lesions": len(samples), "centres": centres,
                                    "contenders": {n: describe_contender(p) for n, p in contenders.items()},
                                    "failures": failures, "positive": positive, "enlarge": enlarge,
                                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **(meta or {})})
    write_centre_wise_report(result)
    return result


def write_centre_wise_report(result: CentreWiseResult) -> Path:
    out = result.out
    result.predictions.to_csv(out / "predictions.csv", index=False)
    result.per_centre.to_csv(out / "per_centre.csv", index=False)
    meta = result.meta
    lines = ["# Leave one centre out: " + " vs ".join(result.summary.index), "",
             f"Machine: {meta['machine']}. Date: {meta['date']}. {meta['lesions']} lesions of "
             f"{len(meta['centres'])} centres ({', '.join(meta['centres'])}); each centre is tested by models "
             f"trained on the others.", ""]
    if meta.get("command"):
        lines += ["Reproduce: `" + meta["command"] + "`", ""]
    if meta.get("contenders"):
        lines += ["## Contenders", ""] + [f"- **{name}**: {text}" for name, text in meta["contenders"].items()] + [""]
    if meta.get("failures"):
        lines += ["## Centres left out (a contender could not be trained without them)", ""] + [
            f"- {f['centre']}: {f['model']}: {f['error']}" for f in meta["failures"]] + [""]
    lines += ["## Per centre", ""] + per_centre_markdown(result.per_centre) + [""]
    lines += ["## Over the centres (each centre weighs alike)", "",
              "| model | accuracy mean (SD) | range | AUC mean (SD) | range |", "|---|---:|---:|---:|---:|"]
    for name, r in result.summary.iterrows():
        lines.append(f"| {name} | {100 * r.accuracy_mean:.1f}% ({100 * r.accuracy_sd:.1f}) | "
                     f"{100 * r.accuracy_min:.1f}-{100 * r.accuracy_max:.1f}% | {r.auc_mean:.3f} ({r.auc_sd:.3f}) | "
                     f"{r.auc_min:.3f}-{r.auc_max:.3f} |")
    lines += ["", "## Pooled over every held-out lesion", "",
              result.pooled.to_markdown() if result.pooled is not None else
              "Not computed: the held-out lesions left hold one class.", ""]
    lines += ["## Training time (seconds, all centres)", ""] + [
        f"- {k}: {v:.1f}" for k, v in result.fit_seconds.items()] + [""]
    path = out / "report.md"
    path.write_text("\n".join(lines))
    (out / "results.json").write_text(json.dumps({
        "meta": meta, "fit_seconds": result.fit_seconds, "per_centre": result.per_centre.to_dict(orient="records"),
        "summary": result.summary.reset_index().to_dict(orient="records"),
        "pooled": None if result.pooled is None else result.pooled.to_dict()}, indent=2, default=str))
    return path
