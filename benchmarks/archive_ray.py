"""Archive throughput, local vs Ray: ``explainendo diagnose FOLDER`` against ``--engine ray`` with 1 and 2 workers.

One tiny gastric model (ResNet-18 attribute heads at 32 px, one epoch, logistic regression; the whole frame is the
lesion; batches of 16; torch threads: one per core the process may use) diagnoses N generated 128 px phantoms
written to disk, without cards (the archive's rows: results.csv / results.jsonl). Timed:

* Ray's start-up alone: ``ray.init`` of a local two-CPU cluster (200 MB object store) until it answers;
* each run, from the call to the last row written (the model loaded in the run: once by the local run; by the driver
  and once per worker on Ray, whose time includes starting the workers);
* frames per second = N / run time; Ray's overhead = its run time (plus the start-up, for a cold one-off command)
  against the faster of two local runs (one before Ray, one after: the load of a shared machine drifts).

Every Ray run's results.csv and results.jsonl are checked to be the local run's, byte for byte.

    python benchmarks/archive_ray.py              # 500 frames
    python benchmarks/archive_ray.py --quick      # 40 frames
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def tiny_model(folder: Path, seed: int = 0) -> Path:
    from explainendo import GastricDiagnoser, InSample
    from explainendo.localize import WholeFrame
    from explainendo.synth import generate
    from explainendo.systems.gastric import gastric_heads, gastric_predictor
    from explainendo.training import Training

    train = generate("gastric", 32, seed=seed, size=64).write(folder / "train")
    heads = gastric_heads(seed, image_size=32, pretrained=False, backbone="resnet18",
                          training=Training(epochs=1, batch_size=32, device="cpu"))
    predictor = gastric_predictor(heads=heads, fitter="logistic_regression", stacking=InSample(),
                                  group_selection=None, seed=seed)
    model = GastricDiagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, batch_size=16,
                             seed=seed).fit(train)
    return model.save(folder / "model")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="smoke run: 40 frames")
    parser.add_argument("--object-store-mb", type=int, default=200)
    args = parser.parse_args(argv)
    if args.quick:
        args.frames = 40
    os.environ.setdefault("EXPLAINENDO_PROGRESS", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    from explainendo.bench import run_header
    from explainendo.commands import diagnose_images
    from explainendo.synth import generate
    from explainendo.torch_threads import default_threads

    print(run_header())
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {default_threads()} core(s)")
    with tempfile.TemporaryDirectory(prefix="archive-ray-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        model = tiny_model(root)
        images = root / "frames"
        generate("gastric", args.frames, seed=1, size=128).write(images)
        print(f"model trained and {args.frames} phantoms (128 px PNG) written in {time.perf_counter() - t0:.1f} s")

        from explainendo import load

        t0 = time.perf_counter()
        load(model)
        print(f"loading the model (explainendo.load, what each Ray worker does once): {time.perf_counter() - t0:.2f} s")

        runs = []
        t0 = time.perf_counter()
        diagnose_images(model, images, root / "local", cards=False, progress=False)
        runs.append(("local (this process)", time.perf_counter() - t0, root / "local"))

        import ray

        from explainendo.archive_ray import diagnose_on_ray

        t0 = time.perf_counter()
        ray.init(num_cpus=2, object_store_memory=args.object_store_mb * 2 ** 20, include_dashboard=False,
                 configure_logging=False)
        ray.get(ray.remote(lambda: 1).remote())  # until a worker answers
        startup = time.perf_counter() - t0
        try:
            for workers in (1, 2):
                out = root / f"ray{workers}"
                t0 = time.perf_counter()
                diagnose_on_ray(model, images, out, workers=workers, cards=False)
                runs.append((f"ray, {workers} worker{'s' if workers > 1 else ''}", time.perf_counter() - t0, out))
        finally:
            ray.shutdown()
        # the local run again, after Ray: the machine's load drifts (other jobs), and the first run warms caches
        t0 = time.perf_counter()
        diagnose_images(model, images, root / "local_again", cards=False, progress=False)
        runs.append(("local, again after Ray", time.perf_counter() - t0, root / "local_again"))

        local_seconds = min(runs[0][1], runs[-1][1])
        reference = [(root / "local" / name).read_bytes() for name in ("results.csv", "results.jsonl")]
        print(f"\nRay start-up (ray.init, local 2-CPU cluster, {args.object_store_mb} MB object store, until a "
              f"worker answers): {startup:.1f} s\n")
        print(f"| engine | run (s) | frames/s | vs local | rows = local's |")
        print("|---|---:|---:|---:|---|")
        for name, seconds, out in runs:
            same = [(out / n).read_bytes() for n in ("results.csv", "results.jsonl")] == reference
            print(f"| {name} | {seconds:.1f} | {args.frames / seconds:.1f} | {seconds / local_seconds:.2f}x | "
                  f"{'yes' if same else 'NO'} |")
        best = min(runs[1:-1], key=lambda r: r[1])
        print(f"\noverhead: the best Ray run ({best[0]}) takes {best[1] - local_seconds:+.1f} s against the faster "
              f"local run ({(best[1] / local_seconds - 1) * 100:+.0f}%); a one-off command also starts Ray: "
              f"{best[1] + startup - local_seconds:+.1f} s ({((best[1] + startup) / local_seconds - 1) * 100:+.0f}%)")
        print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
