"""Phantoms per second for each generator (goal: >= 50 gastric phantoms/s at 256 px on 2 cores).

    python benchmarks/synth.py            # 200 images per system at 256 px, best of 3
    python benchmarks/synth.py --quick    # 40 images, one repeat

Generation is one process with one OpenCV thread by default, so "cpu img/s" is what one core delivers and
two cores deliver about twice that with two processes (e.g. two sets with different seeds). Wall time is
printed, with the load average, because the machine may be shared. Writing PNGs is timed separately.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from datetime import datetime, timezone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, one repeat")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--systems", nargs="*", default=["gastric", "colon", "ercp", "eus"])
    parser.add_argument("--cv2-threads", type=int, default=1,
                        help="OpenCV threads (1: CPU time is then one core's time per image)")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(args.cv2_threads)
    n = args.n or (40 if args.quick else 200)
    repeats = 1 if args.quick else 3

    from explainendo.synth import generate

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}")
    print(f"{n} images per run at {args.size} px, best of {repeats}, one process, {args.cv2_threads} OpenCV thread(s)")
    print(f"{'system':<8} {'wall img/s':>11} {'cpu img/s':>10} {'ms/img':>8} {'write img/s':>12}")
    for system in args.systems:
        generate(system, 2, seed=0, size=args.size)  # warm caches (grids, noise bank, imports)
        best_wall, best_cpu = float("inf"), float("inf")
        for r in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            phantoms = generate(system, n, seed=r, size=args.size)
            best_wall = min(best_wall, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            phantoms.write(tmp)
            write = time.perf_counter() - t0
        goal = "  (goal >= 50/s)" if system == "gastric" else ""
        print(f"{system:<8} {n / best_wall:>11.1f} {n / best_cpu:>10.1f} {1000 * best_wall / n:>8.1f} "
              f"{n / write:>12.1f}{goal}")


if __name__ == "__main__":
    main()
