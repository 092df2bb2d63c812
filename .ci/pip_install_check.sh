#!/usr/bin/env bash
# `pip install .` alone (no Makefile) into a fresh virtual environment gives a working library: import it,
# train a small model, save it, load it back and explain one image with a card (issue 18, item 6).
# Pins: constraints.txt (the versions every figure was measured with; torch from this machine kind's disk).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3.11 -m venv "$work/venv"
# a copy of the tracked files: setuptools writes build/ into the tree it installs from
mkdir "$work/src"
git ls-files -z | xargs -0 cp --parents -t "$work/src"
"$work/venv/bin/pip" install -q -c constraints.txt "$work/src" 2>&1 | grep -v "^WARNING: Location" || true
export YOLO_OFFLINE=1 YOLO_CONFIG_DIR="$work/ultralytics" MPLBACKEND=Agg EXPLAINENDO_PROGRESS=0
cd "$work"
"$work/venv/bin/python" - <<'PY'
import importlib.util
from pathlib import Path

import explainendo
from explainendo.predict import HeldOut
from explainendo.synth import generate
from explainendo.systems.gastric import GastricDiagnoser, gastric_heads, gastric_predictor
from explainendo.training import Training

assert "site-packages" in explainendo.__file__, explainendo.__file__  # the installed copy, not the checkout
assert importlib.util.find_spec("pytorch_grad_cam") is None            # no grad-cam dependency
viewer = Path(explainendo.__file__).parent / "viewer"                  # the viewer's pages ship in the wheel
assert all((viewer / f).is_file() for f in ("templates/case.html", "templates/table.html", "static/case.js",
                                            "static/viewer.css")), sorted(p.name for p in viewer.rglob("*"))
manifest = generate("gastric", 60, seed=0, size=96).write("phantoms")
heads = gastric_heads(0, image_size=64, training=Training(epochs=1))
GastricDiagnoser(localizer=None, predictor=gastric_predictor(heads=heads, stacking=HeldOut(0.5))).fit(manifest).save("model")
explanation = explainendo.load("model").explain(str(manifest.path(manifest.images()[0])))
explanation.save_card("card.html")
assert explanation.gradcams and Path("card.html").stat().st_size > 10_000
print(f"pip install . check: explained {explanation.explained_class!r}, {len(explanation.gradcams)} Grad-CAM maps, card written")
PY
