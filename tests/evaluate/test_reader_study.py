"""The reader-study analysis on an answers file written through the answers log (no browser): hand values for the
score, the accuracies, the group test, the Likert items and the reading time; the CLI writes the tables."""

import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest

from explainendo.evaluate import analyse_reader_study, confidence_score, fleiss_kappa
from explainendo.viewer.study import AnswerLog, Study

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "viewer"))
from study_data import N_CASES, STUDY, TRUTH, make_study  # noqa: E402

READERS = """readers:
  - {id: e1, experience: expert}
  - {id: e2, experience: expert}
  - {id: n1, experience: novice}
  - {id: n2, experience: novice}
schedule: {washout_days: 0, seed: 5}
"""
#: cases each reader gets wrong without AI (with AI: none)
WRONG = {"e1": {0}, "e2": set(), "n1": {0, 1, 2}, "n2": {1, 4}}
LIKERT = {"e1": (4, 3), "e2": (5, 4), "n1": (4, 5), "n2": (5, 5)}


def test_confidence_score():
    assert confidence_score([1, 1, 0, 0], [5, 1, 1, 5], 5).tolist() == [10, 6, 5, 1]


@pytest.fixture
def finished(tmp_path):
    full = STUDY.format(washout=0)
    text = full.split("readers:")[0] + READERS + full.split("schedule:")[1].split("\n", 1)[1]
    path = make_study(tmp_path, text=text)
    study = Study.load(path)
    clock_time = [dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)]
    log = AnswerLog(study, clock=lambda: clock_time[0])
    other = {"neoplastic": "non_neoplastic", "non_neoplastic": "neoplastic"}
    for reader in WRONG:
        for session in (1, 2):
            arm = study.readers[reader].arm(session)
            for case in study.order(reader, session):
                k = int(case[5:7])
                wrong = arm == "without_ai" and k in WRONG[reader]
                served = clock_time[0]
                clock_time[0] += dt.timedelta(seconds=10 if arm == "with_ai" else 15)
                log.answer(reader, session, case, other[TRUTH[k]] if wrong else TRUTH[k], 3 if wrong else 5,
                           served_at=served)
            if arm == "with_ai":
                log.questionnaire(reader, session, dict(zip(("trust", "useful"), LIKERT[reader])))
    return path, study


def test_tables_by_hand(finished):
    path, study = finished
    report = analyse_reader_study(path)
    per = report.per_reader.set_index(["arm", "reader"])
    for reader, wrong in WRONG.items():
        assert per.loc[("without_ai", reader), "accuracy"] == pytest.approx(1 - len(wrong) / N_CASES)
        assert per.loc[("with_ai", reader), "accuracy"] == pytest.approx(1.0)
    # Mann-Whitney of accuracy, novices (5/8, 6/8) vs experts (7/8, 1): U of the novices = 0 of 4 pairs
    groups = report.groups.set_index("arm")
    assert (groups.loc["without_ai", "group_a"], groups.loc["without_ai", "group_b"]) == ("novice", "expert")
    assert groups.loc["without_ai", "U"] == pytest.approx(0.0) and groups.loc["without_ai", "rank_biserial"] == -1.0
    # Fleiss' kappa of the four readers without AI equals the library's on the same table
    calls = np.array([[(TRUTH[k] == "neoplastic") != (k in WRONG[r]) for r in WRONG] for k in range(N_CASES)])
    kappa = report.agreement.set_index(["arm", "group"]).loc[("without_ai", "all readers"), "kappa"]
    assert kappa == pytest.approx(fleiss_kappa(calls.astype(int)))
    assert report.with_without["change"].tolist() == pytest.approx([1 / 8, 0, 3 / 8, 2 / 8])
    likert = report.likert.set_index("item")
    assert likert.loc["trust", "median"] == pytest.approx(4.5) and likert.loc["useful", "agree_share"] == 0.75
    assert "p_vs_neutral" in likert.columns and "p_novice_vs_expert" in likert.columns
    times = report.reading_time.set_index(["arm", "group"])
    assert times.loc[("without_ai", "novice"), "median_s"] == pytest.approx(15.0)
    assert report.mrmc["accuracy"].treatment_means.tolist() == pytest.approx([1 - 6 / 32, 1.0])
    assert report.mrmc["auc"].foms.loc["with_ai"].tolist() == pytest.approx([1.0] * 4)


def test_cli_writes_the_tables(finished, tmp_path):
    from typer.testing import CliRunner

    from explainendo.cli import app

    path, _ = finished
    out = tmp_path / "tables"
    result = CliRunner().invoke(app, ["evaluate", "reader-study", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Readers by experience vs the model" in result.output
    assert (out / "mrmc.csv").is_file() and (out / "reader_study.json").is_file()
    bad = CliRunner().invoke(app, ["evaluate", "reader-study", str(path), "--answers", str(tmp_path / "none.jsonl")])
    assert bad.exit_code == 2 and "answers file not found" in bad.output
