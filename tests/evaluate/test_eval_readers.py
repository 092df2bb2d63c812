"""Reader-study helpers: per-reader metrics, the man-machine table, agreement, with/without AI."""

import numpy as np
import pytest
from scipy import stats

from explainendo.errors import EvaluationError
from explainendo.evaluate import (
    EXPERIENCE_LEVELS,
    accuracy_with_without_ai,
    binary_metrics,
    compare_reader_groups,
    fleiss_kappa,
    man_machine_table,
    mcnemar_test,
    reader_agreement,
    reader_metrics,
)


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(5)
    n = 120
    y = rng.integers(0, 2, n)
    readers = {f"r{i}": np.where(rng.random(n) < 0.6 + 0.045 * i, y, 1 - y) for i in range(8)}
    levels = {f"r{i}": EXPERIENCE_LEVELS[i // 2] for i in range(8)}
    model = np.where(rng.random(n) < 0.88, y, 1 - y)
    return y, readers, levels, model


def test_reader_metrics_equal_binary_metrics_and_mcnemar(study):
    y, readers, levels, model = study
    table = reader_metrics(y, readers, levels=levels, model=("hybrid", model)).set_index("reader")
    assert list(table.index) == list(readers) + ["hybrid"]
    ref = binary_metrics(y, readers["r3"]).set_index("metric")
    assert table.loc["r3", "sensitivity"] == pytest.approx(ref.loc["sensitivity", "value"])
    assert table.loc["r3", "npv_high"] == pytest.approx(ref.loc["npv", "ci_high"])
    assert table.loc["r3", "p_accuracy_vs_model"] == pytest.approx(
        mcnemar_test(readers["r3"] == y, model == y).pvalue)
    assert table.loc["hybrid", "level"] == "model"


def test_man_machine_table_mean_sd_by_level(study):
    y, readers, levels, model = study
    table = man_machine_table(y, readers, levels, model=("hybrid", model))
    assert list(table.index) == ["novice", "junior", "senior", "expert", "all readers", "hybrid"]
    acc = [np.mean(readers[r] == y) for r in ("r6", "r7")]
    assert table.loc["expert", "Accuracy"] == f"{100 * np.mean(acc):.1f} ± {100 * np.std(acc, ddof=1):.1f}"
    assert table.loc["all readers", "n_readers"] == 8
    model_acc = np.mean(model == y)
    assert table.loc["hybrid", "Accuracy"].startswith(f"{100 * model_acc:.1f} [")
    with pytest.raises(EvaluationError, match="without a level"):
        man_machine_table(y, readers, {"r0": "novice"})


def test_reader_agreement(study):
    y, readers, levels, _ = study
    out = reader_agreement(readers, levels).set_index("group")
    table = np.column_stack([readers[r] for r in readers])
    assert out.loc["all readers", "kappa"] == pytest.approx(fleiss_kappa(table))
    assert out.loc["expert", "kappa"] == pytest.approx(fleiss_kappa(np.column_stack([readers["r6"], readers["r7"]])))
    assert out.loc["expert", "n_readers"] == 2
    same = {"a": np.ones(5, int), "b": np.ones(5, int)}
    assert np.isnan(reader_agreement(same).loc[0, "kappa"])  # undefined, reported as NaN


def test_with_without_ai_and_group_comparison(study):
    y, readers, levels, model = study
    rng = np.random.default_rng(9)
    with_ai = {r: np.where(rng.random(len(y)) < 0.3, y, calls) for r, calls in readers.items()}
    table, test = accuracy_with_without_ai(y, readers, with_ai, levels=levels)
    assert (table["change"] >= 0).all()
    ref = stats.wilcoxon(table["accuracy_with"] - table["accuracy_without"])
    assert test.pvalue == pytest.approx(ref.pvalue)
    values = dict(zip(table["reader"], table["accuracy_without"]))
    res = compare_reader_groups(values, levels, "novice", "expert")
    assert res.pvalue == pytest.approx(stats.mannwhitneyu([values["r0"], values["r1"]],
                                                          [values["r6"], values["r7"]]).pvalue)
    with pytest.raises(EvaluationError, match="readers differ"):
        accuracy_with_without_ai(y, readers, {"r0": readers["r0"]})
    with pytest.raises(EvaluationError, match="no readers"):
        compare_reader_groups(values, levels, "novice", "attending")
