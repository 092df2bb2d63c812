"""Regenerate the contact sheets in docs/img/phantoms_<system>.png (24 phantoms each, 256 px, seed 1).

    python examples/phantom_sheets.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from explainendo.synth import generate
from explainendo.synth.sheet import contact_sheet, save_sheet

CAPTIONS = {"gastric": ("label", "attr.tone"), "colon": ("label", "attr.artifact"),
            "ercp": ("attr.difficulty",), "eus": ("label", "attr.central_scar")}
OPTIONS = {"gastric": {"images_per_patient": 2}, "colon": {"frames_per_video": 6}, "ercp": {}, "eus": {}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for system, captions in CAPTIONS.items():
        phantoms = generate(system, 24, seed=1, size=256, **OPTIONS[system])
        sheet = contact_sheet(phantoms, n=24, cols=6, thumb=160, caption_columns=captions)
        path = args.out / f"phantoms_{system}.png"
        # a palette keeps each sheet under 400 KB (greyscale EUS needs fewer entries)
        save_sheet(sheet, path, colors=96 if system == "eus" else 256)
        print(f"{path}: {os.path.getsize(path) // 1024} KB")


if __name__ == "__main__":
    main()
