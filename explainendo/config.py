"""Build a diagnoser from a YAML config (what ``explainendo train config.yaml`` reads).

Every component is written as ``{kind: <registered kind>, <parameter>: <value> ...}``, nested as deep as
the parameters go; the kinds are those of the one component registry
(:func:`explainendo.components.list_components`, the same allowlist model folders load from)::

    model:
      kind: gastric_diagnoser          # or diagnoser (choose every part yourself)
      seed: 0
      localizer: {kind: softmask_localizer, encoder: efficientnet_lite0, image_size: 256,
                  training: {kind: unet_training, epochs: 10}}
      predictor:
        kind: hybrid_predictor
        positive_label: neoplastic
        sources:
          - {kind: attribute_heads, image_size: 96, training: {kind: training, epochs: 5}}
          - {kind: handcrafted}
        stacking: {kind: held_out, fraction: 0.5}
        group_selection: {kind: group_eliminator, prefer_keep: attributes}
    data:
      manifest: data/train.csv         # a manifest CSV (image paths relative to its folder, or to root:), or
      root: /data/hospital_images      # optional: the folder the manifest's image paths are relative to
      synth: {system: gastric, n: 400, seed: 0, size: 256}   # phantoms written to <out>_data (or synth.out)
      unlabeled: data/unlabeled.csv    # optional: lesions without labels (semi-supervised heads)
      test_fraction: 0.2               # optional patient-wise hold-out, reported after training
    out: models/gastric                # where the model folder is written

Relative paths are read from **the config file's folder**, not from the folder the command runs in (as
docker-compose and MkDocs read theirs): ``data.manifest``, ``data.root``, ``data.unlabeled``,
``data.synth.out``, ``out``, and the weight files a component names (``pretrained: weights.pth`` of
attribute heads, ``model: best.pt`` of a YOLO localizer; a built-in YOLO architecture such as
``yolov8n.yaml`` stays a name). Copy a preset next to your data and its paths are those of that folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError

TOP_KEYS = {"model", "data", "out"}
DATA_KEYS = {"manifest", "root", "synth", "unlabeled", "test_fraction"}


def read_config(path) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", source=str(path), hint="see examples/*.yaml")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML ({exc})", source=str(path)) from None
    if not isinstance(config, dict):
        raise ConfigError("config must be a mapping of keys", source=str(path), hint="see examples/*.yaml")
    unknown = sorted(set(config) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown}", source=str(path), hint=f"known: {sorted(TOP_KEYS)}")
    unknown = sorted(set(config.get("data") or {}) - DATA_KEYS)
    if unknown:
        raise ConfigError(f"unknown data key(s) {unknown}", source=str(path), hint=f"known: {sorted(DATA_KEYS)}")
    if not isinstance(config.get("model"), dict):
        raise ConfigError("config needs a 'model' mapping with a 'kind'", source=str(path),
                          hint="e.g. model: {kind: gastric_diagnoser}")
    return resolve_paths(config, path.resolve().parent)


def _relative(value, base: Path):
    return value if Path(value).expanduser().is_absolute() else str(base / value)


def _resolve_weights(node, base: Path):
    if isinstance(node, list):
        return [_resolve_weights(v, base) for v in node]
    if not isinstance(node, dict):
        return node
    from .components import component_class
    from .errors import ModelFileError

    try:  # the component says which of its parameters name files; an unknown kind fails later, when built
        names_a_file = getattr(component_class(node["kind"]), "names_a_file", None) if "kind" in node else None
    except ModelFileError:
        names_a_file = None  # (registered strategies that are not Components name no files)
    out = {}
    for key, value in node.items():
        if names_a_file is not None and names_a_file(key, value):
            out[key] = _relative(value, base)
        else:
            out[key] = _resolve_weights(value, base)
    return out


def resolve_paths(config: dict, base: Path) -> dict:
    """A copy of ``config`` with its relative paths made relative to ``base`` (the config file's folder;
    module docstring for the keys)."""
    config = dict(config)
    data = dict(config.get("data") or {})
    for key in ("manifest", "root", "unlabeled"):
        if isinstance(data.get(key), str):
            data[key] = _relative(data[key], base)
    if isinstance(data.get("synth"), dict) and isinstance(data["synth"].get("out"), str):
        data["synth"] = {**data["synth"], "out": _relative(data["synth"]["out"], base)}
    if config.get("data") is not None:
        config["data"] = data
    if isinstance(config.get("out"), str):
        config["out"] = _relative(config["out"], base)
    config["model"] = _resolve_weights(config["model"], base)
    return config


def build_model(config: dict) -> Any:
    """A fresh, unfitted diagnoser from a config mapping (see the module docstring); every parameter is
    checked before anything trains."""
    from .components import build_component
    from .engine import Diagnoser

    model = build_component(config["model"], "model")
    if not isinstance(model, Diagnoser):
        raise ConfigError(f"model: a {type(model).__name__} is not a diagnoser",
                          hint="kind: gastric_diagnoser, or diagnoser with a localizer and a predictor")
    model.checked_parts()
    return model
