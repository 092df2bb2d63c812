"""Backward elimination of whole feature groups by patient-grouped cross-validation (one-SE rule).

A hybrid's table holds a few attribute groups and several handcrafted groups (HOG, LBP, colour moments
...), each of several columns. When the attribute heads are imperfect, the handcrafted colour and texture
columns become a second, noisier reading of the same attributes (colour moments of tone, LBP of surface);
a fitter keeps a little of each, and SHAP then spreads a case's explanation over groups that repeat each
other. Dropping a group the model does not need is a decision about the explanation, not only the fit,
so it is made at the group level, where the explanation lives.

Procedure (``rule="one_se"``): score all groups by grouped CV; then repeatedly try leaving out each
remaining group, and drop the one whose removal scores best, as long as that score stays within one
standard error of the best score seen on the way (Hastie, Tibshirani & Friedman, ESL 7.10: a difference
smaller than the folds' noise is no reason to keep the larger model). ``rule="best"`` drops only while the
score does not fall. At least ``min_groups`` groups stay. ``steps_`` keeps every candidate's score at each
step, for the report that says why a group was dropped.

``prefer_keep`` orders the removals the rule allows: while leaving out some other group stays within the
band, a preferred group is not dropped. A hybrid passes its named attribute groups (tone, surface ...), so
that of two readings of one attribute that the folds cannot tell apart (a weak surface head and HOG, which
reads the same roughness) the one a clinician can check stays. A preferred group that scores worse than a
handcrafted double by more than the folds' noise is still dropped: the preference never costs more than the
band.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from ..errors import ConfigError
from ..io.splits import group_kfold_indices as grouped_folds  # noqa: F401 (fit/'s name; also used by selection)

log = logging.getLogger(__name__)

#: below this many training rows of a class, an estimator that cannot be fit on a fold (ValueError) gives that
#: fold NaN instead of stopping the selection (the SVM's internal calibration needs 3 per class and fold)
MIN_CLASS_ROWS = 10


def scored_on(folds, score_rows=None) -> list:
    """``folds`` whose held-out parts keep only the rows of the boolean mask ``score_rows`` (None: every row). A
    selection trained on extra rows (intervention training's copies of the lesions) is then scored on the real
    lesions only, while every row still trains."""
    if score_rows is None:
        return list(folds)
    mask = np.asarray(score_rows, dtype=bool)
    return [(tr, te[mask[te]]) for tr, te in folds]


def cv_scores(estimator, X: np.ndarray, y: np.ndarray, folds, metric: str) -> np.ndarray:
    """One score per fold (NaN where a fold lacks a class: the training part any class, the held-out part
    both of two classes, or, for a multiclass ROC AUC, any class; NaN too where the estimator cannot be
    trained on the fold's training part because a class there is too rare for it, e.g. the SVM's internal
    3-fold calibration with 2 lesions of a class: logged, so a candidate that cannot learn from the folds
    is never chosen by them, and the others are still compared)."""
    from sklearn.metrics import get_scorer

    scorer = get_scorer(metric)
    n_classes = len(np.unique(y))
    held_out_needs = n_classes if metric.startswith("roc_auc") and n_classes > 2 else 2
    out = []
    for k, (tr, te) in enumerate(folds):
        if len(np.unique(y[tr])) < n_classes or len(np.unique(y[te])) < held_out_needs:
            out.append(np.nan)
            continue
        try:
            model = clone(estimator).fit(X[tr], y[tr])
        except ValueError as exc:
            rarest = int(np.bincount(np.unique(y, return_inverse=True)[1][tr]).min())
            if rarest >= MIN_CLASS_ROWS:  # not a too-rare class: a real error
                raise
            log.warning("fold %d: %s cannot be trained on %d row(s) of its rarest class (%s); the fold says "
                        "nothing about it", k, type(estimator).__name__, rarest, exc)
            out.append(np.nan)
            continue
        out.append(float(scorer(model, X[te], y[te])))
    return np.asarray(out, dtype=float)


class GroupEliminator(BaseEstimator):
    """Which feature groups a fitter needs: backward elimination by grouped CV.

    ``estimator``: the (unfitted) model used to score group sets, e.g. the lasso LR. ``groups``: group name
    -> column names (a hybrid predictor passes this object as its ``group_selection`` strategy with both left
    None and fills them in with the chosen fitter and its sources' groups; ``prefer_keep="attributes"`` is
    resolved by the predictor to the groups of sources that read named attributes); ``fit(X, y, patients)`` with ``X`` a DataFrame holding those columns. Fitted:
    ``kept_`` (group names, in the given order), ``dropped_`` (in the order they were dropped),
    ``steps_`` (DataFrame: step, candidate group left out, mean, se, chosen, preferred). ``prefer_keep``:
    group names dropped only when no other group's removal is within the band (module docstring).

    A scikit-learn ``BaseEstimator`` for ``get_params`` / ``set_params`` / ``clone``; not a predictor or a
    transformer (it has neither method), and ``fit`` does not modify its arguments or ``estimator``.
    """

    def __init__(self, estimator=None, groups: dict[str, list[str]] | None = None, metric: str = "roc_auc",
                 cv: int = 5, seed: int = 0, rule: str = "one_se", min_groups: int = 1, prefer_keep=()):
        self.estimator = estimator
        self.groups = groups
        self.metric = metric
        self.cv = cv
        self.seed = seed
        self.rule = rule
        self.min_groups = min_groups
        self.prefer_keep = prefer_keep

    def _score(self, X: pd.DataFrame, y, folds, keep: list[str]) -> tuple[float, float]:
        columns = [c for g in keep for c in self.groups[g]]
        scores = cv_scores(self.estimator, X[columns].to_numpy(float), y, folds, self.metric)
        finite = np.isfinite(scores)
        if not finite.any():
            return -np.inf, 0.0
        return float(np.nanmean(scores)), float(np.nanstd(scores) / np.sqrt(finite.sum()))

    def check(self) -> None:
        """Validate the settings (a hybrid calls this before any training)."""
        if self.rule not in ("one_se", "best"):
            raise ConfigError(f"unknown group selection rule {self.rule!r}", hint="'one_se' or 'best'")
        prefer = self.prefer_keep
        if not (prefer is None or prefer == "attributes"
                or (isinstance(prefer, (list, tuple)) and all(isinstance(g, str) for g in prefer))):
            raise ConfigError(f"prefer_keep must be a list of group names or 'attributes', got {prefer!r}")

    def fit(self, X: pd.DataFrame, y, patients, score_rows=None) -> "GroupEliminator":
        """Backward elimination by grouped CV on ``(X, y)`` with the ``patients`` as fold groups; ``score_rows``: a
        boolean mask of the rows the held-out folds score (None: every row; :func:`scored_on`)."""
        self.check()
        if self.estimator is None or not self.groups:
            raise ConfigError("GroupEliminator needs an estimator and groups to fit",
                              hint="pass it as HybridPredictor(group_selection=GroupEliminator()), which fills them in")
        missing = [c for cols in self.groups.values() for c in cols if c not in X]
        if missing:
            raise ConfigError(f"group columns {missing[:5]} are not in the feature table")
        if isinstance(self.prefer_keep, str):
            raise ConfigError(f"prefer_keep={self.prefer_keep!r}: pass group names here",
                              hint="'attributes' is resolved by HybridPredictor to its attribute heads' groups")
        preferred = set(self.prefer_keep or ())
        unknown = sorted(preferred - set(self.groups))
        if unknown:
            raise ConfigError(f"prefer_keep names groups {unknown} that are not among the groups",
                              hint=f"groups: {sorted(self.groups)}")
        y = np.asarray(y)
        folds = scored_on(grouped_folds(np.asarray(patients), self.cv, self.seed,
                                        hint="give more patients, or turn group selection off"), score_rows)
        keep = list(self.groups)
        best_mean, best_se = self._score(X, y, folds, keep)
        rows = [{"step": 0, "left_out": "", "mean": best_mean, "se": best_se, "chosen": True, "preferred": False}]
        self.dropped_ = []
        step = 0
        while len(keep) > max(1, self.min_groups):
            step += 1
            trials = [(g, *self._score(X, y, folds, [k for k in keep if k != g])) for g in keep]
            threshold = best_mean - (best_se if self.rule == "one_se" else 0.0)
            allowed = [t for t in trials if t[1] >= threshold]
            # among allowed removals, a non-preferred group goes first; then the best score (ties: earlier)
            group, mean, se = max(allowed, key=lambda t: (t[0] not in preferred, t[1])) if allowed else (None, 0, 0)
            rows += [{"step": step, "left_out": g, "mean": m, "se": s, "chosen": g == group,
                      "preferred": g in preferred} for g, m, s in trials]
            if group is None:
                break
            keep.remove(group)
            self.dropped_.append(group)
            if mean > best_mean:
                best_mean, best_se = mean, se
        self.kept_ = keep
        self.steps_ = pd.DataFrame(rows)
        return self
