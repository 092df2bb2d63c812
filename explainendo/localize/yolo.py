"""``YoloLocalizer``: an ultralytics YOLO detector behind the localizer contract (ENDOANGEL-ED crops the
lesions that YOLO finds).

Training writes a YOLO dataset (symlinked images + label files + ``data.yaml``) into a work folder the
localizer owns, never into the data folder (ultralytics writes label caches next to the labels).

Saving: ultralytics ``.pt`` checkpoints are pickles, so :meth:`save` writes the network's ``state_dict`` as
safetensors plus the model's architecture dict (the parsed model yaml) and class names in
``component.yaml``; :meth:`load` rebuilds ``DetectionModel(cfg=<that dict>)`` and loads the tensors: no
pickle is read. (``fit`` from a user-given ``.pt`` does unpickle that file through ultralytics: give only
files you trust; after ``fit`` the localizer reads the ``best.pt`` it has just written itself.)
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelFileError
from ..torch_threads import torch_threads
from ..types import Box
from ..components import _plain
from .base import (Localizer, register_kind, resolve_device, runtime_device, save_state_dict,
                   training_items, weights_path)

DEFAULT_LABEL = "lesion"


def import_ultralytics():
    """Import ultralytics offline and quietly, in a private settings folder, keeping torch's thread count.

    ultralytics fetches a font and writes settings unless told otherwise, and some releases set torch to
    one thread at import: each of those is pre-empted or undone here (the thread count it found is
    restored, even when the import fails). The installed releases reset the count in ``select_device``
    instead, when training starts and at a model's first prediction: :func:`_yolo_threads` covers that.
    """
    import torch

    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    if "YOLO_CONFIG_DIR" not in os.environ:
        cfg = Path.home() / ".cache" / "explainendo" / "ultralytics"
        font = cfg / "Ultralytics" / "Arial.ttf"
        if not font.is_file():
            import matplotlib

            font.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)
        os.environ["YOLO_CONFIG_DIR"] = str(cfg)
    with torch_threads(torch.get_num_threads()):
        import ultralytics  # noqa: F401
        from ultralytics import YOLO
    return YOLO


@contextmanager
def _yolo_threads(n: int | None):
    """:func:`~explainendo.torch_threads.torch_threads` for ultralytics calls. ultralytics' ``select_device``
    (run when training starts and at a model's first prediction) resets torch to its own ``NUM_THREADS``
    (cores - 1, at most 8): within this block it resets to the same count as the block instead."""
    import_ultralytics()
    from ultralytics.utils import torch_utils

    with torch_threads(n) as count:
        saved = getattr(torch_utils, "NUM_THREADS", None)
        torch_utils.NUM_THREADS = count
        try:
            yield count
        finally:
            if saved is None:
                del torch_utils.NUM_THREADS
            else:
                torch_utils.NUM_THREADS = saved


@register_kind
class YoloLocalizer(Localizer):
    """YOLO (ultralytics) localizer.

    ``model``: an architecture yaml known to ultralytics (``"yolov8n.yaml"``: random init) or the path of a
    local ``.pt`` checkpoint to fine-tune (never downloaded). ``imgsz``, ``epochs``, ``batch``: training
    settings; ``conf`` and ``iou``: confidence and NMS IoU thresholds at prediction; ``max_det``: boxes kept
    per image; ``single_class``: every box is one class (``lesion``); ``seed``: makes training repeatable
    (ultralytics' ``deterministic`` mode); ``device``: ``"cpu"``, ``"cuda"``/``"0"`` or ``"auto"``;
    ``workdir``: where the YOLO dataset and training runs go (default: a new temporary folder);
    ``train_args``: extra keyword arguments for ``ultralytics.YOLO.train`` (e.g. ``{"mosaic": 0.5}``);
    ``num_threads``: torch threads while training, loading and predicting (None: one per core).
    """

    kind = "yolo_localizer"
    file_params = ("model", "workdir")

    @classmethod
    def names_a_file(cls, key, value) -> bool:
        # a ``.yaml`` architecture (yolov8n.yaml) is a name ultralytics builds, not a file beside the config
        return super().names_a_file(key, value) and not (key == "model" and value.endswith((".yaml", ".yml")))

    def __init__(self, model: str = "yolov8n.yaml", imgsz: int = 640, epochs: int = 50, batch: int = 16,
                 conf: float = 0.25, iou: float = 0.7, max_det: int = 100, single_class: bool = False,
                 seed: int = 0, device: str = "cpu", workdir: str | None = None, train_args: dict | None = None,
                 num_threads: int | None = None):
        self.model = model
        self.imgsz = imgsz
        self.epochs = epochs
        self.batch = batch
        self.conf = conf
        self.iou = iou
        self.max_det = max_det
        self.single_class = single_class
        self.seed = seed
        self.device = device
        self.workdir = workdir
        self.train_args = train_args
        self.num_threads = num_threads


    # ---- training -----------------------------------------------------------------------------------
    def _class_of(self, box: Box) -> str:
        return DEFAULT_LABEL if self.single_class or not box.label else box.label

    def _write_split(self, root: Path, split: str, items, classes: dict[str, int]) -> None:
        img_dir, lbl_dir = root / "images" / split, root / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        for i, (path, boxes, (w, h)) in enumerate(items):
            name = f"{i:06d}_{path.stem}"
            dst = img_dir / f"{name}{path.suffix.lower()}"
            if not dst.exists():
                try:
                    dst.symlink_to(path.resolve())
                except OSError:  # filesystems without symlinks
                    shutil.copyfile(path, dst)
            lines = []
            for b in boxes:
                cx, cy, bw, bh = b.clip(w, h).to_yolo(w, h)
                lines.append(f"{classes[self._class_of(b)]} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}")
            (lbl_dir / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))

    def _check_params(self) -> None:
        m = str(self.model)
        if m.endswith(".pt") and not Path(m).is_file():
            raise ConfigError(f"checkpoint {m!r} not found (explainendo never downloads weights)",
                              hint="give a local .pt path, or an architecture yaml such as 'yolov8n.yaml'")
        if not (m.endswith(".pt") or m.endswith((".yaml", ".yml"))):
            raise ConfigError(f"model must be a YOLO architecture yaml or a local .pt file, got {m!r}")
        if not (int(self.imgsz) >= 32 and int(self.epochs) >= 1 and int(self.batch) >= 1):
            raise ConfigError(f"imgsz, epochs and batch must be positive, got {self.imgsz}, {self.epochs}, {self.batch}")
        if not (0 <= self.conf <= 1 and 0 < self.iou <= 1):
            raise ConfigError(f"conf must be in [0, 1] and iou in (0, 1], got {self.conf}, {self.iou}")

    def fit(self, manifest, val_manifest=None, verbose: bool = False) -> "YoloLocalizer":
        """Train on ``manifest``'s boxes (images without boxes are background frames). Without
        ``val_manifest`` ultralytics validates on the training images (only at the last epoch)."""
        import yaml

        self._check_params()
        train = training_items(manifest, what="YOLO localizer")
        val = training_items(val_manifest, what="YOLO localizer") if val_manifest is not None else None
        names = sorted({self._class_of(b) for _, boxes, _ in train for b in boxes})
        if val is not None:
            names = sorted(set(names) | {self._class_of(b) for _, boxes, _ in val for b in boxes})
        classes = {n: i for i, n in enumerate(names)}
        base = Path(self.workdir) if self.workdir else Path(tempfile.mkdtemp(prefix="explainendo-yolo-"))
        digest = hashlib.sha1("|".join(str(p) for p, _, _ in train).encode()).hexdigest()[:10]
        root = base / f"dataset-{digest}"
        if root.exists():
            shutil.rmtree(root)
        self._write_split(root, "train", train, classes)
        self._write_split(root, "val", val if val is not None else train, classes)
        data = root / "data.yaml"
        data.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val",
                                        "names": {i: n for n, i in classes.items()}}))
        YOLO = import_ultralytics()
        device = resolve_device(self.device)
        yolo = YOLO(str(self.model), task="detect")
        args = dict(data=str(data), epochs=int(self.epochs), imgsz=int(self.imgsz), batch=int(self.batch),
                    seed=int(self.seed), deterministic=True, device="cpu" if device == "cpu" else 0,
                    workers=0, project=str(base / "runs"), name="train", exist_ok=True, plots=False,
                    verbose=verbose, amp=device != "cpu", val=val is not None, save=True,
                    single_cls=bool(self.single_class))
        args.update(self.train_args or {})
        with _yolo_threads(self.num_threads):
            yolo.train(**args)
        trainer = yolo.trainer
        self.names_ = names
        self.history_ = _read_results(Path(trainer.save_dir) / "results.csv")
        self.workdir_ = str(base)
        net = yolo.model.float().cpu()
        self._set_model(net, names)
        return self

    # ---- prediction ---------------------------------------------------------------------------------
    def _set_model(self, net, names: list[str]) -> None:
        """Keep the un-fused network (for saving) and a separate predictor copy (ultralytics fuses layers)."""
        YOLO = import_ultralytics()
        net.names = {i: n for i, n in enumerate(names)}
        self.model_ = net
        yolo = YOLO(_arch_yaml_name(net), task="detect")
        yolo.model = copy.deepcopy(net).eval()
        self._predictor = yolo
        self.fitted_ = True

    def _locate_arrays(self, images: list[np.ndarray]) -> list[list[Box]]:
        device = runtime_device(self.device)
        with _yolo_threads(self.num_threads):
            # ultralytics expects BGR arrays (OpenCV order)
            results = self._predictor.predict([np.ascontiguousarray(a[..., ::-1]) for a in images],
                                              imgsz=int(self.imgsz), conf=float(self.conf), iou=float(self.iou),
                                              max_det=int(self.max_det), device="cpu" if device == "cpu" else 0,
                                              verbose=False, save=False)
        out = []
        for img, r in zip(images, results):
            h, w = img.shape[:2]
            boxes = []
            xyxy = r.boxes.xyxy.cpu().numpy()
            confs = r.boxes.conf.cpu().numpy()
            cls = r.boxes.cls.cpu().numpy().astype(int)
            for (x1, y1, x2, y2), c, k in zip(xyxy, confs, cls):
                if x2 - x1 <= 0 or y2 - y1 <= 0:
                    continue
                boxes.append(Box(float(x1), float(y1), float(x2), float(y2), score=float(c),
                                 label=self.names_[k]).clip(w, h))
            out.append(sorted(boxes, key=lambda b: -b.score))
        return out

    # ---- saliency -----------------------------------------------------------------------------------
    #: which of the Detect head's inputs ``feature_layer`` is: 0 = P3 (stride 8, the finest neck output), 1 = P4,
    #: 2 = P5 (pytorch-grad-cam's YOLO tutorial reads the layer just before Detect, P5: too coarse for small frames)
    saliency_level = 0

    @property
    def feature_layer(self):
        """The neck layer feeding the Detect head at ``saliency_level`` (a module of the un-fused network)."""
        self._check_fitted()
        detect = self.model_.model[-1]
        return self.model_.model[list(detect.f)[self.saliency_level]]

    def feature_maps(self, images, batch_size: int = 16) -> list[np.ndarray]:
        """``feature_layer``'s output ``(C, h, w)`` per RGB uint8 image. Each frame is letterboxed to ``imgsz``
        square as ultralytics predicts (scaled to fit, centred, grey 114 padding) and the padding's cells are
        cropped from the map, so that it spans the frame alone."""
        import torch

        from .base import hooked_output

        layer = self.feature_layer
        net, size = self.model_, int(self.imgsz)
        device = next(net.parameters()).device
        out: list[np.ndarray] = []
        with torch_threads(self.num_threads):
            for start in range(0, len(images), batch_size):
                chunk = images[start:start + batch_size]
                boxed = [_letterbox(a, size) for a in chunk]
                x = torch.from_numpy(np.stack([b for b, _ in boxed])).to(device).permute(0, 3, 1, 2).float() / 255.0
                feats = hooked_output(net, layer, x).float().cpu().numpy()
                for f, (_, (top, left, h, w)) in zip(feats, boxed):
                    stride = size / f.shape[-1]
                    r0, c0 = int(np.floor(top / stride)), int(np.floor(left / stride))
                    r1 = max(r0 + 1, int(np.ceil((top + h) / stride)))
                    c1 = max(c0 + 1, int(np.ceil((left + w) / stride)))
                    out.append(np.ascontiguousarray(f[:, r0:r1, c0:c1]))
        return out

    # ---- persistence --------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"names": list(self.names_), "architecture": _plain(self.model_.yaml),
                "history": getattr(self, "history_", [])}

    def _save_weights(self, directory: Path) -> None:
        save_state_dict(self.model_, directory)

    def _load_weights(self, directory: Path, state: dict) -> None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = weights_path(directory)
        try:
            names, arch = list(state["names"]), dict(state["architecture"])
        except (KeyError, TypeError):
            raise ModelFileError("component.yaml lacks the YOLO class names or architecture", source=directory) from None
        import_ultralytics()
        from ultralytics.nn.tasks import DetectionModel

        try:
            with torch_threads(self.num_threads):
                net = DetectionModel(cfg=copy.deepcopy(arch), nc=len(names), verbose=False)
                net.load_state_dict(load_file(str(path)), strict=True)
        except (SafetensorError, RuntimeError, OSError, KeyError) as exc:
            raise ModelFileError(f"weights do not fit the saved YOLO architecture ({exc})", source=path) from None
        self.names_ = names
        self.history_ = state.get("history", [])
        self._set_model(net.float().eval(), names)


def _letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``image`` scaled to fit ``size`` x ``size`` and centred on grey 114 (ultralytics' letterbox), with the
    placed image's ``(top, left, height, width)``."""
    import cv2

    h, w = image.shape[:2]
    r = min(size / h, size / w)
    nh, nw = max(1, int(round(h * r))), max(1, int(round(w * r)))
    top, left = (size - nh) // 2, (size - nw) // 2
    out = np.full((size, size, 3), 114, np.uint8)
    out[top:top + nh, left:left + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return out, (top, left, nh, nw)


def _arch_yaml_name(net) -> str:
    """An architecture yaml ultralytics knows, only to create a ``YOLO`` shell whose model is then replaced."""
    scale = (net.yaml or {}).get("scale") or "n"
    return f"yolov8{scale}.yaml"



def _read_results(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    import pandas as pd

    df = pd.read_csv(path)
    df.columns = [c.strip() for c in df.columns]
    return [{k: (float(v) if isinstance(v, (int, float, np.number)) else v) for k, v in r.items()}
            for r in df.to_dict("records")]
