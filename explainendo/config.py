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
