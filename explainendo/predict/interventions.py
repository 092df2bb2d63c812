"""Intervention training: the hybrid's fitter also learns from rows in which attributes hold their true values.

A clinician's correction (:meth:`~explainendo.predict.HybridPredictor.intervene`) sets an attribute's columns
``<attribute>.p_<class>`` to a one-hot. A fitter trained only on the heads' soft (held-out) probabilities has
never seen such rows: it has learned how much to trust each head *next to* the handcrafted features and the
other heads' correlated errors, so a hard corrected value can move it the wrong way (measured: every attribute
corrected made the gastric hybrid worse, docs/benchmarks.md, "Attribute intervention"). The remedy of the
concept-bottleneck literature is to train the fitter on corrected values too:

* :class:`RandomInterventions` ``(p=0.25, copies=2, seed=None)``: the randomised intervention training of
  Concept Embedding Models (Espinosa Zarlenga et al., NeurIPS 2022, "RandInt"), as extra rows: the fitter's
  training rows are kept, and ``copies`` copies of them are added in which each correctable attribute of each
  lesion is set, with probability ``p``, to the one-hot of the lesion's true class (its ``attr.<attribute>``
  table column; a lesion without that truth keeps the head's reading). ``p=1, copies=1`` adds one copy with
  every known attribute true: the fitter then learns from the heads' readings and from the true attributes
  (Koh et al.'s "independent" bottleneck, trained on true concepts, beside the usual one).

The copies of a lesion belong to its patient (its fold group), so the fitter's grouped CV
(:class:`~explainendo.fit.FitterSelector`) and group selection (:class:`~explainendo.fit.GroupEliminator`) never
validate on a copy of a lesion they trained on, and their held-out folds score the real lesions only (the copies
train; ``score_rows``): the selection prefers the fitter that is best on the lesions as the heads read them. The
column means that fill missing values and the SHAP background
come from the real rows only: an explanation is of the model's real predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..components import Settings, register_component
from ..errors import ConfigError


class InterventionTraining(Settings):
    """Base: :meth:`augment` returns the fitter's training rows with extra rows in which attributes are set to
    their true values, and the position of each row's lesion among the given rows."""

    def augment(self, X: pd.DataFrame, columns: dict[str, list[str]], truth: dict[str, np.ndarray],
                seed: int) -> tuple[pd.DataFrame, np.ndarray, dict]:  # pragma: no cover - abstract
        raise NotImplementedError


@register_component("random_interventions")
class RandomInterventions(InterventionTraining):
    """Randomised intervention training (module docstring).

    Parameters
    ----------
    p : the probability, per lesion, copy and attribute, that the attribute is set to its true value; in (0, 1].
    copies : how many intervened copies of the fitter's rows are added (an integer >= 1); the fitter learns from
        ``1 + copies`` times as many rows.
    seed : the draws' seed; None: the predictor's ``seed``.
    """

    def __init__(self, p: float = 0.25, copies: int = 2, seed: int | None = None):
        self.p = p
        self.copies = copies
        self.seed = seed

    def check_params(self) -> "RandomInterventions":
        p = self.p
        if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0.0 < float(p) <= 1.0:
            raise ConfigError(f"RandomInterventions(p={p!r}): the probability of setting an attribute to its truth "
                              "must lie in (0, 1]", hint="e.g. RandomInterventions(p=0.25) (CEM's RandInt)")
        if isinstance(self.copies, bool) or not isinstance(self.copies, (int, np.integer)) or self.copies < 1:
            raise ConfigError(f"RandomInterventions(copies={self.copies!r}): need an integer >= 1",
                              hint="e.g. RandomInterventions(copies=2)")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))):
            raise ConfigError(f"RandomInterventions(seed={self.seed!r}): need None (the predictor's seed) or an "
                              "integer")
        return self

    def augment(self, X, columns, truth, seed):
        """``(rows, origin, facts)``: ``X``'s rows, then ``copies`` copies of them in which, for each attribute of
        ``columns`` (``{attribute: [its columns, one per class]}``), each lesion's columns become, with probability
        ``p``, the one-hot of ``truth[attribute]`` (the class's position per lesion, -1 where unknown: left as is).
        ``origin[i]``: the position in ``X`` of row ``i``'s lesion."""
        self.check_params()
        n, copies = len(X), int(self.copies)
        rng = np.random.default_rng(seed if self.seed is None else int(self.seed))
        attributes = list(columns)
        values = X.to_numpy(dtype=float, copy=True)
        where = {a: [X.columns.get_loc(c) for c in columns[a]] for a in attributes}
        blocks, set_count = [values], {a: 0 for a in attributes}
        for _ in range(copies):
            block = values.copy()
            draws = rng.random((n, len(attributes)))
            for j, a in enumerate(attributes):
                target = np.asarray(truth[a], dtype=int)
                chosen = np.flatnonzero((target >= 0) & (draws[:, j] < float(self.p)))
                if len(chosen):
                    onehot = np.zeros((len(chosen), len(where[a])))
                    onehot[np.arange(len(chosen)), target[chosen]] = 1.0
                    block[np.ix_(chosen, where[a])] = onehot
                set_count[a] += int(len(chosen))
            blocks.append(block)
        rows = pd.DataFrame(np.vstack(blocks), columns=X.columns)
        origin = np.tile(np.arange(n), copies + 1)
        facts = {"strategy": "random", "p": float(self.p), "copies": copies, "rows": n, "rows_added": n * copies,
                 "attributes": attributes, "values_set": set_count,
                 "lesions_without_truth": {a: int((np.asarray(truth[a]) < 0).sum()) for a in attributes}}
        return rows, origin, facts
