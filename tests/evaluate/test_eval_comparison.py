"""The model-comparison report: numbers equal the individual statistics, the markdown claims only numbers
the table holds, and the CSV / JSON / ROC outputs carry the same results."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from explainendo.errors import EvaluationError
from explainendo.evaluate import (
    aggregate_by_group,
    binary_metrics,
    chi_square_test,
    compare_models,
    compare_models_by_group,
    compare_splits,
    delong_test,
    mcnemar_test,
)

LABELS = np.array(["non_neoplastic", "neoplastic"])


def _two_models(seed=0, n=240):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s_h = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    s_d = np.clip(0.25 * y + 0.75 * rng.random(n), 0, 1)
    groups = np.array([f"video{i // 4}_{c}" for i, c in enumerate(y)])
    preds = {"hybrid": (LABELS[(s_h >= 0.5).astype(int)], s_h), "sole_dl": (LABELS[(s_d >= 0.5).astype(int)], s_d)}
    return LABELS[y], preds, groups


def test_table_values_equal_the_individual_statistics():
    y, preds, _ = _two_models()
    comp = compare_models(y, preds, positive="neoplastic")
    res = comp.results.set_index(["model", "metric"])
    for name, (calls, score) in preds.items():
        ref = binary_metrics(y, calls, positive="neoplastic", score=score).set_index("metric")
        for metric in ref.index:
            assert res.loc[(name, metric), "value"] == pytest.approx(ref.loc[metric, "value"])
            assert res.loc[(name, metric), "ci_low"] == pytest.approx(ref.loc[metric, "ci_low"])
    tests = comp.tests.set_index("metric")
    truth = y == "neoplastic"
    ok_h, ok_d = preds["hybrid"][0] == y, preds["sole_dl"][0] == y
    assert tests.loc["accuracy", "pvalue"] == pytest.approx(mcnemar_test(ok_h, ok_d).pvalue)
    assert tests.loc["sensitivity", "pvalue"] == pytest.approx(mcnemar_test(ok_h[truth], ok_d[truth]).pvalue)
    assert tests.loc["specificity", "pvalue"] == pytest.approx(mcnemar_test(ok_h[~truth], ok_d[~truth]).pvalue)
    called_h, called_d = preds["hybrid"][0] == "neoplastic", preds["sole_dl"][0] == "neoplastic"
    ppv = chi_square_test((called_h & truth).sum(), called_h.sum(), (called_d & truth).sum(), called_d.sum())
    assert tests.loc["ppv", "pvalue"] == pytest.approx(ppv.pvalue)
    npv = chi_square_test((~called_h & ~truth).sum(), (~called_h).sum(), (~called_d & ~truth).sum(), (~called_d).sum())
    assert tests.loc["npv", "pvalue"] == pytest.approx(npv.pvalue)
    auc = delong_test(y, preds["hybrid"][1], preds["sole_dl"][1], positive="neoplastic")
    assert tests.loc["auc", "pvalue"] == pytest.approx(auc.pvalue)
    assert list(comp.table.index) == ["Accuracy", "Sensitivity", "Specificity", "PPV", "NPV", "AUC"]


def _allowed_numbers(comp):
    """Every way the report may legitimately write a number held in the comparison."""
    allowed = {str(comp.n), str(comp.n_positive), str(comp.n_negative), f"{round(100 * comp.confidence)}"}
    allowed |= {"25", "5"}  # the rules quoted in the footnote: exact McNemar below 25 discordant, Fisher below 5
    for _, row in comp.results.iterrows():
        for col in ("value", "ci_low", "ci_high"):
            v = row[col]
            if not pd.isna(v):
                allowed |= {f"{100 * v:.{comp.decimals}f}", f"{v:.3f}"}
        for col in ("numerator", "denominator"):
            if not pd.isna(row[col]):
                allowed.add(str(int(row[col])))
    for p in comp.tests["pvalue"].dropna():
        allowed.add(f"{p:.3f}" if p >= 0.001 else "0.001")
    return allowed


@pytest.mark.parametrize("groups", [False, True])
def test_markdown_contains_only_numbers_from_the_table(groups):
    y, preds, g = _two_models(seed=1)
    comp = compare_models(y, preds, positive="neoplastic", groups=g if groups else None, n_boot=300,
                          title="Internal test")
    md = comp.to_markdown()
    claimed = re.findall(r"\d+(?:\.\d+)?", md.replace("n/N", ""))
    allowed = _allowed_numbers(comp) | {str(v) for v in (comp.bootstrap or {}).values()}
    missing = [num for num in claimed if num not in allowed]
    assert not missing, f"numbers in the report that the table does not hold: {missing}"
    # and every cell of the table is in the report
    for cell in comp.table.to_numpy().ravel():
        assert str(cell) in md
    if groups:
        assert "cluster bootstrap" in md


def test_csv_json_and_roc(tmp_path):
    y, preds, _ = _two_models(seed=2)
    comp = compare_models(y, preds, positive="neoplastic")
    back = pd.read_csv(comp.to_csv(tmp_path / "cmp.csv"))
    assert len(back) == 12
    merged = back.set_index(["model", "metric"])
    assert merged.loc[("hybrid", "accuracy"), "value"] == pytest.approx(
        comp.results.set_index(["model", "metric"]).loc[("hybrid", "accuracy"), "value"])
    assert merged.loc[("sole_dl", "auc"), "pvalue"] == pytest.approx(comp.tests.set_index("metric").loc["auc", "pvalue"])
    assert np.isnan(merged.loc[("hybrid", "auc"), "pvalue"])  # the reference has no test against itself
    data = json.loads(json.dumps(comp.to_dict()))
    assert data["models"] == ["hybrid", "sole_dl"] and data["n"] == 240
    fig = comp.plot_roc(tmp_path / "roc.png")
    assert (tmp_path / "roc.png").stat().st_size > 1000
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # two ROC curves and the diagonal
    assert "AUC" in ax.get_legend().get_texts()[0].get_text()
    files = comp.save(tmp_path / "report", stem="internal")
    assert sorted(p.name for p in files.values()) == ["internal.csv", "internal.json", "internal.md", "internal_roc.png"]
    assert files["markdown"].read_text() == comp.to_markdown()


def test_compare_splits_stacks_reports(tmp_path):
    y, preds, g = _two_models(seed=3)
    internal = compare_models(y[:120], {k: (p[:120], s[:120]) for k, (p, s) in preds.items()}, positive="neoplastic")
    external = compare_models(y[120:], {k: (p[120:], s[120:]) for k, (p, s) in preds.items()}, positive="neoplastic")
    video = compare_models_by_group(y, preds, groups=g, positive="neoplastic")
    report = compare_splits({"internal image": internal, "external image": external, "internal video": video})
    assert internal.title == "Model comparison"  # the caller's object is not renamed
    md = report.to_markdown()
    for title in ("## internal image", "## external image", "## internal video"):
        assert title in md
    assert report.table.index.get_level_values("Split").unique().tolist() == ["internal image", "external image",
                                                                               "internal video"]
    frame = pd.read_csv(report.to_csv(tmp_path / "splits.csv"))
    assert set(frame["split"]) == {"internal image", "external image", "internal video"}
    report.plot_roc(tmp_path / "roc.png")
    assert (tmp_path / "roc.png").exists()
    assert len(report.plot_roc().axes) == 3
    assert json.loads(report.save(tmp_path / "all")["json"].read_text())["splits"]["external image"]["n"] == 120
    json.dumps(report.to_dict())
    with pytest.raises(EvaluationError, match="different models"):
        compare_splits({"a": internal, "b": compare_models(y, {"hybrid": preds["hybrid"]}, positive="neoplastic")})


def test_video_level_equals_manual_aggregation():
    y, preds, g = _two_models(seed=4)
    video = compare_models_by_group(y, preds, groups=g, how="mean", positive="neoplastic")
    manual = {}
    for name, (_, s) in preds.items():
        agg = aggregate_by_group(y, s, g, how="mean", positive="neoplastic")
        manual[name] = (agg["y_pred"].to_numpy(), agg["score"].to_numpy())
        truth = agg["y_true"].to_numpy()
    ref = compare_models(truth, manual, positive="neoplastic")
    pd.testing.assert_frame_equal(video.results, ref.results)
    assert video.n == len(set(g))


def test_edge_cases():
    y = np.array([1, 1, 1, 0, 0, 0])
    # both models perfect: all p-values 1
    perfect = compare_models(y, {"a": (y, y * 0.9), "b": (y, y * 0.8 + 0.1)})
    assert (perfect.tests["pvalue"] == 1.0).all()
    # a model that never calls positive: its PPV is n/a, and so is the PPV test, with the reason kept
    never = compare_models(y, {"a": y, "b": np.zeros(6, int)})
    tests = never.tests.set_index("metric")
    assert np.isnan(tests.loc["ppv", "pvalue"]) and "no PPV" in tests.loc["ppv", "note"]
    assert never.table.loc["PPV", "b"].startswith("n/a")
    assert "AUC" not in never.table.index  # no scores, no AUC row
    # one model: a table without tests
    single = compare_models(y, {"only": y})
    assert single.tests.empty and list(single.table.columns) == ["only"]
    with pytest.raises(EvaluationError, match="both classes"):
        compare_models(np.ones(6), {"a": (np.ones(6), np.linspace(0, 1, 6))})
    with pytest.raises(EvaluationError, match="non-empty"):
        compare_models(y, {})
    with pytest.raises(EvaluationError, match="length"):
        compare_models(y, {"a": y[:-1]})
    with pytest.raises(EvaluationError, match="reference"):
        compare_models(y, {"a": y}, reference="b")
