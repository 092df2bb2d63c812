"""Speed of explainendo.evaluate: fast midrank DeLong against the O(m n) definition, the bootstrap, and a full
two-model comparison report.

    python benchmarks/stats.py            # N = 1000, 4000, 16000 cases
    python benchmarks/stats.py --quick    # N = 1000, 4000

Prints measured seconds and ratios with the machine named. Goal: DeLong fast enough to sit inside a
bootstrap or a per-split report without notice (under 20 ms at 16,000 cases on 2 cores), and exact agreement with
the definition.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def brute_force_delong(truth, scores):
    aucs, v10s, v01s = [], [], []
    for s in scores:
        x, z = s[truth], s[~truth]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    m, n = truth.sum(), (~truth).sum()
    k = len(scores)
    cov = np.array([[np.cov(v10s[i], v10s[j])[0, 1] / m + np.cov(v01s[i], v01s[j])[0, 1] / n for j in range(k)]
                    for i in range(k)])
    return np.array(aucs), cov


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()

    from explainendo.evaluate import bootstrap_auc_ci, compare_models, delong_covariance

    sizes = (1000, 4000) if args.quick else (1000, 4000, 16000)
    repeat = 3 if args.quick else 5
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"{'N':>7} {'fast DeLong s':>14} {'brute force s':>14} {'speed-up':>9} {'max |cov diff|':>15}")
    rng = np.random.default_rng(0)
    for n in sizes:
        truth = rng.random(n) < 0.4
        scores = np.vstack([np.round(truth * 0.8 + rng.normal(size=n), 2), np.round(truth * 0.5 + rng.normal(size=n), 2)])
        t_fast, (aucs, cov) = best_of(lambda: delong_covariance(truth, scores), repeat)
        t_brute, (ref_aucs, ref_cov) = best_of(lambda: brute_force_delong(truth, scores), 1 if n > 4000 else repeat)
        assert np.allclose(aucs, ref_aucs) and np.allclose(cov, ref_cov, atol=1e-12)
        print(f"{n:>7} {t_fast:>14.5f} {t_brute:>14.4f} {t_brute / t_fast:>8.0f}x {np.abs(cov - ref_cov).max():>15.2e}")

    n = 1000
    truth = rng.random(n) < 0.4
    s_a = truth * 0.8 + rng.normal(size=n)
    s_b = truth * 0.5 + rng.normal(size=n)
    t_boot, _ = best_of(lambda: bootstrap_auc_ci(truth, s_a, n_boot=2000, seed=0), repeat)
    groups = np.arange(n) // 5
    t_cluster, _ = best_of(lambda: bootstrap_auc_ci(truth, s_a, n_boot=2000, seed=0, groups=groups), 1)
    preds = {"hybrid": ((s_a > 0.4).astype(int), s_a), "sole_dl": ((s_b > 0.4).astype(int), s_b)}
    t_cmp, comp = best_of(lambda: compare_models(truth.astype(int), preds), repeat)
    t_md, _ = best_of(comp.to_markdown, repeat)
    print(f"stratified bootstrap, N={n}, 2000 replicates: {t_boot:.3f} s")
    print(f"cluster bootstrap,    N={n}, 200 groups, 2000 replicates: {t_cluster:.3f} s")
    print(f"compare_models (2 models, 6 metrics, 6 tests), N={n}: {t_cmp:.4f} s; to_markdown: {t_md:.4f} s")


if __name__ == "__main__":
    main()
