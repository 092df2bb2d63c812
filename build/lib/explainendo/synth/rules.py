"""Documented stochastic label rules over phantom attributes, with their exact Bayes rate.

A phantom's label is drawn from a known conditional distribution ``p(label | attributes)``, so the best
accuracy any classifier can reach on these phantoms (the Bayes rate) is known exactly:

    Bayes rate = E_x[max(p(x), 1 - p(x))]

where ``x`` runs over the attribute combinations, weighted by their probability. The generators draw
attributes independently from per-attribute marginals, so the expectation is an exact finite sum over the
product of the causal attributes' marginals (:meth:`LogisticRule.bayes_rate`). Attributes with no weight
do not change ``p`` and drop out of the sum.

:class:`LogisticRule` (binary):  ``p(positive | x) = sigmoid(b + sum_k w_k [x_{a_k} = v_k])``.

:class:`OrdinalLogisticRule` (ordered classes c_0 < c_1 < ... < c_K, cumulative logit / proportional odds,
McCullagh 1980): a latent score ``s(x) = sum_k w_k [x_{a_k} = v_k]`` plus standard logistic noise, cut at
thresholds ``t_1 < ... < t_K``; ``P(class <= c_j | x) = sigmoid(t_{j+1} - s(x))``. Its binary form is
``c_0`` against the rest, so ``p(not c_0 | x) = 1 - sigmoid(t_1 - s(x))``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..errors import ConfigError

ATTR = "attr."


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def _column(attrs: Any, name: str, n: int | None = None):
    """Values of attribute ``name`` from a dict (``tone`` or ``attr.tone`` keys) or a DataFrame."""
    if isinstance(attrs, pd.DataFrame):
        for key in (ATTR + name, name):
            if key in attrs.columns:
                return attrs[key].astype(str).to_numpy()
        raise ConfigError(f"the table has no column 'attr.{name}' or '{name}'",
                          hint=f"the rule needs attribute '{name}'; columns: {list(attrs.columns)}")
    if isinstance(attrs, Mapping):
        for key in (ATTR + name, name):
            if key in attrs:
                return np.asarray([str(attrs[key])])
        raise ConfigError(f"the attributes {dict(attrs)} have no '{name}'",
                          hint=f"give a value for attribute '{name}'")
    raise ConfigError(f"rule input must be a dict or a DataFrame, got {type(attrs).__name__}")


def check_marginals(marginals: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Validate and normalise ``{attribute: {value: probability}}`` (probabilities >= 0, sum to 1)."""
    out = {}
    for name, dist in marginals.items():
        probs = {str(k): float(v) for k, v in dist.items()}
        if not probs or any(not np.isfinite(v) or v < 0 for v in probs.values()):
            raise ConfigError(f"marginal of '{name}' must map values to probabilities >= 0, got {dist}")
        total = sum(probs.values())
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"marginal of '{name}' sums to {total:.4f}, not 1",
                              hint="give probabilities that add up to 1")
        out[name] = probs
    return out


@dataclass
class LogisticRule:
    """``p(positive | x) = sigmoid(intercept + sum of weights[(attribute, value)] where x[attribute] == value)``.

    ``marginals`` (``{attribute: {value: probability}}``) is the independent distribution the generator
    draws attributes from; it defines the population over which :meth:`bayes_rate` is an expectation.
    ``labels`` is ``(negative, positive)``.
    """

    weights: dict[tuple[str, str], float]
    intercept: float
    marginals: dict[str, dict[str, float]]
    labels: tuple[str, str] = ("negative", "positive")

    def __post_init__(self) -> None:
        self.marginals = check_marginals(self.marginals)
        self.weights = {(str(a), str(v)): float(w) for (a, v), w in self.weights.items()}
        for (a, v) in self.weights:
            if a not in self.marginals:
                raise ConfigError(f"rule weight on attribute '{a}' which has no marginal",
                                  hint=f"attributes with marginals: {sorted(self.marginals)}")
            if v not in self.marginals[a]:
                raise ConfigError(f"rule weight on '{a} = {v}', not a value of '{a}'",
                                  hint=f"values: {sorted(self.marginals[a])}")

    @property
    def causal_attributes(self) -> tuple[str, ...]:
        """Attributes that change the label probability (non-zero weight), in first-weight order."""
        return tuple(dict.fromkeys(a for (a, _), w in self.weights.items() if w != 0.0))

    def score(self, attrs: Any) -> np.ndarray | float:
        """The linear predictor (log-odds of the positive label)."""
        single = isinstance(attrs, Mapping)
        n = 1 if single else len(attrs)
        z = np.full(n, self.intercept, dtype=np.float64)
        for (a, v), w in self.weights.items():
            if w:
                z = z + w * (_column(attrs, a) == v)
        return float(z[0]) if single else z

    def probability(self, attrs: Any) -> np.ndarray | float:
        """``p(positive | attributes)`` for one dict (a float) or for each row of a table (an array)."""
        z = self.score(attrs)
        p = _sigmoid(z)
        return float(p) if np.ndim(p) == 0 else p

    def _combinations(self):
        """Every combination of causal-attribute values with its probability (independent marginals)."""
        names = self.causal_attributes
        values = [list(self.marginals[a].items()) for a in names]
        for combo in itertools.product(*values):
            prob = float(np.prod([p for _, p in combo])) if combo else 1.0
            yield dict(zip(names, (v for v, _ in combo))), prob

    def bayes_rate(self) -> float:
        """Exact ``E[max(p, 1 - p)]`` by enumeration over the causal attributes' marginals."""
        total = 0.0
        for attrs, prob in self._combinations():
            p = self.probability(attrs)
            total += prob * max(p, 1.0 - p)
        return total

    def positive_rate(self) -> float:
        """Exact ``P(label = positive)`` over the marginals."""
        return sum(prob * self.probability(attrs) for attrs, prob in self._combinations())

    def sample_labels(self, table: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Draw a label per row from ``p(label | attributes)`` (the rule's noise)."""
        p = np.atleast_1d(self.probability(table))
        pos = rng.random(len(p)) < p
        return np.where(pos, self.labels[1], self.labels[0]).astype(object)

    def describe(self) -> str:
        terms = [f"{w:+.2f}*[{a} = {v}]" for (a, v), w in self.weights.items() if w]
        return (f"p({self.labels[1]} | attributes) = sigmoid({self.intercept:+.2f} " + " ".join(terms)
                + f"); other attributes are drawn independently and do not change the label; "
                  f"P({self.labels[1]}) = {self.positive_rate():.3f}, Bayes rate = {self.bayes_rate():.4f}")

    def to_dict(self) -> dict:
        return {"kind": "logistic", "intercept": self.intercept, "labels": list(self.labels),
                "weights": [{"attribute": a, "value": v, "weight": w} for (a, v), w in self.weights.items()],
                "marginals": self.marginals}


@dataclass
class OrdinalLogisticRule:
    """Cumulative-logit rule over ordered ``classes``; the binary label is ``classes[0]`` against the rest.

    ``P(class <= classes[j] | x) = sigmoid(thresholds[j] - s(x))`` with ``s(x)`` the weighted sum of
    attribute indicators. ``binary_labels`` names (first class, the rest), e.g. ``("easy", "difficult")``.
    """

    weights: dict[tuple[str, str], float]
    thresholds: tuple[float, ...]
    marginals: dict[str, dict[str, float]]
    classes: tuple[str, ...]
    binary_labels: tuple[str, str]

    def __post_init__(self) -> None:
        self._logistic = LogisticRule(self.weights, intercept=-float(self.thresholds[0]),
                                      marginals=self.marginals, labels=tuple(self.binary_labels))
        self.marginals = self._logistic.marginals
        self.weights = self._logistic.weights
        if len(self.thresholds) != len(self.classes) - 1 or list(self.thresholds) != sorted(self.thresholds):
            raise ConfigError(f"need {len(self.classes) - 1} increasing thresholds for classes {self.classes}, "
                              f"got {self.thresholds}")

    @property
    def labels(self) -> tuple[str, str]:
        return tuple(self.binary_labels)

    @property
    def causal_attributes(self) -> tuple[str, ...]:
        return self._logistic.causal_attributes

    def score(self, attrs: Any):
        return self._logistic.score(attrs) + self.thresholds[0]

    def probability(self, attrs: Any):
        """``p(not classes[0] | x)``: the probability of the binary positive label (e.g. difficult)."""
        return self._logistic.probability(attrs)

    def class_probabilities(self, attrs: Any) -> np.ndarray:
        """``(n, K+1)`` probabilities of each ordered class (one row for a dict)."""
        s = np.atleast_1d(self.score(attrs))
        cum = _sigmoid(np.asarray(self.thresholds)[None, :] - s[:, None])
        cum = np.concatenate([np.zeros((len(s), 1)), cum, np.ones((len(s), 1))], axis=1)
        return np.diff(cum, axis=1)

    def bayes_rate(self) -> float:
        """Exact Bayes rate of the binary label (first class against the rest)."""
        return self._logistic.bayes_rate()

    def class_bayes_rate(self) -> float:
        """Exact Bayes rate of the multi-class label, ``E[max_j P(class_j | x)]``."""
        return sum(prob * float(self.class_probabilities(a).max()) for a, prob in self._logistic._combinations())

    def positive_rate(self) -> float:
        return self._logistic.positive_rate()

    def sample_classes(self, table: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        probs = self.class_probabilities(table)
        u = rng.random(len(probs))[:, None]
        idx = (u > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, len(self.classes) - 1)
        return np.asarray(self.classes, dtype=object)[idx]

    def describe(self) -> str:
        terms = " ".join(f"{w:+.2f}*[{a} = {v}]" for (a, v), w in self.weights.items() if w)
        cuts = ", ".join(f"P(class <= {c} | x) = sigmoid({t:+.2f} - s)"
                         for c, t in zip(self.classes[:-1], self.thresholds))
        return (f"latent score s = {terms}; ordered classes {' < '.join(self.classes)}: {cuts}; binary label "
                f"{self.binary_labels[0]} = class {self.classes[0]}, {self.binary_labels[1]} = any other; "
                f"P({self.binary_labels[1]}) = {self.positive_rate():.3f}, binary Bayes rate = "
                f"{self.bayes_rate():.4f}, {len(self.classes)}-class Bayes rate = {self.class_bayes_rate():.4f}")

    def to_dict(self) -> dict:
        return {"kind": "ordinal_logistic", "thresholds": list(self.thresholds), "classes": list(self.classes),
                "binary_labels": list(self.binary_labels),
                "weights": [{"attribute": a, "value": v, "weight": w} for (a, v), w in self.weights.items()],
                "marginals": self.marginals}


def merge_marginals(defaults: Mapping[str, Mapping[str, float]], overrides: Mapping | None, system: str
                    ) -> dict[str, dict[str, float]]:
    """``defaults`` with whole attributes replaced by ``overrides`` (unknown attribute names refused)."""
    merged = {k: dict(v) for k, v in defaults.items()}
    for name, dist in (overrides or {}).items():
        if name not in merged:
            raise ConfigError(f"unknown {system} attribute '{name}' in marginals", hint=f"known: {list(merged)}")
        merged[name] = dict(dist)
    return merged


def sample_attributes(marginals: Mapping[str, Mapping[str, float]], n: int, rng: np.random.Generator
                      ) -> pd.DataFrame:
    """``n`` rows of independent attribute draws, columns ``attr.<name>`` in ``marginals`` order."""
    cols = {}
    for name, dist in marginals.items():
        values = np.asarray(list(dist.keys()), dtype=object)
        probs = np.asarray(list(dist.values()), dtype=np.float64)
        cols[ATTR + name] = values[rng.choice(len(values), size=n, p=probs / probs.sum())]
    return pd.DataFrame(cols)
