"""The robustness test of Nguon et al. (EUS, Diagnostics 2021): each perturbation against hand values on tiny
images, and the evaluation on models whose behaviour is known (a model that reads only the centre of the frame
breaks when the lesion is shifted; one that reads the brightest pixel does not)."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from explainendo.engine import Diagnoser
from explainendo.errors import ConfigError, EvaluationError
from explainendo.evaluate import (Identity, Rescale, RobustnessReport, SectorCrop, Shift, default_perturbations,
                                  delong_ci, evaluate_robustness, wilson_interval)
from explainendo.io import Manifest
from explainendo.localize.base import Localizer
from explainendo.predict import Evidence, Predictor
from explainendo.predict.base import training_labels
from explainendo.types import Box

SIZE = 64
POSITIVE, NEGATIVE = "mucinous", "serous"


def _rgb(grey) -> np.ndarray:
    return np.repeat(np.asarray(grey, dtype=np.uint8)[:, :, None], 3, axis=2)


# ============================================================================ perturbations, by hand
def test_identity_leaves_image_and_box_unchanged():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    before = image.copy()
    out, box = Identity().apply(image, Box(1, 2, 5, 6))
    assert np.array_equal(out, image) and out is not image
    assert box.to_xyxy() == (1.0, 2.0, 5.0, 6.0)
    assert np.array_equal(image, before)  # the input is never modified
    assert Identity().apply(image)[1] is None


def test_rescale_zoom_in_crops_the_centre_and_enlarges_it():
    pattern = (np.arange(16).reshape(4, 4) * 10).astype(np.uint8)
    out, box = Rescale(2.0, resample="nearest").apply(_rgb(pattern), Box(1, 1, 3, 3))
    # the central 2x2 pixels fill the frame, each now 2x2
    assert np.array_equal(out[:, :, 0], np.kron(pattern[1:3, 1:3], np.ones((2, 2), np.uint8)))
    assert box.to_xyxy() == (0.0, 0.0, 4.0, 4.0)  # x' = cx + f (x - cx)
    assert Rescale(2.0).apply(_rgb(pattern), Box(0, 0, 1, 1))[1] is None  # a corner lesion leaves the frame


def test_rescale_zoom_out_shrinks_into_the_centre_and_pads_black():
    blocks = np.kron(np.array([[10, 20], [30, 40]]), np.ones((2, 2))).astype(np.uint8)
    out, box = Rescale(0.5, resample="box").apply(_rgb(blocks), Box(0, 0, 2, 2))
    expected = np.zeros((4, 4), np.uint8)
    expected[1:3, 1:3] = [[10, 20], [30, 40]]  # each 2x2 block averaged into one pixel
    assert np.array_equal(out[:, :, 0], expected)
    assert box.to_xyxy() == (1.0, 1.0, 2.0, 2.0)
    # the default (antialiased bilinear) keeps the same geometry: black outside the central half
    smooth, _ = Rescale(0.5).apply(_rgb(np.full((8, 8), 200, np.uint8)))
    assert (smooth[:2] == 0).all() and (smooth[6:] == 0).all() and (smooth[:, :2] == 0).all()
    assert (smooth[3:5, 3:5] == 200).all()


def test_rescale_maps_boxes_about_the_centre_and_one_changes_nothing():
    image = _rgb(np.random.default_rng(1).integers(0, 256, (8, 8)))
    assert Rescale(0.5).apply(image, Box(2, 2, 6, 6))[1].to_xyxy() == (3.0, 3.0, 5.0, 5.0)
    assert Rescale(1.5).apply(image, Box(2, 2, 6, 6))[1].to_xyxy() == (1.0, 1.0, 7.0, 7.0)
    assert Rescale(1.5).apply(image, Box(0, 2, 4, 6))[1].to_xyxy() == (0.0, 1.0, 4.0, 7.0)  # x1 = -2: clipped
    out, box = Rescale(1.0).apply(image, Box(2, 2, 6, 6))
    assert np.array_equal(out, image) and box.to_xyxy() == (2.0, 2.0, 6.0, 6.0)


def test_shift_moves_pixels_and_box_by_whole_pixels_with_black_fill():
    image = np.zeros((10, 10, 3), np.uint8)
    image[4, 3] = 200
    out, box = Shift(0.2, -0.1).apply(image, Box(3, 4, 4, 5))
    assert [tuple(p) for p in np.argwhere(out[:, :, 0])] == [(3, 5)]  # 2 columns right, 1 row up
    assert box.to_xyxy() == (5.0, 3.0, 6.0, 4.0)
    grey = _rgb(np.arange(100).reshape(10, 10) + 50)
    right, _ = Shift(0.2, 0.0).apply(grey)
    assert (right[:, :2] == 0).all() and np.array_equal(right[:, 2:], grey[:, :8])
    down, _ = Shift(0.0, 0.3).apply(grey)
    assert (down[:3] == 0).all() and np.array_equal(down[3:], grey[:7])
    # a box pushed partly out of the frame is clipped to what is left
    assert Shift(0.2, 0.0).apply(grey, Box(7, 0, 10, 2))[1].to_xyxy() == (9.0, 0.0, 10.0, 2.0)
    assert Shift(-0.5, 0.0).apply(grey, Box(0, 0, 4, 2))[1] is None
    # halves round away from zero, so +d and -d move by the same distance
    assert Shift(0.25).pixels(10, 10) == (3, 0) and Shift(-0.25).pixels(10, 10) == (-3, 0)
    assert Shift(0.1).pixels(30, 30) == (3, 0)


def test_sector_crop_blacks_out_exactly_the_margins():
    white = np.full((10, 10, 3), 255, np.uint8)
    out, box = SectorCrop(0.6).apply(white, Box(0, 0, 4, 4))
    expected = np.zeros((10, 10), bool)
    expected[2:8, 2:8] = True  # margin floor(0.4 * 10 / 2) = 2 on each side
    assert np.array_equal(out[:, :, 0] == 255, expected) and (out[~expected] == 0).all()
    assert box.to_xyxy() == (2.0, 2.0, 4.0, 4.0)
    assert SectorCrop(0.6).apply(white, Box(0, 0, 2, 2))[1] is None
    wide = np.full((6, 20, 3), 9, np.uint8)
    cropped, _ = SectorCrop(0.8).apply(wide)
    assert SectorCrop(0.8).margins(20, 6) == (2, 0)
    assert (cropped[:, :2] == 0).all() and (cropped[:, 18:] == 0).all() and (cropped[:, 2:18] == 9).all()
    assert np.array_equal(SectorCrop(1.0).apply(white)[0], white)


def test_perturbations_are_deterministic_and_validate_their_parameters():
    image = _rgb(np.random.default_rng(2).integers(0, 256, (16, 12)))
    for p in default_perturbations():
        a, b = p.apply(image, Box(3, 3, 9, 9)), p.apply(image, Box(3, 3, 9, 9))
        assert np.array_equal(a[0], b[0]) and a[1] == b[1] and a[0].shape == image.shape
    for bad in (lambda: Rescale(0), lambda: Rescale(-1.0), lambda: Rescale(float("nan")),
                lambda: Rescale(2, resample="cubic-ish"), lambda: SectorCrop(0), lambda: SectorCrop(1.2),
                lambda: Shift(1.0, 0), lambda: Shift(0, -1.5)):
        with pytest.raises(ConfigError):
            bad()


def test_default_grid_and_names():
    grid = default_perturbations()
    assert [p.name for p in grid] == [
        "identity", "rescale x0.5", "rescale x0.75", "rescale x1.25", "rescale x1.5", "sector 0.8", "sector 0.6",
        "shift dx=-0.2", "shift dx=-0.1", "shift dx=+0.1", "shift dx=+0.2",
        "shift dy=-0.2", "shift dy=-0.1", "shift dy=+0.1", "shift dy=+0.2"]
    assert [p.kind for p in grid].count("shift_x") == 4 and [p.kind for p in grid].count("shift_y") == 4
    assert Shift(dy=-0.2).level == -0.2 and Shift(0.3, 0.4).kind == "shift_xy"
    assert Shift(0.3, 0.4).level == pytest.approx(0.5)


# ============================================================================ the evaluation
def _write_cases(folder, n=20, seed=0, extra_rows=()):
    """n images of SIZE x SIZE: a grey background and a disc of radius 8 at the centre, bright (positive) or
    dim (negative); the manifest holds each disc's box."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (xx + 0.5 - SIZE / 2) ** 2 + (yy + 0.5 - SIZE / 2) ** 2 <= 8 ** 2
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        image = np.full((SIZE, SIZE), 30, np.uint8)
        image[disc] = rng.integers(180, 250) if positive else rng.integers(50, 100)
        name = f"case_{i:02d}.png"
        Image.fromarray(_rgb(image)).save(folder / name)
        rows.append({"image": name, "patient": f"p{i}", "label": POSITIVE if positive else NEGATIVE,
                     "x1": 24.0, "y1": 24.0, "x2": 40.0, "y2": 40.0})
    rows += list(extra_rows)
    return Manifest(pd.DataFrame(rows), folder, name="robustness-test")


def centre_model(images):
    """Reads only the central 8x8 patch: blind to a lesion moved away from the centre."""
    c = SIZE // 2
    return np.array([im[c - 4:c + 4, c - 4:c + 4].mean() / 255.0 for im in images])


def max_model(images):
    """Reads the brightest pixel anywhere: indifferent to where the lesion is."""
    return np.array([im.max() / 255.0 for im in images])


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return _write_cases(tmp_path_factory.mktemp("robustness") / "data")


@pytest.fixture(scope="module")
def centre_report(cases):
    return evaluate_robustness(centre_model, cases, positive=POSITIVE, progress=False)


def test_centre_reading_model_is_perfect_unperturbed_and_breaks_when_the_lesion_is_shifted(centre_report):
    report = centre_report
    table = report.table.set_index("perturbation")
    assert list(table.index) == [p.name for p in default_perturbations()]
    assert table.loc["identity", "accuracy"] == 1.0 and table.loc["identity", "auc"] == 1.0
    assert table.loc["identity", "n"] == 20 and table.loc["identity", "n_positive"] == 10
    for name in ("shift dx=-0.2", "shift dx=+0.2", "shift dy=-0.2", "shift dy=+0.2"):
        assert table.loc[name, "accuracy_drop"] > 0.02 and table.loc[name, "breaks"]
        assert table.loc[name, "accuracy"] == 0.5  # every positive now reads as background
        assert table.loc[name, "lesion_visible"] == 1.0  # the lesion is still in the frame: the model missed it
    broken = report.breaks()
    assert {"shift dx=-0.2", "shift dx=+0.2", "shift dy=-0.2", "shift dy=+0.2"} <= set(broken["perturbation"])
    assert not broken["kind"].isin(["identity", "sector"]).any()  # the centre is untouched by a sector crop
    assert "shift dx=+0.2" in report.to_markdown() and "The model breaks at" in report.to_markdown()
    # a looser tolerance forgives a 50-point drop only when asked to
    assert report.breaks(tolerance=0.6).empty


def test_max_brightness_model_is_robust_to_shifts(cases):
    report = evaluate_robustness(max_model, cases, positive=POSITIVE, progress=False)
    table = report.table.set_index("perturbation")
    assert table.loc["identity", "accuracy"] == 1.0
    shifts = table[table["kind"].isin(["shift_x", "shift_y"])]
    assert (shifts["accuracy"] == 1.0).all() and (shifts["accuracy_drop"] == 0).all() and not shifts["breaks"].any()
    assert report.breaks().empty and "No perturbation lowers the accuracy" in report.to_markdown()


def test_table_numbers_are_the_library_statistics_of_the_recorded_predictions(centre_report):
    report = centre_report
    row = report.table.set_index("perturbation").loc["shift dx=+0.1"]
    preds = report.predictions[report.predictions["perturbation"] == "shift dx=+0.1"]
    k, n = int(preds["correct"].sum()), len(preds)
    assert (row["correct"], row["n"]) == (k, n)
    assert (row["accuracy_low"], row["accuracy_high"]) == tuple(wilson_interval(k, n))
    auc = delong_ci(preds["truth"].to_numpy(), preds["score"].to_numpy(), positive=True)
    assert row["auc"] == pytest.approx(auc.auc) and row["auc_low"] == pytest.approx(auc.low)
    # the box moved with the content: +0.1 of 64 pixels = 6 pixels right
    assert preds[["x1", "y1", "x2", "y2"]].drop_duplicates().values.tolist() == [[30.0, 24.0, 46.0, 40.0]]


def test_no_call_counts_as_wrong_and_is_counted(cases):
    def shy_model(images):  # answers only where the centre of the frame shows content
        scores = centre_model(images)
        return np.where([im[SIZE // 2, SIZE // 2].any() for im in images], scores, np.nan)

    report = evaluate_robustness(shy_model, cases, [Shift(0.6, 0.0)], positive=POSITIVE, progress=False)
    table = report.table.set_index("perturbation")
    assert list(table.index) == ["identity", "shift dx=+0.6"]  # the identity is always the baseline
    assert table.loc["identity", "no_call"] == 0
    assert table.loc["shift dx=+0.6", "no_call"] == 20 and table.loc["shift dx=+0.6", "accuracy"] == 0.0
    assert table.loc["shift dx=+0.6", "auc"] == 0.0  # the worst score for every unanswered image
    assert "| 20 |" in report.to_markdown()


class CentreBrightness(Predictor):
    """A toy predictor: p(positive) = mean brightness of the central 8x8 pixels of the lesion crop."""

    def __init__(self, positive_label=POSITIVE):
        self.positive_label = positive_label

    def fit(self, samples, *, unlabeled=None):
        self.classes_, _ = training_labels(samples, self.positive_label)
        return self

    def predict_proba(self, samples):
        p = np.array(centre_model(samples.crops))
        return np.column_stack([1 - p, p])

    def explain(self, samples, class_index=None, gradcam=True, features=None):
        return [Evidence(explained_class=self.classes_[-1], output=0.0)] * len(samples)


class CentreLocalizer(Localizer):
    """Finds the whole frame as a lesion, unless the centre pixel is black."""

    needs_fit = False

    def fit(self, manifest=None, **kw):
        self.fitted_ = True
        return self

    def _locate_arrays(self, images):
        return [[Box(0, 0, im.shape[1], im.shape[0])] if im[im.shape[0] // 2, im.shape[1] // 2].any() else []
                for im in images]


def test_a_diagnoser_is_scored_on_its_primary_lesion_with_its_positive_class(cases):
    model = Diagnoser(localizer=CentreLocalizer().fit(), predictor=CentreBrightness(), batch_size=8).fit(cases)
    assert model.classes_[-1] == POSITIVE
    report = evaluate_robustness(model, cases, [Shift(0.2, 0), Shift(0.6, 0), SectorCrop(0.8)], progress=False,
                                 batch_size=7)
    assert report.positive == POSITIVE and "CentreBrightness" in report.model
    table = report.table.set_index("perturbation")
    assert table.loc["identity", "accuracy"] == 1.0 and table.loc["sector 0.8", "accuracy"] == 1.0
    assert table.loc["shift dx=+0.2", "breaks"] and table.loc["shift dx=+0.2", "no_call"] == 0
    assert table.loc["shift dx=+0.6", "no_call"] == 20  # no lesion found: a wrong call, counted
    statuses = report.predictions.set_index(["perturbation", "image"])["status"]
    assert (statuses.loc["shift dx=+0.6"] == "no_lesion").all()
    with pytest.raises(ConfigError, match="not a class of the model"):
        evaluate_robustness(model, cases, positive="cancer", progress=False)


def test_unknown_or_missing_positive_raises_before_any_prediction(cases):
    calls = []

    def counting_model(images):
        calls.append(len(images))
        return max_model(images)

    with pytest.raises(ConfigError, match="not a label of the manifest"):
        evaluate_robustness(counting_model, cases, positive="cancer", progress=False)
    with pytest.raises(ConfigError, match="positive"):
        evaluate_robustness(counting_model, cases, progress=False)
    with pytest.raises(ConfigError):
        evaluate_robustness(counting_model, cases, positive=POSITIVE, tolerance=-1, progress=False)
    with pytest.raises(ConfigError, match="more than once"):
        evaluate_robustness(counting_model, cases, [Shift(0.1), Shift(0.1)], positive=POSITIVE, progress=False)
    assert calls == []


def test_unreadable_images_are_named_in_the_report(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"")
    (folder / "garbage.png").write_bytes(b"not an image at all")
    extra = [{"image": name, "patient": "px", "label": POSITIVE, "x1": 1.0, "y1": 1.0, "x2": 5.0, "y2": 5.0}
             for name in ("missing.png", "broken.png", "garbage.png")]
    manifest = _write_cases(folder, n=6, extra_rows=extra)
    report = evaluate_robustness(max_model, manifest, [Shift(0.1)], positive=POSITIVE, progress=False,
                                 batch_size=4)
    assert report.n == 6
    assert set(report.skipped["image"]) == {"missing.png", "broken.png", "garbage.png"}
    assert (report.skipped.set_index("image").loc["missing.png", "reason"]).startswith("file not found")
    markdown = report.to_markdown()
    assert "Skipped images (3)" in markdown and "`missing.png`" in markdown and "`garbage.png`" in markdown
    assert report.to_dict()["skipped"][0]["image"] in {"missing.png", "broken.png", "garbage.png"}
    nothing = Manifest(pd.DataFrame(extra), folder)
    with pytest.raises(EvaluationError, match="no readable"):
        evaluate_robustness(max_model, nothing, positive=POSITIVE, progress=False)


def test_the_report_renders_markdown_json_csv_and_plot(centre_report, tmp_path):
    report = centre_report
    assert isinstance(report, RobustnessReport)
    markdown = report.to_markdown()
    for name in report.table["perturbation"]:
        assert f"| {name} |" in markdown
    assert "100.0% [83.9%, 100.0%] (20/20)" in markdown and "Wilson 95%" in markdown
    data = json.loads(json.dumps(report.to_dict()))
    assert data["positive"] == POSITIVE and len(data["table"]) == 15 and "shift dx=+0.2" in data["breaks"]
    assert data["table"][0]["accuracy_p"] is None  # NaN written as null
    assert data["perturbations"][1] == {"name": "rescale x0.5", "kind": "rescale", "level": 0.5, "factor": 0.5,
                                        "resample": "bilinear"}
    files = report.save(tmp_path / "out")
    assert set(files) == {"markdown", "csv", "predictions", "json", "plot"}
    assert pd.read_csv(files["csv"])["perturbation"].tolist() == report.table["perturbation"].tolist()
    assert len(pd.read_csv(files["predictions"])) == 20 * 15
    assert files["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = report.plot(tmp_path / "alone.png")
    assert len(fig.axes) == 4 and (tmp_path / "alone.png").stat().st_size > 1000  # rescale, sector, shift x, shift y


def test_a_user_perturbation_that_overrides_apply_alone_is_evaluated(cases, tmp_path):
    from explainendo.evaluate import Perturbation

    class MirrorLeftRight(Perturbation):
        kind = "mirror"
        identity_level = 0.0

        @property
        def level(self):
            return 1.0

        def apply(self, image, box=None):
            return np.ascontiguousarray(image[:, ::-1]), None

    report = evaluate_robustness(max_model, cases, [MirrorLeftRight()], positive=POSITIVE, progress=False)
    row = report.table.set_index("perturbation").loc["mirror"]
    assert row["accuracy"] == 1.0 and np.isnan(row["lesion_visible"]) and not row["breaks"]
    assert len(report.plot(tmp_path / "mirror.png").axes) == 1
