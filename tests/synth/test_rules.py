import math

import numpy as np
import pandas as pd
import pytest

from explainendo.errors import ConfigError
from explainendo.synth.rules import LogisticRule, OrdinalLogisticRule, sample_attributes


def test_bayes_rate_matches_a_case_worked_by_hand():
    # x in {a, b} with P = 0.5 each; logit = -ln 3 + ln 3 [x = b]
    # p(pos | a) = 1/(1+3) = 0.25 -> best accuracy 0.75; p(pos | b) = 0.5 -> 0.5
    # Bayes rate = 0.5 * 0.75 + 0.5 * 0.5 = 0.625; P(pos) = 0.5 * 0.25 + 0.5 * 0.5 = 0.375
    rule = LogisticRule({("x", "b"): math.log(3)}, -math.log(3), {"x": {"a": 0.5, "b": 0.5}})
    assert rule.probability({"x": "a"}) == pytest.approx(0.25)
    assert rule.probability({"attr.x": "b"}) == pytest.approx(0.5)
    assert rule.bayes_rate() == pytest.approx(0.625)
    assert rule.positive_rate() == pytest.approx(0.375)


def test_bayes_rate_two_causal_attributes_and_a_noise_attribute():
    # logit = ln 4 [y = 1] - ln 4 [z = 1]; P(y=1) = 0.3, P(z=1) = 0.5; w is not causal
    # (y,z) = (1,0): p = 0.8 -> 0.8 ; (1,1): p = 0.5 -> 0.5 ; (0,0): 0.5 ; (0,1): p = 0.2 -> 0.8
    # Bayes = 0.15*0.8 + 0.15*0.5 + 0.35*0.5 + 0.35*0.8 = 0.65
    marg = {"y": {"0": 0.7, "1": 0.3}, "z": {"0": 0.5, "1": 0.5}, "w": {"p": 0.9, "q": 0.1}}
    rule = LogisticRule({("y", "1"): math.log(4), ("z", "1"): -math.log(4), ("w", "q"): 0.0}, 0.0, marg)
    assert rule.causal_attributes == ("y", "z")
    assert rule.bayes_rate() == pytest.approx(0.65)
    table = pd.DataFrame({"attr.y": ["1", "1", "0"], "attr.z": ["0", "1", "1"], "attr.w": ["p", "q", "q"]})
    np.testing.assert_allclose(rule.probability(table), [0.8, 0.5, 0.2])
    # the empirical Bayes-classifier accuracy on drawn labels approaches the exact rate
    rng = np.random.default_rng(0)
    big = sample_attributes(marg, 40000, rng)
    labels = rule.sample_labels(big, rng)
    p = rule.probability(big)
    acc = np.mean(np.where(p >= 0.5, "positive", "negative") == labels)
    assert acc == pytest.approx(0.65, abs=0.01)
    assert "ln" not in rule.describe() and "Bayes rate = 0.6500" in rule.describe()


def test_bad_rules_are_refused_with_config_errors():
    with pytest.raises(ConfigError, match="sums to"):
        LogisticRule({}, 0.0, {"x": {"a": 0.5, "b": 0.6}})
    with pytest.raises(ConfigError, match="not a value"):
        LogisticRule({("x", "c"): 1.0}, 0.0, {"x": {"a": 0.5, "b": 0.5}})
    with pytest.raises(ConfigError, match="no marginal"):
        LogisticRule({("q", "a"): 1.0}, 0.0, {"x": {"a": 0.5, "b": 0.5}})
    rule = LogisticRule({("x", "b"): 1.0}, 0.0, {"x": {"a": 0.5, "b": 0.5}})
    with pytest.raises(ConfigError, match="no column"):
        rule.probability(pd.DataFrame({"attr.other": ["a"]}))


def test_ordinal_rule_classes_sum_to_one_and_binary_is_first_class_against_rest():
    marg = {"s": {"small": 0.5, "large": 0.5}}
    rule = OrdinalLogisticRule({("s", "small"): 2.0}, (0.0, 1.0, 2.0), marg,
                               ("easy", "slow", "extra", "failure"), ("easy", "difficult"))
    probs = rule.class_probabilities({"s": "small"})[0]
    assert probs.sum() == pytest.approx(1.0)
    # P(easy | small) = sigmoid(0 - 2)
    assert probs[0] == pytest.approx(1 / (1 + math.exp(2)))
    assert rule.probability({"s": "small"}) == pytest.approx(1 - probs[0])
    # binary Bayes: small -> max(.881, .119); large -> P(easy) = 0.5
    assert rule.bayes_rate() == pytest.approx(0.5 * (1 / (1 + math.exp(-2))) + 0.5 * 0.5)
    drawn = rule.sample_classes(sample_attributes(marg, 2000, np.random.default_rng(1)), np.random.default_rng(2))
    assert set(drawn) <= set(rule.classes)
    with pytest.raises(ConfigError):
        OrdinalLogisticRule({}, (1.0, 0.0, 2.0), marg, ("a", "b", "c", "d"), ("a", "rest"))
