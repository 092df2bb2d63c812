"""Trust metrics (explainendo.explain.metrics) against cases with known answers, on tiny real models."""

import numpy as np
import pandas as pd
import pytest

from explainendo.errors import ConfigError, EvaluationError
from explainendo.explain import metrics as M
from explainendo.types import Box


# ------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def phantoms():
    from explainendo.synth import generate

    return generate("gastric", 16, seed=0, size=96).to_samples()


@pytest.fixture(scope="module")
def heads(phantoms):
    """Two crop heads on a random-init ResNet-18 at 96 px (a 3x3 feature map), one epoch."""
    from explainendo.heads import AttributeHeads
    from explainendo.specs import GASTRIC_ATTRIBUTES
    from explainendo.training import Training

    specs = [s for s in GASTRIC_ATTRIBUTES if s.name in ("bleeding", "tone")]
    return AttributeHeads(specs, backbone="resnet18", pretrained=False, image_size=96, seed=0,
                          training=Training(epochs=1, batch_size=8, num_threads=1)).fit(phantoms)


@pytest.fixture(scope="module")
def cnn(phantoms):
    from explainendo.heads import AttributeHeads
    from explainendo.predict import CNNClassifier
    from explainendo.training import Training

    network = AttributeHeads(backbone="resnet18", pretrained=False, image_size=32, seed=0,
                             training=Training(epochs=1, batch_size=8, num_threads=1))
    return CNNClassifier(network=network).fit(phantoms)


# -------------------------------------------------------------------------------------- pointing game
def test_pointing_game_perfect_map_hits_and_random_map_hits_at_the_box_share():
    box = Box(8, 4, 16, 16)  # 8 x 12 px of a 32 x 32 image: share 96 / 1024
    perfect = np.zeros((32, 32))
    perfect[4:16, 8:16] = 1.0
    assert M.pointing_game(perfect, box) == 1.0
    rng = np.random.default_rng(0)
    hits = [M.pointing_game(rng.random((32, 32)), box) for _ in range(3000)]
    assert np.mean(hits) == pytest.approx(96 / 1024, abs=0.02)
    assert M.box_agreement([perfect], [box])["pointing"].tolist() == [1.0]


def test_pointing_game_scales_a_small_map_to_the_image_and_honours_the_tolerance():
    cam = np.zeros((4, 4))
    cam[1, 2] = 1.0  # the cell centred at (20, 12) on a 32 x 32 image
    assert M.pointing_game(cam, Box(16, 8, 24, 16), shape=(32, 32)) == 1.0
    assert M.pointing_game(cam, Box(0, 24, 8, 32), shape=(32, 32)) == 0.0
    far = Box(26, 12, 30, 14)  # 6 px to the right of the peak
    assert M.pointing_game(cam, far, shape=(32, 32)) == 0.0
    assert M.pointing_game(cam, far, shape=(32, 32), tolerance=6.5) == 1.0
    assert np.isnan(M.pointing_game(np.zeros((4, 4)), far))
    with pytest.raises(EvaluationError, match="NaN"):
        M.pointing_game(np.full((4, 4), np.nan), far)


def test_box_auc_known_answers_and_invariance_to_sharpening():
    box = Box(8, 4, 16, 16)
    perfect = np.zeros((32, 32))
    perfect[4:16, 8:16] = 1.0
    assert M.box_auc(perfect, box) == 1.0 and M.box_auc(1.0 - perfect, box) == 0.0
    assert np.isnan(M.box_auc(np.ones((32, 32)), box)) and np.isnan(M.box_auc(perfect, Box(0, 0, 32, 32)))
    rng = np.random.default_rng(0)
    assert np.mean([M.box_auc(rng.random((32, 32)), box) for _ in range(200)]) == pytest.approx(0.5, abs=0.01)
    # by hand: inside values {3, 1}, outside {2, 0}: pairs (3>2, 3>0, 1<2, 1>0) -> 3 of 4
    tiny = np.array([[3.0, 2.0], [1.0, 0.0]])
    assert M.box_auc(tiny, Box(0, 0, 1, 2)) == pytest.approx(0.75)
    blurred = rng.random((8, 8)) + np.outer(np.hanning(8), np.hanning(8))
    squared = blurred ** 2
    assert M.box_auc(squared, box, shape=(32, 32)) == pytest.approx(M.box_auc(blurred, box, shape=(32, 32)), abs=0.02)
    assert M.box_heat(squared, box, shape=(32, 32))["ratio"] != pytest.approx(
        M.box_heat(blurred, box, shape=(32, 32))["ratio"], abs=0.02)
    assert M.box_agreement([perfect], [box])["auc"].tolist() == [1.0]


def test_box_heat_reuses_region_heat_and_scales_small_maps():
    box = Box(0, 0, 16, 16)  # a quarter of 32 x 32
    uniform = M.box_heat(np.ones((32, 32)), box)
    assert uniform["area"] == pytest.approx(0.25) and uniform["ratio"] == pytest.approx(1.0)
    small = np.zeros((2, 2))
    small[0, 0] = 1.0
    inside = M.box_heat(small, box, shape=(32, 32))  # resized to 32 x 32 first: most heat in the quarter
    assert inside["heat"] > 0.7 and inside["ratio"] > 2.8
    with pytest.raises(EvaluationError, match="non-negative"):
        M.box_heat(-np.ones((4, 4)), box)
    crop_box = M.crop_coordinates(Box(40, 40, 60, 60), Box(40, 40, 60, 60), (100, 100), enlarge=2.0)
    assert (crop_box.x1, crop_box.y1, crop_box.x2, crop_box.y2) == (10, 10, 30, 30)


# ----------------------------------------------------------------------------------- deletion / insertion
def test_deletion_and_insertion_auc_by_hand_on_a_2x2_image_in_one_call():
    image = np.array([[1.0, 2.0], [3.0, 4.0]])
    saliency = np.array([[0.1, 0.9], [0.5, 0.3]])  # order: 2, 3, 4, 1
    calls = []

    def total(batch):
        calls.append(len(batch))
        return batch.reshape(len(batch), -1).sum(1)

    result = M.DeletionInsertion(total, steps=4, baseline="black")(image, saliency)
    assert calls == [10]  # both curves, five steps each, one call
    np.testing.assert_allclose(result.deletion, [10, 8, 5, 1, 0])
    np.testing.assert_allclose(result.insertion, [0, 2, 5, 9, 10])
    assert result.deletion_auc == pytest.approx(0.25 * (9 + 6.5 + 3 + 0.5))
    assert result.insertion_auc == pytest.approx(0.25 * (1 + 3.5 + 7 + 9.5))
    assert M.curve_auc([1, 1]) == 1.0


def test_a_map_of_the_pixels_the_score_reads_beats_a_random_map():
    rng = np.random.default_rng(0)
    image = rng.integers(100, 256, size=(24, 24, 3), dtype=np.uint8)
    region = np.zeros((24, 24), bool)
    region[4:10, 12:20] = True

    def brightness(batch):  # reads only the region
        return batch[:, region].reshape(len(batch), -1).mean(1) / 255.0

    metric = M.DeletionInsertion(brightness, steps=24, baseline="black")
    exact = metric(image, region.astype(float))
    random = [metric(image, rng.random((24, 24))) for _ in range(5)]
    assert exact.deletion_auc < 0.2 < min(r.deletion_auc for r in random)
    assert exact.insertion_auc > 0.5 > max(r.insertion_auc for r in random)
    for baseline in ("mean", "blur"):  # the default and RISE's insertion start keep the ordering
        other = M.DeletionInsertion(brightness, steps=24, baseline=baseline)
        assert other(image, region.astype(float)).deletion_auc < other(image, rng.random((24, 24))).deletion_auc
    with pytest.raises(ConfigError, match="baseline"):
        M.DeletionInsertion(brightness, baseline="zeros")(image, region)
    with pytest.raises(EvaluationError, match="scores"):
        M.DeletionInsertion(lambda b: np.zeros(3), steps=2)(image, region)


def test_head_and_classifier_scores_feed_deletion_insertion(heads, cnn, phantoms):
    crop = phantoms.crops[0]
    score = M.HeadScore(heads, "tone", "reddened")
    direct = heads.predict_proba(phantoms.subset([0]))["tone"][0, 1]
    assert score(np.stack([crop]))[0] == pytest.approx(direct, abs=1e-6)
    cam = heads.gradcam(phantoms.subset([0]), attributes=["tone"])["tone"][0]
    result = M.DeletionInsertion(score, steps=8)(crop, cam)
    assert result.deletion[0] == pytest.approx(direct, abs=1e-6)  # nothing deleted yet
    assert result.insertion[-1] == pytest.approx(direct, abs=1e-6)  # everything inserted
    assert result.deletion[-1] == pytest.approx(result.insertion[0], abs=1e-6)  # both the baseline
    assert 0 <= result.deletion_auc <= 1 and 0 <= result.insertion_auc <= 1
    label = cnn.classes_[-1]
    probability = M.ClassifierScore(cnn, label)(np.stack([crop]))[0]
    assert probability == pytest.approx(cnn.predict_proba(phantoms.subset([0]))[0, -1], abs=1e-6)
    with pytest.raises(ConfigError, match="not a class"):
        M.ClassifierScore(cnn, "no such class")(np.stack([crop]))


# ---------------------------------------------------------------------------------------- sanity check
def test_heads_sanity_check_starts_at_one_changes_and_leaves_the_model_untouched(heads, phantoms):
    before = {k: v.clone() for k, v in heads.net_.state_dict().items()}
    samples = phantoms.subset(range(8))
    proba = heads.predict_proba(samples)["bleeding"]
    result = M.heads_sanity_check(heads, samples, "bleeding", seed=0)
    assert result.steps[:3] == ["trained", "heads.bleeding", "backbone.stages.4"] and len(result.steps) == 7
    first = result.spearman[0]
    assert np.isfinite(first).sum() >= 4 and np.allclose(first[np.isfinite(first)], 1.0)
    last = np.nanmean(result.spearman[-1]) if np.isfinite(result.spearman[-1]).any() else 0.0
    assert last < 0.9
    table = result.to_frame()
    assert list(table["randomised"])[0] == "trained" and table.loc[0, "spearman_mean"] == pytest.approx(1.0)
    assert "ssim_mean" in table and result.to_dict()["steps"] == result.steps
    after = heads.net_.state_dict()
    assert all(torch_equal(before[k], after[k]) for k in before)
    np.testing.assert_array_equal(heads.predict_proba(samples)["bleeding"], proba)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_reinitialise_is_seeded_and_leaves_the_global_rng_alone():
    import torch

    layer_a, layer_b = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    state = torch.random.get_rng_state()
    M.reinitialise(layer_a, seed=5)
    M.reinitialise(layer_b, seed=5)
    assert torch.equal(layer_a.weight, layer_b.weight)
    assert torch.equal(torch.random.get_rng_state(), state)

    class Bare(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(2))

    with pytest.raises(ConfigError, match="reset_parameters"):
        M.reinitialise(Bare(), seed=0)


# ------------------------------------------------------------------------------------ feature groups
def _linear_case(seed: int = 0):
    from explainendo.explain.grouped_shap import GroupedShapExplainer
    from explainendo.fit.fitters import logistic_regression

    rng = np.random.default_rng(seed)
    columns = ["a.x", "a.y", "b.x", "c.x"]
    X = pd.DataFrame(rng.normal(size=(80, 4)), columns=columns)
    y = (X["a.x"] + 2 * X["b.x"] - X["c.x"] + rng.normal(scale=0.5, size=80) > 0).astype(int).to_numpy()
    fitter = logistic_regression().fit(X.to_numpy(), y)
    groups = {"a": ["a.x", "a.y"], "b": ["b.x"], "c": ["c.x"]}
    explainer = GroupedShapExplainer(fitter, X.to_numpy(), columns, groups)
    return X, y, fitter, groups, explainer


def test_grouped_deletion_on_a_linear_model_matches_hand_values():
    X, _, fitter, groups, explainer = _linear_case()
    rows = X.iloc[:10]
    shap = explainer.explain(rows.to_numpy()).group_values
    result = M.grouped_deletion(lambda A: explainer.model_output(A), rows, groups, X, shap)
    scale, model = fitter.steps[0][1], fitter.steps[-1][1]
    w = model.coef_[0] / scale.scale_  # log-odds = w . x + const
    diff = rows.to_numpy() - X.to_numpy().mean(0)
    hand = np.stack([diff[:, [0, 1]] @ w[[0, 1]], diff[:, 2] * w[2], diff[:, 3] * w[3]], 1)
    np.testing.assert_allclose(result.drops.to_numpy(), hand, atol=1e-8)
    np.testing.assert_allclose(result.drops.to_numpy(), shap.to_numpy(), atol=1e-6)  # linear SHAP itself
    assert result.overall == pytest.approx(1.0) and np.allclose(result.per_lesion(), 1.0)
    by_rows = M.grouped_deletion(lambda A: explainer.model_output(A), rows, groups, X.iloc[:7], shap, replace="rows")
    by_mean = M.grouped_deletion(lambda A: explainer.model_output(A), rows, groups, X.iloc[:7], shap)
    np.testing.assert_allclose(by_rows.drops, by_mean.drops, atol=1e-8)  # linear: mean of outputs = output of mean
    assert set(result.to_dict()) >= {"overall_spearman", "mean_spearman", "drops"}
    with pytest.raises(EvaluationError, match="missing"):
        M.grouped_deletion(lambda A: A[:, 0], rows, {"d": ["d.x"]}, X, shap)


@pytest.fixture(scope="module")
def hybrid():
    from explainendo.features import LesionSamples
    from explainendo.predict import HybridPredictor, InSample
    from explainendo.sources import ColumnFeatures

    X, y, *_ = _linear_case(1)
    table = X.rename(columns=lambda c: c.replace(".", "_")).assign(
        label=np.where(y == 1, "pos", "neg"), patient=[f"p{i}" for i in range(len(X))])
    crops = [np.zeros((8, 8, 3), np.uint8)] * len(X)
    samples = LesionSamples(crops=crops, boxes=[Box(0, 0, 8, 8)] * len(X), table=table)
    model = HybridPredictor([ColumnFeatures(["a_x", "a_y", "b_x", "c_x"])], fitter="logistic_regression",
                            stacking=InSample(), positive_label="pos").fit(samples)
    return model, samples


def test_fitter_sanity_check_and_hybrid_grouped_deletion(hybrid):
    model, samples = hybrid
    coef = model.fitter_.steps[-1][1].coef_.copy()
    result = M.fitter_sanity_check(model, samples.subset(range(20)), method="coefficients", repeats=3, seed=0)
    assert np.allclose(result.spearman[0], 1.0)
    assert np.nanmean(result.spearman[1:]) < 0.9
    assert result.to_frame()["randomised"].tolist()[1] == "coefficients draw 1"
    features = model.features(samples)
    shuffled = M.fitter_sanity_check(model, features.iloc[:20], method="labels", X=features,
                                     y=samples.table["label"], repeats=2)
    assert np.nanmean(shuffled.spearman[1:]) < 0.9
    np.testing.assert_array_equal(model.fitter_.steps[-1][1].coef_, coef)  # the user's fitter is untouched
    with pytest.raises(ConfigError, match="X and labels"):
        M.fitter_sanity_check(model, features, method="labels")
    deletion = M.hybrid_grouped_deletion(model, samples.subset(range(20)))
    assert list(deletion.drops.columns) == list(model.groups_)
    assert deletion.overall == pytest.approx(1.0, abs=1e-6)  # LR: drops in log-odds are the linear SHAP values
