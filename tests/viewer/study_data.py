"""A small reader study for the tests: a hand-made diagnose output folder (8 PNG frames, their results.csv and
results.jsonl rows, no model), the truth CSV beside the frames and a study file with two readers."""

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

N_CASES = 8
#: true labels of the cases (4 neoplastic, 4 not)
TRUTH = ["neoplastic", "non_neoplastic"] * (N_CASES // 2)
#: the model's calls (case 1 wrong)
MODEL = ["neoplastic", "neoplastic"] + TRUTH[2:]


def make_results(root: Path) -> Path:
    images, out = root / "images", root / "results"
    images.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with open(out / "results.csv", "w", newline="") as fc, open(out / "results.jsonl", "w") as fj, \
            open(images / "manifest.csv", "w", newline="") as fm:
        wc, wm = csv.writer(fc), csv.writer(fm)
        wc.writerow(["image", "status", "label", "probability", "lesions"])
        wm.writerow(["image", "label"])
        for i in range(N_CASES):
            name = f"case_{i:02d}.png"
            Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(images / name)
            p = 0.8 if MODEL[i] == "neoplastic" else 0.3
            wc.writerow([str(images / name), "ok", MODEL[i], p, 1])
            wm.writerow([name, TRUTH[i]])
            lesion = {"box": {"x1": 10.0, "y1": 8.0, "x2": 40.0, "y2": 30.0, "score": 0.9, "label": "lesion"},
                      "label": MODEL[i], "probability": p,
                      "probabilities": {"neoplastic": p, "non_neoplastic": 1 - p},
                      "features": {"tone.p_pale": 0.2, "tone.p_reddened": 0.8, "boundary.p_clear": 0.6,
                                   "boundary.p_unclear": 0.4}}
            fj.write(json.dumps({"image": str(images / name), "lesions": [lesion], "primary": 0}) + "\n")
    return out


STUDY = """\
name: test-study
results: results
labels: [neoplastic, non_neoplastic]
positive: neoplastic
confidence_levels: 5
truth: {{csv: images/manifest.csv, case_column: image, label_column: label}}
cases: all
readers:
  - {{id: alice, experience: expert, first_arm: without_ai}}
  - {{id: bob, experience: novice, first_arm: with_ai}}
schedule: {{washout_days: {washout}, seed: 3}}
likert:
  scale: 5
  items:
    - {{id: trust, text: "I trust the system's diagnoses"}}
    - {{id: useful, text: "The heatmaps helped me"}}
"""


def make_study(root: Path, washout: float = 14, text: str | None = None) -> Path:
    make_results(root)
    path = root / "study.yaml"
    path.write_text(text if text is not None else STUDY.format(washout=washout))
    return path
