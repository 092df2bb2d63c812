"""``HybridPredictor``: feature sources -> named feature table -> interpretable fitter -> grouped SHAP.

The fitter never sees pixels, only named columns ``<group>.<name>`` from the feature sources (deep
attribute heads, handcrafted extractors, table columns, a CNN's score), so SHAP can say which named
features drove each diagnosis. Strategy objects decide the rest, each passed as one parameter:

* ``fitter``: a :class:`~explainendo.fit.FitterSelector` (default: LR / DT / SVM / xgboost chosen by
  patient-grouped CV with the one-SE rule), a fitter name (``"logistic_regression"``) or an unfitted
  scikit-learn classifier (trains and predicts; cannot be written to a model file: use a name there);
* ``stacking``: how the fitter's training rows get the supervised sources' features
  (:mod:`explainendo.predict.stacking`: ``OutOfFold(5)``, the default; ``HeldOut(0.5)``; ``InSample()``);
* ``contrast_class``: ``None`` (SHAP's reference is a sample of all the fitter's training rows; tree explainers
  use their own path-dependent statistics) or a class label: SHAP's reference becomes that class's training rows,
  interventionally for every explainer, so an explanation says why this diagnosis *rather than that class*
  (the colonoscopy system explains "unclear" against the clear frames: ``contrast_class="normal"``). The expected
  value is then the fitter's mean output on those rows, and every group value what moving that group from their
  values to the lesion's adds.
* ``group_selection``: ``None`` (the fitter sees every group) or a
  :class:`~explainendo.fit.GroupEliminator`: once the fitter is chosen on every group, whole groups it does
  not need are dropped by grouped-CV backward elimination scored with that fitter, which is then refit on
  the kept groups (``prefer_keep="attributes"``: of two readings the folds cannot tell apart, the named
  attribute stays). An explanation names only the groups the fitter uses.
* ``interventions``: ``None`` (the fitter learns from the sources' features as they are) or an intervention
  training strategy (:mod:`explainendo.predict.interventions`, e.g. ``RandomInterventions(p=0.25, copies=2)``):
  the fitter's training rows get extra copies in which a random subset of the correctable attributes (the
  attribute heads' groups) hold the one-hot of the lesion's true ``attr.<attribute>``, so that a clinician's
  correction (:meth:`HybridPredictor.intervene`) moves the diagnosis as the true attribute would. Each copy stays in
  its lesion's patient group for the fitter's grouped CV and group selection; column means and the SHAP background
  come from the real rows.

Every parameter is checked before any training starts. A source that cannot be trained on the data
raises :class:`~explainendo.errors.SourceUnavailableError` (e.g. no attribute has a label): it is left out
and recorded in ``skipped_sources_``; every other error propagates.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from ..components import load_child, register_component, save_child
from ..errors import ConfigError, ManifestError, ModelFileError, SourceUnavailableError
from ..features import FeatureSource, LesionSamples, check_feature_frame
from ..fit import FITTERS, FitterSelector, GroupEliminator, fitter_name, make_fitter
from .base import Evidence, Predictor, training_labels
from .stacking import OutOfFold, Stacking

log = logging.getLogger(__name__)

#: ``GroupEliminator(prefer_keep=...)`` value meaning "the groups of sources that read named attributes"
ATTRIBUTE_GROUPS = "attributes"


@register_component("hybrid_predictor")
class HybridPredictor(Predictor):
    """Feature sources + interpretable fitter (module docstring).

    Parameters
    ----------
    sources : feature sources (:class:`~explainendo.features.FeatureSource`), each cloned in ``fit``.
    fitter : None (``FitterSelector()``), a :class:`~explainendo.fit.FitterSelector`, a fitter name or an
        unfitted classifier.
    group_selection : None or a :class:`~explainendo.fit.GroupEliminator`.
    stacking : None (``OutOfFold(5)``) or a :class:`~explainendo.predict.stacking.Stacking` strategy.
    positive_label : the class explained for binary tasks and put last in ``classes_`` (default: the last
        class in sorted order).
    seed : seeds the stacking split and folds, the fitters and the SHAP background.
    folds_by : ``"patient"`` or another table column such as ``"centre"`` (module docstring).
    label_column : the table column it learns (default ``label``; e.g. ``attr.difficulty`` for a second task
        of a :class:`~explainendo.engine.Diagnoser`'s ``tasks``).
    contrast_class : None, or the class whose training rows are SHAP's reference (module docstring).
    interventions : None, or an intervention training strategy such as
        :class:`~explainendo.predict.interventions.RandomInterventions` (module docstring); needs attribute heads
        among the sources and ``attr.<attribute>`` truth columns in the training table.
    box_jitter : None, or a :class:`~explainendo.predict.box_jitter.BoxJitter`: the fitter also learns from
        copies of its lesions cut about boxes moved and resized at random, as a localizer's are (that module's
        docstring); needs the training frames, no crop masks, and stacking other than ``OutOfFold``.
    """

    values_feature_groups = True  # explain(..., group_values="exact") gives exact group Shapley values

    def __init__(self, sources: Sequence[FeatureSource] = (), fitter: Any = None, group_selection: Any = None,
                 stacking: Any = None, positive_label: str | None = None, seed: int = 0,
                 folds_by: str = "patient", label_column: str = "label", contrast_class: str | None = None,
                 interventions: Any = None, box_jitter: Any = None):
        self.sources = sources
        self.fitter = fitter
        self.group_selection = group_selection
        self.stacking = stacking
        self.positive_label = positive_label
        self.seed = seed
        self.folds_by = folds_by
        self.label_column = label_column
        self.contrast_class = contrast_class
        self.interventions = interventions
        self.box_jitter = box_jitter

    # ---- checks (all before training) ------------------------------------------------------------
    def _checked(self) -> tuple[list[FeatureSource], Stacking]:
        sources = list(self.sources or [])
        if not sources:
            raise ConfigError("HybridPredictor has no feature sources", hint="pass sources=[...]")
        for i, source in enumerate(sources):
            if not isinstance(source, FeatureSource):
                raise ConfigError(f"sources[{i}] is a {type(source).__name__}, not a FeatureSource",
                                  hint="subclass explainendo.features.FeatureSource")
            source.check_params()
        names = [s.source_name for s in sources]
        if len(set(names)) != len(names):
            raise ConfigError(f"two sources share a name: {names}", hint="give each source its own name")
        stacking = OutOfFold(5) if self.stacking is None else self.stacking
        if not isinstance(stacking, Stacking):
            raise ConfigError(f"stacking must be OutOfFold(...), HeldOut(...) or InSample(), got {stacking!r}")
        stacking.check()
        fitter = self.fitter
        if isinstance(fitter, str):
            if fitter not in FITTERS:
                raise ConfigError(f"unknown fitter {fitter!r}", hint=f"known: {FITTERS.list()} or FitterSelector()")
        elif isinstance(fitter, FitterSelector):
            if fitter.rule not in ("best", "one_se"):
                raise ConfigError(f"unknown selection rule {fitter.rule!r}", hint="'one_se' (default) or 'best'")
            fitter._candidate_estimators()  # unknown candidate names raise here, before any training
        elif fitter is not None and not (isinstance(fitter, BaseEstimator) and hasattr(fitter, "predict_proba")):
            raise ConfigError(f"fitter {fitter!r} is not a classifier with predict_proba",
                              hint="a fitter name, FitterSelector(...) or an sklearn classifier")
        if not (isinstance(self.label_column, str) and self.label_column):
            raise ConfigError(f"label_column must be a table column name such as 'label', got {self.label_column!r}")
        if not (isinstance(self.folds_by, str) and self.folds_by):
            raise ConfigError(f"folds_by must be a table column name such as 'patient' or 'centre', got "
                              f"{self.folds_by!r}")
        if self.contrast_class is not None and not (isinstance(self.contrast_class, str) and self.contrast_class):
            raise ConfigError(f"contrast_class must be None or a class label such as 'normal', got "
                              f"{self.contrast_class!r}")
        if self.group_selection is not None:
            if not isinstance(self.group_selection, GroupEliminator):
                raise ConfigError(f"group_selection must be None or GroupEliminator(...), got {self.group_selection!r}")
            self.group_selection.check()
        if self.interventions is not None:
            from .interventions import InterventionTraining

            InterventionTraining.checked(self.interventions, "HybridPredictor(interventions=...)")
            if not any(s.reads_attributes for s in sources):
                raise ConfigError("interventions: no feature source reads named attributes, so there is nothing to "
                                  "set to its true value", hint="add attribute heads, or leave interventions=None")
        if self.box_jitter is not None:
            from .box_jitter import BoxJitter

            BoxJitter.checked(self.box_jitter, "HybridPredictor(box_jitter=...)")
            if isinstance(stacking, OutOfFold) and any(s.supervised for s in sources):
                raise ConfigError("box_jitter with OutOfFold stacking: the jittered copies would be read by the "
                                  "supervised sources' final models, which trained on those lesions",
                                  hint="use stacking=HeldOut(...), or leave box_jitter=None")
        return sources, stacking

    def _check_jitter_samples(self, samples: LesionSamples) -> None:
        """``box_jitter`` re-cuts the lesions from their frames: it needs the frames and no crop masks."""
        if self.box_jitter is None:
            return
        if samples.frames is None:
            raise ConfigError("box_jitter re-cuts the training lesions from their frames, and these samples have "
                              "none", hint="build them with LesionSamples.from_manifest(..., keep_frames=True) or "
                                           "from_images, or leave box_jitter=None")
        if samples.masks is not None and any(m is not None for m in samples.masks):
            raise ConfigError("box_jitter with crop masks: a mask cut for one box does not fit a jittered box",
                              hint="train without masks, or leave box_jitter=None")

    def _jitter_rows(self, samples: LesionSamples) -> list[pd.DataFrame]:
        """The fitted sources' features of ``box_jitter``'s copies of ``samples`` (one frame per copy, in the
        fitter's column order); sets ``box_jitter_``. Empty without ``box_jitter``."""
        self.box_jitter_ = None
        if self.box_jitter is None:
            return []
        boxes, off_frame = self.box_jitter.jittered(list(samples.boxes), [np.shape(f) for f in samples.frames],
                                                    self.seed)
        copies = []
        for moved in boxes:
            copy = LesionSamples.from_images(samples.frames, moved, enlarge=samples.enlarge, table=samples.table)
            copies.append(self.features(copy))
        self.box_jitter_ = {"strategy": "box_jitter", "scale": float(self.box_jitter.scale),
                            "shift": float(self.box_jitter.shift), "copies": len(boxes), "rows": len(samples),
                            "rows_added": len(samples) * len(boxes), "off_frame_kept_true_box": int(off_frame)}
        return copies

    def _check_intervention_truth(self, table: pd.DataFrame) -> None:
        """With ``interventions``: the training table has a true value for at least one attribute the sources
        read (an ``attr.<attribute>`` column with a value; the landmark head's ``location`` too), before training."""
        if self.interventions is None:
            return
        names = set()
        for source in self.sources or []:
            if source.reads_attributes:
                for spec in getattr(source, "attribute_specs", lambda: [])():
                    names.add(spec.name)
                    if spec.name == "landmark":
                        names.add("location")
        present = [c for c in table.columns if str(c).startswith("attr.") and table[c].notna().any()
                   and (not names or str(c)[len("attr."):] in names)]
        if not present:
            wanted = ", ".join(f"attr.{n}" for n in sorted(names)) or "attr.<attribute>"
            raise ConfigError("interventions: the training lesions have no true attribute values to set "
                              f"(none of {wanted} has a value)",
                              hint="give the attributes' truth in the manifest, or leave interventions=None")

    # ---- training -------------------------------------------------------------------------------
    def fit(self, samples: LesionSamples, *, unlabeled: LesionSamples | None = None) -> "HybridPredictor":
        sources, stacking = self._checked()
        self._check_intervention_truth(samples.table)
        self._check_jitter_samples(samples)
        self.classes_, y = training_labels(samples, self.positive_label, column=self.label_column)
        self._check_contrast_class(self.classes_)
        groups = self._fold_groups(samples)
        labels = np.asarray(self.classes_, dtype=object)[y]
        supervised = any(s.supervised for s in sources)
        source_rows, fitter_rows = (stacking.rows(labels.astype(str), groups, self.seed) if supervised
                                    else (np.arange(len(samples)), np.arange(len(samples))))
        fitter_samples = samples.subset(fitter_rows) if len(fitter_rows) < len(samples) else samples

        frames, fitted, used, skipped, owner = [], [], [], [], {}
        for source in sources:
            name = source.source_name
            try:
                if source.supervised:
                    model, X, info = stacking.features(source, samples, source_rows, fitter_rows, groups, self.seed,
                                                       unlabeled=unlabeled)
                else:
                    model, info = clone(source).fit(samples, unlabeled=unlabeled), {}
                    X = model.transform(fitter_samples)
            except SourceUnavailableError as exc:
                log.warning("source %r left out: %s", name, exc)
                skipped.append({"name": name, "reason": str(exc)})
                continue
            X = check_feature_frame(X, len(fitter_rows), name)
            for g in model.groups:
                if g in owner:
                    raise ConfigError(f"feature group {g!r} comes from both {owner[g]!r} and {name!r}",
                                      hint="give the sources distinct group names")
                owner[g] = name
            entry = {"name": name, "class": type(source).__name__, "columns": int(X.shape[1]),
                     "groups": list(model.groups), "supervised": bool(source.supervised), **info}
            trained = getattr(model, "trained_attributes_", None)
            if trained is not None:
                entry["trained_attributes"] = list(trained)
            used.append(entry)
            fitted.append(model)
            frames.append(X.reset_index(drop=True))
        if not frames:
            raise SourceUnavailableError("no feature source could be trained",
                                         hint="; ".join(f"{s['name']}: {s['reason']}" for s in skipped) or None)
        self.sources_, self.sources_used_, self.skipped_sources_ = fitted, used, skipped
        self.groups_ = {g: cols for s in fitted for g, cols in s.groups.items()}
        any_supervised = any(s.supervised for s in fitted)
        self.stacking_ = {"mode": stacking.mode if any_supervised else "unsupervised",
                          "source_lesions": int(len(source_rows)), "fitter_lesions": int(len(fitter_rows)),
                          "folds_by": self.folds_by}
        X = pd.concat(frames, axis=1)
        self.feature_columns_ = list(X.columns)
        self.training_rows_ = fitter_rows  # the fitter's rows' positions among the training lesions
        self.n_training_lesions_ = int(len(samples))
        self._fit_fitter_on(X, y[fitter_rows], groups[fitter_rows], fitter_samples.table,
                            jittered=self._jitter_rows(fitter_samples))
        return self

    def _check_contrast_class(self, labels) -> None:
        if self.contrast_class is not None and self.contrast_class not in set(labels):
            raise ConfigError(f"contrast_class {self.contrast_class!r} is not a label in the training data",
                              hint=f"labels: {sorted(set(labels))}")

    def _fold_groups(self, samples: LesionSamples) -> np.ndarray:
        """The group of each lesion that folds keep whole (``folds_by``), checked: every lesion has a patient,
        and by another column every lesion has a value and every patient lies in one group."""
        table = samples.table
        if "patient" not in table or table["patient"].isna().any():
            raise ManifestError("every training lesion needs a 'patient' (folds and splits are by patient)",
                                source="patient", hint="add a patient column to the manifest")
        patients = table["patient"].astype(str)
        by = self.folds_by
        if by == "patient":
            return patients.to_numpy()
        if by not in table or table[by].isna().any():
            missing = "no" if by not in table else f"{int(table[by].isna().sum())} lesion(s) without a"
            raise ManifestError(f"folds_by={by!r}: {missing} '{by}' column", source=by,
                                hint=f"give every lesion a {by}, or use folds_by='patient'")
        values = table[by].astype(str)
        spread = values.groupby(patients).nunique()
        if (spread > 1).any():
            patient = spread.index[spread > 1][0]
            raise ManifestError(f"folds_by={by!r}: patient {patient!r} has lesions in several {by} values "
                                f"({sorted(values[patients == patient].unique())})", source=by,
                                hint=f"a patient must lie in one {by}; fix the manifest or use folds_by='patient'")
        if values.nunique() < 2:
            raise ManifestError(f"folds_by={by!r}: every training lesion is in one {by} ({values.iloc[0]!r})",
                                source=by, hint=f"folds by {by} need at least two; use folds_by='patient'")
        return values.to_numpy()

    def _cv_metric(self, metric: str) -> str:
        """``metric`` as a scorer for this task (ROC AUC one-vs-rest for more than two classes)."""
        return "roc_auc_ovr" if len(self.classes_) > 2 and metric == "roc_auc" else metric

    def _intervention_rows(self, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, table: pd.DataFrame):
        """The fitter's training rows with ``interventions``' extra rows (``X``, ``y``, ``groups`` as they are
        without): each added row keeps its lesion's label and fold group. Sets ``interventions_``."""
        self.interventions_ = None
        if self.interventions is None:
            return X, y, groups
        columns, truth, unknown = {}, {}, {}
        for attribute, classes in self._correctable(self.sources_).items():
            column = f"attr.{attribute}"
            if column not in table or not all(f"{attribute}.p_{c}" in X.columns for c in classes):
                continue
            folded = {c.lower(): k for k, c in enumerate(classes)}
            values = table[column].reset_index(drop=True)
            target = np.array([folded.get(str(v).strip().lower(), -1) if pd.notna(v) else -1 for v in values])
            odd = int((values.notna().to_numpy() & (target < 0)).sum())
            if odd:  # a value the head does not know (e.g. a spelling): that lesion keeps the head's reading
                unknown[attribute] = odd
                log.warning("interventions: %d lesion(s) have an %s value that is not one of %s; left as read",
                            odd, column, classes)
            if (target >= 0).any():
                columns[attribute] = [f"{attribute}.p_{c}" for c in classes]
                truth[attribute] = target
        if not columns:
            raise ConfigError("interventions: none of the fitter's training lesions has a true value of an attribute "
                              f"the heads read ({', '.join(self._correctable(self.sources_)) or 'none trained'})",
                              hint="give attr.<attribute> truth for the lesions, or leave interventions=None")
        rows, origin, facts = self.interventions.augment(X, columns, truth, self.seed)
        self.interventions_ = {**facts, "unknown_values": unknown}
        return rows, np.asarray(y)[origin], np.asarray(groups)[origin]

    def _fit_fitter_on(self, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray,
                       table: pd.DataFrame | None = None, jittered: Sequence[pd.DataFrame] = ()) -> None:
        """The fitter (selected by grouped CV for a FitterSelector), group selection, column means and the
        SHAP background, from the fitter's rows ``X`` (``table``: their lesions' table rows, for the true attribute
        values that ``interventions`` set; ``jittered``: ``box_jitter``'s copies of ``X``'s lesions, each a frame
        in ``X``'s row order). The fitter, its selection and group selection learn from the rows with the
        interventions' and the jitter's copies, and their held-out folds score the real rows only; the column means
        and the SHAP background come from the real rows ``X``."""
        self.training_features_ = X  # not saved: for the benchmark's feature tables right after fit
        self.feature_means_ = X.mean(axis=0, skipna=True).fillna(0.0).to_dict()
        self.fitter_columns_, self.dropped_groups_, self.group_selection_ = list(X.columns), [], None
        self.selection_ = None
        real_y, real_groups = y, groups
        X_fit, y, groups = self._intervention_rows(X, y, groups, pd.DataFrame() if table is None else table)
        if len(jittered):  # the copies keep their lesion's label and fold group
            X_fit = pd.concat([X_fit, *[copy[X.columns] for copy in jittered]], ignore_index=True)
            y = np.concatenate([y, np.tile(np.asarray(real_y), len(jittered))])
            groups = np.concatenate([groups, np.tile(np.asarray(real_groups), len(jittered))])
        # the selections' held-out folds score the real lesions only (the first rows; the copies train)
        real = None if len(X_fit) == len(X) else np.arange(len(X_fit)) < len(X)
        inputs = self._fitter_input(X_fit)
        fitter = FitterSelector(seed=self.seed) if self.fitter is None else self.fitter
        if isinstance(fitter, FitterSelector):
            selector = clone(fitter).set_params(metric=self._cv_metric(fitter.metric)).fit(inputs, y, groups,
                                                                                           score_rows=real)
            self.fitter_, self.fitter_name_, self.selection_ = (selector.best_estimator_, selector.best_name_,
                                                                selector.cv_results_)
        elif isinstance(fitter, str):
            self.fitter_, self.fitter_name_ = make_fitter(fitter, seed=self.seed).fit(inputs, y), fitter
        else:
            self.fitter_ = clone(fitter).fit(inputs, y)
            self.fitter_name_ = fitter_name(self.fitter_)
        if self.group_selection is not None:
            self._select_groups(X_fit.fillna(self.feature_means_), y, groups, real)
            self.fitter_ = clone(self.fitter_).fit(self._fitter_input(X_fit), y)
        Xf = self._fitter_input(X)  # the real rows: SHAP explains the model's real predictions
        pool = np.arange(len(Xf))
        if self.contrast_class is not None:  # the reference: the contrast class's rows among the fitter's
            pool = np.flatnonzero(np.asarray(real_y) == self.classes_.index(self.contrast_class))
            if len(pool) == 0:
                raise ManifestError(f"contrast_class {self.contrast_class!r}: none of the fitter's training rows has "
                                    "that label", hint="give the fitter's rows that class, or leave contrast_class "
                                                       "None")
        keep = np.sort(np.random.default_rng(self.seed).choice(pool, size=min(100, len(pool)), replace=False))
        self.background_ = Xf[keep]
        self._shap = None

    def _select_groups(self, X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, score_rows=None) -> None:
        present = {g: [c for c in cols if c in X.columns] for g, cols in self.groups_.items()}
        present = {g: c for g, c in present.items() if c}
        prefer = self.group_selection.prefer_keep
        if prefer == ATTRIBUTE_GROUPS:
            names = {g for s in self.sources_ if s.reads_attributes for g in s.groups}
        else:
            names = set(prefer or ())
            unknown = sorted(names - set(self.groups_))
            if unknown:  # not an error: a head without labels is left out, and a typo must not cost the training
                log.warning("prefer_keep: no source produced %s (groups: %s)", unknown, sorted(self.groups_))
        eliminator = clone(self.group_selection).set_params(
            estimator=clone(self.fitter_), groups=present, prefer_keep=[g for g in present if g in names],
            metric=self._cv_metric(self.group_selection.metric)).fit(X, y, groups, score_rows=score_rows)
        kept = {c for g in eliminator.kept_ for c in present[g]}
        self.fitter_columns_ = [c for c in X.columns if c in kept]
        self.dropped_groups_ = list(eliminator.dropped_)
        self.group_selection_ = eliminator.steps_
        log.info("group selection dropped %s", self.dropped_groups_ or "nothing")

    def refit_fitter(self, samples: LesionSamples) -> "HybridPredictor":
        """Fit the fitter again (with its selection) on ``samples``' features from the fitted sources, which stay
        as they are: for a changed prediction setting of a source, or stacking on patients set aside by hand.
        ``samples`` must be lesions the supervised sources did not train on; nothing here can check that, so
        ``stacking_["mode"]`` becomes ``"refit"``. With ``interventions``, the fitter also learns from their copies
        (the true attributes from ``samples``' table)."""
        self._check_fitted()
        if self.interventions is not None:
            from .interventions import InterventionTraining

            InterventionTraining.checked(self.interventions, "HybridPredictor(interventions=...)")
        classes, y = training_labels(samples)
        unknown = sorted(set(classes) - set(self.classes_))
        if unknown:
            raise ManifestError(f"labels {unknown} are not among the model's classes {self.classes_}",
                                source="samples", hint="refit on lesions of the classes the model knows")
        y = np.array([self.classes_.index(classes[i]) for i in y])
        self._check_intervention_truth(samples.table)
        self._check_jitter_samples(samples)
        self._fit_fitter_on(self.features(samples), y, self._fold_groups(samples), samples.table,
                            jittered=self._jitter_rows(samples))
        self.training_rows_ = np.arange(len(samples))
        self.stacking_ = {**self.stacking_, "mode": "refit", "fitter_lesions": int(len(samples))}
        return self

    # ---- prediction ------------------------------------------------------------------------------
    def features(self, samples: LesionSamples) -> pd.DataFrame:
        """The raw feature table (NaN where a feature failed), in the fitter's column order."""
        self._check_fitted()
        parts = [check_feature_frame(s.transform(samples), len(samples), s.source_name).reset_index(drop=True)
                 for s in self.sources_]
        return pd.concat(parts, axis=1).reindex(columns=self.feature_columns_)

    def _fitter_input(self, features: pd.DataFrame) -> np.ndarray:
        """The fitter's columns as floats, a missing value (NaN) replaced by the column's training mean (a column
        without one stays NaN). NumPy, not ``DataFrame.fillna``: this runs on every frame and every explanation."""
        X = features[self.fitter_columns_].to_numpy(dtype=float)
        missing = np.isnan(X)
        if missing.any():
            means = np.array([self.feature_means_.get(c, np.nan) for c in self.fitter_columns_], dtype=float)
            X = np.where(missing, means[None, :], X)
        return X

    def predict_proba(self, samples: LesionSamples) -> np.ndarray:
        return self.predict_proba_features(self.features(samples))

    def predict_with_features(self, samples: LesionSamples) -> tuple[np.ndarray, pd.DataFrame]:
        features = self.features(samples)
        return self.predict_proba_features(features), features

    def check_params(self) -> None:
        self._checked()

    def check_data(self, table: pd.DataFrame) -> None:
        """``positive_label`` among the labels, ``folds_by``'s column present, and every source's own check."""
        sources, _ = self._checked()
        if self.positive_label is not None and self.label_column in table:
            labels = sorted(set(table[self.label_column].dropna().astype(str)))
            if self.positive_label not in labels:
                raise ConfigError(f"positive_label {self.positive_label!r} is not a label in the training data",
                                  hint=f"labels: {labels}")
        if self.contrast_class is not None and self.label_column in table:
            self._check_contrast_class(table[self.label_column].dropna().astype(str))
        if self.folds_by != "patient" and self.folds_by not in table:
            raise ManifestError(f"folds_by={self.folds_by!r}: the training data have no '{self.folds_by}' column",
                                source=self.folds_by, hint=f"add it, or use folds_by='patient'")
        self._check_intervention_truth(table)
        for source in sources:
            source.check_data(table)

    def table_columns(self) -> list[str]:
        return [c for s in (getattr(self, "sources_", None) or self.sources or [])
                for c in getattr(s, "table_columns", lambda: [])()]

    def attribute_specs(self) -> list:
        return [spec for source in (self.sources or []) for spec in getattr(source, "attribute_specs", lambda: [])()]

    def predict_proba_features(self, features: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.fitter_.predict_proba(self._fitter_input(features)), dtype=float)

    def describe(self) -> str:
        return f"hybrid: {self.fitter_name_}" if hasattr(self, "fitter_name_") else "hybrid (not fitted)"

    # ---- explanation -----------------------------------------------------------------------------
    def shap_explainer(self):
        """The grouped SHAP explainer of the fitter (built once, on the stored training background: every class's
        rows, or the ``contrast_class``'s, then interventional for tree explainers too)."""
        from ..explain.grouped_shap import GroupedShapExplainer

        self._check_fitted()
        if getattr(self, "_shap", None) is None:
            groups = {g: cols for g, cols in self.groups_.items() if g not in self.dropped_groups_}
            self._shap = GroupedShapExplainer(self.fitter_, self.background_, self.fitter_columns_, groups,
                                              seed=self.seed, interventional=self.contrast_class is not None)
        return self._shap

    def shap_values(self, samples: LesionSamples | pd.DataFrame, class_index: int | None = None):
        """Grouped SHAP for many lesions for one class (default: the last, the positive class of a binary
        task), over every feature column and group (dropped groups get 0, so additivity holds): a
        :class:`~explainendo.explain.grouped_shap.ShapResult`. ``samples`` may be a feature table."""
        import dataclasses

        features = samples if isinstance(samples, pd.DataFrame) else self.features(samples)
        result = self.shap_explainer().explain(self._fitter_input(features), class_index=class_index)
        if not self.dropped_groups_:
            return result
        return dataclasses.replace(
            result, values=result.values.reindex(columns=self.feature_columns_, fill_value=0.0),
            group_values=result.group_values.reindex(columns=list(self.groups_), fill_value=0.0))

    def exact_group_explainer(self):
        """The exact group Shapley explainer of the fitter's output
        (:class:`~explainendo.explain.group_shapley.ExactGroupShapley`), over the SHAP explainer's groups and
        against a k-means summary of its background into ``EXACT_BACKGROUND_ROWS`` (10) weighted rows; rebuilt
        whenever the SHAP explainer is."""
        from ..explain.group_shapley import EXACT_BACKGROUND_ROWS, ExactGroupShapley

        shap_explainer = self.shap_explainer()
        if getattr(self, "_exact", None) is None or self._exact.explainer is not shap_explainer:
            self._exact = ExactGroupShapley(shap_explainer, n_background=EXACT_BACKGROUND_ROWS, seed=self.seed)
        return self._exact

    def explain(self, samples: LesionSamples, class_index: int | None = None, gradcam: bool = True,
                features: pd.DataFrame | None = None, group_values: str = "shap") -> list[Evidence]:
        """Per lesion: SHAP per feature and group (the groups the fitter uses) for ``class_index`` (default:
        the lesion's predicted class), and Grad-CAM per attribute head. ``group_values``: ``"shap"`` (the
        per-feature SHAP values summed per group) or ``"exact"`` (exact group Shapley values of the same output,
        :meth:`exact_group_explainer`; ``Evidence.group_shap`` and ``expected_value`` then hold those, ``shap``
        keeps the per-feature SHAP values, and ``Evidence.explainer`` names both methods)."""
        from ..explain.gradcam import source_gradcams
        from ..explain.group_shapley import check_group_value_method, exact_explainer_name

        check_group_value_method(group_values)
        features = self.features(samples) if features is None else features
        explainer = self.shap_explainer()
        inputs = self._fitter_input(features)
        targets = self._class_indices(self.fitter_.predict_proba(inputs), class_index)
        cams = source_gradcams(self.sources_, samples) if gradcam else [{} for _ in range(len(samples))]
        out: list[Evidence | None] = [None] * len(samples)
        for c in np.unique(targets):
            rows = np.flatnonzero(targets == c)
            result = explainer.explain(inputs[rows], class_index=int(c))
            group, expected, name = result.group_values, result.expected_value, result.explainer
            if group_values == "exact":
                exact = self.exact_group_explainer().explain(inputs[rows], class_index=int(c))
                group, expected, name = exact.group_values, exact.expected_value, exact_explainer_name(result, exact)
            for k, i in enumerate(rows):
                out[i] = Evidence(explained_class=self.classes_[int(c)], output=float(result.output[k]),
                                  space=result.space, explainer=name, expected_value=float(expected),
                                  shap=result.values.iloc[k].to_dict(),
                                  group_shap={g: float(v) for g, v in group.iloc[k].items()},
                                  groups=self.groups_, gradcams=cams[i])
        return out

    # ---- intervention (a clinician corrects an attribute) ------------------------------------------
    def correctable_attributes(self) -> dict[str, list[str]]:
        """``{attribute: [classes]}`` that :meth:`intervene` can set: the feature groups of the sources that read
        named attributes (``reads_attributes``: the attribute heads) whose columns are all ``<attribute>.p_<class>``,
        in column order. The landmark head's group is ``location`` (its location classes). Empty without heads."""
        self._check_fitted()
        return self._correctable(self.sources_)

    @staticmethod
    def _correctable(sources) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for source in sources:
            if not source.reads_attributes:
                continue
            for group, columns in source.groups.items():
                prefix = f"{group}.p_"
                if columns and all(c.startswith(prefix) for c in columns):
                    out[group] = [c[len(prefix):] for c in columns]
        return out

    def checked_corrections(self, corrections) -> dict[str, str]:
        """``corrections`` (``{attribute: class}``) checked against :meth:`correctable_attributes`, each class
        spelled as the model spells it (case and surrounding spaces ignored). ``ConfigError`` for a model without
        attribute heads, an empty or non-mapping argument, an unknown attribute or a class the attribute lacks
        (the message names the valid ones)."""
        from collections.abc import Mapping

        known = self.correctable_attributes()
        if not known:
            raise ConfigError(f"this hybrid ({self.describe()}) has no attribute heads among its feature sources: "
                              "there is no attribute to correct",
                              hint="intervention needs a hybrid with AttributeHeads, e.g. GastricDiagnoser")
        if not isinstance(corrections, Mapping) or not corrections:
            raise ConfigError(f"corrections must be a non-empty mapping of attribute to class, got {corrections!r}",
                              hint="e.g. {'boundary': 'clear', 'tone': 'reddened'}")
        out: dict[str, str] = {}
        for attribute, value in corrections.items():
            if not isinstance(attribute, str) or attribute.strip() not in known:
                landmark = "; the landmark head's reading is 'location'" if (
                    attribute == "landmark" and "location" in known) else ""
                raise ConfigError(f"unknown attribute {attribute!r}: this model has no head reading it",
                                  hint=f"attributes it can correct: {', '.join(known)}{landmark}")
            name = attribute.strip()
            folded = {c.lower(): c for c in known[name]}
            if not isinstance(value, str) or value.strip().lower() not in folded:
                raise ConfigError(f"{value!r} is not a class of attribute {name!r}",
                                  hint=f"its classes: {', '.join(known[name])}")
            out[name] = folded[value.strip().lower()]
        return out

    def intervene(self, features: pd.DataFrame, corrections) -> tuple[np.ndarray, pd.DataFrame]:
        """Test-time intervention (concept-bottleneck models, Koh et al. 2020): a clinician sets attributes, e.g.
        ``{"boundary": "clear", "tone": "reddened"}``, and the fitter predicts again.

        In a copy of ``features`` (rows of :meth:`features`, or ``pd.DataFrame([lesion.features])``; never changed)
        each corrected attribute's columns ``<attribute>.p_<class>`` become the one-hot of the class set (1 for it,
        0 for the others) on every row; the fitter reads the copy as it reads any features (the columns it uses,
        missing values filled with the training means). Returns ``(probabilities (n, k), corrected features)``, as
        :meth:`predict_with_features` does. An attribute whose group the fitter does not use (dropped by
        ``group_selection``) is still set, so the features record the clinician's reading, with a ``UserWarning``:
        its correction cannot change the diagnosis. Errors: :meth:`checked_corrections`; ``ConfigError`` when
        ``features`` lacks a corrected attribute's columns."""
        import warnings

        applied = self.checked_corrections(corrections)
        if not isinstance(features, pd.DataFrame):
            raise ConfigError(f"features must be a DataFrame of feature rows, got {type(features).__name__}",
                              hint="HybridPredictor.features(samples), or pd.DataFrame([lesion.features])")
        classes = self.correctable_attributes()
        columns = {a: [f"{a}.p_{c}" for c in classes[a]] for a in applied}
        missing = [c for cols in columns.values() for c in cols if c not in features.columns]
        if missing:
            raise ConfigError(f"the features have no column(s) {missing} to correct",
                              hint="pass this model's features: HybridPredictor.features(samples) or a lesion's")
        used = set(self.fitter_columns_)
        unused = [a for a, cols in columns.items() if not used.intersection(cols)]
        if unused:
            warnings.warn(f"the fitter does not use attribute(s) {unused} (dropped by group selection): the "
                          "correction is recorded in the features but cannot change the diagnosis", stacklevel=2)
        corrected = features.copy()
        for attribute, value in applied.items():
            for cls, column in zip(classes[attribute], columns[attribute]):
                corrected[column] = 1.0 if cls == value else 0.0
        return self.predict_proba_features(corrected), corrected

    # ---- persistence -----------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict:
        from safetensors.numpy import save_file

        from ..fit.persist import save_fitter

        self._check_fitted()
        sources = [save_child(s, directory, f"sources/{i:02d}_{s.source_name}") for i, s in enumerate(self.sources_)]
        fitter = save_fitter(self.fitter_, directory / "fitter")
        save_file({"background": np.ascontiguousarray(self.background_, dtype=np.float64)},
                  str(directory / "fitter" / "background.safetensors"))
        if self.selection_ is not None:
            self.selection_.to_csv(directory / "fitter" / "selection.csv", index=False)
        if self.group_selection_ is not None:
            self.group_selection_.to_csv(directory / "fitter" / "group_selection.csv", index=False)
        return {"sources": sources, "fitter": {**fitter, "path": f"fitter/{fitter['path']}"},
                "fitter_name": self.fitter_name_, "classes": list(self.classes_),
                "feature_columns": list(self.feature_columns_),
                "feature_means": {k: float(v) for k, v in self.feature_means_.items()},
                "groups": {g: list(c) for g, c in self.groups_.items()},
                "fitter_columns": list(self.fitter_columns_), "dropped_groups": list(self.dropped_groups_),
                "sources_used": self.sources_used_, "skipped_sources": self.skipped_sources_,
                "stacking": self.stacking_, "n_training_lesions": int(self.n_training_lesions_),
                # only with interventions: a folder of a predictor without them saves what it saved before
                **({"interventions": self.interventions_} if getattr(self, "interventions_", None) else {}),
                **({"box_jitter": self.box_jitter_} if getattr(self, "box_jitter_", None) else {})}

    def _load_state(self, state: dict, directory: Path) -> None:
        from safetensors.numpy import load_file

        from ..fit.persist import load_fitter

        try:
            self.sources_ = [load_child(entry, directory, FeatureSource) for entry in state["sources"]]
            self.fitter_ = load_fitter(directory, state["fitter"])
            self.fitter_name_ = str(state["fitter_name"])
            self.background_ = load_file(str(directory / "fitter" / "background.safetensors"))["background"]
            self.classes_ = [str(c) for c in state["classes"]]
            self.feature_columns_ = [str(c) for c in state["feature_columns"]]
            self.feature_means_ = {str(k): float(v) for k, v in state["feature_means"].items()}
            self.groups_ = {str(g): [str(c) for c in cols] for g, cols in state["groups"].items()}
            self.fitter_columns_ = [str(c) for c in state["fitter_columns"]]
            self.dropped_groups_ = [str(g) for g in state["dropped_groups"]]
            self.sources_used_ = list(state.get("sources_used") or [])
            self.skipped_sources_ = list(state.get("skipped_sources") or [])
            self.stacking_ = dict(state.get("stacking") or {})
            self.n_training_lesions_ = int(state.get("n_training_lesions", 0))
            self.interventions_ = state.get("interventions") or None
            self.box_jitter_ = state.get("box_jitter") or None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"hybrid predictor state is incomplete or malformed ({exc!r})",
                                 source=str(directory)) from None
        selection = directory / "fitter" / "selection.csv"
        self.selection_ = pd.read_csv(selection) if selection.is_file() else None
        steps = directory / "fitter" / "group_selection.csv"
        self.group_selection_ = pd.read_csv(steps, keep_default_na=False) if steps.is_file() else None
        self._shap = None
