"""Lazy package exports (PEP 562): the one ``__getattr__`` / ``__dir__`` pair the subpackages share, so that
``import explainendo.video`` (or ``.explain``, ``.evaluate``) does not pay for torch, scipy or shap until a name is
used."""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Iterable


def lazy_exports(package: str, exports: dict[str, str],
                 modules: Iterable[str] = ()) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: a name in ``exports`` (name -> submodule) is imported from its
    submodule on first use and cached in the package; a name in ``modules`` is that submodule itself."""
    submodules = frozenset(modules)

    def __getattr__(name: str):
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        vars(sys.modules[package])[name] = value  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
