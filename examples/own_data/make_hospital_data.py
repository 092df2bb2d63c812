"""Write a folder the way a hospital hands one over, to follow docs/tutorial_own_data.md without real data.

    python examples/own_data/make_hospital_data.py hospital [--n 160] [--size 256] [--seed 0]

The images are the project's gastric phantoms (synthetic gastroscopy frames with a known rule; see
docs/phantoms.md), written as a clinic would export them, not as explainendo wants them:

* ``hospital/images/IMG_<n>.jpg``: JPEG files (not PNG), numbered, no patient names in them;
* ``hospital/lesions_train.csv`` and ``hospital/lesions_test.csv``, one row per lesion, with the clinic's
  own column names: ``file``, ``patient_id``, ``diagnosis``, ``hospital``, the box as ``x, y, w, h``
  (top-left corner, width, height in pixels), and attribute columns ``tone``, ``surface``, ``boundary``,
  ``bleeding`` of which about a fifth of the cells are blank (not assessed);
* one image holds **two lesions** (a second phantom's lesion pasted beside the first, with its own box,
  diagnosis and attributes): two rows share its ``file``.

Train and test hold different patients. Nothing here is real patient data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

ATTRIBUTES = ("tone", "surface", "boundary", "bleeding")


def write(folder: Path, n: int = 160, size: int = 256, seed: int = 0) -> dict[str, Path]:
    from explainendo.io.splits import train_val_test_split
    from explainendo.synth import generate

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    import shutil
    import tempfile

    phantoms = generate("gastric", n, seed=seed, size=size)
    scratch = Path(tempfile.mkdtemp(prefix="explainendo_phantoms_"))
    manifest = phantoms.write(scratch)
    rng = np.random.default_rng(seed)
    rows, names = [], {}
    for i, row in manifest.df.iterrows():
        name = names.setdefault(row["image"], f"images/IMG_{len(names) + 1:04d}.jpg")
        x1, y1, x2, y2 = (int(round(float(row[c]))) for c in ("x1", "y1", "x2", "y2"))
        record = {"file": name, "patient_id": row["patient"].replace("gastric_p", "PT-"), "diagnosis": row["label"],
                  "hospital": "Hospital A", "x": x1, "y": y1, "w": x2 - x1, "h": y2 - y1}
        for attribute in ATTRIBUTES:
            record[attribute] = "" if rng.random() < 0.2 else row[f"attr.{attribute}"]
        rows.append(record)
    table = pd.DataFrame(rows)
    images = {name: np.array(Image.open(manifest.path(src)).convert("RGB")) for src, name in names.items()}
    _paste_second_lesion(table, images)
    for name, pixels in images.items():
        Image.fromarray(pixels).save(folder / name, quality=92)
    shutil.rmtree(scratch, ignore_errors=True)
    table = table.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # a clinic's export order
    split = train_val_test_split(_as_manifest(table, folder), val=0.0, test=0.25, seed=seed, stratify=None)
    out = {}
    for part, subset in split.items():
        path = folder / f"lesions_{part}.csv"
        table[table["patient_id"].isin(set(subset.df["patient"]))].to_csv(path, index=False)
        out[part] = path
    return out


def _as_manifest(table: pd.DataFrame, folder: Path):
    from explainendo.io.manifest import Manifest

    return Manifest(table.rename(columns={"file": "image", "patient_id": "patient"}), folder)


def _paste_second_lesion(table: pd.DataFrame, images: dict) -> None:
    """Paste one lesion crop beside another image's lesion (the two-lesion image) and add its row."""
    for a in range(len(table)):
        for b in range(len(table)):
            ra, rb = table.iloc[a], table.iloc[b]
            if ra["file"] == rb["file"] or ra["patient_id"] != rb["patient_id"]:
                continue
            target, source = images[ra["file"]], images[rb["file"]]
            w, h = int(rb["w"]), int(rb["h"])
            x = int(ra["x"] + ra["w"] + 8) if ra["x"] + ra["w"] + 8 + w < target.shape[1] else int(ra["x"] - 8 - w)
            y = int(min(max(0, ra["y"]), target.shape[0] - h))
            if x < 0 or w <= 0 or h <= 0:
                continue
            target[y:y + h, x:x + w] = source[int(rb["y"]):int(rb["y"]) + h, int(rb["x"]):int(rb["x"]) + w]
            table.loc[len(table)] = {**rb.to_dict(), "file": ra["file"], "x": x, "y": y}
            return
    raise RuntimeError("no room for a second lesion in any image")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--n", type=int, default=160)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for part, path in write(args.folder, args.n, args.size, args.seed).items():
        print(f"{part}: {path} ({len(pd.read_csv(path))} lesions)")
