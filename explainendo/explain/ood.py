"""``OODDetector``: how unlike the training data a frame and a lesion are, and a flag calibrated on held-out patients.

Each input is described by a vector ``x`` (:func:`image_statistics` of the lesion crop, optionally followed by the
predictor's named features; :func:`image_statistics` of the whole frame for the frame-level check). A space
(``"lesion"``, ``"frame"``) is fitted on the training lesions' vectors: the features are standardised,
``z = (x - mean) / scale`` (``scale`` the standard deviation, floored at ``min_scale`` so a feature constant in
training does not make every other value infinitely far), and the covariance of ``z`` is shrunk (Ledoit-Wolf,
``sklearn.covariance.LedoitWolf``) so its precision ``P`` exists with fewer rows than features. The score is the
Mahalanobis distance

    d(x) = sqrt(z^T P z)

and ``x`` is flagged when ``d(x) > threshold``. The threshold is calibrated on out-of-fold scores: the training
rows are split into ``n_folds`` folds that keep each patient whole (:func:`explainendo.io.splits.group_kfold_indices`),
each fold is scored by a detector fitted on the other folds, and the threshold is the conformal quantile of those
``n`` held-out scores, the ``k``-th smallest with ``k = ceil((n + 1) * coverage)``, so about ``1 - coverage`` of
new training-distribution inputs are flagged (at most that, in expectation, for exchangeable rows). The detector
used afterwards is fitted on all rows. Opt-in: ``Diagnoser(..., ood=OODDetector())``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..components import Component, register_component
from ..errors import ConfigError, ModelFileError, NotFittedError

#: names of :func:`image_statistics`, in order
IMAGE_STATISTICS = ("mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "saturation_mean", "saturation_std",
                    "value_mean", "value_std", "dark_fraction", "highlight_fraction", "grey_fraction",
                    "gradient_mean", "gradient_std", "laplacian_abs_mean", "colourfulness", "grey_entropy")
SPACES = ("lesion", "frame")
_STATE_FILE = "ood.npz"


def image_statistics(image: np.ndarray, size: int = 64) -> np.ndarray:
    """Colour, saturation and texture summary of an RGB uint8 image, resized to ``size`` px first (so the
    values do not depend on the resolution); every value lies roughly in [0, 1]. Names: :data:`IMAGE_STATISTICS`.
    ``dark_fraction`` / ``highlight_fraction``: value below 0.1 / above 0.95; ``grey_fraction``: saturation below
    0.1; ``gradient_*``: Sobel magnitude of the grey image; ``laplacian_abs_mean``: mean |Laplacian| (noise);
    ``colourfulness``: Hasler and Suesstrunk's M = sqrt(std_rg^2 + std_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2);
    ``grey_entropy``: Shannon entropy of the 32-bin grey histogram over log2(32)."""
    import cv2

    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = cv2.resize(np.ascontiguousarray(img[..., :3], dtype=np.uint8), (size, size), interpolation=cv2.INTER_AREA)
    rgb = img.astype(np.float32) / 255.0
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
    sat, val = hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    gradient = np.sqrt(gx * gx + gy * gy)
    laplacian = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colourfulness = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())
    hist = np.histogram(grey, bins=32, range=(0.0, 1.0))[0].astype(float)
    p = hist[hist > 0] / hist.sum()
    entropy = float(-(p * np.log2(p)).sum() / 5.0)
    values = [*rgb.reshape(-1, 3).mean(axis=0), *rgb.reshape(-1, 3).std(axis=0), sat.mean(), sat.std(), val.mean(),
              val.std(), (val < 0.1).mean(), (val > 0.95).mean(), (sat < 0.1).mean(), gradient.mean(), gradient.std(),
              laplacian.mean(), colourfulness, entropy]
    return np.asarray(values, dtype=float)


def _statistics(images: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([image_statistics(im) for im in images]) if len(images) else np.zeros((0, len(IMAGE_STATISTICS)))


class _Space:
    """One fitted distance: standardisation, shrunk precision, threshold (module docstring)."""

    def __init__(self, mean, scale, precision, threshold, calibration_scores):
        self.mean, self.scale, self.precision = mean, scale, precision
        self.threshold, self.calibration_scores = float(threshold), calibration_scores

    @staticmethod
    def fit_distance(x: np.ndarray, min_scale: float):
        from sklearn.covariance import LedoitWolf

        mean = x.mean(axis=0)
        scale = np.maximum(x.std(axis=0), min_scale)
        precision = LedoitWolf().fit((x - mean) / scale).precision_
        return mean, scale, precision

    @staticmethod
    def distance(x: np.ndarray, mean, scale, precision) -> np.ndarray:
        z = (np.asarray(x, float) - mean) / scale
        d2 = np.einsum("ij,jk,ik->i", z, precision, z)
        return np.sqrt(np.maximum(d2, 0.0))

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.distance(x, self.mean, self.scale, self.precision)


@register_component("ood_detector")
class OODDetector(Component):
    """Out-of-distribution flag for a :class:`~explainendo.engine.Diagnoser` (module docstring for the formula).

    Parameters
    ----------
    coverage : share of held-out training-distribution inputs that pass (not flagged), in (0, 1); 0.95 flags 5%.
    n_folds : patient-grouped folds whose out-of-fold scores calibrate the threshold (at least 2).
    frame_check : also score the whole frame (``Result.ood_score`` / ``Result.ood``), so noise or a text image is
        flagged even where a box is found (or none is).
    predictor_features : append the predictor's named features (``Lesion.features``) to the lesion's image
        statistics. The training rows' features are in-sample (the predictor saw them), so this can flag new
        in-distribution lesions more often than ``1 - coverage``; off by default.
    min_scale : floor of each standardised feature's scale.
    random_state : seed of the patient folds.
    """

    def __init__(self, coverage: float = 0.95, n_folds: int = 5, frame_check: bool = True,
                 predictor_features: bool = False, min_scale: float = 0.01, random_state: int = 0):
        self.coverage = coverage
        self.n_folds = n_folds
        self.frame_check = frame_check
        self.predictor_features = predictor_features
        self.min_scale = min_scale
        self.random_state = random_state

    # ---- settings ---------------------------------------------------------------------------------
    def check_params(self) -> "OODDetector":
        c = self.coverage
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0.0 < float(c) < 1.0:
            raise ConfigError(f"OODDetector(coverage={c!r}) must lie strictly between 0 and 1",
                              hint="the share of training-distribution inputs that pass, e.g. 0.95 (5% flagged)")
        if isinstance(self.n_folds, bool) or not isinstance(self.n_folds, int) or self.n_folds < 2:
            raise ConfigError(f"OODDetector(n_folds={self.n_folds!r}) must be an integer of at least 2",
                              hint="e.g. 5 patient-grouped folds")
        if not (isinstance(self.min_scale, (int, float)) and self.min_scale > 0):
            raise ConfigError(f"OODDetector(min_scale={self.min_scale!r}) must be positive", hint="e.g. 0.01")
        for name in ("frame_check", "predictor_features"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"OODDetector({name}={getattr(self, name)!r}) must be True or False")
        return self

    def min_rows(self) -> int:
        """Training rows the threshold needs: the conformal quantile's ``k = ceil((n + 1) * coverage)`` must be
        at most ``n``, i.e. ``n >= coverage / (1 - coverage)``; and at least 10."""
        c = float(self.coverage)
        return max(10, math.ceil(c / (1.0 - c) - 1e-9))

    def check_data(self, table: pd.DataFrame) -> None:
        """Before any training: enough rows and patients to calibrate (ConfigError saying what to change)."""
        self.check_params()
        n = len(table)
        if n < self.min_rows():
            raise ConfigError(f"OODDetector(coverage={self.coverage}) needs at least {self.min_rows()} training "
                              f"lesions to calibrate its threshold, the training data have {n}",
                              hint="give more training lesions, or lower coverage (e.g. 0.9 needs 10)")
        if "patient" not in table.columns or table["patient"].nunique() < 2:
            raise ConfigError("OODDetector calibrates on held-out patients: the training data need a 'patient' "
                              "column with at least 2 patients", hint="add patient ids to the manifest")

    # ---- fitting ----------------------------------------------------------------------------------
    def lesion_vectors(self, samples, features: pd.DataFrame | None = None) -> np.ndarray:
        x = _statistics(samples.crops)
        if not self.predictor_features:
            return x
        if features is None:
            raise ConfigError("OODDetector(predictor_features=True) needs the predictor's features",
                              hint="use it inside a Diagnoser, which passes them")
        names = getattr(self, "feature_names_", None) or [str(c) for c in features.columns]
        missing = [n for n in names if n not in features.columns]
        if missing:
            raise ConfigError(f"the predictor's features lack {missing[:5]} that the OOD detector was fitted on",
                              hint="train the model again")
        return np.hstack([x, features[names].to_numpy(dtype=float)])

    def fit(self, samples, features: pd.DataFrame | None = None) -> "OODDetector":
        """Fit on training :class:`~explainendo.features.LesionSamples` (with ``patient`` in their table and
        ``frames``); ``features``: the predictor's features of the same lesions (``predictor_features=True``)."""
        self.check_data(samples.table)
        if self.predictor_features and features is not None:
            self.feature_names_ = [str(c) for c in features.columns]
        groups = samples.table["patient"].astype(str).to_numpy()
        vectors = {"lesion": self.lesion_vectors(samples, features)}
        if self.frame_check:
            if samples.frames is None:
                raise ConfigError("OODDetector(frame_check=True) needs the training frames",
                                  hint="LesionSamples with frames, or frame_check=False")
            vectors["frame"] = _statistics(samples.frames)
        self.spaces_ = {name: self._fit_space(x, groups) for name, x in vectors.items()}
        self.n_training_rows_ = int(len(samples))
        return self

    def _fit_space(self, x: np.ndarray, groups: np.ndarray) -> _Space:
        from ..io.splits import group_kfold_indices

        if not np.isfinite(x).all():
            raise ConfigError("a training lesion gave a non-finite OOD feature", hint="check the training images")
        held_out = np.full(len(x), np.nan)
        for train, test in group_kfold_indices(groups, self.n_folds, seed=self.random_state,
                                               hint="OODDetector needs at least 2 patients"):
            held_out[test] = _Space.distance(x[test], *_Space.fit_distance(x[train], self.min_scale))
        n = len(held_out)
        k = math.ceil((n + 1) * float(self.coverage))
        threshold = np.sort(held_out)[min(k, n) - 1]
        return _Space(*_Space.fit_distance(x, self.min_scale), threshold, held_out)

    # ---- scoring ----------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "spaces_"):
            raise NotFittedError("OODDetector is not fitted", hint="fit it inside Diagnoser(..., ood=OODDetector())")

    @property
    def thresholds_(self) -> dict[str, float]:
        self._check_fitted()
        return {name: space.threshold for name, space in self.spaces_.items()}

    def score_lesions(self, samples, features: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, flags)`` of each lesion: the Mahalanobis distance and ``score > threshold``."""
        self._check_fitted()
        space = self.spaces_["lesion"]
        scores = space.score(self.lesion_vectors(samples, features)) if len(samples) else np.zeros(0)
        return scores, scores > space.threshold

    def score_frames(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """``(scores, flags)`` of whole frames; None without the frame check."""
        self._check_fitted()
        if "frame" not in self.spaces_:
            return None
        space = self.spaces_["frame"]
        scores = space.score(_statistics(list(frames))) if len(frames) else np.zeros(0)
        return scores, scores > space.threshold

    # ---- persistence: arrays in an npz (no pickle), numbers in component.yaml ------------------------
    def _save_state(self, directory: Path) -> dict:
        self._check_fitted()
        arrays = {}
        for name, s in self.spaces_.items():
            arrays.update({f"{name}.mean": s.mean, f"{name}.scale": s.scale, f"{name}.precision": s.precision,
                           f"{name}.calibration_scores": s.calibration_scores})
        np.savez(Path(directory) / _STATE_FILE, **arrays)
        return {"file": _STATE_FILE, "spaces": {n: {"threshold": s.threshold} for n, s in self.spaces_.items()},
                "feature_names": list(getattr(self, "feature_names_", []) or []),
                "n_training_rows": self.n_training_rows_}

    def _load_state(self, state: dict, directory: Path) -> None:
        path = Path(directory) / str(state.get("file", _STATE_FILE))
        spaces = state.get("spaces") or {}
        if not spaces or any(n not in SPACES for n in spaces):
            raise ModelFileError(f"OOD detector state names spaces {sorted(spaces)}", source=str(directory),
                                 hint="the model folder was edited; save it again")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: np.asarray(data[k], float) for k in data.files}
            self.spaces_ = {n: _Space(arrays[f"{n}.mean"], arrays[f"{n}.scale"], arrays[f"{n}.precision"],
                                      float(entry["threshold"]), arrays[f"{n}.calibration_scores"])
                            for n, entry in spaces.items()}
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(f"cannot read the OOD detector's arrays ({exc})", source=str(path),
                                 hint="save the model again") from None
        if state.get("feature_names"):
            self.feature_names_ = [str(c) for c in state["feature_names"]]
        self.n_training_rows_ = int(state.get("n_training_rows", 0))
