"""Does ``explainendo diagnose`` lose or duplicate rows when it is killed (``kill -9``) and started again?

A tiny gastric model (ResNet-18 heads at 32 px, one epoch, logistic regression; the whole frame is the lesion)
diagnoses generated 64 px frames. One uninterrupted run gives the reference rows. Then the same command is run
into a fresh folder and killed with SIGKILL at random points (after a random number of rows, plus a random delay,
so kills land in start-up, inside a batch, between the CSV and the JSONL write ...), started again each time, and
finally left to finish. Reported: the kills, the rows lost, the rows duplicated, the rows that differ from the
reference (any column; the probabilities as written), and the time.

    python benchmarks/diagnose_resume.py                  # 2,000 frames, 10 kills (the issue's goal)
    python benchmarks/diagnose_resume.py --quick          # smoke run: 48 frames, 3 kills
    python benchmarks/diagnose_resume.py --frames 500 --kills 5 --cards   # with a card per frame (slow)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np


def tiny_model(folder: Path, seed: int = 0) -> Path:
    from explainendo import GastricDiagnoser, InSample
    from explainendo.localize import WholeFrame
    from explainendo.synth import generate
    from explainendo.systems.gastric import gastric_heads, gastric_predictor
    from explainendo.training import Training

    train = generate("gastric", 32, seed=seed, size=64).write(folder / "train")
    heads = gastric_heads(seed, image_size=32, pretrained=False, backbone="resnet18",
                          training=Training(epochs=1, batch_size=32, num_threads=1, device="cpu"))
    predictor = gastric_predictor(heads=heads, fitter="logistic_regression", stacking=InSample(),
                                  group_selection=None, seed=seed)
    model = GastricDiagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, seed=seed).fit(train)
    return model.save(folder / "model")


def rows_in(out: Path) -> int:
    path = out / "results.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--cards", action="store_true", help="write a card per frame (much slower)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: --frames 48 --kills 3")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.kills = 48, 3

    import pandas as pd

    from explainendo.bench import run_header
    from explainendo.commands import diagnose_images
    from explainendo.synth import generate

    print(run_header())
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="diagnose-resume-") as tmp:
        root = Path(tmp)
        model = tiny_model(root)
        images = root / "images"
        generate("gastric", args.frames, seed=1, size=64).write(images)
        start = time.perf_counter()
        diagnose_images(model, images, root / "reference", cards=args.cards, progress=False)
        reference_s = time.perf_counter() - start
        out = root / "killed"
        command = [sys.executable, "-c", "from explainendo.cli import main; main()", "diagnose", str(model),
                   str(images), "--out", str(out), "--cards" if args.cards else "--no-cards"]
        env = {**os.environ, "EXPLAINENDO_PROGRESS": "0"}
        targets = sorted(rng.integers(0, args.frames, size=args.kills))
        kills, at = 0, []
        start = time.perf_counter()
        for target in targets:
            run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while rows_in(out) < target and run.poll() is None:
                time.sleep(0.01)
            time.sleep(float(rng.uniform(0, 0.5)))  # then a random moment: inside a batch, a write, start-up
            if run.poll() is None:
                run.send_signal(signal.SIGKILL)
                kills += 1
                at.append(rows_in(out))
            run.wait()
        final = subprocess.run(command, env=env, capture_output=True, text=True)
        killed_s = time.perf_counter() - start
        if final.returncode != 0:
            raise SystemExit(f"the last run failed ({final.returncode}):\n{final.stdout}\n{final.stderr}")
        got = pd.read_csv(out / "results.csv", dtype=str, keep_default_na=False)
        want = pd.read_csv(root / "reference" / "results.csv", dtype=str, keep_default_na=False)
        counts = Counter(got["image"])
        lost = len(set(want["image"]) - set(counts))
        duplicated = sum(n - 1 for n in counts.values() if n > 1)
        first = got.drop_duplicates("image").set_index("image")
        common = want.set_index("image").index.intersection(first.index)
        differ = int((first.loc[common] != want.set_index("image").loc[common]).any(axis=1).sum())
        in_order = list(got["image"]) == list(want["image"])
        print(f"{args.frames} frames, {'with' if args.cards else 'without'} cards; {kills} kill -9 "
              f"(rows on disk at each: {at}), then run to the end")
        print(f"rows lost: {lost}, rows duplicated: {duplicated}, rows differing from the uninterrupted run: {differ}, "
              f"input order kept: {in_order}")
        print(f"uninterrupted: {reference_s:.1f} s in-process; killed and resumed: {killed_s:.1f} s over "
              f"{len(targets) + 1} processes (each start loads the model)")
        if lost or duplicated or differ or not in_order:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
