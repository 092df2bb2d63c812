"""The hybrid diagnoser: localizer -> crops -> named features -> interpretable fitter -> SHAP.

``HybridDiagnoser(localizer, sources, fitter="auto")`` joins a lesion localizer, feature sources (deep
attribute heads, handcrafted extractors, user columns) and a fitter (LR / DT / SVM / xgboost, chosen by
patient-grouped cross-validation) into a diagnosis whose every input is a named feature, so SHAP can say
which features drove it.

Leakage and out-of-fold features
--------------------------------
A supervised source (attribute heads) trained on the same lesions the fitter is trained on would hand
the fitter over-confident, in-sample attribute probabilities, and the fitter would learn to trust them
more than it should on new images. So, for sources that learn from labels, the fitter's training rows
get **out-of-fold** features: the lesions are split into ``oof_folds`` patient-grouped folds; for each
fold a fresh copy of the source is trained on the other folds and describes the held-out fold. The
source used at prediction time is then trained once more on all lesions. Cost: a supervised source is
trained ``oof_folds + 1`` times (5 folds: 6 trainings). Sources that do not learn from labels
(``supervised = False``: handcrafted, columns) are fitted once. ``oof_folds=0`` turns this off (in-sample
features: faster, leaky, for quick experiments only).

``holdout=f`` (0 < f < 1) stacks on a held-out split instead: a fraction ``f`` of the patients
(stratified by label) is set aside, supervised sources are trained **once** on the other patients, and
the fitter is trained only on the held-out patients' features. Cost: one training instead of
``oof_folds + 1``, and the fitter learns from the very sources it will be used with (out-of-fold copies
are trained on less data than the final source, so their features are noisier than the ones the fitter
meets at prediction time). The price: the sources never see the held-out patients and the fitter never
sees the others. Use it when training a source is expensive (attribute heads on a CPU) and lesions are
plentiful.

Sources that cannot be trained (an attribute head with no labels in the manifest is skipped by the
heads themselves; a source whose ``fit`` raises an :class:`~explainendo.errors.ExplainendoError` is
dropped) are recorded in ``sources_used_`` / ``skipped_sources_``.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from .errors import ConfigError, ExplainendoError, InvalidImageError, ManifestError, NotFittedError
from .features import LesionSamples, check_feature_frame
from .fit import DEFAULT_CANDIDATES, FitterSelector, fitter_name, make_fitter
from .io.manifest import BOX_COLUMNS, Manifest
from .types import Box, Diagnosis, Explanation

log = logging.getLogger(__name__)

#: sources known not to learn from labels, by name, for sources that do not say so (``supervised``)
UNSUPERVISED_SOURCE_NAMES = frozenset({"handcrafted", "columns"})
#: ``prefer_groups`` value meaning "the groups of sources that read named attributes" (``reads_attributes``)
ATTRIBUTE_GROUPS = "attributes"


def is_supervised(source) -> bool:
    """True when ``source.fit`` learns from labels (so the fitter needs out-of-fold features)."""
    return bool(getattr(source, "supervised", getattr(source, "name", "") not in UNSUPERVISED_SOURCE_NAMES))


def manifest_hash(manifest: Manifest) -> str:
    """SHA-256 of the manifest table as CSV (the provenance of a trained model)."""
    return hashlib.sha256(manifest.df.to_csv(index=False).encode("utf-8")).hexdigest()


def _as_manifest(data) -> Manifest:
    if isinstance(data, Manifest):
        return data
    if isinstance(data, (str, os.PathLike)):
        return Manifest.read_csv(data)
    if hasattr(data, "write") and hasattr(data, "table"):  # a synth.PhantomSet
        raise ConfigError("pass a Manifest (PhantomSet.write(folder)) to fit, not the PhantomSet itself",
                          hint="manifest = phantoms.write('phantoms/'); model.fit(manifest)")
    raise ConfigError(f"cannot train on a {type(data).__name__}", hint="pass a Manifest or a manifest CSV path")


def _patient_folds(groups: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import GroupKFold

    uniq = pd.unique(groups)
    k = min(k, len(uniq))
    perm = dict(zip(uniq, np.random.default_rng(seed).permutation(len(uniq))))
    return list(GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=np.array([perm[g] for g in groups])))


def _patient_holdout(groups: np.ndarray, labels: np.ndarray, fraction: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (sources, fitter): ``fraction`` of the patients of each label (a patient's first label)
    go to the fitter; both sides keep at least one patient of every label that has two or more."""
    first = pd.Series(labels).groupby(groups, sort=True).first()
    rng = np.random.default_rng(seed)
    held: list = []
    for label in sorted(first.unique()):
        patients = first.index[first == label].to_numpy().copy()
        rng.shuffle(patients)
        k = int(round(fraction * len(patients)))
        if len(patients) >= 2:
            k = min(max(k, 1), len(patients) - 1)
        held.extend(patients[:k])
    mask = np.isin(groups, np.array(held, dtype=groups.dtype))
    return np.flatnonzero(~mask), np.flatnonzero(mask)


class HybridDiagnoser:
    """Localizer + feature sources + interpretable fitter (see the module docstring).

    Parameters
    ----------
    localizer : an object with ``locate(image) -> list[Box]`` (and ``fit(manifest)``, ``save``/``load``),
        or None: every image is one whole-frame lesion unless ``boxes=`` are given.
    sources : feature sources (:class:`explainendo.features.FeatureSource`).
    fitter : ``"auto"`` (select by patient-grouped CV among ``candidates`` on ``metric``), a fitter name
        (``logistic_regression``, ``decision_tree``, ``svm``, ``xgboost``) or an unfitted sklearn classifier.
    enlarge : crop enlargement about the box centre (ENDOANGEL-ED: 1.0; 1.2 adds context).
    oof_folds : patient-grouped folds for out-of-fold features of supervised sources (0: in-sample).
    selection_rule : ``"one_se"`` (the first candidate within one standard error of the best CV score; the
        candidates are listed simplest first) or ``"best"`` (:class:`~explainendo.fit.FitterSelector`).
    holdout : instead of out-of-fold features, the fraction of patients set aside for the fitter
        (supervised sources train once on the rest; module docstring). 0 (default): out-of-fold.
    group_selection : ``None`` (default: the fitter sees every feature group), ``"one_se"`` or ``"best"``:
        once the fitter is chosen (on every group), whole feature groups are dropped by patient-grouped
        backward elimination (:class:`~explainendo.fit.group_selection.GroupEliminator`) scored with that
        fitter, which is then refit on the kept groups.
        Dropped groups are listed in ``dropped_groups_`` (``group_selection_``: every step's scores); an
        ``Explanation`` names only the groups the fitter uses, ``explain_samples`` gives dropped ones 0.
    prefer_groups : with ``group_selection``, groups dropped only when no other group's removal stays within
        the rule's band: ``None`` (no preference), ``"attributes"`` (the groups of sources with
        ``reads_attributes``, i.e. attribute heads: of two readings of an attribute that the folds cannot
        tell apart, the named attribute stays) or a list of group names.
    calibrate_sources : with ``holdout``, supervised sources that can (``calibrate_transform(samples)``: the
        attribute heads) are calibrated on the held-out patients' attribute labels before the fitter reads their
        outputs (default True; ``sources_used_`` lists the calibrated heads).
    positive_label : the class whose probability SHAP explains for binary tasks (default: the last
        class in sorted order).
    train_localizer : train the localizer in ``fit`` (set False for a localizer trained already).
    """

    registry_kind = "hybrid"

    def __init__(self, localizer=None, sources: Sequence[Any] = (), fitter: Any = "auto", enlarge: float = 1.0,
                 oof_folds: int = 5, seed: int = 0, metric: str = "roc_auc",
                 candidates: Sequence[Any] = DEFAULT_CANDIDATES, cv: int = 5, positive_label: str | None = None,
                 train_localizer: bool = True, batch_size: int = 16, min_box_score: float = 0.0,
                 holdout: float = 0.0, selection_rule: str = "one_se", group_selection: str | None = None,
                 prefer_groups: str | Sequence[str] | None = None, calibrate_sources: bool = True):
        self.localizer = localizer
        self.sources = list(sources)
        self.fitter = fitter
        self.enlarge = enlarge
        self.oof_folds = oof_folds
        self.seed = seed
        self.metric = metric
        self.candidates = candidates
        self.cv = cv
        self.positive_label = positive_label
        self.train_localizer = train_localizer
        self.batch_size = batch_size
        self.min_box_score = min_box_score
        self.holdout = holdout
        self.selection_rule = selection_rule
        self.group_selection = group_selection
        self.prefer_groups = prefer_groups
        self.calibrate_sources = calibrate_sources

    # ---- training -----------------------------------------------------------------------------
    def fit(self, manifest, train_localizer: bool | None = None) -> "HybridDiagnoser":
        """Train the localizer (if asked), the sources, then the fitter on out-of-fold features.

        ``manifest``: a :class:`~explainendo.io.Manifest` (or its CSV path), or ready-made
        :class:`~explainendo.features.LesionSamples` (e.g. ``PhantomSet.to_samples()``), in which case the
        localizer is not trained (it needs the manifest's images and boxes).
        """
        if not self.sources:
            raise ConfigError("HybridDiagnoser has no feature sources", hint="pass sources=[...]")
        if self.group_selection not in (None, "one_se", "best"):  # checked before any training starts
            raise ConfigError(f"unknown group_selection {self.group_selection!r}", hint="None, 'one_se' or 'best'")
        prefer = self.prefer_groups
        if not (prefer is None or prefer == ATTRIBUTE_GROUPS
                or (isinstance(prefer, (list, tuple)) and all(isinstance(g, str) for g in prefer))):
            raise ConfigError(f"prefer_groups must be None, {ATTRIBUTE_GROUPS!r} or a list of group names, "
                              f"got {prefer!r}")
        if isinstance(manifest, LesionSamples):
            samples = manifest
            if "label" not in samples.table or "patient" not in samples.table:
                raise ManifestError("the samples' table needs 'label' and 'patient' columns")
            samples = samples.subset(np.flatnonzero(samples.table["label"].notna().to_numpy()))
            self.manifest_hash_ = hashlib.sha256(samples.table.to_csv(index=False).encode("utf-8")).hexdigest()
            return self._fit_samples(samples, name="samples")
        manifest = _as_manifest(manifest)
        if "label" not in manifest.df.columns or manifest.df["label"].isna().all():
            raise ManifestError("the training manifest has no 'label' column values", source=manifest.name or None,
                                hint="give each lesion a diagnosis label")
        train_localizer = self.train_localizer if train_localizer is None else train_localizer
        if self.localizer is not None and train_localizer and hasattr(self.localizer, "fit"):
            self.localizer.fit(manifest)

        lesion_rows = manifest
        if manifest.has_boxes:
            lesion_rows = manifest.subset(manifest.df[list(BOX_COLUMNS)].notna().all(axis=1))
        lesion_rows = lesion_rows.subset(lesion_rows.df["label"].notna())
        self.manifest_hash_ = manifest_hash(manifest)
        return self._fit_samples(self._training_samples(lesion_rows), name=manifest.name)

    def _fit_samples(self, samples: LesionSamples, name: str | None) -> "HybridDiagnoser":
        labels = samples.table["label"].astype(str).to_numpy()
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ManifestError(f"only one label ({classes}) in the training data", source=name or None,
                                hint="a diagnoser needs at least two classes")
        if self.positive_label is not None:
            if self.positive_label not in classes:
                raise ConfigError(f"positive_label {self.positive_label!r} is not a label in the manifest",
                                  hint=f"labels: {classes}")
            classes = [c for c in classes if c != self.positive_label] + [self.positive_label]
        self.classes_ = classes
        y = np.array([classes.index(v) for v in labels])
        groups = samples.table["patient"].astype(str).to_numpy()

        source_rows = fitter_rows = np.arange(len(samples))
        if self.holdout and any(is_supervised(s) for s in self.sources):
            if not 0.0 < float(self.holdout) < 1.0:
                raise ConfigError(f"holdout={self.holdout!r} is not a fraction between 0 and 1",
                                  hint="e.g. holdout=0.3, or holdout=0 for out-of-fold features")
            source_rows, fitter_rows = _patient_holdout(groups, labels, float(self.holdout), self.seed)
            if len(set(labels[fitter_rows])) < 2 or len(set(groups[fitter_rows])) < 2:
                raise ManifestError(f"holdout={self.holdout}: the fitter's {len(set(groups[fitter_rows]))} "
                                    f"held-out patients do not cover every label", source=name or None,
                                    hint="use more patients, a larger holdout, or holdout=0 (out-of-fold)")
        X = self._fit_sources(samples, groups, source_rows, fitter_rows)
        y, groups = y[fitter_rows], groups[fitter_rows]
        # how the fitter's training rows got their features: "holdout", "out_of_fold", "in_sample" (leaky),
        # or "unsupervised" (no source learnt from labels, nothing to leak)
        used = self.sources_used_
        mode = ("holdout" if any(u["held_out"] for u in used)
                else "out_of_fold" if any(u["out_of_fold"] for u in used)
                else "in_sample" if any(is_supervised(s) for s in self.sources_) else "unsupervised")
        self.stacking_ = {"mode": mode, "source_lesions": int(len(source_rows)),
                          "fitter_lesions": int(len(fitter_rows))}
        self.feature_columns_ = list(X.columns)
        self.training_rows_ = fitter_rows  # the fitter's rows' positions among the training lesions
        self._fit_fitter_on(X, y, groups)
        self.n_training_lesions_ = len(samples)
        return self

    def _fit_fitter_on(self, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray) -> None:
        """The fitter (selected by grouped CV when "auto"), its column means and SHAP background, from ``X``."""
        self.training_features_ = X  # the fitter's rows (out-of-fold / held out where supervised); not saved
        means = X.mean(axis=0, skipna=True)
        self.feature_means_ = means.fillna(0.0).to_dict()
        self.fitter_columns_, self.dropped_groups_, self.group_selection_ = list(X.columns), [], None
        self._fit_fitter(self._fitter_input(X), y, groups)
        if self.group_selection:  # which groups the chosen fitter needs (sets fitter_columns_); refit on those
            from sklearn.base import clone

            self._select_groups(X.fillna(self.feature_means_), y, groups)
            self.fitter_ = clone(self.fitter_).fit(self._fitter_input(X), y)
        Xf = self._fitter_input(X)
        rng = np.random.default_rng(self.seed)
        keep = np.sort(rng.choice(len(Xf), size=min(100, len(Xf)), replace=False))
        self.background_ = Xf[keep]
        self._shap = None

    def _select_groups(self, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray) -> None:
        """Backward group elimination scored with the (unfitted) chosen fitter: sets ``fitter_columns_``,
        ``dropped_groups_`` and ``group_selection_``."""
        from sklearn.base import clone

        from .fit.group_selection import GroupEliminator

        present = {g: [c for c in cols if c in X.columns] for g, cols in self.groups_.items()}
        present = {g: c for g, c in present.items() if c}
        eliminator = GroupEliminator(clone(self.fitter_), present, metric=self._cv_metric(), cv=self.cv,
                                     seed=self.seed, rule=self.group_selection,
                                     prefer_keep=self._preferred_groups(present)).fit(X, y, groups)
        kept = {c for g in eliminator.kept_ for c in present[g]}
        self.fitter_columns_ = [c for c in X.columns if c in kept]
        self.dropped_groups_ = list(eliminator.dropped_)
        self.group_selection_ = eliminator.steps_
        log.info("group selection dropped %s", self.dropped_groups_ or "nothing")

    def _preferred_groups(self, present: dict[str, list[str]]) -> list[str]:
        """``prefer_groups`` resolved to names among the present groups."""
        if self.prefer_groups is None:
            return []
        if self.prefer_groups == ATTRIBUTE_GROUPS:
            names = {g for s in self.sources_ if getattr(s, "reads_attributes", False) for g in s.groups}
        else:
            names = set(self.prefer_groups)
            unknown = sorted(names - set(self.groups_))
            if unknown:  # not an error: a head without labels is skipped, and a typo must not cost the training
                log.warning("prefer_groups: no source produced %s (groups: %s)", unknown, sorted(self.groups_))
        return [g for g in present if g in names]

    def refit_fitter(self, samples: LesionSamples) -> "HybridDiagnoser":
        """Fit the fitter again (with its selection) on ``samples``' features from the fitted sources; the
        sources stay as they are. For a changed prediction setting of a source (e.g. the heads' ``tta``) or
        for stacking on patients set aside by hand. ``samples`` (labelled, with ``patient``) must be lesions
        the supervised sources did not train on, or the fitter learns from in-sample features; nothing
        here can check that, so ``stacking_["mode"]`` becomes ``"refit"``.
        """
        self._check_fitted()
        if not isinstance(samples, LesionSamples):
            raise ConfigError(f"refit_fitter needs LesionSamples, got {type(samples).__name__}",
                              hint="LesionSamples.from_manifest(manifest)")
        for column in ("label", "patient"):
            if column not in samples.table or samples.table[column].isna().any():
                raise ManifestError(f"refit_fitter: every lesion needs a '{column}'", source="samples")
        labels = samples.table["label"].astype(str).to_numpy()
        unknown = sorted(set(labels) - set(self.classes_))
        if unknown:
            raise ManifestError(f"labels {unknown} are not among the model's classes {self.classes_}",
                                source="samples", hint="refit on lesions of the classes the model knows")
        y = np.array([self.classes_.index(v) for v in labels])
        if len(set(y)) < 2:
            raise ManifestError("refit_fitter needs lesions of at least two classes", source="samples")
        self._fit_fitter_on(self.features(samples), y, samples.table["patient"].astype(str).to_numpy())
        self.training_rows_ = np.arange(len(samples))
        self.stacking_ = {**self.stacking_, "mode": "refit", "fitter_lesions": int(len(samples))}
        return self

    def _training_samples(self, manifest: Manifest) -> LesionSamples:
        if manifest.has_boxes:
            return LesionSamples.from_manifest(manifest, enlarge=self.enlarge)
        # no boxes (image-level labels): the localizer's most confident box, or the whole frame without one
        from .io.image import read_image
        from .io.sources import Frame
        frames, boxes, rows = [], [], []
        for image_name, rows_of_image in manifest.iter_images():
            frame = read_image(manifest.path(image_name))
            found = self._locate([Frame(image_name, frame)])[0]
            if not found:
                log.warning("no lesion found in training image %s: skipped", image_name)
                continue
            frames.append(frame)
            boxes.append(max(found, key=lambda b: b.score).clip(frame.shape[1], frame.shape[0]))
            rows.append(rows_of_image.iloc[0])
        return LesionSamples.from_images(frames, boxes, enlarge=self.enlarge,
                                         table=pd.DataFrame(rows).reset_index(drop=True))

    def _fit_sources(self, samples: LesionSamples, groups: np.ndarray, source_rows: np.ndarray,
                     fitter_rows: np.ndarray) -> pd.DataFrame:
        """Features of ``fitter_rows`` for the fitter; supervised sources learn from ``source_rows`` only
        (all rows unless ``holdout``), unsupervised ones from every row."""
        held_out = len(fitter_rows) < len(samples)
        fitter_samples = samples.subset(fitter_rows) if held_out else samples
        frames, used, skipped, seen_groups = [], [], [], {}
        for source in self.sources:
            name = getattr(source, "name", type(source).__name__)
            supervised = is_supervised(source)
            oof = supervised and not held_out and self.oof_folds and self.oof_folds >= 2
            prototype = copy.deepcopy(source) if oof else None  # unfitted, for the out-of-fold copies
            try:
                source.fit(samples.subset(source_rows) if held_out and supervised else samples)
                calibrated = (held_out and supervised and self.calibrate_sources
                              and hasattr(source, "calibrate_transform"))
                # calibrated on the held-out patients' own attribute labels, before the fitter reads them
                features = source.calibrate_transform(fitter_samples) if calibrated else source.transform(
                    fitter_samples)
                full = check_feature_frame(features, len(fitter_rows), name)
            except ExplainendoError as exc:
                log.warning("source %r skipped: %s", name, exc)
                skipped.append({"name": name, "reason": str(exc)})
                continue
            if full.shape[1] == 0:
                skipped.append({"name": name, "reason": "no feature columns (no attribute had labels)"})
                continue
            for g in source.groups:
                if g in seen_groups:
                    raise ConfigError(f"feature group {g!r} comes from both {seen_groups[g]!r} and {name!r}",
                                      hint="give the sources distinct group names")
                seen_groups[g] = name
            if oof:
                full = self._out_of_fold(prototype, samples, groups, list(full.columns), name)
            info = {"name": name, "class": type(source).__name__,
                    "columns": int(full.shape[1]), "groups": list(source.groups), "out_of_fold": bool(oof),
                    "held_out": bool(supervised and held_out)}
            if calibrated:
                info["calibrated"] = sorted(getattr(source, "calibration_", {}))
            trained = getattr(source, "trained_attributes_", None)
            if trained is not None:
                info["trained_attributes"] = list(trained)
            used.append(info)
            frames.append(full.reset_index(drop=True))
        if not frames:
            raise ConfigError("no feature source could be trained",
                              hint="; ".join(f"{s['name']}: {s['reason']}" for s in skipped) or None)
        self.sources_ = [s for s in self.sources if getattr(s, "name", type(s).__name__) in {u["name"] for u in used}]
        self.sources_used_ = used
        self.skipped_sources_ = skipped
        self.groups_ = {g: cols for s in self.sources_ for g, cols in s.groups.items()}
        return pd.concat(frames, axis=1)

    def _out_of_fold(self, prototype, samples: LesionSamples, groups: np.ndarray, columns: list[str],
                     name: str) -> pd.DataFrame:
        out = pd.DataFrame(np.nan, index=range(len(samples)), columns=columns)
        for train_idx, test_idx in _patient_folds(groups, self.oof_folds, self.seed):
            fold_source = copy.deepcopy(prototype)
            try:
                fold_source.fit(samples.subset(train_idx))
                part = fold_source.transform(samples.subset(test_idx))
            except ExplainendoError as exc:  # e.g. a fold with no labels at all: its rows are imputed
                log.warning("source %r: out-of-fold fold skipped (%s); its rows get mean features", name, exc)
                continue
            # a fold may lack an attribute's labels: its columns stay NaN (imputed with the mean later)
            part = part.reindex(columns=columns)
            out.iloc[test_idx] = part.to_numpy(dtype=float)
        log.info("out-of-fold features for %r over %d folds", name, self.oof_folds)
        return out

    def _cv_metric(self) -> str:
        """``metric`` as a scorer name for this task (ROC AUC one-vs-rest for more than two classes)."""
        return "roc_auc_ovr" if len(self.classes_) > 2 and self.metric == "roc_auc" else self.metric

    def _fit_fitter(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        metric = self._cv_metric()
        self.selection_ = None
        if isinstance(self.fitter, str) and self.fitter == "auto":
            selector = FitterSelector(candidates=self.candidates, metric=metric, cv=self.cv, seed=self.seed,
                                      rule=self.selection_rule)
            selector.fit(X, y, groups)
            self.fitter_ = selector.best_estimator_
            self.fitter_name_ = selector.best_name_
            self.selection_ = selector.cv_results_
        elif isinstance(self.fitter, str):
            self.fitter_ = make_fitter(self.fitter, seed=self.seed).fit(X, y)
            self.fitter_name_ = self.fitter
        else:
            from sklearn.base import clone
            self.fitter_ = clone(self.fitter).fit(X, y)
            self.fitter_name_ = fitter_name(self.fitter_)

    # ---- features and probabilities -----------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "fitter_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted",
                                 hint="call fit(manifest) or explainendo.load(folder) first")

    def features(self, samples: LesionSamples) -> pd.DataFrame:
        """The raw feature table (NaN where a feature failed) for ``samples``, in the fitter's column order."""
        self._check_fitted()
        parts = [check_feature_frame(s.transform(samples), len(samples), getattr(s, "name", "?")).reset_index(drop=True)
                 for s in self.sources_]
        return pd.concat(parts, axis=1).reindex(columns=self.feature_columns_)

    def _fitter_input(self, features: pd.DataFrame) -> np.ndarray:
        return features[self.fitter_columns_].fillna(self.feature_means_).to_numpy(dtype=float)

    def _with_dropped_groups(self, result):
        """A SHAP result over every feature column and group: the groups the fitter does not see get 0."""
        import dataclasses

        if not self.dropped_groups_:
            return result
        values = result.values.reindex(columns=self.feature_columns_, fill_value=0.0)
        group_values = result.group_values.reindex(columns=list(self.groups_), fill_value=0.0)
        return dataclasses.replace(result, values=values, group_values=group_values)

    def predict_proba_features(self, features: pd.DataFrame) -> np.ndarray:
        return self.fitter_.predict_proba(self._fitter_input(features))

    def predict_samples(self, samples: LesionSamples) -> pd.DataFrame:
        """One row per lesion: ``image``, ``patient``, ``label`` (truth, when known), ``predicted``,
        ``probability`` (of ``predicted``) and ``p_<class>`` for every class (for the benchmark harness)."""
        feats = self.features(samples)
        proba = self.predict_proba_features(feats)
        out = pd.DataFrame({c: samples.labels(c).to_numpy() for c in ("image", "patient", "label")})
        out["predicted"] = [self.classes_[i] for i in proba.argmax(1)]
        out["probability"] = proba.max(1)
        for i, c in enumerate(self.classes_):
            out[f"p_{c}"] = proba[:, i]
        return out

    # ---- prediction ---------------------------------------------------------------------------
    def predict(self, images, boxes=None, table: pd.DataFrame | None = None, stream: bool = False):
        """Diagnose ``images`` (a path, array, list, folder, video or generator of them).

        ``boxes`` skips localization: for one image a ``Box`` or list of boxes; for many, a list (one
        entry per image) or a dict keyed by image name. ``table`` gives per-image measurements for
        :class:`~explainendo.sources.ColumnFeatures` (a DataFrame with an ``image`` column matched on the
        full name or the file name). Returns one :class:`~explainendo.types.Diagnosis` for one image, a
        list for many, or a generator with ``stream=True``. Unreadable images give a Diagnosis with
        ``error`` set; images where the localizer finds nothing give ``no_lesion=True``.
        """
        from .io.sources import is_single_image

        self._check_fitted()
        results = self._iter_diagnoses(images, boxes, table)
        if stream:
            return results
        results = list(results)
        if is_single_image(images) and len(results) == 1:
            return results[0]
        return results

    __call__ = predict

    def _boxes_for(self, boxes, frame, position: int, single: bool) -> list[Box] | None:
        if boxes is None:
            return None
        if isinstance(boxes, Box):
            return [boxes]
        if isinstance(boxes, dict):
            found = boxes.get(frame.name, boxes.get(Path(frame.name).name))
            return None if found is None else ([found] if isinstance(found, Box) else list(found))
        boxes = list(boxes)
        if single:  # the boxes of the one image
            return [b for b in boxes if isinstance(b, Box)]
        entry = boxes[position] if position < len(boxes) else None
        return None if entry is None else ([entry] if isinstance(entry, Box) else list(entry))

    def _table_rows(self, table: pd.DataFrame | None, name: str) -> pd.DataFrame:
        if table is None:
            return pd.DataFrame([{"image": name}])
        if "image" not in table.columns:
            raise ConfigError("predict(table=...) needs an 'image' column", hint="one row per image")
        match = table[(table["image"].astype(str) == name) | (table["image"].astype(str) == Path(name).name)]
        row = match.iloc[[0]].copy() if len(match) else pd.DataFrame([{"image": name}])
        row["image"] = name
        return row

    def _iter_diagnoses(self, images, boxes, table) -> Iterator[Diagnosis]:
        from .io.sources import is_single_image, iter_frames

        single = is_single_image(images)
        chunk = []
        for position, frame in enumerate(iter_frames(images)):
            chunk.append((position, frame))  # broken frames travel in the chunk too: results keep input order
            if len(chunk) >= self.batch_size:
                yield from self._diagnose_chunk(chunk, boxes, table, single)
                chunk = []
        if chunk:
            yield from self._diagnose_chunk(chunk, boxes, table, single)

    def _locate(self, frames) -> list[list[Box]]:
        images = [f.image for f in frames]
        if self.localizer is None:
            return [[Box(0, 0, im.shape[1], im.shape[0])] for im in images]
        if hasattr(self.localizer, "locate_batch"):
            found = self.localizer.locate_batch(images)
        else:
            found = [self.localizer.locate(im) for im in images]
        return [[b for b in bs if b.score >= self.min_box_score] for bs in found]

    def _diagnose_chunk(self, chunk, boxes, table, single) -> Iterator[Diagnosis]:
        good = [(pos, f) for pos, f in chunk if f.ok]
        results: dict[int, Diagnosis] = {}
        if good:
            given = [self._boxes_for(boxes, f, pos, single) for pos, f in good]
            to_locate = [f for (pos, f), g in zip(good, given) if g is None]
            located = iter(self._locate(to_locate)) if to_locate else iter(())
            per_image = [g if g is not None else next(located) for g in given]
            try:
                results.update(zip([pos for pos, _ in good], self._diagnose_located(good, per_image, table)))
            except ExplainendoError:
                for item, bxs in zip(good, per_image):  # isolate the image that fails, keep the rest
                    try:
                        results[item[0]] = self._diagnose_located([item], [bxs], table)[0]
                    except ExplainendoError as exc:
                        results[item[0]] = Diagnosis(image=item[1].name, error=str(exc), fitter=self.fitter_name_)
        for pos, frame in chunk:
            yield results[pos] if frame.ok else Diagnosis(image=frame.name, error=frame.error,
                                                          fitter=self.fitter_name_)

    def _diagnose_located(self, chunk, per_image, table) -> list[Diagnosis]:
        frames, lesion_boxes, rows, owner = [], [], [], []
        for k, ((_, frame), bxs) in enumerate(zip(chunk, per_image)):
            h, w = frame.image.shape[:2]
            for b in bxs:
                frames.append(frame.image)
                lesion_boxes.append(b.clip(w, h))
                rows.append(self._table_rows(table, frame.name))
                owner.append(k)
        proba = feats = None
        if lesion_boxes:
            samples = LesionSamples.from_images(frames, lesion_boxes, enlarge=self.enlarge,
                                                table=pd.concat(rows, ignore_index=True))
            feats = self.features(samples)
            proba = self.predict_proba_features(feats)
        owner = np.asarray(owner)
        out = []
        for k, ((_, frame), bxs) in enumerate(zip(chunk, per_image)):
            idx = np.flatnonzero(owner == k)
            if len(idx) == 0:
                out.append(Diagnosis(image=frame.name, fitter=self.fitter_name_, no_lesion=True,
                                     message="the localizer found no lesion in this image", frame=frame.image))
                continue
            lesions = []
            for i in idx:
                p = proba[i]
                lesions.append({"box": lesion_boxes[i], "label": self.classes_[int(p.argmax())],
                                "probability": float(p.max()),
                                "probabilities": {c: float(v) for c, v in zip(self.classes_, p)},
                                "features": {c: float(v) for c, v in feats.iloc[i].items()}})
            primary = max(range(len(lesions)), key=lambda j: lesions[j]["box"].score)
            best = lesions[primary]
            out.append(Diagnosis(image=frame.name, label=best["label"], probability=best["probability"],
                                 probabilities=best["probabilities"], box=best["box"],
                                 boxes=[les["box"] for les in lesions], features=best["features"], lesions=lesions,
                                 fitter=self.fitter_name_, frame=frame.image))
        return out

    # ---- explanation --------------------------------------------------------------------------
    def shap_explainer(self):
        """The grouped SHAP explainer of the fitter (built once, on the stored training background)."""
        from .explain.grouped_shap import GroupedShapExplainer

        self._check_fitted()
        if getattr(self, "_shap", None) is None:
            groups = {g: cols for g, cols in self.groups_.items() if g not in self.dropped_groups_}
            self._shap = GroupedShapExplainer(self.fitter_, self.background_, self.fitter_columns_, groups,
                                              seed=self.seed)
        return self._shap

    def explain_samples(self, samples: LesionSamples):
        """Grouped SHAP for many lesions at once (a :class:`~explainendo.explain.grouped_shap.ShapResult`:
        ``values``, ``group_values`` one row per lesion, ``expected_value``, ``output``); for evaluating
        explanations over a test set. Binary tasks only (the positive class is explained)."""
        if len(self.classes_) > 2:
            raise ConfigError("explain_samples explains the positive class of a binary task",
                              hint="use explain() per image for multiclass models")
        return self._with_dropped_groups(self.shap_explainer().explain(self._fitter_input(self.features(samples))))

    def explain(self, image, box: Box | None = None, table: pd.DataFrame | None = None,
                gradcam: bool = True) -> Explanation:
        """SHAP per feature and per group, and Grad-CAM per attribute head, for the primary lesion."""
        diagnosis = self.predict(image, boxes=box, table=table)
        if isinstance(diagnosis, list):
            if len(diagnosis) != 1:
                raise ConfigError("explain() takes one image", hint="loop over images, or use predict()")
            diagnosis = diagnosis[0]
        return self.explain_diagnosis(diagnosis, table=table, gradcam=gradcam)

    def explain_diagnosis(self, diagnosis: Diagnosis, table: pd.DataFrame | None = None,
                          gradcam: bool = True) -> Explanation:
        """Explain a :class:`Diagnosis` this model returned (no second prediction)."""
        from .explain.gradcam import source_gradcams

        if diagnosis.error:
            raise InvalidImageError(diagnosis.error, source=diagnosis.image)
        if diagnosis.no_lesion:
            raise ExplainendoError("no lesion found in this image, nothing to explain", source=diagnosis.image,
                                   hint="give box=Box(...) to explain a region of your choice")
        if diagnosis.frame is None:
            raise ConfigError("the diagnosis holds no frame", source=diagnosis.image,
                              hint="explain diagnoses returned by this model's predict()")
        explainer = self.shap_explainer()
        x = self._fitter_input(pd.DataFrame([diagnosis.features]).reindex(columns=self.feature_columns_))
        if len(self.classes_) > 2:  # multiclass: explain the predicted class
            explainer.class_index = self.classes_.index(diagnosis.label)
        result = explainer.explain(x)  # the groups the fitter uses: a card lists no dropped group
        samples = LesionSamples.from_images([diagnosis.frame], [diagnosis.box], enlarge=self.enlarge,
                                            table=self._table_rows(table, diagnosis.image))
        cams = source_gradcams(self.sources_, samples) if gradcam else {}
        return Explanation(diagnosis=diagnosis, shap=result.values.iloc[0].to_dict(),
                           group_shap={g: float(v) for g, v in result.group_values.iloc[0].items()},
                           expected_value=result.expected_value, output=float(result.output[0]),
                           space=result.space, explainer=result.explainer,
                           explained_class=self.classes_[result.class_index], groups=self.groups_,
                           gradcams=cams, crop=samples.crops[0])

    # ---- persistence --------------------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write a model bundle (see :mod:`explainendo.bundle`)."""
        from .bundle import save_bundle
        return save_bundle(self, directory)

    @classmethod
    def load(cls, directory) -> "HybridDiagnoser":
        from .bundle import load_bundle
        model = load_bundle(directory)
        if not isinstance(model, cls):
            raise ConfigError(f"the bundle holds a {type(model).__name__}, not a {cls.__name__}", source=str(directory),
                              hint="use explainendo.load(folder)")
        return model

    def __repr__(self) -> str:
        state = f"fitter={self.fitter_name_!r}, {len(self.feature_columns_)} features" if hasattr(self, "fitter_") \
            else "not fitted"
        return f"{type(self).__name__}({state})"
