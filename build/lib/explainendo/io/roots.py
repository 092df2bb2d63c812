"""Where the datasets live. The library never reads a path relative to the working directory on its own.

:func:`data_root` resolves, in this order: the path it is given; the ``EXPLAINENDO_DATA`` environment
variable; and, for a source checkout, the ``shared/data`` folder beside the repository (found from this
package's own location, so it is the same from any working directory). Nothing found: a
:class:`~explainendo.errors.ConfigError` saying how to give one.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

#: the environment variable naming the folder that holds the datasets (``edd2020/``, ``kvasir-seg-256/`` ...)
DATA_ENV = "EXPLAINENDO_DATA"


def checkout_data_root() -> Path | None:
    """``<repository root>/../shared/data`` when explainendo runs from a source checkout (the folder above
    the package holds ``pyproject.toml``) and that folder exists; else ``None``."""
    repository = Path(__file__).resolve().parents[2]
    candidate = repository.parent / "shared" / "data"
    if (repository / "pyproject.toml").is_file() and candidate.is_dir():
        return candidate
    return None


def data_root(path: str | os.PathLike | None = None) -> Path:
    """The folder holding the datasets: ``path`` if given, else ``$EXPLAINENDO_DATA``, else the checkout's
    ``../shared/data`` (:func:`checkout_data_root`). Raises :class:`ConfigError` when none is given or found,
    and when ``EXPLAINENDO_DATA`` names something that is not a folder."""
    if path is not None and str(path) != "":
        return Path(path).expanduser()
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        root = Path(env).expanduser()
        if not root.is_dir():
            raise ConfigError(f"{DATA_ENV} names {env!r}, which is not a folder",
                              hint=f"point {DATA_ENV} at the folder that holds the datasets, or unset it")
        return root
    found = checkout_data_root()
    if found is not None:
        return found
    raise ConfigError("no data folder given",
                      hint=f"pass the dataset's folder (root=... or --root), or set {DATA_ENV}=/path/to/data")
