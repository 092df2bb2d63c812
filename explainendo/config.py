"""Build a diagnoser from a YAML config (what ``explainendo train config.yaml`` reads).

::

    model: gastric               # gastric (the ENDOANGEL-ED preset) | hybrid (choose the parts)
    params:                      # HybridDiagnoser / GastricDiagnoser arguments
      fitter: auto               # auto | logistic_regression | decision_tree | svm | xgboost
      enlarge: 1.0
      oof_folds: 5                # or holdout: 0.3 (train the heads once, the fitter on held-out patients)
      seed: 0
    heads: {epochs: 5}           # gastric: AttributeHeads options
    handcrafted: null            # gastric: HandcraftedFeatures params
    localizer_options: {}        # gastric: YoloLocalizer options
    localizer: {kind: whole_frame}                       # hybrid: a localizer kind and its options, or null
    sources:                                             # hybrid: feature sources
      - {kind: columns, columns: [attr.tone, size_mm]}
      - {kind: handcrafted}
      - {kind: attribute_heads, epochs: 3}
    data:
      manifest: data/train.csv   # a manifest CSV (paths relative to it), or
      synth: {system: gastric, n: 400, seed: 0, size: 256}   # phantoms written to <out>_data (or synth.out)
      test_fraction: 0.2         # optional patient-wise hold-out, reported after training
    out: models/gastric          # where the bundle is written

Component kinds resolve through the same allowlist as bundles (:data:`explainendo.bundle.COMPONENT_KINDS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import ConfigError

TOP_KEYS = {"model", "params", "heads", "handcrafted", "localizer_options", "localizer", "sources", "data", "out"}
PARAM_KEYS = {"fitter", "enlarge", "oof_folds", "seed", "metric", "candidates", "cv", "positive_label",
              "train_localizer", "batch_size", "min_box_score", "holdout", "selection_rule",
              "group_selection", "prefer_groups", "calibrate_sources"}


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
    unknown = sorted(set(config.get("params") or {}) - PARAM_KEYS)
    if unknown:
        raise ConfigError(f"unknown params {unknown}", source=str(path), hint=f"known: {sorted(PARAM_KEYS)}")
    return config


def _component(spec: dict, where: str):
    from .bundle import COMPONENT_KINDS, _resolve

    if not isinstance(spec, dict) or "kind" not in spec:
        raise ConfigError(f"{where} needs a 'kind'", hint=f"kinds: {sorted(COMPONENT_KINDS)}")
    options = {k: v for k, v in spec.items() if k != "kind"}
    if spec["kind"] not in COMPONENT_KINDS:
        raise ConfigError(f"{where}: unknown kind {spec['kind']!r}", hint=f"kinds: {sorted(COMPONENT_KINDS)}")
    cls = _resolve(COMPONENT_KINDS, spec["kind"], where)
    if spec["kind"] == "handcrafted":
        return cls(options.get("params"))
    return cls(**options)


def build_model(config: dict) -> Any:
    """A fresh, unfitted diagnoser from a config mapping (see the module docstring)."""
    params = dict(config.get("params") or {})
    kind = config.get("model", "hybrid")
    if kind == "gastric":
        from .systems.gastric import GastricDiagnoser

        return GastricDiagnoser(heads=config.get("heads"), handcrafted=config.get("handcrafted"),
                                localizer_options=config.get("localizer_options"), **params)
    if kind == "hybrid":
        from .hybrid import HybridDiagnoser

        localizer = config.get("localizer")
        localizer = None if localizer is None else _component(localizer, "localizer")
        sources = [_component(s, f"sources[{i}]") for i, s in enumerate(config.get("sources") or [])]
        if not sources:
            raise ConfigError("a hybrid config needs 'sources'", hint="e.g. sources: [{kind: handcrafted}]")
        return HybridDiagnoser(localizer=localizer, sources=sources, **params)
    raise ConfigError(f"unknown model {kind!r}", hint="gastric | hybrid")
