"""The localizer contract shared by YOLO, the soft-mask U-Net and the whole-frame stand-in.

``fit(manifest) -> self``, ``locate(image) -> list[Box]`` for one image (path or array),
``locate_batch(images) -> list[list[Box]]`` for anything :func:`explainendo.io.iter_frames` accepts (a
broken item gives an empty list and an entry in ``errors_``, never an exception), ``save(dir)`` writes
``component.yaml`` (``kind`` + parameters) and the weights, ``Localizer.load(dir)`` reads them back without
executing anything from the folder.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ConfigError, ManifestError, ModelFileError, NotFittedError
from ..components import Component, register_component
from ..types import Box


class Localizer(Component, ABC):
    """Base class: subclasses implement ``fit``, ``_locate_arrays``, ``_save_weights`` and ``_load_weights``.

    A :class:`~explainendo.components.Component`: ``__init__`` only stores, ``get_params`` / ``clone`` work,
    ``save(dir)`` / ``Localizer.load(dir)`` use the one ``component.yaml`` schema (the class comes from the
    component registry by the file's kind; weights are safetensors)."""

    #: whether ``fit`` must run before ``locate``
    needs_fit: ClassVar[bool] = True

    def check_params(self) -> None:
        """Validate the parameters (a diagnoser calls this before any training starts)."""
        check = getattr(self, "_check_params", None)
        if check is not None:
            check()

    # ---- the contract ---------------------------------------------------------------------------
    @abstractmethod
    def fit(self, manifest, **kw: Any) -> "Localizer":
        ...

    @abstractmethod
    def _locate_arrays(self, images: list[np.ndarray]) -> list[list[Box]]:
        """Boxes for RGB uint8 images (already validated)."""

    def locate(self, image) -> list[Box]:
        """Boxes (pixel xyxy, score, label) for one image: a path, an RGB/grey array, PIL image or bytes.

        Raises :class:`InvalidImageError` for an unreadable image (use :meth:`locate_batch` to skip those).
        """
        from ..io import read_image

        self._check_fitted()
        return self._locate_arrays([read_image(image)])[0]

    def locate_batch(self, images, batch_size: int = 16) -> list[list[Box]]:
        """Boxes per frame of ``images`` (folder, video, list, generator ...). Unreadable frames give ``[]``
        and are listed in ``errors_`` as ``(name, message)``."""
        from ..io import iter_frames

        self._check_fitted()
        self.errors_ = []
        out: list[list[Box]] = []
        pending: list[tuple[int, np.ndarray]] = []

        def flush() -> None:
            if pending:
                res = self._locate_arrays([a for _, a in pending])
                for (k, _), boxes in zip(pending, res):
                    out[k] = boxes
                pending.clear()

        for frame in iter_frames(images):
            out.append([])
            if not frame.ok:
                self.errors_.append((frame.name, frame.error))
                continue
            pending.append((len(out) - 1, frame.image))
            if len(pending) >= batch_size:
                flush()
        flush()
        return out

    __call__ = locate

    # ---- saliency (explainendo.explain.localizer_saliency) ------------------------------------------
    @property
    def feature_layer(self):
        """The torch module whose output is the localizer's feature map (what EigenCAM reads); None when the
        localizer has no network (``WholeFrame``). Subclasses with a network override it."""
        return None

    def feature_maps(self, images) -> list[np.ndarray]:
        """``feature_layer``'s output for each RGB uint8 image, ``(C, h, w)`` float32, spanning the whole frame
        (a localizer that pads its input crops the padding away), for gradient-free saliency (EigenCAM).

        Raises :class:`ConfigError` for a localizer without a network: explain those with D-RISE, which needs
        only ``locate``."""
        raise ConfigError(f"{type(self).__name__} has no feature map",
                          hint="use the model-agnostic D-RISE (explainendo.explain.localizer_saliency.DRise)")

    # ---- persistence ------------------------------------------------------------------------------
    def _save_state(self, directory: Path) -> dict:
        self._check_fitted()
        self._save_weights(directory)
        return self._state()

    def _load_state(self, state: dict, directory: Path) -> None:
        self._load_weights(directory, state)

    def _state(self) -> dict:
        """Fitted, non-weight state (class names, sizes) for ``component.yaml``."""
        return {}

    def _save_weights(self, directory: Path) -> None:
        pass

    def _load_weights(self, directory: Path, state: dict) -> None:
        pass

    # ---- helpers --------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if self.needs_fit and not getattr(self, "fitted_", False):
            raise NotFittedError(f"{type(self).__name__} is not fitted", hint="call fit(manifest) or load(dir) first")



WEIGHTS_FILE = "model.safetensors"


def save_state_dict(model, directory: Path) -> None:
    """A torch module's weights as ``model.safetensors`` in ``directory`` (tensors only: nothing executable)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
              str(Path(directory) / WEIGHTS_FILE))


def weights_path(directory: Path) -> Path:
    """``directory/model.safetensors``, or ``ModelFileError`` when it is missing."""
    path = Path(directory) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelFileError(f"missing {WEIGHTS_FILE}", source=directory)
    return path


def training_items(manifest, require_boxes: bool = True, what: str = "localizer") -> list[tuple[Path, list[Box], tuple[int, int]]]:
    """``(path, boxes, (width, height))`` per image of a validated manifest.

    Raises :class:`ManifestError` for an empty manifest, one without any box (``require_boxes``), and
    (through :meth:`Manifest.validate`) missing files and boxes outside their image. Images without a
    box stay, as negative frames.
    """
    from ..io import Manifest

    if not isinstance(manifest, Manifest):
        raise ManifestError(f"expected an explainendo.io.Manifest, got {type(manifest).__name__}",
                            hint="load one with explainendo.io.load_dataset(...) or Manifest.read_csv(...)")
    if len(manifest) == 0:
        raise ManifestError("the manifest is empty: nothing to train the localizer on",
                            source=manifest.name or None, hint="check the split / filter that produced it")
    if require_boxes and not manifest.has_boxes:
        raise ManifestError(f"the manifest has no boxes: a {what} is trained from lesion boxes",
                            source=manifest.name or None,
                            hint="add x1,y1,x2,y2 columns (pixel xyxy), or use WholeFrame for frame-level tasks")
    clean = manifest.validate(strict=True, check_files=True, check_images=True)
    items = []
    for image, rows in clean.iter_images():
        w, h = int(rows["width"].iloc[0]), int(rows["height"].iloc[0])
        items.append((clean.path(image), clean.boxes_for(image), (w, h)))
    return items


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available", hint="use device='cpu'")
    return str(device)


def runtime_device(device: str | None) -> str:
    """Device for prediction and loading: the requested GPU when there is one, else the CPU (a model
    trained on a GPU must still load and run on a CPU-only machine)."""
    import torch

    if str(device).startswith("cuda") or device in (None, "", "auto") or str(device).isdigit():
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def to_input(batch: np.ndarray, device):
    """The localizers' network input: uint8 ``(N, S, S, 3)`` -> float ``(N, 3, S, S)`` in [-1, 1] (what the
    EfficientNet-Lite weights expect) on ``device``."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(batch)).to(device).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def hooked_output(net, layer, x):
    """The output of ``layer`` (a module inside ``net``) when ``net`` runs on the tensor ``x``: one forward pass
    with a forward hook, in eval mode and without gradients; the net's mode is restored."""
    import torch

    seen = []
    handle = layer.register_forward_hook(lambda _module, _inputs, output: seen.append(output))
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            net(x)
    finally:
        handle.remove()
        if was_training:
            net.train()
    out = seen[-1]
    return out[0] if isinstance(out, (tuple, list)) else out


def register_kind(cls):
    """Register a localizer class under its ``kind`` in the one component registry."""
    return register_component(cls.kind)(cls)
