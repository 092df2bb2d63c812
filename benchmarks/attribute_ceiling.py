"""How good must the attribute heads be for the hybrid to reach the phantoms' Bayes rate?

The gastric phantom label comes from a logistic rule over four binary causal attributes (reddened tone,
rough surface, unclear boundary, depression). A model that reads the image can only be as good as its
reading of those attributes. This simulates heads of a given per-attribute AUC under the equal-variance
Gaussian signal model (head score ~ N(+-d'/2, 1), AUC = Phi(d' / sqrt 2)) with calibrated posteriors, and
reports, on the rule's own attribute distribution:

* the Bayes rate (attributes known exactly),
* the best accuracy from the heads' outputs (the exact posterior of the label given all four head
  scores: no fitter can do better from these heads),
* the hard plug-in (the rule applied to the heads' thresholded calls),
* the heads' own accuracy.

    python benchmarks/attribute_ceiling.py [--auc 0.95 0.98 0.99 0.995 0.999] [--n 200000]
    python benchmarks/attribute_ceiling.py --quick     # smoke run: AUC 0.95 and 0.99, 20000 lesions
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np


def simulate(rule, auc: float, n: int, seed: int = 0) -> dict:
    from scipy.stats import norm

    rng = np.random.default_rng(seed)
    terms = [(a, v, w) for (a, v), w in rule.weights.items() if w]
    present = {(a, v): rng.random(n) < rule.marginals[a][v] for a, v, _ in terms}
    z = rule.intercept + sum(w * present[(a, v)] for a, v, w in terms)
    p = 1 / (1 + np.exp(-z))
    y = rng.random(n) < p
    d = np.sqrt(2) * norm.ppf(auc)
    posterior = {}
    for a, v, _ in terms:
        score = rng.normal(0, 1, n) + np.where(present[(a, v)], d / 2, -d / 2)
        prior = rule.marginals[a][v]
        posterior[(a, v)] = 1 / (1 + np.exp(-(d * score + np.log(prior / (1 - prior)))))
    best = np.zeros(n)
    for combo in itertools.product((0, 1), repeat=len(terms)):
        weight = np.prod([posterior[(a, v)] if c else 1 - posterior[(a, v)] for (a, v, _), c in zip(terms, combo)],
                         axis=0)
        best += weight / (1 + np.exp(-(rule.intercept + sum(w * c for (_, _, w), c in zip(terms, combo)))))
    hard = rule.intercept + sum(w * (posterior[(a, v)] > 0.5) for a, v, w in terms)
    return {"auc": auc, "bayes": float(((p > 0.5) == y).mean()), "best_from_heads": float(((best > 0.5) == y).mean()),
            "hard_plug_in": float(((hard > 0) == y).mean()),
            "head_accuracy": float(np.mean([((posterior[k] > 0.5) == present[k]).mean() for k in posterior]))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--auc", type=float, nargs="+", default=[0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999])
    parser.add_argument("--n", type=int, default=200_000, help="simulated lesions")
    parser.add_argument("--quick", action="store_true", help="smoke run: --auc 0.95 0.99 --n 20000")
    args = parser.parse_args(argv)
    if args.quick:
        args.auc, args.n = [0.95, 0.99], 20_000

    from explainendo.synth.gastric import gastric_rule

    rule = gastric_rule()
    print(f"gastric phantom rule, exact Bayes rate {rule.bayes_rate():.3f}; {args.n} simulated lesions per row\n")
    print("| head AUC (each causal attribute) | head accuracy | best accuracy from the heads | hard plug-in | "
          "Bayes rate (simulated) |")
    print("|---|---|---|---|---|")
    for auc in args.auc:
        r = simulate(rule, auc, args.n)
        print(f"| {auc:.3f} | {r['head_accuracy']:.3f} | {r['best_from_heads']:.3f} | {r['hard_plug_in']:.3f} | "
              f"{r['bayes']:.3f} |")


if __name__ == "__main__":
    main()
