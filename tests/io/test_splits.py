import numpy as np
import pandas as pd
import pytest

from explainendo.errors import SplitError
from explainendo.io import (Manifest, assert_disjoint_groups, centre_split, edd2020_centre_split, group_kfold,
                            group_kfold_indices, load_edd2020, train_val_test_split)


def _manifest(n_patients=40, per=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        label = "pos" if p % 3 == 0 else "neg"
        for i in range(int(rng.integers(1, per + 2))):
            rows.append({"image": f"p{p}_{i}.png", "patient": f"p{p}", "label": label, "centre": f"c{p % 4}"})
    return Manifest(pd.DataFrame(rows), ".")


def test_train_val_test_keeps_patients_whole_and_stratifies():
    m = _manifest()
    s = train_val_test_split(m, val=0.2, test=0.2, seed=1)
    assert sum(len(v) for v in s.values()) == len(m)
    assert_disjoint_groups(s)
    for part in s.values():  # both labels present in every subset
        assert set(part.df["label"]) == {"pos", "neg"}
    assert 0.1 < len(s["test"]) / len(m) < 0.3
    again = train_val_test_split(m, val=0.2, test=0.2, seed=1)
    assert again["test"].df["image"].tolist() == s["test"].df["image"].tolist()  # seeded
    other = train_val_test_split(m, val=0.2, test=0.2, seed=2)
    assert other["test"].df["image"].tolist() != s["test"].df["image"].tolist()


def test_kfold_covers_every_row_once():
    m = _manifest()
    folds = group_kfold(m, k=5, seed=0)
    seen = pd.concat([te.df["image"] for _, te in folds])
    assert sorted(seen) == sorted(m.df["image"]) and len(folds) == 5
    for tr, te in folds:
        assert not set(tr.df["patient"]) & set(te.df["patient"])
    with pytest.raises(SplitError, match="cannot make 50 folds"):
        group_kfold(m, k=50)


def test_group_kfold_indices_keeps_groups_whole_and_is_seeded():
    rng = np.random.default_rng(0)
    groups = rng.choice([f"p{i}" for i in range(23)], size=200)  # unequal group sizes, shuffled rows
    folds = group_kfold_indices(groups, 5, seed=3)
    assert len(folds) == 5
    assert sorted(np.concatenate([te for _, te in folds]).tolist()) == list(range(200))  # each row tested once
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])  # no patient on both sides
        assert sorted(np.concatenate([tr, te]).tolist()) == list(range(200))
    again = group_kfold_indices(list(groups), 5, seed=3)  # any sequence; same seed, same folds
    assert all((a == c).all() and (b == d).all() for (a, b), (c, d) in zip(folds, again))
    other = group_kfold_indices(groups, 5, seed=4)
    assert any(set(groups[a]) != set(groups[c]) for (_, a), (_, c) in zip(folds, other))  # the seed matters
    assert len(group_kfold_indices(groups[:20], 50, seed=0)) == len(set(groups[:20]))  # fewer groups: fewer folds
    with pytest.raises(SplitError, match="1 patient group"):
        group_kfold_indices(["p0"] * 5, 3, hint="give more patients")
    with pytest.raises(SplitError, match="at least 2 folds"):
        group_kfold_indices(groups, 1)


def test_manifest_group_kfold_without_labels_uses_the_same_folds():
    m = _manifest()
    m = Manifest(m.df.drop(columns="label"), ".")
    by_manifest = group_kfold(m, k=4, seed=2)
    by_rows = group_kfold_indices(m.df["patient"].to_numpy(), 4, seed=2)
    for (_, te), (_, rows) in zip(by_manifest, by_rows):
        assert te.df["image"].tolist() == m.df["image"].iloc[rows].tolist()


def test_leak_detector_names_group():
    m = _manifest()
    a, b = m.subset(m.df["patient"].isin(["p0", "p1"])), m.subset(m.df["patient"].isin(["p1", "p2"]))
    with pytest.raises(SplitError, match="patient 'p1' is in both 'a' and 'b'"):
        assert_disjoint_groups({"a": a, "b": b})


def test_centre_split_and_errors():
    m = _manifest()
    s = centre_split(m, ["c3"], internal_test=0.25)
    assert set(s["external_test"].df["centre"]) == {"c3"}
    assert "c3" not in set(s["train"].df["centre"]) | set(s["internal_test"].df["centre"])
    with pytest.raises(SplitError, match="unknown external"):
        centre_split(m, ["zz"])
    with pytest.raises(SplitError, match="nothing left"):
        centre_split(m, ["c0", "c1", "c2", "c3"])
    with pytest.raises(SplitError, match="fractions"):
        train_val_test_split(m, val=0.6, test=0.5)


def test_edd2020_named_split(shared_data):
    m = load_edd2020(shared_data / "edd2020", neoplastic_label=True)
    m = m.subset(m.df["label"].notna())
    s = edd2020_centre_split(m)
    assert set(s["external_test"].df["centre"]) == {"AJ"}
    for part in s.values():
        assert set(part.df["label"]) == {"neoplastic", "non_neoplastic"}
