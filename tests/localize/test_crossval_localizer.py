"""cross_validate_localizer and plot_cv_success: the whole-frame baseline, whose IoU is known by hand, through
five folds by patient."""

import numpy as np
import pytest

from explainendo.errors import ConfigError
from explainendo.evaluate import cross_validate_localizer, cv_success_bands, plot_cv_success
from explainendo.localize import WholeFrame


def test_whole_frame_folds_against_hand_values(tmp_path, phantom_writer):
    m = phantom_writer.single(tmp_path / "p", n=20, size=64, seed=3)
    rep = cross_validate_localizer(WholeFrame(remove_border=False), m, k=5, seed=0)
    p = rep.predictions
    patients = dict(zip(m.df["image"], m.df["patient"]))
    assert sorted(p["image"]) == sorted(m.df["image"])
    assert p.assign(patient=p["image"].map(patients)).groupby("patient")["fold"].nunique().max() == 1
    area = {r.image: (r.x2 - r.x1) * (r.y2 - r.y1) / 64 ** 2 for r in m.df.itertuples()}
    for _, f in rep.folds.iterrows():
        images = p.loc[p["fold"] == f["fold"], "image"]
        # the frame as the box: IoU = box area / frame area; area recall 1; precision = IoU
        assert f["mIoU"] == pytest.approx(np.mean([area[i] for i in images]))
        assert f["area_recall"] == pytest.approx(1.0) and f["area_precision"] == pytest.approx(f["mIoU"])
    s = rep.summary().set_index("metric")
    assert s.loc["mIoU", "sd"] == pytest.approx(rep.folds["mIoU"].std(ddof=1))
    bands = cv_success_bands({"whole frame": rep})
    at0 = bands[(bands["kind"] == "iou") & (bands["threshold"] == 0.0)]
    assert at0["mean"].item() == 1.0 and at0["sd"].item() == 0.0  # every IoU >= 0
    fig = plot_cv_success({"whole frame": rep}, title="phantoms")
    assert len(fig.axes) == 2 and fig.axes[0].get_xlabel() == "IoU threshold"
    assert "5 of 5 folds" in rep.to_markdown() and "mIoU" in rep.to_markdown()


def test_refuses_what_is_not_a_localizer(tmp_path, phantom_writer):
    m = phantom_writer.single(tmp_path / "p", n=6, size=64, seed=3)
    with pytest.raises(ConfigError, match="Localizer"):
        cross_validate_localizer(object(), m)
    with pytest.raises(ConfigError, match="folds"):
        cross_validate_localizer(WholeFrame(), m, k=True)
