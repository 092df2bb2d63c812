"""Model bundles: a trained diagnoser as a directory that loads without running code from it.

Layout::

    model/
      config.yaml            format, model kind, parameters, classes, feature columns and groups, components
      provenance.yaml        package versions, seed, SHA-256 of the training manifest, date, machine
      checksums.sha256       SHA-256 of every other file ("<hex>  <relative path>")
      localizer/             the localizer's own save(dir) (component.yaml with its kind + weights)
      sources/00_<name>/     each feature source's own save(dir)
      fitter/model.json      xgboost's JSON model,  or  fitter/model.skops (sklearn via skops)
      fitter/background.safetensors   the SHAP background (training features)
      fitter/selection.csv   every candidate fitter's cross-validation scores (when fitter="auto")

Safety: YAML is read with ``safe_load``; weights are safetensors or ``state_dict`` files the components
load with ``weights_only=True``; sklearn fitters go through skops with an explicit list of trusted types
(anything else is refused, never loaded); xgboost models are JSON. Component classes come from a
hard-coded allowlist of kinds (:data:`COMPONENT_KINDS`): a class path is never read from the bundle.
Before anything is parsed every file's checksum is verified; a missing, unlisted (foreign) or modified
file raises :class:`~explainendo.errors.ModelFileError` naming it.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import platform
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError, ModelFileError

FORMAT = "explainendo-model"
FORMAT_VERSION = 1
CHECKSUMS = "checksums.sha256"

#: component kind (written by the component in its component.yaml) -> (explainendo module, class name)
COMPONENT_KINDS: dict[str, tuple[str, str]] = {
    "columns": ("explainendo.sources.columns", "ColumnFeatures"),
    "deep_score": ("explainendo.sources.deep_score", "DeepScoreFeatures"),
    "sole_dl": ("explainendo.systems.sole_dl", "SoleDLClassifier"),
    "handcrafted": ("explainendo.handcrafted", "HandcraftedFeatures"),
    "attribute_heads": ("explainendo.heads", "AttributeHeads"),
    "yolo_localizer": ("explainendo.localize", "YoloLocalizer"),
    "softmask_localizer": ("explainendo.localize", "SoftMaskLocalizer"),
    "whole_frame": ("explainendo.localize", "WholeFrame"),
}

#: model kind in config.yaml -> (explainendo module, class name)
MODEL_KINDS: dict[str, tuple[str, str]] = {
    "hybrid": ("explainendo.hybrid", "HybridDiagnoser"),
    "gastric": ("explainendo.systems.gastric", "GastricDiagnoser"),
}

#: the only non-default types a skops fitter file may contain
TRUSTED_SKOPS_TYPES = [
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]

_PARAMS = ("enlarge", "oof_folds", "seed", "metric", "cv", "positive_label", "train_localizer", "batch_size",
           "min_box_score", "holdout", "selection_rule", "group_selection", "prefer_groups",
           "calibrate_sources")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("explainendo", "numpy", "pandas", "scikit-learn", "xgboost", "shap", "skops", "torch",
                "torchvision", "ultralytics", "timm", "safetensors"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def read_component(directory, kind: str | None = None) -> dict:
    """A saved component's ``component.yaml`` as a dict (safe YAML); ``kind`` given: refuse another kind."""
    import yaml

    path = Path(directory) / "component.yaml"
    if not path.is_file():
        raise ModelFileError("component has no component.yaml", source=path,
                             hint="every saved component writes component.yaml with its kind")
    try:
        state = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ModelFileError(f"cannot read ({exc})", source=path) from None
    if not isinstance(state, dict):
        raise ModelFileError("component.yaml is not a mapping", source=path)
    if kind is not None and state.get("kind") != kind:
        raise ModelFileError(f"not a '{kind}' component (kind {state.get('kind')!r})", source=path)
    return state


def _component_kind(directory: Path) -> str:
    path = directory / "component.yaml"
    state = read_component(directory)
    kind = state.get("kind")
    if kind not in COMPONENT_KINDS:
        raise ModelFileError(f"unknown component kind {kind!r}", source=path,
                             hint=f"known kinds: {sorted(COMPONENT_KINDS)}")
    return kind


def _resolve(table: dict[str, tuple[str, str]], kind: str, source) -> type:
    if kind not in table:
        raise ModelFileError(f"unknown kind {kind!r}", source=source, hint=f"known: {sorted(table)}")
    module, name = table[kind]
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ModelFileError(f"kind {kind!r} needs {module}.{name}, which this installation lacks ({exc})",
                             source=source, hint="update explainendo") from None


# ---- save -----------------------------------------------------------------------------------------
def _save_fitter(model, directory: Path) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    from safetensors.numpy import save_file

    save_file({"background": np.ascontiguousarray(model.background_, dtype=np.float64)},
              str(directory / "background.safetensors"))
    if model.selection_ is not None:
        model.selection_.to_csv(directory / "selection.csv", index=False)
    if model.group_selection_ is not None:
        model.group_selection_.to_csv(directory / "group_selection.csv", index=False)
    if type(model.fitter_).__name__ == "XGBClassifier":
        model.fitter_.save_model(str(directory / "model.json"))
        return {"name": model.fitter_name_, "format": "xgboost_json", "path": "fitter/model.json"}
    import skops.io as sio

    data = sio.dumps(model.fitter_)
    foreign = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_SKOPS_TYPES))
    if foreign:
        raise ConfigError(f"the fitter contains types a bundle may not hold: {foreign}",
                          hint="use one of the built-in fitters (explainendo.fit.list_fitters())")
    (directory / "model.skops").write_bytes(data)
    return {"name": model.fitter_name_, "format": "skops", "path": "fitter/model.skops"}


def save_bundle(model, directory) -> Path:
    """Write ``model`` (a fitted HybridDiagnoser or preset) as a bundle directory (layout above)."""
    import yaml

    model._check_fitted()
    directory = Path(directory)
    if directory.exists():
        if any(directory.iterdir()) and not (directory / CHECKSUMS).is_file():
            raise ConfigError("folder exists and is not an explainendo model", source=str(directory),
                              hint="choose a new or empty folder")
        shutil.rmtree(directory)  # replacing an older bundle of ours
    directory.mkdir(parents=True)

    localizer = None
    if model.localizer is not None:
        model.localizer.save(directory / "localizer")
        localizer = {"kind": _component_kind(directory / "localizer"), "path": "localizer"}
    sources = []
    for i, source in enumerate(model.sources_):
        rel = f"sources/{i:02d}_{source.name}"
        source.save(directory / rel)
        sources.append({"kind": _component_kind(directory / rel), "name": source.name, "path": rel})
    fitter = _save_fitter(model, directory / "fitter")

    candidates = [c if isinstance(c, str) else type(c).__name__ for c in model.candidates]
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": model.registry_kind,
        "params": {k: getattr(model, k) for k in _PARAMS},
        "fitter_param": model.fitter if isinstance(model.fitter, str) else model.fitter_name_,
        "candidates": candidates,
        "localizer": localizer, "sources": sources, "fitter": fitter,
        "classes": list(model.classes_), "feature_columns": list(model.feature_columns_),
        "feature_means": {k: float(v) for k, v in model.feature_means_.items()},
        "groups": {g: list(c) for g, c in model.groups_.items()},
        "fitter_columns": list(model.fitter_columns_), "dropped_groups": list(model.dropped_groups_),
        "sources_used": model.sources_used_, "skipped_sources": model.skipped_sources_,
        "n_training_lesions": int(model.n_training_lesions_),
        "stacking": getattr(model, "stacking_", None),
    }
    (directory / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    provenance = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  "seed": model.seed, "training_manifest_sha256": model.manifest_hash_,
                  "versions": _versions(), "machine": f"{platform.platform()} ({platform.processor() or '?'})"}
    (directory / "provenance.yaml").write_text(yaml.safe_dump(provenance, sort_keys=False))
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    lines = [f"{_sha256(p)}  {p.relative_to(directory).as_posix()}" for p in files]
    (directory / CHECKSUMS).write_text("\n".join(lines) + "\n")
    return directory


# ---- load -----------------------------------------------------------------------------------------
def verify_bundle(directory) -> dict[str, str]:
    """Check every file against ``checksums.sha256``; return {relative path: hash}. Raises ModelFileError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFileError("model folder not found", source=str(directory), hint="check the path")
    sums_path = directory / CHECKSUMS
    if not (directory / "config.yaml").is_file():
        raise ModelFileError("not an explainendo model: config.yaml is missing", source=str(directory / "config.yaml"),
                             hint="load a folder written by model.save(folder)")
    if not sums_path.is_file():
        raise ModelFileError("checksums file is missing", source=str(sums_path),
                             hint="the bundle is incomplete; save the model again")
    listed: dict[str, str] = {}
    for n, line in enumerate(sums_path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or rel.startswith("/") or ".." in Path(rel).parts:
            raise ModelFileError(f"malformed line {n}", source=str(sums_path))
        listed[rel] = digest
    for rel, digest in listed.items():
        path = directory / rel
        if not path.is_file():
            raise ModelFileError("file listed in checksums.sha256 is missing", source=str(path),
                                 hint="the bundle is incomplete; save the model again")
        if _sha256(path) != digest:
            raise ModelFileError("file was modified after saving (checksum mismatch)", source=str(path),
                                 hint="do not edit a bundle; save the model again")
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and rel != CHECKSUMS and rel not in listed and not path.name.startswith("."):
            raise ModelFileError("foreign file in the model folder (not written by save)", source=str(path),
                                 hint="remove it, or save the model again")
    return listed


def _load_fitter(directory: Path, spec: dict):
    path = directory / spec.get("path", "")
    fmt = spec.get("format")
    if fmt == "xgboost_json":
        from xgboost import XGBClassifier

        fitter = XGBClassifier()
        try:
            fitter.load_model(str(path))
        except Exception as exc:  # noqa: BLE001 - xgboost raises its own XGBoostError
            raise ModelFileError(f"not a valid xgboost JSON model ({exc})", source=str(path)) from None
        return fitter
    if fmt == "skops":
        import skops.io as sio

        try:
            untrusted = set(sio.get_untrusted_types(file=str(path)))
        except Exception as exc:  # noqa: BLE001 - skops raises several types for a damaged file
            raise ModelFileError(f"not a valid skops file ({exc})", source=str(path)) from None
        foreign = sorted(untrusted - set(TRUSTED_SKOPS_TYPES))
        if foreign:
            raise ModelFileError(f"fitter file holds untrusted types {foreign}; refused", source=str(path),
                                 hint="only explainendo's built-in fitters can be loaded")
        return sio.load(str(path), trusted=sorted(untrusted))
    raise ModelFileError(f"unknown fitter format {fmt!r}", source=str(path))


def load_bundle(directory):
    """Load a bundle written by :func:`save_bundle` (checksums first, allowlisted classes only)."""
    import yaml
    from safetensors.numpy import load_file

    directory = Path(directory)
    verify_bundle(directory)
    config_path = directory / "config.yaml"
    try:
        config = yaml.safe_load(config_path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ModelFileError(f"cannot read ({exc})", source=str(config_path)) from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError("not an explainendo model config (format is not 'explainendo-model')",
                             source=str(config_path))
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"format version {config.get('format_version')!r} is not supported "
                             f"(this explainendo reads {FORMAT_VERSION})", source=str(config_path),
                             hint="use the explainendo version that saved it")
    try:
        model_cls = _resolve(MODEL_KINDS, config["model"], str(config_path))
        localizer = None
        if config.get("localizer"):
            loc_dir = directory / config["localizer"]["path"]
            kind = _component_kind(loc_dir)
            localizer = _resolve(COMPONENT_KINDS, kind, str(loc_dir)).load(loc_dir)
        sources = []
        for spec in config["sources"]:
            src_dir = directory / spec["path"]
            kind = _component_kind(src_dir)
            sources.append(_resolve(COMPONENT_KINDS, kind, str(src_dir)).load(src_dir))
        params = dict(config["params"])
        model = model_cls(localizer=localizer, sources=sources, fitter=config["fitter_param"],
                          candidates=tuple(config["candidates"]), **params)
        model.sources_ = sources
        model.fitter_ = _load_fitter(directory, config["fitter"])
        model.fitter_name_ = config["fitter"]["name"]
        model.background_ = load_file(str(directory / "fitter" / "background.safetensors"))["background"]
        selection = directory / "fitter" / "selection.csv"
        model.selection_ = pd.read_csv(selection) if selection.is_file() else None
        model.classes_ = [str(c) for c in config["classes"]]
        model.feature_columns_ = [str(c) for c in config["feature_columns"]]
        model.feature_means_ = {str(k): float(v) for k, v in config["feature_means"].items()}
        model.groups_ = {str(g): [str(c) for c in cols] for g, cols in config["groups"].items()}
        model.fitter_columns_ = [str(c) for c in config.get("fitter_columns") or model.feature_columns_]
        model.dropped_groups_ = [str(g) for g in config.get("dropped_groups") or []]
        group_steps = directory / "fitter" / "group_selection.csv"
        model.group_selection_ = pd.read_csv(group_steps, keep_default_na=False) if group_steps.is_file() else None
        model.sources_used_ = config.get("sources_used", [])
        model.skipped_sources_ = config.get("skipped_sources", [])
        model.n_training_lesions_ = int(config.get("n_training_lesions", 0))
        model.stacking_ = config.get("stacking") or {}
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"config is incomplete or malformed ({exc!r})", source=str(config_path)) from None
    prov = yaml.safe_load((directory / "provenance.yaml").read_text()) if (directory / "provenance.yaml").is_file() else {}
    model.manifest_hash_ = (prov or {}).get("training_manifest_sha256")
    model.provenance_ = prov or {}
    model._shap = None
    return model


def load(directory):
    """``explainendo.load(folder)``: any saved diagnoser (``config.yaml``), or a saved component on its own
    (``component.yaml``: a sole-DL classifier, attribute heads, a localizer, a feature source), its class
    taken from the same allowlist."""
    directory = Path(directory)
    if not (directory / "config.yaml").is_file() and (directory / "component.yaml").is_file():
        kind = _component_kind(directory)
        return _resolve(COMPONENT_KINDS, kind, str(directory)).load(directory)
    return load_bundle(directory)
