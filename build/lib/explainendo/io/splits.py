"""Group-wise splits: a patient, video or centre never lands on two sides of a split.

Every function here returns manifests and checks its own result with :func:`assert_disjoint_groups`.
Stratification (by ``label`` or another column) is best-effort: groups are kept whole first.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import SplitError
from .manifest import Manifest


def assert_disjoint_groups(splits: dict[str, Manifest], by: str = "patient") -> None:
    """Raise :class:`SplitError` if any ``by`` group appears in two subsets (naming group and subsets)."""
    seen: dict = {}
    for name, m in splits.items():
        if by not in m.df.columns:
            raise SplitError(f"subset '{name}' has no '{by}' column")
        for g in pd.unique(m.df[by].dropna()):
            if g in seen and seen[g] != name:
                raise SplitError(f"{by} '{g}' is in both '{seen[g]}' and '{name}'",
                                 hint="split by group, never by frame")
            seen[g] = name


def _group_table(m: Manifest, by: str, stratify: str | None) -> pd.DataFrame:
    if by not in m.df.columns:
        raise SplitError(f"no '{by}' column to split by", hint=f"columns: {list(m.df.columns)}")
    if m.df[by].isna().any():
        raise SplitError(f"{int(m.df[by].isna().sum())} row(s) have no '{by}'", hint="fill the group column")
    g = m.df.groupby(by, sort=True)
    table = pd.DataFrame({"n": g.size()})
    if stratify:
        if stratify not in m.df.columns:
            raise SplitError(f"no '{stratify}' column to stratify by")
        # a group's stratum is its most frequent label (ties: first in sorted order)
        table["stratum"] = g[stratify].agg(lambda s: s.value_counts().sort_index().idxmax() if s.notna().any()
                                           else "__none__")
    else:
        table["stratum"] = "all"
    return table


def train_val_test_split(m: Manifest, val: float = 0.15, test: float = 0.15, by: str = "patient",
                         stratify: str | None = "label", seed: int = 0) -> dict[str, Manifest]:
    """Split groups into train / val / test with about the given row fractions, per stratum."""
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise SplitError(f"fractions val={val}, test={test} must be in [0, 1) and sum below 1")
    stratify = stratify if stratify and stratify in m.df.columns else None
    table = _group_table(m, by, stratify)
    needed = 1 + (val > 0) + (test > 0)
    if len(table) < needed:
        raise SplitError(f"{len(table)} {by} group(s) cannot make {needed} subsets")
    rng = np.random.default_rng(seed)
    assign: dict = {}
    for _, part in table.groupby("stratum", sort=True):
        groups = list(part.index)
        rng.shuffle(groups)
        sizes = part.loc[groups, "n"].to_numpy()
        total = sizes.sum()
        cum = np.cumsum(sizes) / total
        for g, c, s in zip(groups, cum, sizes):
            frac_before = c - s / total
            assign[g] = "test" if frac_before < test else ("val" if frac_before < test + val else "train")
    out = {name: m.subset(m.df[by].map(assign) == name) for name in ("train", "val", "test")}
    for name, frac in (("val", val), ("test", test)):
        if frac > 0 and len(out[name]) == 0:  # tiny data: move one train group over
            donors = [g for g, a in assign.items() if a == "train"]
            if len(donors) <= 1:
                raise SplitError(f"too few {by} groups for a non-empty '{name}' subset")
            assign[donors[-1]] = name
            out = {n: m.subset(m.df[by].map(assign) == n) for n in ("train", "val", "test")}
    if val == 0:
        out.pop("val")
    if test == 0:
        out.pop("test")
    assert_disjoint_groups(out, by)
    return out


def group_kfold_indices(groups: Sequence | np.ndarray, n_splits: int, seed: int = 0,
                        hint: str = "give more patients") -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train_rows, test_rows)`` index arrays of ``n_splits`` folds that keep each group (patient) whole.

    ``GroupKFold`` (which balances fold sizes and is deterministic given the groups) over the groups after
    a seeded permutation of the group ids, so ``seed`` changes which groups share a fold and the same seed
    always gives the same folds. Fewer folds when there are fewer groups than ``n_splits``; a
    :class:`SplitError` (with ``hint``) below two groups or for ``n_splits < 2``. The row-array form of
    :func:`group_kfold`, for code that holds arrays rather than a manifest (cross-validated model
    selection, out-of-fold features).
    """
    from sklearn.model_selection import GroupKFold

    if isinstance(n_splits, bool) or int(n_splits) != n_splits or n_splits < 2:
        raise SplitError(f"n_splits={n_splits!r}: cross-validation needs at least 2 folds", hint="use 2 or more")
    groups = np.asarray(groups)
    uniq = pd.unique(groups)
    k = min(int(n_splits), len(uniq))
    if k < 2:
        raise SplitError(f"{len(uniq)} patient group(s) cannot make cross-validation folds", hint=hint)
    # GroupKFold's own shuffle arrived in recent sklearn; permuting the group ids has the same effect
    perm = dict(zip(uniq, np.random.default_rng(seed).permutation(len(uniq))))
    return list(GroupKFold(n_splits=k).split(np.zeros(len(groups)), groups=np.array([perm[g] for g in groups])))


def group_kfold(m: Manifest, k: int = 5, by: str = "patient", stratify: str | None = "label",
                seed: int = 0) -> list[tuple[Manifest, Manifest]]:
    """K (train, test) folds with whole groups; stratified by ``stratify`` when that column exists."""
    from sklearn.model_selection import StratifiedGroupKFold

    stratify = stratify if stratify and stratify in m.df.columns and m.df[stratify].notna().all() else None
    table = _group_table(m, by, None)
    if len(table) < k:
        raise SplitError(f"{len(table)} {by} group(s) cannot make {k} folds", hint="lower k")
    groups = m.df[by].to_numpy()
    if stratify:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        it = splitter.split(np.zeros(len(m)), m.df[stratify].astype(str).to_numpy(), groups)
    else:
        it = group_kfold_indices(groups, k, seed)
    folds = []
    for tr, te in it:
        train, test = m.subset(np.isin(np.arange(len(m)), tr)), m.subset(np.isin(np.arange(len(m)), te))
        assert_disjoint_groups({"train": train, "test": test}, by)
        folds.append((train, test))
    return folds


def split_by_column(m: Manifest, column: str = "split", by: str = "patient") -> dict[str, Manifest]:
    """The subsets a manifest's ``split`` column assigns (``train``, ``val``, ``test``; docs/data.md), each
    a manifest, checked: every row has one of those values and no ``by`` group spans two subsets
    (:class:`SplitError` naming the rows or the group)."""
    from .manifest import SPLIT_NAMES

    if column not in m.df.columns:
        raise SplitError(f"no '{column}' column", hint="add one (train / val / test) or split with train_val_test_split")
    values = m.df[column]
    bad = m.df.index[~values.isin(SPLIT_NAMES)]
    if len(bad):
        lines = [m.line(i) for i in bad[:5]]
        where = ", ".join(f"line {ln}" if ln is not None else f"row {i}" for i, ln in zip(bad[:5], lines))
        raise SplitError(f"{len(bad)} row(s) have a '{column}' value that is not one of {list(SPLIT_NAMES)} "
                         f"({where}: {sorted(set(map(str, values[bad[:5]])))})",
                         hint="write train, val or test in every row (lower case)")
    out = {name: m.subset(values == name) for name in SPLIT_NAMES if (values == name).any()}
    assert_disjoint_groups(out, by)
    return out


def centre_split(m: Manifest, external: Sequence[str], internal_test: float = 0.2, val: float = 0.0,
                 by: str = "patient", stratify: str | None = "label", seed: int = 0) -> dict[str, Manifest]:
    """Centre-wise split: ``external`` centres form ``external_test``; the other centres are split by
    ``by`` into ``train`` (, ``val``) and ``internal_test``, like the gastric paper's internal and
    external hospitals."""
    if "centre" not in m.df.columns:
        raise SplitError("no 'centre' column", hint="centre-wise splits need a centre per row")
    centres = set(m.df["centre"].dropna().unique())
    unknown = [c for c in external if c not in centres]
    if unknown:
        raise SplitError(f"unknown external centre(s) {unknown}", hint=f"centres: {sorted(centres)}")
    if not set(centres) - set(external):
        raise SplitError("every centre is external: nothing left to train on")
    is_ext = m.df["centre"].isin(set(external))
    inside = m.subset(~is_ext)
    parts = train_val_test_split(inside, val=val, test=internal_test, by=by, stratify=stratify, seed=seed)
    out = {"train": parts["train"]}
    if "val" in parts:
        out["val"] = parts["val"]
    out["internal_test"] = parts["test"]
    out["external_test"] = m.subset(is_ext)
    assert_disjoint_groups(out, by)
    assert_disjoint_groups({"internal": inside, "external": out["external_test"]}, "centre")
    return out


def edd2020_centre_split(m: Manifest, internal_test: float = 0.25, seed: int = 0) -> dict[str, Manifest]:
    """The named EDD2020 split: centre AJ external (see ``EDD2020_EXTERNAL_CENTRES``), the rest internal."""
    from .loaders import EDD2020_EXTERNAL_CENTRES

    return centre_split(m, EDD2020_EXTERNAL_CENTRES, internal_test=internal_test, seed=seed)
