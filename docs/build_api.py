"""Build the API reference (HTML, from the docstrings) with pdoc: ``python docs/build_api.py [OUT]``.

Every public module of the package is listed (``explainendo/__init__`` restricts ``__all__`` to the
facade, which would hide the submodules from pdoc's own discovery); private modules (``_name``) and the
CLI modules are left out. Default output folder: ``docs/api`` (not committed; ``make api`` builds it,
and ``tests/test_api_docs.py`` builds it in CI).
"""

from __future__ import annotations

import os
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def public_modules() -> list[str]:
    sys.path.insert(0, str(ROOT))
    import explainendo

    names = ["explainendo"]
    for info in pkgutil.walk_packages(explainendo.__path__, "explainendo."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[-1] in ("cli", "commands", "handcrafted_cli"):
            continue
        names.append(info.name)
    return sorted(names)


def build(out: Path) -> Path:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import pdoc

    out = Path(out)
    pdoc.render.configure(docformat="restructuredtext", footer_text="explainendo API reference")
    pdoc.pdoc(*public_modules(), output_directory=out)
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "api"))
