"""Issue 21: the colonoscopy hybrid's grouped SHAP names the degradation of the unclear frames it calls unclear
(motion blur -> motion_blur, defocus -> sharpness, fluid -> fluid_colour, bubbles -> specular_highlights), on small
colon phantoms split by video. The rate's floor was measured at this seed (docs/colon.md has the benchmark's)."""

import numpy as np
import pytest

from explainendo.features import LesionSamples
from explainendo.localize import field_of_view_box
from explainendo.predict import InSample
from explainendo.synth import generate
from explainendo.systems.colon import ARTIFACT_GROUPS, QUALITY_GROUPS, colon_cnn, colon_predictor
from explainendo.training import Training

#: measured at seed 0 with these settings: 0.91 (20 of the 22 unclear frames called unclear; logistic regression
#: chosen); the floor leaves two frames of room for library drift. Before issue 21's changes the benchmark measured 0.05
NAMING_FLOOR = 0.8


def _frames(data, rows):
    frames = [data.images[i] for i in rows]
    return LesionSamples.from_images(frames, [field_of_view_box(f) for f in frames],
                                     table=data.table.iloc[rows].reset_index(drop=True))


@pytest.fixture(scope="module")
def fitted():
    data = generate("colon", 320, seed=0, size=128, frames_per_video=16)  # 20 videos, one patient each
    video = data.table["video"].str[-5:].astype(int).to_numpy()
    train, test = np.flatnonzero(video < 14), np.flatnonzero(video >= 14)
    # the frame CNN only feeds deep.p_tumor, which the unclear frames' explanation does not rest on: a tiny one
    cnn = colon_cnn(image_size=32, training=Training(epochs=1, batch_size=32))
    model = colon_predictor(cnn=cnn, stacking=InSample()).fit(_frames(data, train))
    return model, _frames(data, test)


def test_the_hybrid_explains_unclear_against_the_clear_frames(fitted):
    model, _ = fitted
    assert model.contrast_class == "normal" and model.shap_explainer().interventional
    assert model.fitter_name_ in ("logistic_regression", "svm")


def test_shap_names_the_degradation_of_most_unclear_frames(fitted):
    model, test = fitted
    proba = model.predict_proba(test)
    unclear = model.classes_.index("unclear")
    truth = test.table["label"].to_numpy()
    called = np.asarray(model.classes_)[proba.argmax(1)]
    rows = np.flatnonzero((truth == "unclear") & (called == "unclear"))
    assert len(rows) >= 20, (len(rows), int((truth == "unclear").sum()))
    evidence = model.explain(test.subset(rows), class_index=unclear, gradcam=False)
    hits = []
    for ev, artifact in zip(evidence, test.table["attr.artifact"].to_numpy()[rows]):
        quality = {g: v for g, v in ev.group_shap.items() if g in QUALITY_GROUPS}
        hits.append(max(quality, key=quality.get) == ARTIFACT_GROUPS[artifact])
    assert np.mean(hits) >= NAMING_FLOOR, (np.mean(hits), len(hits))
