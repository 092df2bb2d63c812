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
used afterwards is fitted on all rows. The frame space has one row per distinct frame (a frame with five lesions
counts once, in the fit and in the calibration). The four systems fit one by default (``ood="default"``:
:func:`default_ood_detector`, the embedding below); ``ood=None`` switches it off; a bare ``Diagnoser`` is opt-in
(``Diagnoser(..., ood=OODDetector())`` or ``ood="default"``).

With ``embedding="efficientnet_lite0"`` each vector also holds the backbone's pooled ImageNet features of the
input, reduced inside the space: ``e`` (1280 values) becomes its coordinates on the first ``k`` principal axes of
the training rows, ``V (e - m)``, and the distance to their principal subspace, ``||(e - m) - V^T V (e - m)||``
(an input unlike every training row can project near their centre). The two kinds of column are complementary,
hence one space over both: the embedding alone flags no noise or text image (measured while choosing these
settings), the statistics do; the embedding flags the cholangioscopy frames whose colours pass the statistics
(benchmarks/ood.py; docs/benchmarks.md, "Out-of-distribution flag").
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
#: the value of a diagnoser's ``ood`` parameter that stands for :func:`default_ood_detector` (a plain string, so the
#: systems' signatures hold no estimator instance and ``get_params`` / ``clone`` / a saved ``component.yaml`` keep it)
DEFAULT_OOD = "default"


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


def default_ood_detector() -> "OODDetector":
    """The detector ``ood="default"`` stands for: ``OODDetector(embedding="efficientnet_lite0")`` (coverage 0.95,
    frame check on), the one that met the three goals of benchmarks/ood.py (docs/benchmarks.md,
    "Out-of-distribution flag"). A new instance each call."""
    return OODDetector(embedding="efficientnet_lite0")


def _statistics(images: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([image_statistics(im) for im in images]) if len(images) else np.zeros((0, len(IMAGE_STATISTICS)))


def embedding_network(name: str):
    """The backbone ``name`` with its local ImageNet weights (``create_backbone(name, pretrained=True)``), in eval
    mode with no gradients. Nothing downloads: missing weights are a :class:`ModelFileError` (efficientnet_lite0)
    or a :class:`ConfigError` (a torchvision ResNet whose file is not in the torch cache) saying what to do."""
    from ..heads.backbones import create_backbone

    network = create_backbone(name, pretrained=True).eval()
    for p in network.parameters():
        p.requires_grad_(False)
    return network


def embedding_input(images: Sequence[np.ndarray], size: int) -> np.ndarray:
    """The batch :func:`embed_images` feeds the network (torch or onnxruntime alike): each RGB uint8 image (grey
    ones repeated to 3 channels, a 4th channel dropped) resized to ``size`` x ``size`` px (``cv2.INTER_AREA``), as
    a float32 NCHW array scaled to [0, 1] (the network normalises itself)."""
    import cv2

    batch = []
    for im in images:
        img = np.asarray(im)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
        batch.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA))
    if not batch:
        return np.zeros((0, 3, size, size), dtype=np.float32)
    return np.stack(batch).transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)


def embed_images(images: Sequence[np.ndarray], network, size: int = 128, batch_size: int = 64,
                 num_threads: int | None = None) -> np.ndarray:
    """Pooled backbone features (``network.feature_dim`` columns) of RGB uint8 images, each resized to
    ``size`` x ``size`` px first (``cv2.INTER_AREA``), scaled to [0, 1] (the network normalises itself:
    :func:`embedding_input`). ``network``: the torch backbone, or an :class:`~explainendo.runtime.OnnxNetwork`
    session of its exported graph (a loaded model with ``runtime="onnx"``; no torch then)."""
    from ..runtime import OnnxNetwork

    images = list(images)
    if isinstance(network, OnnxNetwork):
        chunks = [network(embedding_input(images[start:start + batch_size], size))[0]
                  for start in range(0, len(images), batch_size)]
        return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros((0, 0), np.float32)
    import torch

    from ..torch_threads import torch_threads

    out = np.zeros((len(images), int(network.feature_dim)), dtype=np.float32)
    with torch_threads(num_threads), torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(embedding_input(images[start:start + batch_size], size))
            out[start:start + len(x)] = network(x).numpy()
    return out


def _probe_image(size: int = 64) -> np.ndarray:
    """A fixed synthetic RGB image (colour ramps and a disc): its embedding, saved with the detector, tells
    whether the backbone rebuilt at load has the weights the detector was fitted with."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1.0)
    disc = ((yy - 0.5) ** 2 + (xx - 0.4) ** 2 < 0.08).astype(float)
    rgb = np.stack([0.2 + 0.7 * xx, 0.3 * yy + 0.5 * disc, 0.6 * (1 - xx) * yy], axis=2)
    return np.clip(255.0 * rgb, 0, 255).astype(np.uint8)


def _distinct_frames(samples) -> np.ndarray:
    """Index of the first lesion of each distinct frame (by the table's ``image`` column where it names every
    row, else by the frame array's identity), in order."""
    table = samples.table
    if "image" in table.columns and table["image"].notna().all():
        keys = table["image"].astype(str).to_numpy()
    else:
        keys = np.asarray([id(f) for f in samples.frames])
    _, first = np.unique(keys, return_index=True)
    return np.sort(first)


class _Space:
    """One fitted distance (module docstring): optionally a PCA of the trailing embedding columns (the first
    ``n_plain`` columns are kept as they are), then standardisation, shrunk precision and threshold."""

    def __init__(self, mean, scale, precision, threshold, calibration_scores, pca_mean=None, pca_components=None,
                 n_plain: int | None = None):
        self.mean, self.scale, self.precision = mean, scale, precision
        self.threshold, self.calibration_scores = float(threshold), calibration_scores
        self.pca_mean, self.pca_components = pca_mean, pca_components
        self.n_plain = None if n_plain is None else int(n_plain)

    @staticmethod
    def fit_distance(x: np.ndarray, min_scale: float, n_plain: int | None = None, components: int = 0):
        """``(mean, scale, precision, pca_mean, pca_components)`` fitted on the rows ``x``; with ``n_plain`` set,
        the columns after the first ``n_plain`` are projected on their first ``components`` principal axes (PCA
        fitted on these rows) before the standardisation."""
        from sklearn.covariance import LedoitWolf

        pca_mean = pca_components = None
        if n_plain is not None:
            rest = np.asarray(x[:, n_plain:], float)
            pca_mean = rest.mean(axis=0)
            _, _, vt = np.linalg.svd(rest - pca_mean, full_matrices=False)
            # a sign convention, so the same rows give the same axes on any machine
            vt = vt[: max(1, min(int(components), len(vt)))]
            vt *= np.where(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)] < 0, -1.0, 1.0)[:, None]
            pca_components = vt
            x = _Space.project(x, pca_mean, pca_components, n_plain)
        mean = x.mean(axis=0)
        scale = np.maximum(x.std(axis=0), min_scale)
        precision = LedoitWolf().fit((x - mean) / scale).precision_
        return mean, scale, precision, pca_mean, pca_components

    @staticmethod
    def project(x: np.ndarray, pca_mean, pca_components, n_plain) -> np.ndarray:
        """The plain columns, the embedding's coordinates on the principal axes and the norm of what those axes
        leave out (the distance to the training rows' principal subspace: an input unlike every training row is
        far from that subspace, though its projection may fall near the centre)."""
        x = np.asarray(x, float)
        if pca_components is None:
            return x
        centred = x[:, n_plain:] - pca_mean
        coords = centred @ pca_components.T
        residual = np.linalg.norm(centred - coords @ pca_components, axis=1)
        return np.hstack([x[:, :n_plain], coords, residual[:, None]])

    @staticmethod
    def distance(x: np.ndarray, mean, scale, precision, pca_mean=None, pca_components=None,
                 n_plain: int | None = None) -> np.ndarray:
        z = (_Space.project(x, pca_mean, pca_components, n_plain) - mean) / scale
        d2 = np.einsum("ij,jk,ik->i", z, precision, z)
        return np.sqrt(np.maximum(d2, 0.0))

    def score(self, x: np.ndarray) -> np.ndarray:
        return self.distance(x, self.mean, self.scale, self.precision, self.pca_mean, self.pca_components,
                             self.n_plain)


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
    embedding : None (image statistics only), or a backbone name (``"efficientnet_lite0"``,
        :func:`explainendo.heads.backbones.list_backbones`) whose local ImageNet weights describe each input too:
        the pooled features of the crop (and of the frame) resized to ``embedding_size`` px, projected on their
        first ``embedding_components`` principal axes (a PCA fitted on the training rows, inside each calibration
        fold too), plus the norm of the part those axes leave out, are appended to the image statistics of the
        same space (one Mahalanobis distance, one threshold). Nothing downloads; the saved detector names the
        backbone, rebuilds it from the same local weights at load and checks them against a probe embedding.
        A diagnoser embeds the crops and frames of each predict batch in one batched forward (:meth:`score`;
        its cost per frame: docs/benchmarks.md, "Out-of-distribution flag"). ``explainendo export MODEL --onnx``
        exports the backbone with the model's other networks (``<detector folder>/network.onnx``); a model loaded
        with ``runtime="onnx"`` embeds in that onnxruntime session (:meth:`use_onnx`, checked against the probe
        at load) and never builds the torch backbone.
    embedding_size : side in px the input is resized to before the backbone (at least 32); 160 by measurement.
    embedding_components : principal axes of the embedding kept (at least 1); 16 by measurement (more axes fit
        the training centres' own look: a new centre is flagged more often, docs/benchmarks.md).
    """

    def __init__(self, coverage: float = 0.95, n_folds: int = 5, frame_check: bool = True,
                 predictor_features: bool = False, min_scale: float = 0.01, random_state: int = 0,
                 embedding: str | None = None, embedding_size: int = 160, embedding_components: int = 16):
        self.coverage = coverage
        self.n_folds = n_folds
        self.frame_check = frame_check
        self.predictor_features = predictor_features
        self.min_scale = min_scale
        self.random_state = random_state
        self.embedding = embedding
        self.embedding_size = embedding_size
        self.embedding_components = embedding_components

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
        for name, least in (("embedding_size", 32), ("embedding_components", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise ConfigError(f"OODDetector({name}={value!r}) must be an integer of at least {least}",
                                  hint="e.g. embedding_size=160, embedding_components=16")
        if self.embedding is not None:
            from ..heads.backbones import BACKBONES, check_local_imagenet_weights

            if not isinstance(self.embedding, str) or self.embedding not in BACKBONES:
                raise ConfigError(f"OODDetector(embedding={self.embedding!r}) must be None or a backbone name",
                                  hint=f"known: {', '.join(BACKBONES.list())}")
            check_local_imagenet_weights(self.embedding)  # the weights are on disk (nothing downloads)
        return self

    def min_rows(self) -> int:
        """Training rows the threshold needs: the conformal quantile's ``k = ceil((n + 1) * coverage)`` must be
        at most ``n``, i.e. ``n >= coverage / (1 - coverage)``; and at least 10."""
        c = float(self.coverage)
        return max(10, math.ceil(c / (1.0 - c) - 1e-9))

    def check_data(self, table: pd.DataFrame, has_frames: bool = True) -> None:
        """Before any training: enough rows and patients to calibrate, and (with the frame check) training frames
        (``has_frames``: whether the samples carry them) -- a ConfigError saying what to change."""
        self.check_params()
        if self.frame_check and not has_frames:
            raise ConfigError("OODDetector(frame_check=True) needs the training frames",
                              hint="LesionSamples with frames, or OODDetector(frame_check=False)")
        n = len(table)
        if n < self.min_rows():
            raise ConfigError(f"OODDetector(coverage={self.coverage}) needs at least {self.min_rows()} training "
                              f"lesions to calibrate its threshold, the training data have {n}",
                              hint="give more training lesions, or lower coverage (e.g. 0.9 needs 10)")
        if "patient" not in table.columns or table["patient"].nunique() < 2:
            raise ConfigError("OODDetector calibrates on held-out patients: the training data need a 'patient' "
                              "column with at least 2 patients", hint="add patient ids to the manifest")
        if self.frame_check and "image" in table.columns and table["image"].notna().all():
            frames = int(table["image"].nunique())
            if frames < self.min_rows():
                raise ConfigError(f"OODDetector(coverage={self.coverage}) calibrates its frame check on the distinct "
                                  f"training frames: it needs at least {self.min_rows()}, the training data have "
                                  f"{frames}", hint="give more training frames, lower coverage, or frame_check=False")

    # ---- fitting ----------------------------------------------------------------------------------
    def _network(self):
        """The embedding backbone, built once from its local weights (and checked against the probe the detector
        was fitted with, so a loaded detector never scores with other weights than it was calibrated on)."""
        network = self.__dict__.get("_embedding_network")
        if network is None:
            network = embedding_network(self.embedding)
            self._check_probe(network, f"the local ImageNet weights of '{self.embedding}' are not those the OOD "
                                       "detector was fitted with (its probe image embeds differently)",
                              hint="install the weights it was trained with, or train the model again")
            self.__dict__["_embedding_network"] = network
        return network

    def _check_probe(self, network, reason: str, hint: str, source: str | None = None) -> None:
        """:class:`ModelFileError` (``reason``, ``hint``) unless ``network`` (the torch backbone or its ONNX
        session) embeds :func:`_probe_image` as the fitted detector saved it (``embedding_probe_``; rtol 1e-3,
        atol 1e-3 of its largest value). A detector not fitted yet has no probe: nothing to check."""
        probe = getattr(self, "embedding_probe_", None)
        if probe is None:
            return
        now = embed_images([_probe_image()], network, int(self.embedding_size))[0]
        if now.shape != np.shape(probe) or not np.allclose(now, probe, rtol=1e-3,
                                                           atol=1e-3 * float(np.abs(probe).max() + 1e-12)):
            raise ModelFileError(reason, source=source, hint=hint)

    def use_onnx(self, session, source: str | None = None, hint: str = "") -> None:
        """Run the embedding in ``session`` (an :class:`~explainendo.runtime.OnnxNetwork` of the backbone's
        exported graph; ``explainendo.load(folder, runtime="onnx")`` gives it) from now on, after checking it
        against the probe embedding: :class:`ModelFileError` (with ``hint``) when it embeds differently. The torch
        backbone is then never built for scoring."""
        self._check_probe(session, "the ONNX graph of the OOD detector's embedding is not the network the detector "
                                   "was fitted with (its probe image embeds differently)", source=source,
                          hint=hint or "export the model again: explainendo export MODEL --onnx")
        self.onnx_ = session

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_embedding_network", None)  # rebuilt from the local weights on first use
        return state  # onnx_ (a session) pickles as its graph's bytes and reopens (OnnxNetwork.__getstate__)

    def _embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        session = getattr(self, "onnx_", None)  # loaded with runtime="onnx" (explainendo.runtime)
        return embed_images(list(images), session if session is not None else self._network(),
                            int(self.embedding_size))

    def _embed_both(self, crops: Sequence[np.ndarray], frames: Sequence[np.ndarray]):
        """``(crop embeddings, frame embeddings)`` from one batched backbone pass over both lists (both are resized
        to ``embedding_size``, so one forward serves them); ``(None, None)`` without an embedding."""
        if self.embedding is None:
            return None, None
        crops, frames = list(crops), list(frames)
        both = self._embed(crops + frames).astype(float) if crops or frames else np.zeros((0, 0))
        return both[:len(crops)], both[len(crops):]

    @staticmethod
    def _join(x: np.ndarray, embedded: np.ndarray | None) -> np.ndarray:
        if embedded is None:
            return x
        return np.hstack([x, embedded]) if len(x) else np.zeros((0, 0))

    def _plain_lesion_vectors(self, samples, features: pd.DataFrame | None = None) -> np.ndarray:
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
        ``frames``); ``features``: the predictor's features of the same lesions (``predictor_features=True``).
        The lesion space has one row per lesion; the frame space one row per distinct frame (the ``image`` column,
        else the frame array itself), so a frame with many lesions counts once in its fit and its calibration."""
        self.check_data(samples.table, samples.frames is not None)
        if self.predictor_features and features is not None:
            self.feature_names_ = [str(c) for c in features.columns]
        for name in ("_embedding_network", "embedding_probe_"):  # a refit builds and probes the network again
            self.__dict__.pop(name, None)
        self.onnx_ = None  # a session was checked against the loaded probe; a new fit embeds in torch
        groups = samples.table["patient"].astype(str).to_numpy()
        frames = []
        if self.frame_check:
            first = _distinct_frames(samples)
            frames = [samples.frames[i] for i in first]
        crop_emb, frame_emb = self._embed_both(samples.crops, frames)
        plain = self._plain_lesion_vectors(samples, features)
        spaces = {"lesion": self._fit_space(self._join(plain, crop_emb), groups,
                                            plain.shape[1] if self.embedding else None)}
        if self.frame_check:
            spaces["frame"] = self._fit_space(self._join(_statistics(frames), frame_emb), groups[first],
                                              len(IMAGE_STATISTICS) if self.embedding else None)
        if self.embedding is not None:
            self.embedding_probe_ = embed_images([_probe_image()], self._network(), int(self.embedding_size))[0]
        self.spaces_ = spaces
        self.n_training_rows_ = int(len(samples))
        self.n_training_frames_ = int(len(first)) if self.frame_check else 0
        return self

    def _fit_space(self, x: np.ndarray, groups: np.ndarray, n_plain: int | None = None) -> _Space:
        from ..io.splits import group_kfold_indices

        if not np.isfinite(x).all():
            raise ConfigError("a training lesion gave a non-finite OOD feature", hint="check the training images")
        k_pca = int(self.embedding_components) if n_plain is not None else 0
        held_out = np.full(len(x), np.nan)
        for train, test in group_kfold_indices(groups, self.n_folds, seed=self.random_state,
                                               hint="OODDetector needs at least 2 patients"):
            fitted = _Space.fit_distance(x[train], self.min_scale, n_plain, k_pca)
            held_out[test] = _Space.distance(x[test], *fitted, n_plain)
        n = len(held_out)
        k = math.ceil((n + 1) * float(self.coverage))
        threshold = np.sort(held_out)[min(k, n) - 1]
        mean, scale, precision, pca_mean, pca_components = _Space.fit_distance(x, self.min_scale, n_plain, k_pca)
        return _Space(mean, scale, precision, threshold, held_out, pca_mean, pca_components, n_plain)

    # ---- scoring ----------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "spaces_"):
            raise NotFittedError("OODDetector is not fitted", hint="fit it inside Diagnoser(..., ood=OODDetector())")

    @property
    def thresholds_(self) -> dict[str, float]:
        self._check_fitted()
        return {name: space.threshold for name, space in self.spaces_.items()}

    def score_lesions(self, samples, features: pd.DataFrame | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, flags)`` of each lesion: the Mahalanobis distance and ``score > threshold`` (:meth:`score`
        without frames)."""
        lesion, _ = self.score(samples, features, [])
        return lesion if lesion is not None else (np.zeros(0), np.zeros(0, dtype=bool))

    def score(self, samples, features: pd.DataFrame | None, frames: Sequence[np.ndarray]):
        """``(lesion (scores, flags) or None, frame (scores, flags) or None)`` of a whole predict batch: the lesions
        ``samples`` (None or empty: no lesion) and the batch's ``frames``, their crops and frames embedded in one
        batched backbone pass (what :meth:`score_lesions` and :meth:`score_frames` give one by one)."""
        self._check_fitted()
        frames = list(frames) if "frame" in self.spaces_ else []
        crops = [] if samples is None or not len(samples) else list(samples.crops)
        crop_emb, frame_emb = self._embed_both(crops, frames)
        lesion = None
        if crops:
            space = self.spaces_["lesion"]
            scores = space.score(self._join(self._plain_lesion_vectors(samples, features), crop_emb))
            lesion = scores, scores > space.threshold
        frame = None
        if "frame" in self.spaces_:
            space = self.spaces_["frame"]
            scores = space.score(self._join(_statistics(frames), frame_emb)) if frames else np.zeros(0)
            frame = scores, scores > space.threshold
        return lesion, frame

    def score_frames(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """``(scores, flags)`` of whole frames (:meth:`score` without lesions); None without the frame check."""
        return self.score(None, None, frames)[1]

    # ---- persistence: arrays in an npz (no pickle), numbers in component.yaml ------------------------
    def _save_state(self, directory: Path) -> dict:
        self._check_fitted()
        arrays = {}
        for name, s in self.spaces_.items():
            arrays.update({f"{name}.mean": s.mean, f"{name}.scale": s.scale, f"{name}.precision": s.precision,
                           f"{name}.calibration_scores": s.calibration_scores})
            if s.pca_components is not None:
                arrays.update({f"{name}.pca_mean": s.pca_mean, f"{name}.pca_components": s.pca_components})
        if getattr(self, "embedding_probe_", None) is not None:
            arrays["embedding_probe"] = self.embedding_probe_
        np.savez(Path(directory) / _STATE_FILE, **arrays)
        spaces = {n: {"threshold": s.threshold, **({} if s.n_plain is None else {"plain_columns": s.n_plain})}
                  for n, s in self.spaces_.items()}
        return {"file": _STATE_FILE, "spaces": spaces,
                "feature_names": list(getattr(self, "feature_names_", []) or []),
                "n_training_rows": self.n_training_rows_,
                "n_training_frames": int(getattr(self, "n_training_frames_", 0))}

    def _load_state(self, state: dict, directory: Path) -> None:
        path = Path(directory) / str(state.get("file", _STATE_FILE))
        spaces = state.get("spaces") or {}
        if not spaces or any(n not in SPACES for n in spaces):
            raise ModelFileError(f"OOD detector state names spaces {sorted(spaces)}", source=str(directory),
                                 hint="the model folder was edited; save it again")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: np.asarray(data[k], float) for k in data.files}
            loaded = {}
            for n, entry in spaces.items():
                plain = entry.get("plain_columns")
                if (plain is None) != (self.embedding is None):
                    raise ValueError(f"space {n!r} and the embedding setting {self.embedding!r} disagree")
                pca = (None, None) if plain is None else (arrays[f"{n}.pca_mean"], arrays[f"{n}.pca_components"])
                loaded[n] = _Space(arrays[f"{n}.mean"], arrays[f"{n}.scale"], arrays[f"{n}.precision"],
                                   float(entry["threshold"]), arrays[f"{n}.calibration_scores"], *pca,
                                   None if plain is None else int(plain))
            probe = arrays.get("embedding_probe")
            if self.embedding is not None and probe is None:
                raise KeyError("embedding_probe")
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise ModelFileError(f"cannot read the OOD detector's arrays ({exc})", source=str(path),
                                 hint="save the model again") from None
        if self.embedding is not None:
            from ..heads.backbones import check_local_imagenet_weights

            try:  # the backbone is rebuilt from local weights on first use; say now if they are missing
                check_local_imagenet_weights(self.embedding)
            except ConfigError as exc:
                raise ModelFileError(f"the OOD detector's embedding needs the local ImageNet weights of "
                                     f"'{self.embedding}': {exc.reason}", source=str(directory), hint=exc.hint) from None
            self.embedding_probe_ = probe
        self.spaces_ = loaded
        if state.get("feature_names"):
            self.feature_names_ = [str(c) for c in state["feature_names"]]
        self.n_training_rows_ = int(state.get("n_training_rows", 0))
        self.n_training_frames_ = int(state.get("n_training_frames", 0))
