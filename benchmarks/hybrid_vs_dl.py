"""Hybrid vs sole-DL, the ENDOANGEL-ED comparison, on gastric phantoms and on EDD2020.

    python benchmarks/hybrid_vs_dl.py                 # both targets, the settings in docs/benchmarks.md
    python benchmarks/hybrid_vs_dl.py --quick         # minutes: small data, short training
    python benchmarks/hybrid_vs_dl.py --targets edd2020 --out bench

Each target writes report.md (the paper's table with 95% CIs and McNemar / chi-square / DeLong p-values,
video level where lesions share a video, latency of each pipeline measured in the same run), ROC curves,
per-lesion predictions and results.json into <out>/<target>/. Same as `explainendo bench <target>`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explainendo.bench import BenchPreset, machine_description, run_named_benchmark  # noqa: E402

SETTINGS = {
    "phantoms": {"n": 480, "image_size": 96, "epochs": 10, "oof_folds": 2},
    "edd2020": {"image_size": 128, "epochs": 10, "oof_folds": 3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="phantoms,edd2020")
    parser.add_argument("--out", type=Path, default=Path("bench_output"))
    parser.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per CNN (1 on a busy machine)")
    parser.add_argument("--sole-backbones", default="resnet50,efficientnet_lite0")
    args = parser.parse_args()
    print(f"machine: {machine_description()}")
    for target in [t for t in args.targets.split(",") if t]:
        settings = dict(SETTINGS.get(target, {}))
        if args.quick:
            settings = {"n": 64, "image_size": 64, "epochs": 1, "oof_folds": 2} if target == "phantoms" else \
                {"image_size": 64, "epochs": 1, "oof_folds": 2}
        if target != "phantoms":
            settings.pop("n", None)
        if target == "edd2020" and not (args.data_root / "edd2020").is_dir():
            print(f"skipping edd2020: {args.data_root / 'edd2020'} not found")
            continue
        start = time.perf_counter()
        n = settings.pop("n", None)
        preset = BenchPreset(quick=args.quick, seed=args.seed, num_threads=args.threads,
                             sole_backbones=tuple(args.sole_backbones.split(",")), **settings)
        result = run_named_benchmark(target, args.out / target, preset, n=n, data_root=args.data_root,
                                     progress=print)
        print((args.out / target / "report.md").read_text())
        print(f"{target}: {time.perf_counter() - start:.0f} s")
        del result


if __name__ == "__main__":
    main()
