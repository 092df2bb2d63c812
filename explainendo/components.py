"""Components: every localizer, feature source, predictor, strategy and diagnoser, and their one registry.

A component is a scikit-learn estimator (``__init__`` only stores its arguments, ``get_params`` /
``set_params`` / ``clone`` work, ``fit`` fits and returns ``self``, fitted state ends in ``_``) that can
also write its own fitted state to a folder and read it back. The registry :data:`COMPONENTS` maps a
*kind* (``"softmask_localizer"``, ``"hybrid_predictor"``, ``"held_out"`` ...) to its class. It is, at the
same time,

* the allowlist of classes a saved model may name (a class path is never read from a file),
* what a YAML config builds from (``{kind: handcrafted}``), and
* what ``explainendo components`` lists.

Adding a kind is one file with ``@register_component("my_kind")`` on the class, imported by its package's
``__init__``; nothing else has to be edited for it to train, save, load and build from YAML.

One schema, ``component.yaml``, one writer (:meth:`Component.save`) and one reader
(:meth:`Component.load`)::

    format: explainendo-component
    format_version: 3
    kind: softmask_localizer            # the only place a component's kind is written
    explainendo_version: 0.4.0
    params: {encoder: vgg, ...}         # constructor arguments (nested components as {kind: ..., ...})
    state: {...}                        # fitted state the class writes itself (plain YAML)

A parent refers to a fitted child by folder and the kind it expects (``{path: localizer, kind: ...}``,
:func:`save_child` / :func:`load_child`); a child whose own ``component.yaml`` says another kind is refused.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

from .errors import ConfigError, ModelFileError
from .registry import Registry

COMPONENT_FILE = "component.yaml"
FORMAT = "explainendo-component"
FORMAT_VERSION = 5  # 5: Diagnoser.tasks, HybridPredictor.label_column (2026-12-04); 4: HybridPredictor.folds_by,
# handcrafted colour_constancy (2026-12-02); 3: one Training object

COMPONENTS: Registry[type] = Registry("component kind")

#: packages whose modules register the built-in kinds: on the first lookup of an unknown kind, each package
#: and every module directly in it is imported (so a new kind is one file with ``@register_component``)
BUILTIN_PACKAGES = ("explainendo.specs", "explainendo.training", "explainendo.engine", "explainendo.fit", "explainendo.localize",
                    "explainendo.heads", "explainendo.handcrafted", "explainendo.sources", "explainendo.predict",
                    "explainendo.systems")
#: modules never imported for that (command-line front ends)
_NOT_COMPONENT_MODULES = ("commands", "cli")


def register_component(kind: str):
    """Class decorator: register ``cls`` under ``kind`` (and set ``cls.kind``)."""
    def decorator(cls):
        cls.kind = kind
        return COMPONENTS.register(kind)(cls)
    return decorator


def _import_builtins() -> None:
    import pkgutil

    for name in BUILTIN_PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
            if not info.name.startswith("_") and info.name not in _NOT_COMPONENT_MODULES:
                importlib.import_module(f"{name}.{info.name}")


def component_class(kind: Any, source: Any = None) -> type:
    """The class registered as ``kind`` (ModelFileError naming ``source`` when there is none)."""
    if not isinstance(kind, str) or kind not in COMPONENTS:
        _import_builtins()
    if not isinstance(kind, str) or kind not in COMPONENTS:
        raise ModelFileError(f"unknown component kind {kind!r}", source=source,
                             hint=f"known kinds: {', '.join(COMPONENTS.list())}")
    return COMPONENTS.get(kind)


def list_components(pattern: str = "*") -> list[str]:
    _import_builtins()
    return COMPONENTS.list(pattern)


# ---- parameter values <-> YAML ------------------------------------------------------------------------
def _registered_kind(value: Any) -> str | None:
    kind = getattr(type(value), "kind", None)
    if isinstance(kind, str) and kind in COMPONENTS and COMPONENTS.get(kind) is type(value):
        return kind
    return None


def component_params(value: Any) -> dict:
    """The constructor arguments of a registered object (an estimator's ``get_params(deep=False)``, a
    dataclass's fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
    return value.get_params(deep=False)


def encode_value(value: Any, where: str = "value") -> Any:
    """A parameter value as plain YAML: registered objects become ``{kind: ..., <params>}``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{where}: a mapping with non-text keys cannot be written", hint="use text keys")
        if "kind" in value:
            raise ConfigError(f"{where}: a plain mapping may not have a 'kind' key (it would read as a component)")
        return {k: encode_value(v, f"{where}.{k}") for k, v in value.items()}
    kind = _registered_kind(value)
    if kind is None:
        raise ConfigError(f"{where}: a {type(value).__name__} cannot be written to a model file or config",
                          hint="use plain values or a registered component (explainendo.components.list_components()), "
                               "e.g. a fitter by its name")
    return {"kind": kind, **{k: encode_value(v, f"{where}.{k}") for k, v in component_params(value).items()}}


def decode_value(value: Any, where: str = "value") -> Any:
    """The inverse of :func:`encode_value` (``{kind: ...}`` mappings are built with :func:`build_component`)."""
    if isinstance(value, list):
        return [decode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if "kind" in value:
            return build_component(value, where)
        return {k: decode_value(v, f"{where}.{k}") for k, v in value.items()}
    return value


def build_component(spec: dict, where: str = "config") -> Any:
    """A new, unfitted component from ``{kind: <kind>, <param>: <value> ...}`` (YAML configs, saved params)."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise ConfigError(f"{where} needs a 'kind'", hint=f"kinds: {', '.join(list_components())}")
    try:
        cls = component_class(spec["kind"], where)
    except ModelFileError as exc:
        raise ConfigError(str(exc.args[0]) if exc.args else str(exc), source=where, hint=exc.hint) from None
    params = {k: decode_value(v, f"{where}.{k}") for k, v in spec.items() if k != "kind"}
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"{where}: {spec['kind']} does not take these parameters ({exc})",
                          hint=f"see help({cls.__module__}.{cls.__name__})") from None


# ---- component.yaml ---------------------------------------------------------------------------------
def read_component_file(directory) -> dict:
    """A folder's ``component.yaml`` (safe YAML), checked to be this schema and version."""
    import yaml

    path = Path(directory) / COMPONENT_FILE
    if not path.is_file():
        raise ModelFileError(f"no {COMPONENT_FILE} here", source=str(directory),
                             hint="give a folder written by save()")
    try:
        meta = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ModelFileError(f"cannot read ({exc})", source=str(path)) from None
    if not isinstance(meta, dict):
        raise ModelFileError("not a mapping", source=str(path))
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        version = meta.get("explainendo_version") or (meta.get("provenance") or {}).get("explainendo") or "an older"
        raise ModelFileError(f"written by explainendo {version} in an older component format "
                             f"(format_version {meta.get('format_version', 1)!r}); this explainendo reads format "
                             f"{FORMAT_VERSION}", source=str(path),
                             hint="train and save the model again with this version")
    return meta


class Component(BaseEstimator):
    """Base of every saveable component. Subclasses write their fitted state in :meth:`_save_state`
    (files into ``directory``, plain values returned) and read it back in :meth:`_load_state`."""

    kind: ClassVar[str] = ""
    #: parameters whose text value names a file (a config makes it relative to the config's folder)
    file_params: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def names_a_file(cls, key: str, value: Any) -> bool:
        """Whether parameter ``key`` set to ``value`` names a file on disk (see :attr:`file_params`)."""
        return key in cls.file_params and isinstance(value, str)

    def save(self, directory) -> Path:
        import yaml

        from ._version import __version__

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        params = encode_value(self.get_params(deep=False), f"{type(self).__name__} parameters")
        state = self._save_state(directory) or {}
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "kind": self.kind,
                "explainendo_version": __version__, "params": params, "state": _plain(state)}
        (directory / COMPONENT_FILE).write_text(yaml.safe_dump(meta, sort_keys=False))
        return directory

    @classmethod
    def load(cls, directory, kind: str | None = None):
        """The component saved in ``directory``; its class comes from the registry by the file's kind (and
        must be ``cls`` or a subclass, and ``kind`` when given). Reads YAML and tensors only."""
        directory = Path(directory)
        meta = read_component_file(directory)
        path = directory / COMPONENT_FILE
        if kind is not None and meta.get("kind") != kind:
            raise ModelFileError(f"holds a {meta.get('kind')!r} component where a {kind!r} was saved",
                                 source=str(path), hint="the model folder was edited; save it again")
        target = component_class(meta.get("kind"), str(path))
        if not (isinstance(target, type) and issubclass(target, cls)):
            raise ModelFileError(f"holds a {meta.get('kind')}, not a {cls.__name__}", source=str(path))
        try:
            params = decode_value(meta.get("params") or {}, "params")
            obj = target(**params)
        except (ConfigError, TypeError) as exc:
            raise ModelFileError(f"parameters do not fit {target.__name__} ({exc})", source=str(path)) from None
        obj._load_state(meta.get("state") or {}, directory)
        from .runtime import component_loaded

        component_loaded(obj, directory)  # a network loading with runtime="onnx" gets its session here
        return obj

    def _save_state(self, directory: Path) -> dict:
        return {}

    def _load_state(self, state: dict, directory: Path) -> None:
        pass


class Settings(Component):
    """A component that is a value (training settings, a strategy with a few numbers): it holds no fitted state,
    and two are equal when their kinds and parameters are, so ``clone(x).get_params() == x.get_params()`` holds
    for the components that carry one."""

    def _key(self) -> tuple:
        return (type(self), tuple(sorted((k, repr(v)) for k, v in self.get_params(deep=False).items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def check_params(self) -> "Settings":
        return self

    @classmethod
    def checked(cls, value, where: str):
        """``value`` (None or an instance of ``cls``) with its parameters checked; anything else a ConfigError
        naming ``where`` (e.g. ``"AttributeHeads(training=...)"``)."""
        if value is not None and not isinstance(value, cls):
            raise ConfigError(f"{where}: {value!r} must be a {cls.__name__} or None", hint=f"e.g. {cls.__name__}()")
        return None if value is None else value.check_params()


def save_child(component: Component, directory: Path, name: str) -> dict:
    """Save ``component`` in ``directory/name``; the parent's reference ``{path, kind}``."""
    component.save(Path(directory) / name)
    return {"path": name, "kind": component.kind}


def load_child(entry: dict, directory: Path, base: type = Component):
    """Load a child saved by :func:`save_child`; its own kind must agree with the parent's record."""
    if not isinstance(entry, dict) or "path" not in entry or "kind" not in entry:
        raise ModelFileError(f"malformed component reference {entry!r}", source=str(directory))
    rel = Path(str(entry["path"]))
    if rel.is_absolute() or ".." in rel.parts:
        raise ModelFileError(f"component path {entry['path']!r} leaves the model folder", source=str(directory))
    return base.load(Path(directory) / rel, kind=entry["kind"])


def _plain(obj):
    """YAML-safe copy (tuples -> lists, numpy scalars -> Python, paths -> text)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    return obj
