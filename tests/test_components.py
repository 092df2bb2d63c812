"""The component contract on every registered kind: clone / get_params round trips; fit never mutates
what it was given; a toy predictor plugs into Diagnoser and the harness; YAML builds from the registry."""

import numpy as np
import pytest
from sklearn.base import clone

from explainendo.components import COMPONENTS, build_component, encode_value, list_components, register_component
from explainendo.engine import Diagnoser
from explainendo.errors import ConfigError
from explainendo.predict import Evidence, Predictor
from explainendo.predict.base import training_labels

from hybrid_data import make_tiny_phantoms

# kinds whose constructor needs an argument
NEEDS = {"columns": {"columns": ["size_mm"]}, "attribute_spec": {"name": "tone", "classes": ("a", "b")}}


@pytest.mark.parametrize("kind", list_components())
def test_every_kind_clones_and_round_trips_its_params_through_yaml(kind):
    cls = COMPONENTS.get(kind)
    obj = cls(**NEEDS.get(kind, {}))
    if hasattr(obj, "get_params"):
        assert clone(obj).get_params() == obj.get_params()
        assert type(clone(obj)) is cls
    spec = encode_value(obj)  # what a model folder and a YAML config hold
    rebuilt = build_component(spec)
    assert type(rebuilt) is cls and encode_value(rebuilt) == spec


@register_component("majority_test_predictor")
class Majority(Predictor):
    """A toy predictor: the training set's class frequencies for every lesion."""

    def __init__(self, smoothing: float = 0.0):
        self.smoothing = smoothing

    def fit(self, samples, *, unlabeled=None):
        self.classes_, y = training_labels(samples)
        counts = np.bincount(y, minlength=len(self.classes_)) + self.smoothing
        self.prior_ = counts / counts.sum()
        return self

    def predict_proba(self, samples):
        self._check_fitted()
        return np.tile(self.prior_, (len(samples), 1))

    def explain(self, samples, class_index=None, gradcam=True, features=None):
        proba = self.predict_proba(samples)
        return [Evidence(explained_class=self.classes_[c], output=float(proba[i, c]), explainer="prior")
                for i, c in enumerate(self._class_indices(proba, class_index))]

    def _save_state(self, directory):
        return {"classes": list(self.classes_), "prior": self.prior_.tolist()}

    def _load_state(self, state, directory):
        self.classes_, self.prior_ = list(state["classes"]), np.asarray(state["prior"])


def test_a_toy_predictor_plugs_into_diagnoser_and_harness_and_fit_mutates_nothing(tmp_path):
    import explainendo
    from explainendo.bench import run_benchmark
    from explainendo.io import train_val_test_split
    from explainendo.localize import WholeFrame

    manifest = make_tiny_phantoms(tmp_path / "data", n=40, seed=1)
    localizer, predictor = WholeFrame(remove_border=False), Majority(smoothing=1.0)
    model = Diagnoser(localizer=localizer, predictor=predictor)
    before = (model.get_params(deep=True), dict(localizer.__dict__), dict(predictor.__dict__), manifest.df.copy())
    model.fit(manifest)
    assert model.get_params(deep=True) == before[0] and localizer.__dict__ == before[1]
    assert predictor.__dict__ == before[2] and manifest.df.equals(before[3])  # the inputs are as they were
    assert model.predictor_ is not predictor  # a fitted clone
    assert model.localizer_ is localizer  # needs no training: used as given, and unchanged (above)
    results = model.predict(manifest.path(manifest.images()[0]))
    assert isinstance(results, list) and len(results) == 1 and results[0].label in model.classes_
    model.save(tmp_path / "m")
    assert explainendo.load(tmp_path / "m").predict(manifest.path(manifest.images()[0]))[0].to_dict() == \
        results[0].to_dict()
    split = train_val_test_split(manifest, val=0.0, test=0.3, seed=0)
    bench = run_benchmark(split["train"], {"internal": split["test"]}, {"majority": predictor},
                          positive="neoplastic", out=tmp_path / "bench", latency_lesions=2)
    assert set(bench.predictions["model"]) == {"majority"} and not hasattr(predictor, "classes_")


def test_unknown_kinds_and_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="unknown component kind"):
        build_component({"kind": "no_such_kind"})
    with pytest.raises(ConfigError, match="does not take"):
        build_component({"kind": "held_out", "fractoin": 0.5})
    with pytest.raises(ConfigError, match="cannot be written"):
        encode_value(object())


def test_a_bad_localizer_setting_is_refused_before_anything_trains(tmp_path):
    from explainendo.localize import SoftMaskLocalizer

    manifest = make_tiny_phantoms(tmp_path / "data", n=8, seed=2)
    predictor = Majority()
    with pytest.raises(ConfigError, match="multiple of 32"):
        Diagnoser(localizer=SoftMaskLocalizer(image_size=50), predictor=predictor).fit(manifest)
    assert not hasattr(predictor, "classes_")
