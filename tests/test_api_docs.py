"""The API reference builds from the docstrings (pdoc), in CI, and holds the public classes."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_with_every_public_module(tmp_path):
    spec = importlib.util.spec_from_file_location("build_api", ROOT / "docs" / "build_api.py")
    build_api = importlib.util.module_from_spec(spec)
    sys.modules["build_api"] = build_api
    spec.loader.exec_module(build_api)
    modules = build_api.public_modules()
    assert {"explainendo.engine", "explainendo.predict.hybrid", "explainendo.handcrafted.colour_constancy",
            "explainendo.io.manifest", "explainendo.bench"} <= set(modules)
    assert not any(m.split(".")[-1].startswith("_") for m in modules)
    out = build_api.build(tmp_path / "api")
    hybrid = (out / "explainendo" / "predict" / "hybrid.html").read_text()
    assert "HybridPredictor" in hybrid and "folds_by" in hybrid  # the class and its documented parameters
    assert "shades-of-grey" in (out / "explainendo" / "handcrafted" / "colour_constancy.html").read_text()
    assert (out / "index.html").is_file() and (out / "search.js").is_file()
