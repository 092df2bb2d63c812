"""``Diagnoser``: the one engine every system runs on.

::

    Diagnoser(localizer=..., predictor=...)
      fit(manifest, *, unlabeled=None)   train a clone of the localizer on the manifest's boxes, cut the
                                         lesions (1.0x or 1.2x the box), train a clone of the predictor
      predict(source, stream=False)      any input form (path, folder, video, array, PIL image, bytes, list,
                                         generator) -> frames -> boxes -> lesions -> predictor -> Results
      explain(result)                    SHAP per feature group and Grad-CAM per head for a result's lesion,
                                         and where the localizer looked (EigenCAM by default)
      save(folder) / Diagnoser.load(folder)

The localizer is any :class:`~explainendo.localize.Localizer` (or None: each image is one whole-frame
lesion unless boxes are given); the predictor any :class:`~explainendo.predict.Predictor` (a hybrid, a
CNN, the detector's own label). A system is a few lines of wiring: a subclass that chooses defaults.

Inputs are read in batches of ``batch_size`` frames; a frame that cannot be read, or whose lesions fail,
gives a :class:`~explainendo.types.Result` with ``error`` set and the others go on; a frame where the
localizer finds nothing gives ``no_lesion=True``. Full frames are kept on results only with
``keep_frames=True``, so a long video is streamed in constant memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
from sklearn.base import clone

from .components import Component, load_child, register_component, save_child
from .errors import ConfigError, ExplainendoError, InvalidImageError, ManifestError, NotFittedError
from .explain import ood as _ood  # noqa: F401  registers the 'ood_detector' kind a saved model's params name
from .features import LesionSamples
from .io.manifest import BOX_COLUMNS, Manifest
from .types import Box, Explanation, Lesion, Result

log = logging.getLogger(__name__)


def manifest_hash(table: pd.DataFrame) -> str:
    """SHA-256 of a manifest or lesion table as CSV (the provenance of a trained model); the CSV line numbers
    a manifest read from a file carries are not data and are left out."""
    table = table.drop(columns=["csv_line"], errors="ignore")
    return hashlib.sha256(table.to_csv(index=False).encode("utf-8")).hexdigest()


def as_manifest(data) -> Manifest:
    if isinstance(data, Manifest):
        return data
    if isinstance(data, (str, os.PathLike)):
        return Manifest.read_csv(data)
    if hasattr(data, "write") and hasattr(data, "table"):  # a synth.PhantomSet
        raise ConfigError("pass a Manifest (PhantomSet.write(folder)) to fit, not the PhantomSet itself",
                          hint="manifest = phantoms.write('phantoms/'); model.fit(manifest)")
    raise ConfigError(f"cannot train on a {type(data).__name__}", hint="pass a Manifest or a manifest CSV path")


@register_component("diagnoser")
class Diagnoser(Component):
    """Localizer + predictor (module docstring).

    Parameters
    ----------
    localizer : a :class:`~explainendo.localize.Localizer` (cloned and trained in ``fit``), or None.
    predictor : a :class:`~explainendo.predict.Predictor` (cloned and trained in ``fit``).
    enlarge : crop enlargement about the box centre (ENDOANGEL-ED: 1.0; 1.2 adds context).
    batch_size : frames read, localized and diagnosed together.
    min_box_score : boxes scored below this are ignored.
    train_localizer : False: the localizer is trained already and used as given (it is not cloned or changed).
    tasks : further predictions on the same lesions, ``{name: predictor}``, each predictor learning its own
        ``label_column`` (e.g. ``{"four_class": HybridPredictor(..., label_column="attr.difficulty")}``):
        trained on the lesions that have that column, reported in each lesion's ``tasks[name]`` and explained
        by ``explain(..., task=name)``.
    ood : an :class:`~explainendo.explain.ood.OODDetector` (cloned and fitted on the training lesions in ``fit``),
        ``"default"`` (:func:`~explainendo.explain.ood.default_ood_detector`, the image statistics plus the
        EfficientNet-Lite0 embedding: the four systems' default), or None (this bare engine's default: no
        out-of-distribution scores). When fitted, every result and lesion carries ``ood_score`` and ``ood`` (flagged:
        unlike the training data). ``"default"`` on training data too small to calibrate it (fewer than 19 lesions
        or distinct frames, one patient) fits none and warns; an explicit detector there is a ConfigError.
    """

    def __init__(self, localizer: Any = None, predictor: Any = None, enlarge: float = 1.0, batch_size: int = 16,
                 min_box_score: float = 0.0, train_localizer: bool = True, tasks: Any = None,
                 ood: Any = None):
        self.localizer = localizer
        self.predictor = predictor
        self.enlarge = enlarge
        self.batch_size = batch_size
        self.min_box_score = min_box_score
        self.train_localizer = train_localizer
        self.tasks = tasks
        self.ood = ood

    # ---- the parts (a system overrides these to supply its defaults) ----------------------------------
    def _localizer(self):
        return self.localizer

    def _predictor(self):
        return self.predictor

    def _tasks(self):
        return {} if self.tasks is None else self.tasks

    def checked_tasks(self) -> dict:
        """``{name: predictor}`` of the further tasks, every one checked (names, types, parameters)."""
        from .predict import Predictor

        tasks = self._tasks()
        if not isinstance(tasks, dict):
            raise ConfigError(f"tasks must be a mapping of names to predictors, got {type(self.tasks).__name__}",
                              hint="tasks={'four_class': HybridPredictor([...], label_column='attr.difficulty')}")
        tasks = dict(tasks)
        for name, task in tasks.items():
            if not (isinstance(name, str) and name.isidentifier()):
                raise ConfigError(f"task name {name!r} must be a plain identifier", hint="e.g. 'four_class'")
            if not isinstance(task, Predictor):
                raise ConfigError(f"task {name!r} is a {type(task).__name__}, not a Predictor",
                                  hint="e.g. HybridPredictor([...], label_column='attr.difficulty')")
            task.check_params()
        return tasks

    def checked_ood(self):
        """The :class:`~explainendo.explain.ood.OODDetector` ``fit`` would fit (parameters checked; ``"default"``: a
        new :func:`~explainendo.explain.ood.default_ood_detector`), or None. A system whose ``__init__`` does not take
        ``ood`` has none."""
        from .explain.ood import DEFAULT_OOD, OODDetector, default_ood_detector

        ood = getattr(self, "ood", None)
        if isinstance(ood, str) and ood == DEFAULT_OOD:
            ood = default_ood_detector()
        if ood is not None and not isinstance(ood, OODDetector):
            raise ConfigError(f"ood must be an OODDetector, {DEFAULT_OOD!r} or None, got {ood!r}",
                              hint="Diagnoser(..., ood=OODDetector(coverage=0.95)), ood='default', or ood=None")
        return None if ood is None else ood.check_params()

    def _ood_to_fit(self, table: pd.DataFrame, has_frames: bool = True):
        """The OOD detector ``fit`` fits on the training rows ``table`` (checked against them first), or None.
        The default (``ood="default"``) on rows too few to calibrate it, or on samples without frames, is left out
        with a warning that says why (results then carry no flag); an explicit detector there is a ConfigError."""
        import warnings

        from .explain.ood import DEFAULT_OOD

        ood = self.checked_ood()
        if ood is None:
            return None
        try:
            ood.check_data(table, has_frames)
        except ConfigError as exc:
            if not (isinstance(self.ood, str) and self.ood == DEFAULT_OOD):
                raise
            warnings.warn(f"{type(self).__name__} trains without its out-of-distribution flag: {exc.reason} (results "
                          f"will carry no ood / ood_score); give more training data, or pass ood=None to say so",
                          UserWarning, stacklevel=3)
            return None
        return ood

    def data_specs(self) -> list:
        """The :class:`~explainendo.specs.AttributeSpec` of every ``attr.<name>`` column this model trains on:
        the predictor's and the tasks' (``explainendo data validate`` checks each cell against them)."""
        _, predictor = self.checked_parts()
        specs = {s.name: s for s in predictor.attribute_specs()}
        for task in self.checked_tasks().values():
            specs.update({s.name: s for s in task.attribute_specs() if s.name not in specs})
        return list(specs.values())

    @staticmethod
    def task_column(predictor) -> str:
        """The table column a predictor learns (``label_column``; ``label`` when it has none)."""
        return str(getattr(predictor, "label_column", "label") or "label")

    def checked_parts(self):
        """The (localizer, predictor) that ``fit`` would train, with every parameter checked, and nothing
        trained: a system's defaults built from its settings (ConfigError on a value that cannot be honoured)."""
        from .localize import Localizer
        from .predict import Predictor

        localizer, predictor = self._localizer(), self._predictor()
        if not isinstance(predictor, Predictor):
            raise ConfigError(f"predictor must be a Predictor, got {type(predictor).__name__}",
                              hint="e.g. HybridPredictor([...]) or CNNClassifier()")
        if localizer is not None and not isinstance(localizer, Localizer):
            raise ConfigError(f"localizer must be a Localizer or None, got {type(localizer).__name__}")
        if not (isinstance(self.enlarge, (int, float)) and self.enlarge >= 1.0):
            raise ConfigError(f"enlarge={self.enlarge!r}", hint="1.0 (the box) or 1.2 (the paper's enlarged box)")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ConfigError(f"batch_size={self.batch_size!r} must be a positive integer")
        predictor.check_params()
        self.checked_tasks()
        self.checked_ood()
        if localizer is not None:
            localizer.check_params()
        return localizer, predictor

    # ---- training -----------------------------------------------------------------------------------
    def fit(self, data, *, unlabeled=None) -> "Diagnoser":
        """Train on ``data``: a :class:`~explainendo.io.Manifest` or its CSV path (the localizer learns from
        its boxes), or ready-made labelled :class:`~explainendo.features.LesionSamples` (then the localizer
        must be trained already, ``train_localizer=False``, or be None). ``unlabeled``: lesions without
        labels for semi-supervised sources (a Manifest, CSV path or LesionSamples)."""
        localizer, predictor = self.checked_parts()
        if isinstance(data, LesionSamples):
            if localizer is not None and self.train_localizer and localizer.needs_fit:
                raise ConfigError("a localizer learns from a manifest's boxes, and LesionSamples carry none of its "
                                  "images", hint="fit(manifest), or pass a trained localizer with "
                                                 "train_localizer=False")
            for column in ("label", "patient"):
                if column not in data.table:
                    raise ManifestError(f"the samples' table needs a '{column}' column")
            samples = data.subset(np.flatnonzero(data.table["label"].notna().to_numpy()))
            predictor.check_data(samples.table)
            self.check_task_data(data.table)
            ood = self._ood_to_fit(samples.table, data.frames is not None)
            self.localizer_ = localizer
            self.manifest_hash_ = manifest_hash(samples.table)
            task_samples = data
        else:
            manifest = as_manifest(data)
            if "label" not in manifest.df.columns or manifest.df["label"].isna().all():
                raise ManifestError("the training manifest has no 'label' values", source=manifest.name or None,
                                    hint="give each lesion a diagnosis label")
            labelled = manifest.df[manifest.df["label"].notna()]
            predictor.check_data(labelled)  # labels, attribute values, columns: before any network trains
            self.check_task_data(manifest.df)
            ood = self._ood_to_fit(labelled)
            self.localizer_ = self._trained_localizer(localizer, manifest)
            self.manifest_hash_ = manifest_hash(manifest.df)
            rows = manifest
            if self._lesions_from_boxes(manifest):
                rows = manifest.subset(manifest.df[list(BOX_COLUMNS)].notna().all(axis=1))
            if self._tasks():  # every lesion once; the diagnosis trains on the labelled ones, each task on its own
                task_samples = self._lesions(rows)
                samples = task_samples.subset(np.flatnonzero(task_samples.table["label"].notna().to_numpy()))
            else:
                samples = self._lesions(rows.subset(rows.df["label"].notna()))
        extra = None if unlabeled is None else self._unlabeled_samples(unlabeled)
        self.predictor_ = clone(predictor).fit(samples, unlabeled=extra)
        self.classes_ = list(self.predictor_.classes_)
        self.n_training_lesions_ = int(len(samples))
        self.tasks_ = {}
        for name, task in self.checked_tasks().items():
            column = self.task_column(task)
            have = np.flatnonzero(task_samples.labels(column).notna().to_numpy())
            self.tasks_[name] = clone(task).fit(task_samples.subset(have), unlabeled=extra)
        self.ood_ = None
        if ood is not None:
            features = self.predictor_.features(samples) if ood.predictor_features else None
            self.ood_ = clone(ood).fit(samples, features)
        return self

    def check_task_data(self, table: pd.DataFrame) -> None:
        """Each further task's column is in the training table with values, and the task's predictor accepts
        the rows that have it (``check_data``): before any network trains."""
        for name, task in self.checked_tasks().items():
            column = self.task_column(task)
            if column not in table.columns or table[column].isna().all():
                raise ManifestError(f"task {name!r} learns column {column!r}, which the training data do not have",
                                    source=column, hint="add the column, or leave the task out")
            task.check_data(table[table[column].notna()])

    def _trained_localizer(self, localizer, manifest: Manifest):
        if localizer is None:
            return None
        if self.train_localizer and localizer.needs_fit:
            return clone(localizer).fit(manifest)
        localizer._check_fitted()  # given trained: used as it is
        return localizer

    def _unlabeled_samples(self, unlabeled) -> LesionSamples:
        if isinstance(unlabeled, LesionSamples):
            return unlabeled
        return self._lesions(as_manifest(unlabeled))

    def _lesions_from_boxes(self, manifest: Manifest) -> bool:
        """Whether the lesions of ``manifest`` are its boxes (True when it has any); False: one lesion per image,
        the localizer's most confident box (a frame-level system, whose boxes train something else)."""
        return manifest.has_boxes

    def _lesions(self, manifest: Manifest) -> LesionSamples:
        """Lesions of a manifest: its boxes, or (image-level rows) the localizer's most confident box."""
        if self._lesions_from_boxes(manifest):
            return LesionSamples.from_manifest(manifest, enlarge=self.enlarge)
        from .io.image import read_image
        from .io.sources import Frame

        frames, boxes, rows = [], [], []
        for image_name, rows_of_image in manifest.iter_images():
            frame = read_image(manifest.path(image_name))
            found = self._locate([Frame(image_name, frame)])[0]
            if not found:
                log.warning("no lesion found in training image %s: left out", image_name)
                continue
            frames.append(frame)
            boxes.append(max(found, key=lambda b: b.score).clip(frame.shape[1], frame.shape[0]))
            rows.append(rows_of_image.iloc[0])
        if not frames:
            raise ManifestError("the localizer found no lesion in any training image", source=manifest.name or None,
                                hint="give boxes in the manifest, or train the localizer first")
        return LesionSamples.from_images(frames, boxes, enlarge=self.enlarge,
                                         table=pd.DataFrame(rows).reset_index(drop=True))

    # ---- prediction ---------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "predictor_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted",
                                 hint="call fit(manifest) or explainendo.load(folder) first")

    def predict(self, source, *, boxes=None, table: pd.DataFrame | None = None, stream: bool = False,
                keep_frames: bool = False):
        """Diagnose every frame of ``source`` (a path, array, PIL image, bytes, list, folder, video or
        generator). Returns a list of :class:`~explainendo.types.Result` (one per frame, in input order), or
        an iterator with ``stream=True``. ``boxes`` skips localization: for one image a ``Box`` or list of
        boxes; for many, a list (one entry per image) or a dict keyed by image name. ``table`` gives per-image
        measurements for table-column sources (a DataFrame with an ``image`` column). ``keep_frames``: keep
        each frame's pixels on its result (needed to :meth:`explain` a result later)."""
        from .io.sources import is_single_image

        self._check_fitted()
        self.check_table(table)
        results = self._iter_results(source, boxes, table, is_single_image(source), keep_frames)
        return results if stream else list(results)

    __call__ = predict

    def _iter_results(self, source, boxes, table, single: bool, keep_frames: bool) -> Iterator[Result]:
        from .io.sources import iter_frames

        chunk = []
        for position, frame in enumerate(iter_frames(source)):
            chunk.append((position, frame))  # broken frames travel in the chunk too: results keep input order
            if len(chunk) >= self.batch_size:
                yield from self._diagnose_chunk(chunk, boxes, table, single, keep_frames)
                chunk = []
        if chunk:
            yield from self._diagnose_chunk(chunk, boxes, table, single, keep_frames)

    @staticmethod
    def _boxes_for(boxes, frame, position: int, single: bool) -> list[Box] | None:
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

    def check_table(self, table: pd.DataFrame | None) -> None:
        """A model that reads table columns needs a ``table`` holding them, before any image is read."""
        self._check_fitted()
        needed = self.predictor_.table_columns()
        if not needed:
            return
        if table is None:
            raise ConfigError(f"this model reads the per-image column(s) {needed} (ColumnFeatures): pass them",
                              hint="predict(images, table=DataFrame with 'image' and those columns); "
                                   "CLI: --table measurements.csv")
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise ConfigError(f"the table has no column(s) {missing}, which this model reads",
                              hint=f"its columns: {list(table.columns)}")

    @staticmethod
    def _table_rows(table: pd.DataFrame | None, name: str) -> pd.DataFrame:
        if table is None:
            return pd.DataFrame([{"image": name}])
        if "image" not in table.columns:
            raise ConfigError("predict(table=...) needs an 'image' column", hint="one row per image")
        match = table[(table["image"].astype(str) == name) | (table["image"].astype(str) == Path(name).name)]
        row = match.iloc[[0]].copy() if len(match) else pd.DataFrame([{"image": name}])
        row["image"] = name
        return row

    def _locate(self, frames) -> list[list[Box]]:
        images = [f.image for f in frames]
        localizer = self.localizer_
        if localizer is None:
            return [[Box(0, 0, im.shape[1], im.shape[0])] for im in images]
        found = localizer.locate_batch(images)
        return [[b for b in bs if b.score >= self.min_box_score] for bs in found]

    def _result(self, frame, **kw) -> Result:
        return Result(image=frame.name, frame_index=frame.index, timestamp=frame.timestamp,
                      predictor=self.predictor_.describe(), **kw)

    def _diagnose_chunk(self, chunk, boxes, table, single, keep_frames) -> Iterator[Result]:
        good = [(pos, f) for pos, f in chunk if f.ok]
        results: dict[int, Result] = {}
        if good:
            given = [self._boxes_for(boxes, f, pos, single) for pos, f in good]
            to_locate = [f for (pos, f), g in zip(good, given) if g is None]
            located = iter(self._locate(to_locate)) if to_locate else iter(())
            per_image = [g if g is not None else next(located) for g in given]
            try:
                results.update(zip([pos for pos, _ in good], self._diagnose_located(good, per_image, table)))
            except ExplainendoError:
                for item, bxs in zip(good, per_image):  # isolate the frame that fails, keep the rest
                    try:
                        results[item[0]] = self._diagnose_located([item], [bxs], table)[0]
                    except ExplainendoError as exc:
                        results[item[0]] = self._result(item[1], error=str(exc))
        for pos, frame in chunk:
            result = results[pos] if frame.ok else self._result(frame, error=frame.error)
            if keep_frames and frame.ok:
                result.frame = frame.image
            yield result

    def _diagnose_located(self, chunk, per_image, table) -> list[Result]:
        frames, lesion_boxes, rows, owner = [], [], [], []
        for k, ((_, frame), bxs) in enumerate(zip(chunk, per_image)):
            h, w = frame.image.shape[:2]
            for b in bxs:
                frames.append(frame.image)
                lesion_boxes.append(b.clip(w, h))
                rows.append(self._table_rows(table, frame.name))
                owner.append(k)
        proba = feats = None
        task_proba: dict[str, tuple[list, np.ndarray]] = {}
        if lesion_boxes:
            samples = LesionSamples.from_images(frames, lesion_boxes, enlarge=self.enlarge,
                                                table=pd.concat(rows, ignore_index=True))
            proba, feats = self.predictor_.predict_with_features(samples)
            for name, task in getattr(self, "tasks_", {}).items():
                task_proba[name] = ([str(c) for c in task.classes_], np.asarray(task.predict_proba(samples), float))
        owner = np.asarray(owner)
        classes = self.classes_
        ood = getattr(self, "ood_", None)
        lesion_ood = frame_ood = None
        if ood is not None:  # the batch's crops and frames in one backbone pass
            lesion_ood, frame_ood = ood.score(samples if lesion_boxes else None, feats,
                                              [frame.image for _, frame in chunk])
        out = []
        for k, ((_, frame), _bxs) in enumerate(zip(chunk, per_image)):
            idx = np.flatnonzero(owner == k)
            flag = {} if frame_ood is None else {"ood_score": float(frame_ood[0][k]), "ood": bool(frame_ood[1][k])}
            if len(idx) == 0:
                out.append(self._result(frame, no_lesion=True, message="the localizer found no lesion in this image",
                                        **flag))
                continue
            lesions = []
            for i in idx:
                p = proba[i]
                if not np.isfinite(p).all():
                    raise InvalidImageError("the lesion crop could not be used (no finite probability)",
                                            source=frame.name)
                lesions.append(Lesion(box=lesion_boxes[i], label=classes[int(p.argmax())], probability=float(p.max()),
                                      probabilities={c: float(v) for c, v in zip(classes, p)},
                                      features={c: float(v) for c, v in feats.iloc[i].items()},
                                      tasks={name: {c: float(v) for c, v in zip(names, tp[i])}
                                             for name, (names, tp) in task_proba.items()},
                                      **({} if lesion_ood is None else {"ood_score": float(lesion_ood[0][i]),
                                                                          "ood": bool(lesion_ood[1][i])})))
            out.append(self._result(frame, lesions=lesions, **flag))
        return out

    # ---- explanation --------------------------------------------------------------------------------
    def explain(self, result, lesion: int | None = None, *, box: Box | None = None, table: pd.DataFrame | None = None,
                class_index: int | None = None, gradcam: bool = True, task: str | None = None,
                group_values: str = "shap", localizer_saliency="eigencam") -> Explanation:
        """Why: SHAP per feature group (a hybrid) and Grad-CAM for one lesion (default: the primary) of a
        :class:`Result` from ``predict(..., keep_frames=True)``, or of one image given as any input form
        (``box``: explain that region instead of the localizer's). ``class_index``: the class to explain
        (default: the lesion's predicted class). ``task``: explain that further task's prediction instead of
        the diagnosis. ``group_values``: ``"shap"`` (per-feature SHAP summed per group) or ``"exact"`` (exact
        group Shapley values, for a predictor with feature groups: ``HybridPredictor.explain``); the
        explanation's ``explainer`` says which. ``localizer_saliency``: where the localizer looked for the
        lesion's box (``Explanation.localizer_saliency``, a card panel): ``"eigencam"`` (the default: one forward
        pass of the localizer's network), ``"d-rise"`` (model-agnostic, box-specific, hundreds of passes), an
        ``EigenCAM(...)`` / ``DRise(...)`` (:mod:`explainendo.explain.localizer_saliency`), or None; no map for a
        model without a trained localizer (whole frame), and a failing map is logged, never fatal."""
        from .explain.group_shapley import check_group_value_method
        from .explain.localizer_saliency import saliency_method

        self._check_fitted()
        check_group_value_method(group_values)
        saliency = saliency_method(localizer_saliency)
        tasks = getattr(self, "tasks_", {})
        if task is not None and task not in tasks:
            raise ConfigError(f"no task {task!r} in this model", hint=f"its tasks: {sorted(tasks) or 'none'}")
        predictor = self.predictor_ if task is None else tasks[task]
        options = {}
        if group_values != "shap":  # only a predictor with feature groups takes the option
            if not getattr(predictor, "values_feature_groups", False):
                raise ConfigError(f"group_values={group_values!r}: this model's predictor ({predictor.describe()}) "
                                  "has no feature groups to value", hint="group_values='shap', or a hybrid predictor")
            options["group_values"] = group_values
        if not isinstance(result, Result):
            found = self.predict(result, boxes=box, table=table, keep_frames=True)
            if len(found) != 1:
                raise ConfigError(f"explain() takes one image, got {len(found)} frames",
                                  hint="loop over predict(..., keep_frames=True) results")
            result = found[0]
        if result.error:
            raise InvalidImageError(result.error, source=result.image)
        if result.no_lesion:
            raise ExplainendoError("no lesion found in this image, nothing to explain", source=result.image,
                                   hint="give box=Box(...) to explain a region of your choice")
        if result.frame is None:
            raise ConfigError("the result holds no frame", source=result.image,
                              hint="predict(..., keep_frames=True), or explain(image) directly")
        index = result.primary if lesion is None else int(lesion)
        if not 0 <= index < len(result.lesions):
            raise ConfigError(f"lesion {index} does not exist", hint=f"the result has {len(result.lesions)} lesions")
        chosen = result.lesions[index]
        samples = LesionSamples.from_images([result.frame], [chosen.box], enlarge=self.enlarge,
                                            table=self._table_rows(table, result.image))
        task_features = None
        if task is None:
            features = pd.DataFrame([chosen.features]) if chosen.features else None
        else:  # the task's predictor reads its own features
            features = predictor.features(samples)
            task_features = {c: float(v) for c, v in features.iloc[0].items()} if features.shape[1] else {}
            features = features if features.shape[1] else None
        evidence = predictor.explain(samples, class_index=class_index, gradcam=gradcam, features=features,
                                     **options)[0]
        where = self._localizer_saliency(saliency, result.frame, chosen.box)
        return Explanation(result=result, lesion_index=index, shap=evidence.shap, group_shap=evidence.group_shap,
                           expected_value=evidence.expected_value, output=evidence.output, space=evidence.space,
                           explainer=evidence.explainer, explained_class=evidence.explained_class,
                           groups=evidence.groups, gradcams=evidence.gradcams, crop=samples.crops[0],
                           frame=result.frame, task=task, task_features=task_features,
                           localizer_saliency=where, localizer_saliency_method=None if where is None else saliency.name)

    def _localizer_saliency(self, method, frame: np.ndarray, box: Box) -> np.ndarray | None:
        """The engine localizer's saliency map for ``box`` (None: no method, no localizer, or a localizer
        without a feature map for EigenCAM); a failure is logged and gives None, as a failed Grad-CAM does."""
        from .explain.localizer_saliency import localizer_saliency

        if method is None or getattr(self, "localizer_", None) is None:
            return None
        try:
            return localizer_saliency(self.localizer_, frame, box, method)
        except Exception as exc:  # noqa: BLE001 - a saliency failure must not lose the explanation
            log.warning("%s of the localizer failed: %s", method.name, exc)
            return None

    # ---- intervention -------------------------------------------------------------------------------
    def intervene(self, result: Result, corrections: dict[str, str], lesion: int | None = None,
                  explain: bool = True) -> Explanation | Result:
        """A clinician corrects attributes of one lesion (default: the primary) of a :class:`Result`, e.g.
        ``{"boundary": "clear", "tone": "reddened"}``, and the diagnosis is made again from them (test-time
        intervention of concept-bottleneck models, Koh et al. 2020): :meth:`HybridPredictor.intervene
        <explainendo.predict.HybridPredictor.intervene>` sets each attribute's head probabilities to the one-hot of
        the class given and the fitter reads the lesion's features (``Lesion.features``) so corrected.

        Returns the :class:`Explanation` of the corrected lesion (``explain=True``; SHAP on the corrected features,
        Grad-CAM as before since the crop is the same: it needs the frame, ``predict(..., keep_frames=True)``), or
        with ``explain=False`` the new :class:`Result` alone (no frame needed). The given result is never changed:
        the new one holds a new lesion whose ``label``, ``probability``, ``probabilities`` and ``features`` come
        from the corrected attributes and whose ``interventions`` records them (with the lesion's earlier ones).
        The further ``tasks`` read their own predictors' features and keep their probabilities (a
        ``UserWarning`` says so). ``ConfigError`` for a predictor without attribute heads (a CNN, the colonoscopy
        frame classifier), an unknown attribute or a class the attribute lacks (naming the valid ones); an
        attribute the fitter dropped (``GroupEliminator``) is set with a ``UserWarning``: it cannot change the
        diagnosis."""
        import dataclasses
        import warnings

        self._check_fitted()
        predictor = self.predictor_
        if not callable(getattr(predictor, "intervene", None)):
            raise ConfigError(f"this model's predictor ({predictor.describe()}) has no named attributes to correct",
                              hint="intervention needs a hybrid predictor with attribute heads (approach='hybrid')")
        if not isinstance(result, Result):
            raise ConfigError(f"intervene() takes a Result of this model's predict(), got {type(result).__name__}",
                              hint="result = model.predict(image, keep_frames=True)[0]")
        if result.error:
            raise InvalidImageError(result.error, source=result.image)
        if result.no_lesion or not result.lesions:
            raise ExplainendoError("no lesion in this result, nothing to correct", source=result.image)
        index = result.primary if lesion is None else int(lesion)
        if not 0 <= index < len(result.lesions):
            raise ConfigError(f"lesion {index} does not exist", hint=f"the result has {len(result.lesions)} lesions")
        chosen = result.lesions[index]
        if not chosen.features:
            raise ConfigError("the lesion holds no features to correct", source=result.image,
                              hint="a result of this model's predict()")
        if explain and result.frame is None:
            raise ConfigError("the result holds no frame, which the corrected explanation needs", source=result.image,
                              hint="predict(..., keep_frames=True), or intervene(..., explain=False) for the new "
                                   "diagnosis alone")
        applied = predictor.checked_corrections(corrections)
        proba, corrected = predictor.intervene(pd.DataFrame([chosen.features]), applied)
        tasks = getattr(self, "tasks_", {})
        if tasks:
            warnings.warn(f"the further task(s) {sorted(tasks)} keep their probabilities: an intervention changes "
                          "the diagnosis only", stacklevel=2)
        p = np.asarray(proba[0], dtype=float)
        new = dataclasses.replace(
            chosen, label=self.classes_[int(p.argmax())], probability=float(p.max()),
            probabilities={c: float(v) for c, v in zip(self.classes_, p)},
            features={c: float(v) for c, v in corrected.iloc[0].items()},
            tasks={name: dict(probs) for name, probs in chosen.tasks.items()},
            interventions={**chosen.interventions, **applied})
        lesions = list(result.lesions)
        lesions[index] = new
        changed = dataclasses.replace(result, lesions=lesions, detections=list(result.detections))
        return self.explain(changed, index) if explain else changed

    # ---- persistence --------------------------------------------------------------------------------
    def save(self, directory) -> Path:
        """Write a model folder (see :mod:`explainendo.bundle`): this component, provenance and checksums."""
        from .bundle import prepare_folder, write_provenance_and_checksums

        self._check_fitted()
        directory = prepare_folder(directory)
        super().save(directory)
        return write_provenance_and_checksums(self, directory)

    def _save_state(self, directory: Path) -> dict:
        return {"localizer": None if self.localizer_ is None else save_child(self.localizer_, directory, "localizer"),
                "predictor": save_child(self.predictor_, directory, "predictor"), "classes": list(self.classes_),
                "tasks": {name: save_child(t, directory, f"task_{name}") for name, t in getattr(self, "tasks_", {}).items()},
                "n_training_lesions": int(self.n_training_lesions_), "training_manifest_sha256": self.manifest_hash_,
                **({} if getattr(self, "ood_", None) is None else {"ood": save_child(self.ood_, directory, "ood")})}

    def _load_state(self, state: dict, directory: Path) -> None:
        from .localize import Localizer
        from .predict import Predictor

        self.localizer_ = None if not state.get("localizer") else load_child(state["localizer"], directory, Localizer)
        self.predictor_ = load_child(state.get("predictor"), directory, Predictor)
        self.classes_ = [str(c) for c in state.get("classes") or self.predictor_.classes_]
        if self.classes_ != list(self.predictor_.classes_):
            from .errors import ModelFileError

            raise ModelFileError("the diagnoser's classes differ from its predictor's", source=str(directory),
                                 hint="the model folder was edited; save it again")
        self.tasks_ = {str(name): load_child(entry, directory, Predictor) for name, entry in (state.get("tasks") or {}).items()}
        self.n_training_lesions_ = int(state.get("n_training_lesions", 0))
        self.manifest_hash_ = state.get("training_manifest_sha256")
        from .explain.ood import OODDetector

        self.ood_ = load_child(state["ood"], directory, OODDetector) if state.get("ood") else None

    @classmethod
    def load(cls, directory, kind: str | None = None, runtime: str = "torch") -> "Diagnoser":
        """A saved model folder: checksums first, then the components (classes from the registry only).
        ``runtime="onnx"``: the networks run in onnxruntime (:func:`explainendo.bundle.load`)."""
        from .bundle import load as load_any

        model = load_any(directory, runtime=runtime)
        if not isinstance(model, cls) or (kind is not None and model.kind != kind):
            raise ConfigError(f"the folder holds a {type(model).__name__}, not a {cls.__name__}",
                              source=str(directory), hint="use explainendo.load(folder)")
        return model

    def __repr__(self) -> str:
        state = self.predictor_.describe() if hasattr(self, "predictor_") else "not fitted"
        return f"{type(self).__name__}({state})"
