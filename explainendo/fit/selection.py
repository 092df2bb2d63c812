"""Choose the fitter by patient-grouped cross-validation, and keep every candidate's score.

For each candidate, ``GroupKFold`` on the patient column (no patient on both sides of a fold) gives
``cv`` held-out scores on ``metric`` (any scikit-learn scorer name: ``roc_auc``, ``balanced_accuracy``,
``accuracy`` ...). ``rule="best"``: the candidate with the best mean wins (ties: the earlier candidate).
``rule="one_se"`` (the default): the **first** candidate, in the given order, whose mean is within one
standard error of the best mean wins (Breiman et al. 1984; Hastie, Tibshirani & Friedman, ESL 7.10): a
difference smaller than the folds' own noise is no reason to give up the simpler, sparser model, and for
an explanation a sparser model is the better one. So list simpler models first (the default candidates
start with the lasso LR). The winner is refit on all rows. ``cv_results_`` is the table of all
candidates' scores (with ``se`` and ``selected``), for the report that says why this fitter was chosen.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, validate_data

from ..errors import ConfigError, NotFittedError
from .fitters import FITTERS, fitter_name, make_fitter
from .group_selection import cv_scores, grouped_folds, scored_on

#: simpler models first: a tie goes to the earlier candidate
DEFAULT_CANDIDATES = ("sparse_logistic_regression", "logistic_regression", "decision_tree", "svm", "xgboost")


class FitterSelector(ClassifierMixin, BaseEstimator):
    """Pick the best of ``candidates`` (registry names or unfitted estimators) by grouped CV.

    Fitted attributes: ``best_name_``, ``best_estimator_`` (refit on all rows, on the labels encoded as
    ``0 .. k-1``: its ``classes_`` are positions in ``classes_``), ``cv_results_`` (DataFrame:
    ``candidate``, ``mean``, ``std``, ``fold_0`` ...), ``classes_`` (``y``'s sorted labels),
    ``n_features_in_``.
    """

    def __init__(self, candidates=DEFAULT_CANDIDATES, metric: str = "roc_auc", cv: int = 5, seed: int = 0,
                 rule: str = "one_se"):
        self.candidates = candidates
        self.metric = metric
        self.cv = cv
        self.seed = seed
        self.rule = rule

    def _candidate_estimators(self) -> list[tuple[str, object]]:
        out = []
        for c in self.candidates:
            if isinstance(c, str):
                if c not in FITTERS:
                    raise ConfigError(f"unknown fitter candidate {c!r}", hint=f"known: {FITTERS.list()}")
                out.append((c, make_fitter(c, seed=self.seed)))
            else:
                out.append((fitter_name(c), clone(c)))
        if not out:
            raise ConfigError("FitterSelector needs at least one candidate")
        return out

    def fit(self, X, y, groups=None, score_rows=None):
        """Score every candidate by grouped CV on ``(X, y)``, keep the winner refit on all rows.

        ``X``: a numeric table (NaN and inf refused: fill missing features first); ``y``: any labels,
        strings included (the candidates see them encoded as ``0 .. k-1`` in ``classes_`` order, which
        xgboost needs); ``groups``: the patient of each row, or ``None`` for plain K-fold (every row its own
        group). ``score_rows``: a boolean mask of the rows the held-out folds score (None: every row; every row
        still trains: intervention training's copies learn, the real lesions judge). The arguments are not modified.
        ``metric="roc_auc"`` means one-vs-rest for 3+ classes.
        """
        if self.rule not in ("best", "one_se"):
            raise ConfigError(f"unknown selection rule {self.rule!r}", hint="'one_se' (default) or 'best'")
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ConfigError(f"only one class ({self.classes_[0]!r}) in y",
                              hint="a classifier needs at least two classes")
        if groups is None:
            groups = np.arange(len(y))  # every row its own group: plain K-fold
        groups = np.asarray(groups)
        check_consistent_length(y, groups)
        metric = "roc_auc_ovr" if self.metric == "roc_auc" and len(self.classes_) > 2 else self.metric
        if score_rows is not None:
            score_rows = np.asarray(score_rows, dtype=bool)
            check_consistent_length(y, score_rows)
        folds = scored_on(grouped_folds(groups, self.cv, self.seed,
                                        hint="give more patients, or choose a fitter by name instead of 'auto'"),
                          score_rows)
        rows = []
        for name, est in self._candidate_estimators():
            scores = cv_scores(est, X, y, folds, metric)  # NaN: a fold missing a class says nothing
            finite = np.isfinite(scores)
            row = {"candidate": name, "mean": float(np.nanmean(scores)) if finite.any() else np.nan,
                   "std": float(np.nanstd(scores)) if finite.any() else np.nan}
            row["se"] = row["std"] / np.sqrt(finite.sum()) if finite.any() else np.nan
            row.update({f"fold_{i}": float(v) for i, v in enumerate(scores)})
            rows.append((row, est))
        table = pd.DataFrame([r for r, _ in rows])
        if table["mean"].isna().all():
            needs = ("every class in both its parts (a multiclass ROC AUC scores each class)" if metric == "roc_auc_ovr"
                     else "every class in its training part and both classes in its held-out part")
            raise ConfigError(f"no cross-validation fold of the fitter selection held {needs}",
                              hint="give more patients of each class, choose a fitter by name, or score with "
                                   "metric='balanced_accuracy'")
        means = table["mean"].fillna(-np.inf).to_numpy()
        best = int(means.argmax())
        if self.rule == "one_se":  # the first candidate within one standard error of the best
            best = int(np.flatnonzero(means >= means[best] - np.nan_to_num(table.loc[best, "se"]))[0])
        self.best_name_ = table.loc[best, "candidate"]
        self.best_estimator_ = clone(rows[best][1]).fit(X, y)
        self.cv_results_ = table.assign(metric=metric, rule=self.rule,
                                        selected=[i == best for i in range(len(table))])
        return self

    def _check(self):
        # scikit-learn's own NotFittedError here: FitterSelector is a plain scikit-learn estimator
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "best_estimator_", msg="FitterSelector is not fitted: call fit(X, y, groups) first")

    def predict(self, X):
        """The winner's predicted labels, in ``y``'s own values."""
        X = self._validate(X)
        return self.classes_[self.best_estimator_.predict(X)]

    def predict_proba(self, X):
        """The winner's class probabilities, one column per entry of ``classes_``."""
        X = self._validate(X)
        return self.best_estimator_.predict_proba(X)

    def _validate(self, X):
        self._check()
        return validate_data(self, X, reset=False, dtype=np.float64)
