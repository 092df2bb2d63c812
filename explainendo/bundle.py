"""Model folders: a trained diagnoser as a directory that loads without running code from it.

Layout (every folder is one component, in the one ``component.yaml`` schema of
:mod:`explainendo.components`)::

    model/
      component.yaml         kind (e.g. gastric_diagnoser), parameters, state: {localizer: {path, kind}, ...}
      provenance.yaml        package versions, seed(s), SHA-256 of the training manifest, date, machine
      checksums.sha256       SHA-256 of every other file ("<hex>  <relative path>")
      localizer/             component.yaml + model.safetensors
      predictor/             component.yaml (the hybrid's columns, groups, stacking ...)
        sources/00_attributes/   component.yaml + model.safetensors
        fitter/model.json    xgboost's JSON model,  or  fitter/model.skops (sklearn via skops)
        fitter/background.safetensors   the SHAP background (training features)

Safety: YAML is read with ``safe_load``; weights are safetensors; sklearn fitters go through skops with an
explicit list of trusted types (anything else is refused, never loaded); xgboost models are JSON. Classes
come from the component registry by kind (:data:`explainendo.components.COMPONENTS`): a class path is never
read from a file, and a child whose kind disagrees with its parent's record is refused. Before anything is
parsed every file's checksum is verified; a missing, unlisted (foreign) or modified file raises
:class:`~explainendo.errors.ModelFileError` naming it. Folders written by explainendo before the engine
(format 1, a ``config.yaml``) are refused with the version that wrote them.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import shutil
from importlib import metadata
from pathlib import Path

from .components import COMPONENT_FILE, Component
from .errors import ConfigError, ModelFileError

CHECKSUMS = "checksums.sha256"
PROVENANCE = "provenance.yaml"


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (the one file digest of the package)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("explainendo", "numpy", "pandas", "scikit-learn", "xgboost", "shap", "skops", "torch",
                "torchvision", "ultralytics", "timm", "safetensors"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def prepare_folder(directory) -> Path:
    """An empty folder for a new model (an older model of ours there is replaced; anything else refused)."""
    directory = Path(directory)
    if directory.exists():
        if any(directory.iterdir()) and not (directory / CHECKSUMS).is_file():
            raise ConfigError("folder exists and is not an explainendo model", source=str(directory),
                              hint="choose a new or empty folder")
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    return directory


def _seeds(component) -> dict[str, int]:
    """Every ``seed`` / ``random_state`` parameter in a component tree, by its parameter path."""
    out = {}
    for key, value in component.get_params(deep=True).items():
        if key.split("__")[-1] in ("seed", "random_state") and isinstance(value, int):
            out[key] = value
    return out


def write_provenance_and_checksums(model, directory: Path) -> Path:
    import yaml

    provenance = {"created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                  "seeds": _seeds(model), "training_manifest_sha256": getattr(model, "manifest_hash_", None),
                  "versions": package_versions(), "machine": f"{platform.platform()} ({platform.processor() or '?'})"}
    (directory / PROVENANCE).write_text(yaml.safe_dump(provenance, sort_keys=False))
    return write_checksums(directory)


def write_checksums(directory: Path) -> Path:
    """(Re)write ``checksums.sha256`` over every file of the folder (the ONNX export adds its files this way,
    after verifying the folder)."""
    directory = Path(directory)
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p != directory / CHECKSUMS)
    lines = [f"{sha256_file(p)}  {p.relative_to(directory).as_posix()}" for p in files]
    (directory / CHECKSUMS).write_text("\n".join(lines) + "\n")
    return directory


def verify_bundle(directory) -> dict[str, str]:
    """Check every file against ``checksums.sha256``; return {relative path: hash}. Raises ModelFileError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFileError("model folder not found", source=str(directory), hint="check the path")
    sums_path = directory / CHECKSUMS
    if not sums_path.is_file():
        raise ModelFileError("checksums file is missing", source=str(sums_path),
                             hint="the model folder is incomplete; save the model again")
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
                                 hint="the model folder is incomplete; save the model again")
        if sha256_file(path) != digest:
            raise ModelFileError("file was modified after saving (checksum mismatch)", source=str(path),
                                 hint="do not edit a model folder; save the model again")
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if path.is_file() and rel != CHECKSUMS and rel not in listed and not path.name.startswith("."):
            raise ModelFileError("foreign file in the model folder (not written by save)", source=str(path),
                                 hint="remove it, or save the model again")
    return listed


def _refuse_old_format(directory: Path) -> None:
    import yaml

    version = "an earlier version"
    try:
        prov = yaml.safe_load((directory / PROVENANCE).read_text()) or {}
        version = (prov.get("versions") or {}).get("explainendo") or version
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    raise ModelFileError(f"a model folder in the pre-engine format 1 (config.yaml), written by explainendo {version}; "
                         f"this explainendo reads the component format 2", source=str(directory / "config.yaml"),
                         hint=f"train it again with this version, or load it with explainendo {version}")


def load(directory, runtime: str = "torch"):
    """``explainendo.load(folder)``: a saved model (checksums verified first), or one saved component on its
    own (a localizer, a predictor, attribute heads), its class taken from the component registry.

    ``runtime="onnx"``: the networks' forward passes run in onnxruntime sessions built from the ONNX files that
    ``explainendo export MODEL --onnx`` added to the folder (:mod:`explainendo.runtime`; probabilities equal to
    torch's within 1e-4); Grad-CAM (explanations) still uses the torch networks, which load as always."""
    import yaml

    from .runtime import check_runtime, loading

    runtime = check_runtime(runtime)
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelFileError("model folder not found", source=str(directory), hint="check the path")
    if (directory / "config.yaml").is_file() and not (directory / COMPONENT_FILE).is_file():
        _refuse_old_format(directory)
    from .components import component_class, read_component_file
    from .engine import Diagnoser

    checksums: dict[str, str] = {}
    if (directory / CHECKSUMS).is_file():
        checksums = verify_bundle(directory)
    else:
        kind = read_component_file(directory).get("kind")
        if issubclass(component_class(kind, str(directory / COMPONENT_FILE)), Diagnoser):
            raise ModelFileError("a saved diagnoser without its checksums file", source=str(directory / CHECKSUMS),
                                 hint="the model folder is incomplete; save the model again")
    with loading(directory, runtime, checksums):
        model = Component.load(directory)
    prov_path = directory / PROVENANCE
    if prov_path.is_file():
        model.provenance_ = yaml.safe_load(prov_path.read_text()) or {}
    return model
