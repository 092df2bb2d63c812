"""Exact Shapley values of feature *groups*, beside the per-feature SHAP values summed per group.

:class:`~explainendo.explain.grouped_shap.GroupedShapExplainer` explains each feature and sums the values of a
group's features. That sum is not the Shapley value of the group as one player: where features of one group
interact with each other, or the explainer is path-dependent, the two differ (shap #651, #933). With g groups the
group game has only 2^g coalitions, so for g <= 13 (8192 coalitions) the group value itself can be computed
exactly. The game is the interventional one (independent features; Janzing et al., AISTATS 2020): for a row x,
background rows b_1..b_m with weights w_b (summing to 1) and a coalition S of groups,

    v(S) = sum_b w_b f(x_S, b_notS)

(the groups in S take x's values, every other column the background row's), and group i's value is

    phi_i = sum over S not containing i of |S|! (g - |S| - 1)! / g! * (v(S + i) - v(S)).

Efficiency holds exactly: ``expected_value + sum_i phi_i = output``, with ``expected_value = v({}) = sum_b w_b
f(b)`` and ``output = v(all) = f(x)``. ``f`` is the very output the grouped SHAP explainer explains
(:meth:`GroupedShapExplainer.model_output`: the log-odds of a binary logistic regression or xgboost model, the
class probability otherwise), so the two can be compared value for value. For a linear model on independent
features the exact group value equals the linear SHAP values summed over the group; for trees (path-dependent
SHAP) and kernels they can differ, and :func:`compare_group_values` says where.

Cost: one model call on ``2^g * m`` hybrid rows per explained row, built in batches of at most ``max_rows`` rows,
except for two fitters whose values come without those rows, equal to the model calls' to rounding: a binary RBF
SVM (:func:`rbf_svm_coalition_values`, the kernel's per-group factors) and binary xgboost (:class:`TreeCoalitions`:
each tree walked only on the patterns of the groups it splits on, the float32 margins summed as xgboost sums them).
Time is linear in ``m``, so the background can be summarised to ``n_background`` rows (``summary="kmeans"``: the
k-means summary shap's kernel explainer uses, centroids weighted by cluster size and rounded to observed values;
``"sample"``: a seeded sample of rows, equal weights). The trade-off: the values stay exact Shapley values, but of
the game against the summary instead of the whole background, so the expected value and each group value move by
the summary's error (for a nonlinear model, f at a centroid is not the mean of f over its cluster).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import factorial

import numpy as np
import pandas as pd

from ..errors import ConfigError

#: the ways an explanation's group values can be computed (``HybridPredictor.explain(group_values=...)``)
GROUP_VALUE_METHODS = ("shap", "exact")
#: the default largest number of groups enumerated (2^13 = 8192 coalitions)
MAX_GROUPS = 13
#: the background rows of ``HybridPredictor.explain(group_values="exact")``: its stored background (up to 100 rows)
#: summarised by k-means into this many weighted rows, the size of the kernel explainer's summary (2^13 coalitions
#: x 10 rows = 81,920 model rows per lesion; the whole background costs 10x the time)
EXACT_BACKGROUND_ROWS = 10
#: the most rows :class:`TreeCoalitions` walks per explained row (sum over trees of 2^groups used x background
#: rows; the library's 150 depth-3 trees on 13 groups and 10 rows: ~50,000); more is left to the fitter's predict
MAX_WALKED_ROWS = 2 ** 22
#: how an :class:`~explainendo.predict.base.Evidence` with exact group values names its explainer (it starts so)
EXACT_EXPLAINER_PREFIX = "exact group Shapley"


def exact_explainer_name(shap_result, exact_result) -> str:
    """What an explanation with exact group values records as its explainer: both methods, e.g. ``"exact group
    Shapley (against k-means summary of 100 background rows into 10 weighted centroids); per-feature values:
    tree SHAP"``."""
    return (f"{EXACT_EXPLAINER_PREFIX} (against {exact_result.background}); per-feature values: "
            f"{shap_result.explainer} SHAP")


def check_group_value_method(method) -> str:
    """``method`` if it is one of :data:`GROUP_VALUE_METHODS`, else a :class:`ConfigError`."""
    if method not in GROUP_VALUE_METHODS:
        raise ConfigError(f"group_values={method!r} is not a way to compute group values",
                          hint="'shap' (per-feature SHAP summed per group, the default) or 'exact' (exact group "
                               "Shapley values against the background)")
    return method


def coalition_members(group_of_column: np.ndarray, n_groups: int) -> np.ndarray:
    """``(2^g, p)`` booleans: column j takes the explained row's value in coalition S (bit i of S = group i)."""
    masks = np.arange(2 ** n_groups)[:, None]
    return ((masks >> group_of_column[None, :]) & 1).astype(bool)


@lru_cache(maxsize=4)
def _shapley_terms(n_groups: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per player i: the coalitions S without i, S + i, and the weight |S|!(g-|S|-1)!/g! of each (cached per g)."""
    masks = np.arange(2 ** n_groups)
    size = sum((masks >> i) & 1 for i in range(n_groups))
    weight = np.array([factorial(s) * factorial(n_groups - s - 1) / factorial(n_groups) for s in range(n_groups)])
    terms = []
    for i in range(n_groups):
        without = masks[(masks >> i) & 1 == 0]
        terms.append((without, without | (1 << i), weight[size[without]]))
    return terms


def shapley_from_coalition_values(values: np.ndarray, n_groups: int) -> np.ndarray:
    """``(n, g)`` Shapley values from ``values`` ``(n, 2^g)``, the game's value of every coalition (bit i of
    the column index = player i): phi_i = sum over S without i of |S|!(g-|S|-1)!/g! (v(S+i) - v(S))."""
    values = np.asarray(values, dtype=float)
    phi = np.empty((values.shape[0], n_groups))
    for i, (without, with_i, weight) in enumerate(_shapley_terms(n_groups)):
        phi[:, i] = (values[:, with_i] - values[:, without]) @ weight
    return phi


def coalition_values(model_output, X: np.ndarray, background: np.ndarray, weights: np.ndarray,
                     members: np.ndarray, max_rows: int = 2 ** 16) -> np.ndarray:
    """``(n, 2^g)``: v(S) = sum_b w_b f(x_S, b_notS) for every row x of ``X`` and coalition S (``members``, from
    :func:`coalition_members`). The hybrid rows are built and passed to ``model_output`` (rows -> one output per
    row) in batches of at most ``max(max_rows, m)`` rows, whole coalitions at a time."""
    X, background = np.asarray(X, dtype=float), np.asarray(background, dtype=float)
    n, m, p = len(X), len(background), X.shape[1]
    n_coalitions = len(members)
    out = np.empty(n * n_coalitions)
    per_call = max(1, int(max_rows) // m)  # (row, coalition) pairs per model call
    for start in range(0, n * n_coalitions, per_call):
        pairs = np.arange(start, min(start + per_call, n * n_coalitions))
        hybrid = np.where(members[pairs % n_coalitions][:, None, :], X[pairs // n_coalitions][:, None, :],
                          background[None, :, :])
        f = np.asarray(model_output(hybrid.reshape(-1, p)), dtype=float).reshape(len(pairs), m)
        out[pairs] = f @ weights
    return out.reshape(n, n_coalitions)


def rbf_svm_parts(fitter):
    """``(scaler, svc, sigmoid calibrator)`` of a fitted binary RBF SVM fitter as ``fit.fitters.svm`` builds it
    (``StandardScaler`` -> ``CalibratedClassifierCV(SVC(kernel="rbf"), method="sigmoid", ensemble=False)``), else
    None: the fitters :func:`rbf_svm_coalition_values` can take."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if not isinstance(fitter, Pipeline) or len(fitter.steps) != 2:
        return None
    scaler, model = fitter.steps[0][1], fitter.steps[1][1]
    if not isinstance(scaler, StandardScaler) or not isinstance(model, CalibratedClassifierCV):
        return None
    fitted = getattr(model, "calibrated_classifiers_", None)
    if not fitted or len(fitted) != 1 or getattr(fitted[0], "method", None) != "sigmoid":
        return None
    svc, calibrators = fitted[0].estimator, fitted[0].calibrators
    if not isinstance(svc, SVC) or svc.kernel != "rbf" or len(svc.classes_) != 2 or len(calibrators) != 1:
        return None
    return scaler, svc, calibrators[0]


def rbf_svm_coalition_values(parts, X: np.ndarray, background: np.ndarray, weights: np.ndarray,
                             group_of_column: np.ndarray, n_groups: int, class_index: int,
                             low_bits: int = 8) -> np.ndarray:
    """:func:`coalition_values` of a binary RBF SVM's calibrated probability (``parts`` from
    :func:`rbf_svm_parts`) without building the hybrid rows. The RBF kernel of a hybrid row factorises over the
    groups: with z the standardised row and v a support vector, ||z_S - v||^2 = sum over groups in S of
    d_g(x, v) + sum over the others of d_g(b, v), where d_g sums (z_j - v_j)^2 over group g's columns, so

        K(x_S, b, v) = exp(-gamma ||b - v||^2) * prod over g in S of exp(-gamma (d_g(x, v) - d_g(b, v))).

    Every coalition's kernel values come from a smaller coalition's by one product (coalition S + g = S times
    group g's factor), 2^g * m * s multiplications and g * m * s exponentials instead of 2^g * m * s * p
    operations in the SVM's own predict. The decision value is sum_v alpha_v K + intercept, then the Platt
    sigmoid, as ``predict_proba`` computes them (tests compare the two). ``low_bits``: the coalitions of the first
    ``low_bits`` groups are held at once ((2^low_bits, m * s) floats), the others taken in turn."""
    scaler, svc, sigmoid = parts
    support = np.asarray(svc.support_vectors_, dtype=float)
    alpha, intercept, gamma = np.asarray(svc.dual_coef_[0], dtype=float), float(svc.intercept_[0]), float(svc._gamma)
    zx = scaler.transform(np.asarray(X, dtype=float))
    zb = scaler.transform(np.asarray(background, dtype=float))
    onehot = (group_of_column[None, :] == np.arange(n_groups)[:, None]).astype(float)  # (g, p)
    m, s = len(zb), len(support)
    per_group_b = (((zb[:, None, :] - support[None]) ** 2) @ onehot.T).reshape(m * s, n_groups)  # (m * s, g)
    outside = np.exp(-gamma * per_group_b.sum(1))  # (m * s,): every group from the background row
    low = min(int(low_bits), n_groups)
    out = np.empty((len(zx), 2 ** n_groups))
    for i, z in enumerate(zx):
        per_group_x = ((z[None, :] - support) ** 2) @ onehot.T  # (s, g)
        factor = np.exp(-gamma * (np.tile(per_group_x, (m, 1)) - per_group_b)).T.reshape(n_groups, m, 1, s)
        low_kernel = np.empty((m, 2 ** low, s))  # per background row, the coalitions of the first `low` groups
        low_kernel[:, 0] = 1.0
        for g in range(low):  # coalitions with bit g set = those below 2^g times group g's factor
            np.multiply(low_kernel[:, :2 ** g], factor[g], out=low_kernel[:, 2 ** g:2 ** (g + 1)])
        for high in range(2 ** (n_groups - low)):
            scale = outside.reshape(m, 1, s).copy()
            for g in range(low, n_groups):
                if (high >> (g - low)) & 1:
                    scale *= factor[g]
            decision = (low_kernel @ (scale * alpha).reshape(m, s, 1))[:, :, 0].T + intercept  # (2^low, m)
            p1 = sigmoid.predict(decision.reshape(-1)).reshape(decision.shape)
            out[i, high * 2 ** low:(high + 1) * 2 ** low] = (p1 if class_index == 1 else 1.0 - p1) @ weights
    return out


@dataclass(frozen=True)
class XGBoostTrees:
    """A binary xgboost fitter's trees as flat arrays, as its CPU predictor walks them (:func:`xgboost_trees`).

    Node ``i`` (all trees concatenated in boosting order; tree t starts at ``roots[t]``) sends a row to ``left[i]``
    when its column ``feature[i]``, cast to float32, is ``< threshold[i]`` (float32), or is missing (NaN) and
    ``default_left[i]``; else to ``right[i]``. A leaf points to itself and holds ``value[i]`` (float32). The margin
    is the float32 sum ``((base_margin + tree_0) + tree_1) + ...``, in this order, as xgboost adds it."""

    base_margin: np.float32
    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    depth: int

    def leaves(self, X32: np.ndarray) -> np.ndarray:
        """``(rows, trees)``: the leaf each float32 row reaches in each tree."""
        node = np.broadcast_to(self.roots, (len(X32), len(self.roots))).copy()
        rows = np.arange(len(X32))[:, None]
        for _ in range(self.depth):
            v = X32[rows, self.feature[node]]
            node = np.where(np.where(np.isnan(v), self.default_left[node], v < self.threshold[node]),
                            self.left[node], self.right[node])
        return node

    def margin(self, X) -> np.ndarray:
        """``(rows,)`` float32 margins of the rows ``X``, summed in xgboost's order."""
        leaf_values = self.value[self.leaves(np.asarray(X, dtype=np.float32))]
        out = np.full(len(leaf_values), self.base_margin, dtype=np.float32)
        for t in range(leaf_values.shape[1]):
            out += leaf_values[:, t]
        return out


def _logit32(p: np.float32) -> np.float32:
    """xgboost's ``binary:logistic`` base score -> margin, in float32 as it computes it: -log(1/p - 1)."""
    return np.float32(-np.log(np.float32(1.0) / p - np.float32(1.0)))


def xgboost_trees(fitter, check_rows=None) -> XGBoostTrees | None:
    """The trees of a fitted binary xgboost classifier (``binary:logistic``, gbtree, numeric splits, NaN as the
    missing value, every tree used), read from its JSON model, else None: the fitters
    :class:`TreeCoalitions` can take. ``check_rows``: rows whose margins from the arrays must equal the
    fitter's own ``predict(output_margin=True)`` bit for bit (base margins within 2 float32 steps of the formula
    are tried, xgboost's ``logf`` may round differently from NumPy's), else None."""
    import json

    if type(fitter).__name__ != "XGBClassifier" or len(getattr(fitter, "classes_", [])) != 2:
        return None
    missing = fitter.get_params().get("missing", np.nan)
    if missing is not None and not (isinstance(missing, float) and np.isnan(missing)):
        return None
    if getattr(fitter, "best_iteration", None) is not None:  # early stopping: predict uses only the best trees
        return None
    learner = json.loads(fitter.get_booster().save_raw("json"))["learner"]
    booster = learner["gradient_booster"]
    base = np.atleast_1d(json.loads(learner["learner_model_param"]["base_score"]))
    if learner["objective"]["name"] != "binary:logistic" or booster.get("name") != "gbtree" or len(base) != 1:
        return None
    trees = booster["model"]["trees"]
    if not trees or any(booster["model"]["tree_info"]) or any(any(t["split_type"]) for t in trees):
        return None

    def joined(key, dtype):
        return np.concatenate([np.asarray(t[key], dtype=dtype) for t in trees])

    starts = np.cumsum([0] + [len(t["left_children"]) for t in trees])
    left, right, conditions = joined("left_children", np.int64), joined("right_children", np.int64), \
        joined("split_conditions", np.float32)
    offset, node, leaf = np.repeat(starts[:-1], np.diff(starts)), np.arange(len(left)), left < 0
    forest = dict(feature=np.where(leaf, 0, joined("split_indices", np.int64)),
                  threshold=np.where(leaf, np.float32(0), conditions).astype(np.float32),
                  default_left=joined("default_left", bool),
                  left=np.where(leaf, node, left + offset), right=np.where(leaf, node, right + offset),
                  value=np.where(leaf, conditions, np.float32(0)).astype(np.float32), roots=starts[:-1])
    depth, level = 0, forest["roots"]
    while True:  # the longest root-leaf path
        level = level[~leaf[level]]
        if not len(level):
            break
        depth, level = depth + 1, np.concatenate([forest["left"][level], forest["right"][level]])
    guess = _logit32(np.float32(base[0]))
    up = np.nextafter(guess, np.float32(np.inf), dtype=np.float32)
    down = np.nextafter(guess, np.float32(-np.inf), dtype=np.float32)
    candidates = [guess, up, down, np.nextafter(up, np.float32(np.inf), dtype=np.float32),
                  np.nextafter(down, np.float32(-np.inf), dtype=np.float32)]
    check = None if check_rows is None else np.atleast_2d(np.asarray(check_rows, dtype=float))
    own = None if check is None else np.asarray(fitter.predict(check, output_margin=True), dtype=np.float32)
    for base_margin in candidates:
        found = XGBoostTrees(base_margin=base_margin, depth=depth, **forest)
        if own is None or np.array_equal(found.margin(check), own):
            return found
    return None


class TreeCoalitions:
    """:func:`coalition_values` of a sum of trees (:class:`XGBoostTrees`) against fixed background rows, without
    predicting the 2^g * m hybrid rows. A tree's output on the hybrid row (x_S, b_notS) depends only on S ∩ G_t,
    G_t the groups whose columns the tree splits on (with depth-3 trees, 1 to 7 groups): each tree is walked on
    its 2^|G_t| patterns x m background rows only, every split deciding on x's value where its group is in the
    pattern and on b's otherwise. The margin of every (S, b) is then summed from the trees' tables in float32, in
    the trees' order, as xgboost sums it, so that the values equal the ones from the fitter's own predictions
    (the tests compare them). The sum runs on ``acc`` (2^g, m) viewed as (2,) * g + (m,): a tree's table
    (2^|G_t|, m) is the same array with a 2 on its groups' axes and a 1 on the others, and broadcasts onto every
    coalition. NumPy's loop over it is longest where the tree's groups take the last axes, so ``acc`` numbers the
    groups by how many trees use them (most first: bit 0, the last axis) and its coalitions are mapped back to
    S's bits once per row.

    Prepared once per background (the splits' decisions on it, each tree's groups); :meth:`values` then costs one
    walk of sum_t 2^|G_t| * m rows and one float32 addition of 2^g * m values per tree."""

    def __init__(self, trees: XGBoostTrees, background: np.ndarray, group_of_column: np.ndarray, n_groups: int):
        self.trees, self.n_groups = trees, n_groups
        b32 = np.asarray(background, dtype=np.float32)
        self.m = m = len(b32)
        nodes = np.arange(len(trees.left))
        v = b32[:, trees.feature].T  # (nodes, m): each split's column in each background row
        #: (nodes, m + 1): each split's decision (go left) on each background row; column m: on x (per row)
        self._decisions = np.zeros((len(nodes), m + 1), dtype=bool)
        self._decisions[:, :m] = np.where(np.isnan(v), trees.default_left[:, None], v < trees.threshold[:, None])
        self._children = np.stack([trees.right, trees.left], axis=1).reshape(-1)  # child of node i: 2i + go_left
        inner = trees.left != nodes
        tree_of_node = np.searchsorted(trees.roots, nodes, side="right") - 1
        group = np.where(inner, group_of_column[trees.feature], -1)
        uses = np.bincount(np.unique(tree_of_node[inner] * n_groups + group[inner]) % n_groups, minlength=n_groups)
        bit_of_group = np.argsort(np.argsort(-uses, kind="stable"))  # acc's bit of each group: most used, bit 0
        group = np.where(inner, bit_of_group[np.maximum(group, 0)], -1)
        coalitions = np.arange(2 ** n_groups)
        #: acc's coalition of each coalition S (bit i of S: group i)
        self._acc_index = sum(((coalitions >> g) & 1) << int(bit_of_group[g]) for g in range(n_groups))
        self._bit = np.zeros(len(nodes), dtype=np.int64)  # the node's group's bit in its tree's patterns
        self._shapes, per_tree = [], []
        for t in range(len(trees.roots)):
            mine = (tree_of_node == t) & inner
            used = np.unique(group[mine])  # acc's bits, ascending: pattern bit i = used[i], as in acc's order
            self._bit[mine] = np.searchsorted(used, group[mine])
            shape = [1] * n_groups + [m]
            for bit in used:
                shape[n_groups - 1 - bit] = 2
            self._shapes.append(tuple(shape))
            per_tree.append(2 ** len(used) * m)
        self._starts = np.concatenate([[0], np.cumsum(per_tree)]).astype(np.int64)
        #: the rows one explained row's walk visits: sum over trees of 2^|G_t| * m
        self.walked_rows = int(self._starts[-1])
        self._rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _walked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The walked rows' root node, pattern and background row, tree by tree (pattern-major), made once."""
        if self._rows is None:
            per_tree = np.diff(self._starts)
            within = np.arange(self.walked_rows) - np.repeat(self._starts[:-1], per_tree)
            self._rows = (np.repeat(self.trees.roots, per_tree), within // self.m, within % self.m)
        return self._rows

    def values(self, X, weights: np.ndarray, sign: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """``(values, full)``: ``values`` ``(n, 2^g)``, v(S) = sum_b w_b * sign * margin(x_S, b_notS) for each row x
        of ``X`` (as :func:`coalition_values` computes it from the fitter's float32 margins); ``full`` ``(n,)``
        float32, the margin of each row itself (the full coalition, to check against the fitter's)."""
        trees, m = self.trees, self.m
        decisions = self._decisions.copy()  # its column m is this call's (no state shared between threads)
        X32 = np.atleast_2d(np.asarray(X, dtype=np.float32))
        values, full = np.empty((len(X32), 2 ** self.n_groups)), np.empty(len(X32), dtype=np.float32)
        acc = np.empty((2 ** self.n_groups, m), dtype=np.float32)  # the margin of every (S, b), S in acc's bits
        by_group = acc.reshape((2,) * self.n_groups + (m,))
        root, pattern, b = self._walked()
        for i, x in enumerate(X32):
            v = x[trees.feature]
            decisions[:, m] = np.where(np.isnan(v), trees.default_left, v < trees.threshold)
            node = root
            for _ in range(trees.depth):  # a leaf's children are itself
                column = np.where((pattern >> self._bit[node]) & 1, m, b)  # x's value, or background row b's
                node = self._children[2 * node + decisions.reshape(-1)[node * (m + 1) + column]]
            leaf_values = trees.value[node]
            acc.fill(trees.base_margin)
            for start, stop, shape in zip(self._starts[:-1], self._starts[1:], self._shapes):
                by_group += leaf_values[start:stop].reshape(shape)  # in the trees' order, as xgboost adds
            values[i] = ((sign * acc.astype(float)) @ weights)[self._acc_index]
            full[i] = acc[-1, 0]
        return values, full


def compare_group_values(exact: pd.DataFrame, summed: pd.DataFrame) -> pd.DataFrame:
    """Per row, where the exact group values and the summed per-feature SHAP values disagree:
    ``max_abs_difference`` and ``mean_abs_difference`` over the groups, each method's top group (largest
    |value|) and ``top_group_differs``, and ``spearman``, the rank correlation of the two rows of group values
    (NaN where either is constant)."""
    from .metrics import spearman

    summed = summed.reindex(columns=exact.columns)
    if summed.isna().to_numpy().any():
        raise ConfigError("the summed SHAP values lack some of the exact values' groups",
                          hint=f"compare values over the same groups: {list(exact.columns)}")
    diff = (exact.to_numpy(float) - summed.to_numpy(float))
    top_exact = exact.abs().idxmax(axis=1).to_numpy()
    top_shap = summed.abs().idxmax(axis=1).to_numpy()
    rho = [spearman(a, b) for a, b in zip(exact.to_numpy(float), summed.to_numpy(float))]
    return pd.DataFrame({"max_abs_difference": np.abs(diff).max(axis=1), "mean_abs_difference": np.abs(diff).mean(axis=1),
                         "top_group_exact": top_exact, "top_group_shap": top_shap,
                         "top_group_differs": top_exact != top_shap, "spearman": rho}, index=exact.index)


@dataclass
class GroupShapleyResult:
    """Exact group values (rows x groups) of ``output`` in ``space`` for ``class_index``:
    ``expected_value + group_values.sum(axis=1) == output``. ``background`` says what the reference was.
    With ``compare=True``: ``shap_group_values`` (the summed per-feature SHAP values of the same rows, from
    the same :class:`GroupedShapExplainer`) and ``comparison`` (:func:`compare_group_values`)."""

    group_values: pd.DataFrame
    expected_value: float
    output: np.ndarray
    space: str
    class_index: int
    n_background: int
    background: str
    shap_group_values: pd.DataFrame | None = None
    shap_expected_value: float | None = None
    comparison: pd.DataFrame | None = None

    def agreement(self) -> dict[str, float]:
        """Summary of ``comparison`` over the rows: mean |difference| (over rows and groups), mean of the rows'
        largest |difference|, the share of rows whose top group differs, the median Spearman correlation."""
        if self.comparison is None:
            raise ConfigError("this result holds no comparison", hint="explain(X, compare=True)")
        c = self.comparison
        return {"mean_abs_difference": float(c["mean_abs_difference"].mean()),
                "mean_max_abs_difference": float(c["max_abs_difference"].mean()),
                "top_group_differs": float(c["top_group_differs"].mean()),
                "median_spearman": float(np.nanmedian(c["spearman"])) if c["spearman"].notna().any() else float("nan")}


class ExactGroupShapley:
    """Exact group Shapley values (module docstring) of the output that ``explainer`` (a
    :class:`~explainendo.explain.grouped_shap.GroupedShapExplainer`) explains, over its groups, against its
    background.

    Parameters
    ----------
    explainer : the grouped SHAP explainer whose fitter, background, columns, groups, classes and output space
        are used (its ``model_output`` is ``f``); its groups must split the fitter's columns (each column in
        exactly one group).
    n_background : None (every background row) or k: summarise the background to k rows when it has more
        (trade-off in the module docstring).
    summary : ``"kmeans"`` (shap's k-means summary, weighted centroids) or ``"sample"`` (k rows drawn with
        ``seed``, equal weights); used only when the background is summarised.
    max_groups : more groups than this are refused (2^g coalitions; 13 -> 8192).
    seed : seeds ``summary="sample"``.
    max_rows : the most hybrid rows per model call (memory: ``max_rows * columns * 8`` bytes).

    The checks run here; the summary is made on the first :meth:`explain` and kept.
    """

    def __init__(self, explainer, n_background: int | None = None, summary: str = "kmeans",
                 max_groups: int = MAX_GROUPS, seed: int = 0, max_rows: int = 2 ** 16):
        self.explainer = explainer
        self.n_background = n_background
        self.summary = summary
        self.max_groups = max_groups
        self.seed = seed
        self.max_rows = max_rows
        self._check()
        self._reference: tuple[np.ndarray, np.ndarray, str] | None = None
        self._tree_game: tuple[object, TreeCoalitions | None] | None = None  # (booster, its game), made once

    def _check(self) -> None:
        groups, names = self.explainer.groups, list(self.explainer.feature_names)
        if not isinstance(self.max_groups, (int, np.integer)) or self.max_groups < 1:
            raise ConfigError(f"max_groups={self.max_groups!r} must be a positive integer", hint="e.g. 13")
        if len(groups) > self.max_groups:
            raise ConfigError(f"{len(groups)} feature groups is more than max_groups={self.max_groups}: exact group "
                              f"Shapley values enumerate 2^{len(groups)} coalitions per row",
                              hint="merge groups, raise max_groups (time and memory double with each group), or "
                                   "use the summed SHAP values (group_values='shap')")
        if len(groups) == 0:
            raise ConfigError("the explainer has no feature groups", hint="give groups {group: [columns]}")
        if len(self.explainer.background) == 0:
            raise ConfigError("exact group Shapley values need background rows, got none",
                              hint="pass at least one background row (e.g. a sample of the training features)")
        if self.summary not in ("kmeans", "sample"):
            raise ConfigError(f"summary={self.summary!r} is not a way to summarise the background",
                              hint="'kmeans' or 'sample'")
        if self.n_background is not None and (not isinstance(self.n_background, (int, np.integer))
                                              or self.n_background < 1):
            raise ConfigError(f"n_background={self.n_background!r} must be None or a positive integer",
                              hint="None keeps every background row")
        if not isinstance(self.max_rows, (int, np.integer)) or self.max_rows < 1:
            raise ConfigError(f"max_rows={self.max_rows!r} must be a positive integer", hint="e.g. 65536")
        seen = [c for cols in groups.values() for c in cols]
        twice = sorted({c for c in seen if seen.count(c) > 1})
        outside = [c for c in names if c not in set(seen)]
        if twice or outside:
            raise ConfigError(f"the groups must split the fitter's columns: {twice[:5] or outside[:5]} "
                              f"{'in several groups' if twice else 'in no group'}",
                              hint="give every fitter column exactly one group")
        self._group_of_column = np.array([next(k for k, cols in enumerate(groups.values()) if c in cols)
                                          for c in names])

    def reference(self) -> tuple[np.ndarray, np.ndarray, str]:
        """``(rows, weights, description)`` of the background the game is played against."""
        if self._reference is None:
            background = np.asarray(self.explainer.background, dtype=float)
            k = len(background) if self.n_background is None else int(min(self.n_background, len(background)))
            if k == len(background):
                rows, weights = background, np.full(k, 1.0 / k)
                text = f"all {k} background rows"
            elif self.summary == "kmeans":
                import shap

                dense = shap.kmeans(background, k)
                rows, weights = np.asarray(dense.data, dtype=float), np.asarray(dense.weights, dtype=float)
                weights = weights / weights.sum()
                text = f"k-means summary of {len(background)} background rows into {k} weighted centroids"
            else:
                keep = np.sort(np.random.default_rng(self.seed).choice(len(background), size=k, replace=False))
                rows, weights = background[keep], np.full(k, 1.0 / k)
                text = f"{k} of {len(background)} background rows (seed {self.seed})"
            self._reference = (rows, weights, text)
        return self._reference

    def tree_coalitions(self) -> TreeCoalitions | None:
        """The :class:`TreeCoalitions` of a binary xgboost fitter against :meth:`reference` (made once per fitted
        booster; its arrays checked against the fitter's own margins on the background rows), else None: every
        other fitter, or trees whose walk would visit more than :data:`MAX_WALKED_ROWS` rows per explained row."""
        fitter = self.explainer.fitter
        if self.explainer.space != "log-odds" or type(fitter).__name__ != "XGBClassifier":
            return None
        booster = fitter.get_booster()
        if self._tree_game is None or self._tree_game[0] is not booster:
            rows, _, _ = self.reference()
            trees = xgboost_trees(fitter, check_rows=np.vstack([self.explainer.background, rows]))
            game = None if trees is None else TreeCoalitions(trees, rows, self._group_of_column,
                                                             len(self.explainer.groups))
            self._tree_game = (booster, game if game is not None and game.walked_rows <= MAX_WALKED_ROWS else None)
        return self._tree_game[1]

    def explain(self, X, class_index: int | None = None, compare: bool = False) -> GroupShapleyResult:
        """Exact group values of every row of ``X`` (fitter inputs) for ``class_index`` (default: the
        explainer's). ``compare=True`` also runs the grouped SHAP explainer on the same rows and compares."""
        explainer = self.explainer
        c = explainer._class(class_index)
        X = np.atleast_2d(np.asarray(X, dtype=float))
        rows, weights, text = self.reference()
        output = explainer.model_output(X, c)
        svm = rbf_svm_parts(explainer.fitter) if explainer.space == "probability" else None
        trees = self.tree_coalitions()
        values = None
        if svm is not None:  # the same values, from the kernel's per-group factors (~20x faster than its predict)
            values = rbf_svm_coalition_values(svm, X, rows, weights, self._group_of_column, len(explainer.groups), c)
        elif trees is not None:  # the same values, from each tree walked on the patterns of its groups only
            sign = explainer._margin_sign(c)
            tree_values, full = trees.values(X, weights, sign)
            if np.array_equal(sign * full.astype(float), output):  # else the generic path below
                values = tree_values
        if values is None:
            members = coalition_members(self._group_of_column, len(explainer.groups))
            values = coalition_values(lambda Z: explainer.model_output(Z, c), X, rows, weights, members,
                                      self.max_rows)
        phi = shapley_from_coalition_values(values, len(explainer.groups))
        group_values = pd.DataFrame(phi, columns=list(explainer.groups))
        expected_value = float(explainer.model_output(rows, c) @ weights)  # v({}), the same for every row
        result = GroupShapleyResult(group_values=group_values, expected_value=expected_value,
                                    output=output, space=explainer.space, class_index=c,
                                    n_background=len(rows), background=text)
        if compare:
            shap_result = explainer.explain(X, class_index=c)
            result.shap_group_values = shap_result.group_values
            result.shap_expected_value = shap_result.expected_value
            result.comparison = compare_group_values(group_values, shap_result.group_values)
        return result
