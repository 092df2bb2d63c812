"""The comparison report on gastric phantoms, where the best achievable classifier (the Bayes rule) is known."""

import numpy as np
import pytest

from explainendo.evaluate import compare_models
from explainendo.synth import phantoms as synth


@pytest.fixture(scope="module")
def phantoms():
    return synth.generate("gastric", 200, seed=0, size=64)


def test_bayes_rule_against_a_one_attribute_rule(phantoms):
    table = phantoms.table
    neg, pos = phantoms.rule.labels
    prob = table["label_probability"].to_numpy()
    bayes = np.where(prob >= 0.5, pos, neg)
    rough = (table["attr.surface"] == "rough").to_numpy()
    one_attr = np.where(rough, pos, neg)
    comp = compare_models(table["label"].to_numpy(),
                          {"bayes": (bayes, prob), "surface only": (one_attr, rough.astype(float))},
                          positive=pos, groups=table["patient"].to_numpy(), n_boot=400, seed=0,
                          title="Gastric phantoms")
    res = comp.results.set_index(["model", "metric"])
    # the table's accuracy of the Bayes rule is the phantom set's own empirical Bayes rate
    assert res.loc[("bayes", "accuracy"), "value"] == pytest.approx(phantoms.empirical_bayes_rate)
    assert res.loc[("bayes", "auc"), "ci_method"] == "cluster bootstrap"
    assert comp.bootstrap["n_groups"] == table["patient"].nunique()
    # nothing beats the Bayes rule's ranking by much on its own labels
    assert res.loc[("bayes", "auc"), "value"] >= res.loc[("surface only", "auc"), "value"] - 0.02
    assert set(comp.tests["metric"]) == {"accuracy", "sensitivity", "specificity", "ppv", "npv", "auc"}
    assert comp.tests["pvalue"].between(0, 1).all()
    assert "Gastric phantoms" in comp.to_markdown()
