"""``explainendo evaluate compare`` end to end on a small CSV, and the package's lazy exports."""

import subprocess
import sys

import numpy as np
import pandas as pd
from typer.testing import CliRunner

import explainendo.evaluate as evaluate
from explainendo.cli import app
from explainendo.evaluate import compare_models


def _csv(path, n=160, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s1 = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    s2 = np.clip(0.25 * y + 0.75 * rng.random(n), 0, 1)
    frame = pd.DataFrame({"label": y, "pred_h": (s1 >= 0.5).astype(int), "prob_h": s1,
                          "pred_d": (s2 >= 0.5).astype(int), "prob_d": s2,
                          "split": np.where(np.arange(n) < 100, "internal", "external"),
                          "video": [f"v{i // 4}_{c}" for i, c in enumerate(y)]})
    frame.to_csv(path, index=False)
    return frame


def test_compare_command_writes_the_report(tmp_path):
    frame = _csv(tmp_path / "preds.csv")
    out = tmp_path / "report"
    r = CliRunner().invoke(app, ["evaluate", "compare", str(tmp_path / "preds.csv"), "--truth", "label",
                                 "--positive", "1", "--model", "hybrid=pred_h:prob_h", "--model", "sole_dl=pred_d",
                                 "--split-column", "split", "--group-column", "video", "--out", str(out)])
    assert r.exit_code == 0, r.output
    for name in ("comparison.md", "comparison.csv", "comparison.json", "comparison_roc.png"):
        assert (out / name).is_file()
    md = (out / "comparison.md").read_text()
    for title in ("## internal (cases)", "## external (cases)", "## internal (video level, mean)"):
        assert title in md
    # the internal image-level accuracy in the CSV is what compare_models gives on those rows
    internal = frame[frame["split"] == "internal"]
    ref = compare_models(internal["label"], {"hybrid": (internal["pred_h"], internal["prob_h"]),
                                             "sole_dl": internal["pred_d"]}, positive=1)
    table = pd.read_csv(out / "comparison.csv").set_index(["split", "model", "metric"])
    assert table.loc[("internal (cases)", "sole_dl", "accuracy"), "pvalue"] == \
        ref.tests.set_index("metric").loc["accuracy", "pvalue"]
    assert ("internal (cases)", "sole_dl", "auc") not in table.index  # no score column given for sole_dl


def test_compare_command_reports_bad_columns(tmp_path):
    _csv(tmp_path / "preds.csv")
    r = CliRunner().invoke(app, ["evaluate", "compare", str(tmp_path / "preds.csv"), "--truth", "label",
                                 "--positive", "1", "--model", "hybrid=pred_x", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "pred_x" in r.output
    r = CliRunner().invoke(app, ["evaluate", "compare", str(tmp_path / "preds.csv"), "--truth", "label",
                                 "--positive", "1", "--model", "hybrid", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "NAME=PRED_COLUMN" in r.output


def test_exports_resolve_and_import_is_light():
    for name in evaluate.__all__:
        assert getattr(evaluate, name) is not None
    for required in ("wilson_interval", "mcnemar_test", "delong_test", "fleiss_kappa"):
        assert required in evaluate.__all__
    from explainendo.evaluate import statistics

    for name in statistics.__all__:  # the one-namespace facade holds the same objects
        assert getattr(statistics, name) is getattr(evaluate, name)
    code = ("import sys, explainendo.evaluate, explainendo.cli; "
            "print(sorted(m for m in ('pandas', 'scipy', 'statsmodels', 'matplotlib', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
