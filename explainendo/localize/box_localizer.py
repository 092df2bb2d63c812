"""``BoxNetLocalizer``: what the trained box localizers share (:class:`~explainendo.localize.CenterNetLocalizer`,
:class:`~explainendo.localize.BoxRegressionLocalizer`).

Images are resized once to ``image_size`` x ``image_size`` and cached as uint8 (an epoch never re-decodes a
JPEG); every batch draws a :class:`~explainendo.localize.augment.BoxAugment` transform per image; training
runs through the one shared loop (:func:`explainendo.training.train_network`), with a validation manifest
(cached the same way) scored by mAP50 every epoch (early stopping with ``training.patience``; the best epoch's weights are kept).
Subclasses give the network (``_build``), the batch loss (``_loss``) and the decoding (``_decode``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelFileError
from ..torch_threads import torch_threads
from ..training import Training, train_network
from ..types import Box
from .augment import BoxAugment
from ..io.image import resize_square
from .base import (Localizer, resolve_device, runtime_device, save_state_dict, to_input, training_items,
                   weights_path)

ENCODERS = ("efficientnet_lite0",)
#: test-time augmentations of ``tta``: None (one pass) or ``"flip"`` (the frame and its horizontal mirror)
TTA_MODES = (None, "flip")
#: the class name of boxes that carry no label
UNLABELLED = "lesion"


class BoxNetLocalizer(Localizer):
    """Base of the trained box localizers. Common parameters: ``encoder`` (``"efficientnet_lite0"``: its
    ImageNet weights from the local package file), ``image_size`` (network input side, a multiple of 32),
    ``training`` (a :class:`~explainendo.training.Training`), ``augment`` (a :class:`BoxAugment`; None: the
    default one; ``BoxAugment.none()`` for none), ``class_agnostic`` (one class, named by the most common
    label), ``min_score`` (boxes scored lower are not returned), ``tta`` (test-time augmentation at predict
    time: None, the default, one pass; ``"flip"``: the frame and its horizontal mirror, their outputs mapped
    back and averaged before decoding, about twice the time; validation during ``fit`` never uses it),
    ``seed``."""

    #: the default Training of the subclass
    default_training: Training = Training()

    # subclasses: _build(pretrained), _loss(outputs, batch_targets), _decode(outputs) -> per image [(x1..,score,cls)],
    # _merge_flip(outputs, outputs_of_the_mirrored_batch) -> outputs (for tta="flip")
    def _common_check(self) -> None:
        if self.encoder not in ENCODERS:
            raise ConfigError(f"{type(self).__name__}(encoder={self.encoder!r}) is not an encoder here",
                              hint=f"use one of {ENCODERS}")
        if not (isinstance(self.image_size, int) and not isinstance(self.image_size, bool)
                and self.image_size >= 64 and self.image_size % 32 == 0):
            raise ConfigError(f"{type(self).__name__}(image_size={self.image_size!r}): a multiple of 32, >= 64")
        if not (isinstance(self.min_score, (int, float)) and 0 <= self.min_score < 1):
            raise ConfigError(f"{type(self).__name__}(min_score={self.min_score!r}): a number in [0, 1)")
        if self.tta not in TTA_MODES:
            raise ConfigError(f"{type(self).__name__}(tta={self.tta!r}) is not a test-time augmentation here",
                              hint="use None (one pass) or 'flip' (the frame and its horizontal mirror)")
        Training.checked(self.training, f"{type(self).__name__}(training=...)")
        BoxAugment.checked(self.augment, f"{type(self).__name__}(augment=...)")
        self._training.check_params()

    @property
    def _training(self) -> Training:
        return self.default_training if self.training is None else self.training

    @property
    def _augment(self) -> BoxAugment:
        return BoxAugment() if self.augment is None else self.augment

    # ---- data ----------------------------------------------------------------------------------------------
    def _classes(self, items) -> list[str]:
        counts: dict[str, int] = {}
        for _, boxes, _ in items:
            for b in boxes:
                counts[b.label or UNLABELLED] = counts.get(b.label or UNLABELLED, 0) + 1
        if not counts:
            return [UNLABELLED]
        if self.class_agnostic:
            return [max(sorted(counts), key=counts.get)]
        return sorted(counts)

    def _cache(self, items, classes: list[str] | None):
        """Resized uint8 images ``(N, S, S, 3)`` and per image ``(boxes (K, 4) at S, class ids (K,))``;
        ``classes`` None: every id 0 (the class-agnostic validation set)."""
        from ..io import read_image
        from ..progress import task

        s = self.image_size
        index = {c: k for k, c in enumerate(classes or [])}
        imgs = np.zeros((len(items), s, s, 3), dtype=np.uint8)
        targets = []
        with task(f"caching {len(items)} images at {s} px", total=len(items)) as bar:
            for i, (path, boxes, (w, h)) in enumerate(items):
                imgs[i] = resize_square(read_image(path), s)
                b = np.array([[x.x1 * s / w, x.y1 * s / h, x.x2 * s / w, x.y2 * s / h] for x in boxes],
                             dtype=np.float32).reshape(-1, 4)
                c = np.array([0 if self.class_agnostic or classes is None else index[x.label or UNLABELLED]
                              for x in boxes],
                             dtype=np.int64)
                targets.append((b, c))
                bar.advance()
        return imgs, targets

    # ---- training ------------------------------------------------------------------------------------------
    def fit(self, manifest, val_manifest=None) -> "BoxNetLocalizer":
        """Train on the boxes of ``manifest`` (images without a box are negatives). With ``val_manifest``,
        every epoch is scored by its mAP50 there (``history_`` carries ``val_mAP50`` and ``val_mIoU``), and
        ``training.patience`` stops the run after that many epochs without a better mAP50; the best epoch's
        weights are kept. Does not touch the manifests."""
        self._check_params()
        self.onnx_ = None  # an onnxruntime session belongs to the loaded weights, not to a new training
        with torch_threads(self._training.num_threads):
            return self._fit(manifest, val_manifest)

    def _fit(self, manifest, val_manifest) -> "BoxNetLocalizer":
        import torch

        training, augment = self._training, self._augment
        items = training_items(manifest, what=type(self).__name__)
        val_items = None
        if val_manifest is not None:  # checked before hours of training
            val_items = training_items(val_manifest, what=type(self).__name__)
        classes = self._classes(items)
        imgs, targets = self._cache(items, classes)
        val = None if val_items is None else self._cache(val_items, None)
        device = resolve_device(training.device)
        with torch.random.fork_rng(devices=[]):  # keep the caller's global RNG untouched
            torch.manual_seed(self.seed)
            net = self._build(len(classes), pretrained=True).to(device)
        gen = torch.Generator().manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        parts: dict[str, list[float]] = {}

        def batch_loss(idx):
            batch, tgts = [], []
            for i in idx.tolist():
                img, b, c = augment.geometric(imgs[i], *targets[i], rng)
                batch.append(img)
                tgts.append((b, c))
            x = augment.colour(to_input(np.stack(batch), device), rng)
            loss, info = self._loss(net(x), tgts, len(classes), device)
            for k, v in info.items():
                parts.setdefault(k, []).append(v)
            return loss

        def validate():
            scores = self._val_scores(net, *val)
            return {"score": scores["val_mAP50"], **scores}

        def record_parts():
            out = {k: float(np.mean(v)) for k, v in parts.items()}
            parts.clear()
            return out

        # the box-regression head's dropout draws from torch's global RNG: seeded here (the same seed gives the same
        # localizer whatever ran before in the process), and the caller's state restored after
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.history_ = train_network(net, len(imgs), batch_loss, training, generator=gen,
                                          name=f"the {type(self).__name__}",
                                          validate=None if val is None else validate, epoch_fields=record_parts)
        self.model_, self.classes_, self.fitted_ = net.eval(), classes, True
        self.device_ = device
        return self

    def _val_scores(self, net, imgs: np.ndarray, targets) -> dict:
        """Class-agnostic mAP50 and top-box mIoU of ``net`` on the cached validation images, scored at the
        network's size: an IoU is unchanged when both boxes are scaled by the same factor per axis, so this
        equals :func:`~explainendo.evaluate.detection.evaluate_localizer` on the full-size frames without
        decoding a JPEG per epoch. Boxes down to score 0.01 count (AP needs the low-scoring ones)."""
        from ..evaluate.detection import summarize

        s = self.image_size
        preds = []
        for outputs in self._network_outputs(net, (imgs[i:i + 16] for i in range(0, len(imgs), 16))):
            preds += [[Box(x1, y1, x2, y2, score=score).clip(s, s) for x1, y1, x2, y2, score, _ in found]
                      for found in self._decode(outputs, 0.01)]
        gts = [[Box(*map(float, row)) for row in b] for b, _ in targets]
        res = summarize(preds, gts, [(s, s)] * len(gts), top_k=1)
        return {"val_mAP50": float(res["mAP50"]), "val_mIoU": float(res["mIoU"])}

    # ---- prediction ----------------------------------------------------------------------------------------
    def forward_batches(self, images: list[np.ndarray], batch_size: int = 16):
        """The network's raw outputs for RGB uint8 images of any size, in batches: a generator of
        ``(outputs, count)``. With ``tta="flip"``, the outputs of each frame and its horizontal mirror, mapped
        back onto the frame and averaged (what ``locate`` decodes)."""
        self._check_fitted()
        s = self.image_size
        chunks = [images[start:start + batch_size] for start in range(0, len(images), batch_size)]
        resized = (np.stack([resize_square(a, s) for a in chunk]) for chunk in chunks)
        for outputs, chunk in zip(self._network_outputs(self.model_, resized, tta=self.tta), chunks):
            yield outputs, len(chunk)

    def _network_outputs(self, net, batches, tta: str | None = None):
        """``net``'s outputs (in eval mode, without gradients) for each uint8 ``(n, S, S, 3)`` array of
        ``batches``; ``tta="flip"``: merged with those of the mirrored batch (``_merge_flip``). Restores the
        net's mode."""
        import torch

        if net is getattr(self, "model_", None) and getattr(self, "onnx_", None) is not None:
            # loaded with runtime="onnx" (explainendo.runtime): the same outputs from onnxruntime
            def run(batch):
                outputs = [torch.from_numpy(o) for o in self.onnx_(to_input(batch, "cpu").numpy())]
                return tuple(outputs) if len(outputs) > 1 else outputs[0]

            for batch in batches:
                yield self._tta_outputs(run, batch, tta)
            return
        was_training = net.training
        net.eval()
        device = next(net.parameters()).device
        try:
            with torch_threads(self._training.num_threads), torch.inference_mode():
                for batch in batches:
                    yield self._tta_outputs(lambda b: net(to_input(b, device)), batch, tta)
        finally:
            if was_training:
                net.train()

    def _tta_outputs(self, run, batch: np.ndarray, tta: str | None):
        """``run(batch)``, or with ``tta="flip"`` merged with ``run`` of the batch mirrored left-right."""
        outputs = run(batch)
        if tta == "flip":
            outputs = self._merge_flip(outputs, run(np.ascontiguousarray(batch[:, :, ::-1])))
        return outputs

    def _locate_arrays(self, images: list[np.ndarray]) -> list[list[Box]]:
        s = self.image_size
        results: list[list[Box]] = []
        for outputs, _ in self.forward_batches(images):
            for found in self._decode(outputs, self.min_score):
                img = images[len(results)]
                h, w = img.shape[:2]
                results.append([Box(x1 * w / s, y1 * h / s, x2 * w / s, y2 * h / s, score=score,
                                    label=self.classes_[cls]).clip(w, h) for x1, y1, x2, y2, score, cls in found])
        return results

    @property
    def feature_layer(self):
        """The module whose output is the localizer's feature map (the Grad-CAM target for explanations)."""
        self._check_fitted()
        return self.model_.features

    def feature_maps(self, images, batch_size: int = 16) -> list[np.ndarray]:
        """``feature_layer``'s output ``(C, h, w)`` per RGB uint8 image (the input is the frame resized to
        ``image_size`` square, so the map spans the whole frame); always the torch network."""
        return _feature_maps(self, images, batch_size)

    # ---- persistence ---------------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"classes": list(self.classes_), "history": getattr(self, "history_", [])}

    def _save_weights(self, directory: Path) -> None:
        save_state_dict(self.model_, directory)

    def _load_weights(self, directory: Path, state: dict) -> None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = weights_path(directory)
        self._check_params()
        classes = state.get("classes")
        if not classes or not isinstance(classes, list):
            raise ModelFileError("component.yaml has no class list", source=directory,
                                 hint="save the localizer again with this version")
        net = self._build(len(classes), pretrained=False)
        try:
            net.load_state_dict(load_file(str(path), device="cpu"), strict=True)
        except (SafetensorError, RuntimeError, OSError) as exc:
            raise ModelFileError(f"weights do not fit this {type(self).__name__} ({exc})", source=path) from None
        device = runtime_device(self._training.device)
        self.model_ = net.to(device).eval()
        self.classes_ = classes
        self.history_ = state.get("history", [])
        self.device_ = device
        self.fitted_ = True


def _feature_maps(localizer, images, batch_size: int) -> list[np.ndarray]:
    """What :class:`BoxNetLocalizer` and :class:`~explainendo.localize.SoftMaskLocalizer` share: their network
    input is the frame resized to ``image_size`` square, so the feature map spans the whole frame."""
    from .base import hooked_output

    layer = localizer.feature_layer  # checks fitted
    net, s = localizer.model_, localizer.image_size
    device = next(net.parameters()).device
    out: list[np.ndarray] = []
    with torch_threads(localizer._training.num_threads):
        for start in range(0, len(images), batch_size):
            x = to_input(np.stack([resize_square(a, s) for a in images[start:start + batch_size]]), device)
            out += list(hooked_output(net, layer, x).float().cpu().numpy())
    return out
