"""The harness end to end on a tiny phantom set: two real contenders, every split, every file."""

import json

import numpy as np
import pandas as pd
import pytest

import explainendo
from explainendo.bench import run_benchmark, shap_rule_recovery
from explainendo.errors import ConfigError, SplitError
from explainendo.features import LesionSamples
from explainendo.predict import HybridPredictor, InSample
from explainendo.io import train_val_test_split
from explainendo.sources.columns import ColumnFeatures
from explainendo.synth import make_phantoms


@pytest.fixture(scope="module")
def phantom_split(tmp_path_factory):
    manifest = make_phantoms("gastric", 96, tmp_path_factory.mktemp("bench"), seed=3, size=128)
    manifest.df["video"] = manifest.df["patient"]  # a phantom patient's views stand in for a video
    return train_val_test_split(manifest, val=0.0, test=0.35, seed=0)


RULE = ("tone", "surface", "boundary", "depression")


def _contenders():
    oracle = HybridPredictor([ColumnFeatures(["attr.tone", "attr.surface", "attr.boundary", "attr.depression",
                                              "attr.bleeding", "attr.elevation"])],
                             fitter="logistic_regression", stacking=InSample(), positive_label="neoplastic")
    nuisance = HybridPredictor([ColumnFeatures(["attr.bleeding", "attr.elevation"], name="nuisance")],
                               fitter="logistic_regression", stacking=InSample(), positive_label="neoplastic")
    return {"causal": oracle, "nuisance": nuisance}  # plain predictors: no adapter classes


def test_harness_trains_tests_and_reports_every_split(phantom_split, tmp_path):
    contenders = _contenders()
    given = {name: p.get_params(deep=True) for name, p in contenders.items()}
    result = run_benchmark(phantom_split["train"], {"internal": phantom_split["test"]}, contenders,
                           positive="neoplastic", out=tmp_path, latency_lesions=3, save_models=True, rule=RULE)
    # the harness trained clones: the predictors it was given are untouched
    assert all(not hasattr(p, "classes_") for p in contenders.values())
    assert {name: p.get_params(deep=True) for name, p in contenders.items()}.keys() == given.keys()
    assert set(result.reports) == {"internal", "internal video"}
    n_test = len(phantom_split["test"])
    assert len(result.predictions) == 2 * n_test
    scores = result.predictions.pivot_table(index="image", columns="model", values="score")
    truth = result.predictions.groupby("image")["y_true"].first()
    acc = {m: float(((scores[m] >= 0.5).astype(int) == truth).mean()) for m in scores}
    # the causal attributes carry the label; the nuisance ones are independent of it
    assert acc["causal"] > acc["nuisance"] + 0.1
    summary = result.summary()
    reported = summary[(summary["model"] == "causal") & (summary["metric"] == "accuracy")]
    assert np.isclose(reported[reported["split"] == "internal"]["value"].iloc[0], acc["causal"])
    report = (tmp_path / "report.md").read_text()
    for name in ("causal", "nuisance", "McNemar", "internal (lesion level)", "video level", "Latency"):
        assert name in report
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["meta"]["tests"] == {"internal": n_test}
    assert set(result.latency.index) == {"causal", "nuisance"} and (result.latency > 0).all().all()
    assert len(pd.read_csv(tmp_path / "predictions.csv")) == 2 * n_test
    # what each hybrid used, and whether SHAP's top groups are the generating rule (causal has two decoys)
    causal = result.findings["causal"]
    assert causal["fitter"] == "logistic_regression" and causal["stacking"]["mode"] == "unsupervised"
    assert causal["rule"]["n_correct"] == int(round(acc["causal"] * n_test))
    # 60 training lesions: the decoys sometimes edge out a weak rule attribute, never a strong one
    assert causal["rule"]["top_3_inside"] >= 0.8
    assert causal["rule"]["top_k_exact"] <= causal["rule"]["top_3_inside"]  # exact top-4 implies top-3 inside
    assert set(list(causal["rule"]["mean_abs_shap"])[:4]) == set(RULE)
    assert result.findings["nuisance"]["rule"]["top_k_exact"] == 0.0  # its groups are none of the rule's
    assert "exactly the rule's attributes" in report and saved["findings"]["causal"]["fitter"] == "logistic_regression"
    # what each hybrid's fitter saw: its training rows and the test features, beside the lesions' ids
    fitted = result.models["causal"]
    train_table = pd.read_csv(tmp_path / "features_causal_train.csv")
    test_table = pd.read_csv(tmp_path / "features_causal_internal.csv")
    assert len(train_table) == len(phantom_split["train"]) and len(test_table) == n_test
    columns = fitted.feature_columns_
    assert np.allclose(train_table[columns].to_numpy(float), fitted.training_features_.to_numpy(float))
    refit = fitted.predict_proba_features(test_table[columns])[:, fitted.classes_.index("neoplastic")]
    assert np.allclose(refit, scores.loc[test_table["image"], "causal"].to_numpy())
    assert {"patient", "label", "label_probability", "attr.tone"} <= set(test_table.columns)
    # the saved model is the one that was benchmarked
    reloaded = explainendo.load(tmp_path / "models" / "causal")
    samples = LesionSamples.from_manifest(phantom_split["test"])
    assert np.allclose(reloaded.predict_proba(samples)[:, reloaded.classes_.index("neoplastic")],
                       scores.loc[samples.table["image"], "causal"].to_numpy())
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["causal", "nuisance"]


def test_shap_rule_recovery_counts_exact_top_groups():
    shap = pd.DataFrame({"tone": [0.9, -0.8, 0.1], "surface": [-0.5, 0.7, 0.2], "bleeding": [0.1, 0.75, 0.9]})
    found = shap_rule_recovery(shap, ["tone", "surface"])
    assert found["n_correct"] == 3
    assert found["top_k_exact"] == pytest.approx(1 / 3)  # row 2: bleeding is second; row 3: bleeding first
    assert found["top_3_inside"] == pytest.approx(1 / 3)  # top-min(3, 2) = top-2 inside the rule
    assert list(found["mean_abs_shap"]) == ["tone", "bleeding", "surface"]


def test_harness_refuses_leaky_or_empty_setups(phantom_split, tmp_path):
    with pytest.raises(SplitError, match="patient"):
        run_benchmark(phantom_split["train"], {"leak": phantom_split["train"]}, _contenders(),
                      positive="neoplastic", out=tmp_path)
    with pytest.raises(ConfigError, match="no contenders"):
        run_benchmark(phantom_split["train"], {"internal": phantom_split["test"]}, {}, positive="neoplastic",
                      out=tmp_path)
    with pytest.raises(ConfigError, match="not a Predictor"):
        run_benchmark(phantom_split["train"], {"internal": phantom_split["test"]}, {"x": object()},
                      positive="neoplastic", out=tmp_path)


def test_findings_markdown_names_the_dropped_groups():
    from explainendo.bench import findings_markdown

    found = {"split": "internal", "fitter": "logistic_regression", "stacking": {"mode": "held_out"},
             "sources": [{"name": "attributes", "columns": 20, "groups": ["tone"]}], "dropped_groups": ["hog", "lbp"]}
    text = "\n".join(findings_markdown("hybrid", found))
    assert "feature groups dropped by grouped-CV elimination: hog, lbp" in text
    assert "dropped" not in "\n".join(findings_markdown("hybrid", {**found, "dropped_groups": []}))


def test_named_presets_build_checked_predictors_and_map_the_cli_flags():
    from explainendo.bench import BenchPreset, gastric_phantom_contenders, real_data_contenders
    from explainendo.predict import CNNClassifier, HeldOut, OutOfFold

    phantoms = gastric_phantom_contenders(BenchPreset(quick=True, seed=4, sole_backbones=("resnet18",), holdout=0.5))
    assert list(phantoms) == ["hybrid", "sole_dl_resnet18"]
    assert isinstance(phantoms["hybrid"].stacking, HeldOut) and phantoms["hybrid"].sources[0].seed == 4
    assert isinstance(phantoms["sole_dl_resnet18"], CNNClassifier)
    real = real_data_contenders("neoplastic", BenchPreset(quick=True, oof_folds=3, sole_backbones=()))
    assert list(real) == ["hybrid", "hybrid_handcrafted_only"] and real["hybrid"].stacking == OutOfFold(3) or \
        real["hybrid"].stacking.folds == 3
    for predictor in [*phantoms.values(), *real.values()]:
        predictor.check_params()
    with pytest.raises(ConfigError, match="give one"):
        gastric_phantom_contenders(BenchPreset(quick=True, holdout=0.5, oof_folds=3))


def _with_centres(manifest, k=3):
    """The phantom patients spread over ``k`` centres (a patient's lesions in one centre)."""
    patients = sorted(manifest.df["patient"].astype(str).unique())
    centre_of = {p: f"C{i % k}" for i, p in enumerate(patients)}
    manifest.df["centre"] = manifest.df["patient"].astype(str).map(centre_of)
    return manifest


def test_per_centre_report_and_group_shap_per_split(phantom_split, tmp_path):
    from explainendo.evaluate.classification import metrics_by_group

    train, test = _with_centres(phantom_split["train"]), _with_centres(phantom_split["test"])
    result = run_benchmark(train, {"internal": test}, _contenders(), positive="neoplastic", out=tmp_path,
                           latency_lesions=2)
    table = result.per_centre
    assert set(table["split"]) == {"internal"} and set(table["model"]) == {"causal", "nuisance"}
    # the per-centre figures are those of the predictions, centre by centre
    rows = result.predictions[result.predictions["model"] == "causal"]
    centre = test.df.set_index("image").loc[rows["image"], "centre"].to_numpy()
    expected = metrics_by_group(rows["y_true"].to_numpy(), {"causal": (rows["y_pred"].to_numpy(),
                                                                       rows["score"].to_numpy())}, centre)
    got = table[table["model"] == "causal"].set_index("group").loc[expected["group"]]
    assert np.allclose(got["accuracy"].to_numpy(), expected["accuracy"].to_numpy())
    assert np.allclose(got["n"].sum(), len(test))
    report = (tmp_path / "report.md").read_text()
    assert "## Per centre" in report and (tmp_path / "per_centre.csv").is_file()
    # the causal model's diagnoses are carried by the rule's attributes, not by the nuisance ones
    shap = result.group_shap["causal"]["internal"]
    assert set(shap.nlargest(2).index) <= {"tone", "surface", "boundary", "depression"}
    assert "mean |group SHAP|" in report


def test_centre_wise_leaves_each_centre_out(phantom_split, tmp_path):
    from explainendo.bench import run_centre_wise

    manifest = _with_centres(phantom_split["train"], k=3)
    result = run_centre_wise(manifest, _contenders(), positive="neoplastic", out=tmp_path)
    assert list(result.per_centre["group"].unique()) == ["C0", "C1", "C2"]
    causal = result.predictions[result.predictions["model"] == "causal"]
    assert len(causal) == len(manifest) and causal["image"].is_unique  # every lesion tested once, by one model
    per = result.per_centre.set_index(["group", "model"])
    for centre, part in causal.groupby("centre"):
        assert per.loc[(centre, "causal"), "accuracy"] == pytest.approx(float((part.y_pred == part.y_true).mean()))
    summary = result.summary.loc["causal"]
    assert summary["accuracy_mean"] == pytest.approx(per.xs("causal", level="model")["accuracy"].mean())
    assert summary["accuracy_mean"] > result.summary.loc["nuisance", "accuracy_mean"] + 0.1
    report = (tmp_path / "report.md").read_text()
    assert "Leave one centre out" in report and "Over the centres" in report and "McNemar" in report
    broken = _with_centres(phantom_split["train"], k=3)
    broken.df.loc[broken.df.index[0], "centre"] = None
    with pytest.raises(Exception, match="needs a 'centre' for every row"):
        run_centre_wise(broken, _contenders(), positive="neoplastic", out=tmp_path / "x")


def test_own_manifest_bench_with_a_named_hybrid_its_split_and_its_contenders_described(tmp_path):
    import yaml

    from explainendo.bench import BenchPreset, run_named_benchmark

    from hybrid_data import make_tiny_phantoms

    make_tiny_phantoms(tmp_path / "data", n=60, seed=2)
    df = pd.read_csv(tmp_path / "data" / "manifest.csv", dtype=str)
    df["split"] = ["test" if int(p[1:]) % 3 == 0 else "train" for p in df["patient"]]
    df.to_csv(tmp_path / "data" / "manifest.csv", index=False)
    config = {"model": {"kind": "diagnoser", "predictor": {
        "kind": "hybrid_predictor", "positive_label": "neoplastic", "stacking": {"kind": "in_sample"},
        "fitter": "logistic_regression", "sources": [{"kind": "columns", "columns": ["attr.tone", "attr.surface",
                                                                                     "size_mm"]}]}}}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    preset = BenchPreset(quick=True, sole_backbones=(), hybrid=str(tmp_path / "mine.yaml"))
    result = run_named_benchmark(str(tmp_path / "data" / "manifest.csv"), tmp_path / "out", preset,
                                 positive="neoplastic")
    assert result.meta["tests"] == {"internal": int((df["split"] == "test").sum())}  # the manifest's own split
    assert list(result.models) == ["hybrid"] and result.models["hybrid"].fitter_name_ == "logistic_regression"
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Contenders" in report and "HybridPredictor: sources [ColumnFeatures]" in report
    with pytest.raises(ConfigError, match="neither 'gastric' nor a config file"):
        BenchPreset(hybrid="nope.yaml").check()
    with pytest.raises(ConfigError, match="no such file"):
        BenchPreset(sole_backbones=("resnet50",), cnn_weights=(("resnet50", str(tmp_path / "x.pth")),)).check()


def test_contender_descriptions_say_how_each_cnn_starts():
    from explainendo.bench import BenchPreset, describe_contender, real_data_contenders

    real = real_data_contenders("neoplastic", BenchPreset(quick=True, sole_backbones=("resnet50", "efficientnet_lite0")))
    assert "random init" in describe_contender(real["sole_dl_resnet50"])
    assert "efficientnet_lite0 from ImageNet weights, 96 px, 3 epochs" in describe_contender(
        real["sole_dl_efficientnet_lite0"])
    assert "GroupEliminator" in describe_contender(real["hybrid"]) and "folds by patient" in describe_contender(
        real["hybrid"])


def test_centre_wise_reports_a_centre_that_cannot_train_a_contender_and_keeps_the_others(phantom_split, tmp_path):
    from explainendo.bench import run_centre_wise

    manifest = _with_centres(phantom_split["train"], k=3)
    negatives = manifest.df["label"] != "neoplastic"
    manifest.df.loc[negatives, "centre"] = "NEG"      # without NEG, the other centres hold one class only
    manifest.df.loc[~negatives, "centre"] = manifest.df.loc[~negatives, "centre"]
    result = run_centre_wise(manifest, _contenders(), positive="neoplastic", out=tmp_path)
    failed = {f["centre"] for f in result.meta["failures"]}
    assert failed == {"NEG"} and "only one label" in result.meta["failures"][0]["error"]
    assert "NEG" not in set(result.per_centre["group"]) and len(result.per_centre["group"].unique()) == 3
    assert "Centres left out" in (tmp_path / "report.md").read_text()
