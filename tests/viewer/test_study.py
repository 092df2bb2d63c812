"""The reader-study file, schedule and answers log, and the reading session over HTTP (FastAPI's TestClient)."""

import datetime as dt
import json

import pytest

from explainendo.errors import ConfigError, ManifestError
from explainendo.viewer.study import AnswerLog, Study, WashoutError

from study_data import N_CASES, STUDY, TRUTH, make_study


class Clock:
    def __init__(self):
        self.now = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += dt.timedelta(**delta)


@pytest.fixture
def study_path(tmp_path):
    return make_study(tmp_path)


def test_load_resolves_cases_truth_and_schedule(study_path):
    study = Study.load(study_path)
    assert study.cases == [f"case_{i:02d}.png" for i in range(N_CASES)]
    assert [study.truth[c] for c in study.cases] == TRUTH
    assert study.answers == study_path.parent / "study.answers.jsonl"
    assert study.readers["alice"].arm(1) == "without_ai" and study.readers["alice"].arm(2) == "with_ai"
    assert study.readers["bob"].arm(1) == "with_ai" and study.readers["bob"].arm(2) == "without_ai"
    # orders: permutations, fixed by the seed, different per reader and session
    a1, a2, b1 = study.order("alice", 1), study.order("alice", 2), study.order("bob", 1)
    assert sorted(a1) == sorted(study.cases) and a1 == Study.load(study_path).order("alice", 1)
    assert len({tuple(a1), tuple(a2), tuple(b1)}) == 3


def test_crossover_is_balanced_within_levels(tmp_path):
    readers = "\n".join(f"  - {{id: r{i}, experience: {'expert' if i < 4 else 'novice'}}}" for i in range(8))
    text = STUDY.format(washout=14).split("readers:")[0] + "readers:\n" + readers + "\n" + \
        "schedule: {washout_days: 14, seed: 11}\n"
    study = Study.load(make_study(tmp_path, text=text))
    for level in ("expert", "novice"):
        firsts = [r.first_arm for r in study.readers.values() if r.experience == level]
        assert sorted(firsts) == ["with_ai", "with_ai", "without_ai", "without_ai"]


@pytest.mark.parametrize("change, field", [
    (("labels: [neoplastic, non_neoplastic]", "labels: [neoplastic]"), "labels"),
    (("positive: neoplastic", "positive: cancer"), "positive"),
    (("cases: all", "cases: [case_00.png, nope.png]"), "cases"),
    (("washout_days: 14", "washout_days: -1"), "schedule.washout_days"),
    (("{id: bob, experience: novice, first_arm: with_ai}", "{id: alice, experience: novice}"), "readers"),
    (("{id: bob, experience: novice, first_arm: with_ai}", "{id: bob, first_arm: sometimes}"), "readers[1].first_arm"),
    (("  scale: 5", "  scale: 1"), "likert.scale"),
    (("name: test-study", "name: x\ncolour: blue"), "unknown field"),
])
def test_validation_names_file_and_field(tmp_path, change, field):
    path = make_study(tmp_path, text=STUDY.format(washout=14).replace(*change))
    with pytest.raises(ConfigError) as info:
        Study.load(path)
    assert field in str(info.value) and "study.yaml" in str(info.value)


def test_truth_csv_problems_are_manifest_errors(tmp_path):
    path = make_study(tmp_path, text=STUDY.format(washout=14).replace("label_column: label", "label_column: grade"))
    with pytest.raises(ManifestError, match="grade"):
        Study.load(path)
    path.write_text(STUDY.format(washout=14))
    (tmp_path / "images" / "manifest.csv").write_text("image,label\ncase_00.png,benign\n")
    with pytest.raises(ManifestError, match="benign"):
        Study.load(path)


def _read_session(log, study, reader, session):
    for case in study.order(reader, session):
        log.answer(reader, session, case, study.truth[case], 4)


def test_answer_log_resumes_and_enforces_the_washout(study_path):
    study, clock = Study.load(study_path), Clock()
    log = AnswerLog(study, clock=clock)
    first = study.order("alice", 1)
    assert log.state("alice").next_case == first[0] and log.state("alice").arm == "without_ai"
    log.answer("alice", 1, first[0], "neoplastic", 3)
    again = log.answer("alice", 1, first[0], "non_neoplastic", 5)  # a second submit: the first answer stands
    assert again["duplicate"] and again["label"] == "neoplastic"
    with pytest.raises(ConfigError, match="session 2"):
        log.answer("alice", 2, first[1], "neoplastic", 3)
    # a new log over the same file (the server restarted): alice continues at her second case
    log = AnswerLog(study, clock=clock)
    assert log.state("alice").next_case == first[1] and log.state("alice").answered == 1
    for case in first[1:]:
        clock.advance(seconds=30)
        log.answer("alice", 1, case, study.truth[case], 4)
    state = log.state("alice")
    assert state.session == 2 and state.next_case is None and state.opens == clock.now + dt.timedelta(days=14)
    with pytest.raises(WashoutError, match="opens on"):
        log.answer("alice", 2, study.order("alice", 2)[0], "neoplastic", 3)
    clock.advance(days=14, seconds=1)
    _read_session(log, study, "alice", 2)
    assert log.state("alice").likert_due
    with pytest.raises(ConfigError, match="useful"):
        log.questionnaire("alice", 2, {"trust": 4})
    log.questionnaire("alice", 2, {"trust": 4, "useful": 5})
    assert log.state("alice").done
    lines = [json.loads(x) for x in study.answers.read_text().splitlines()]
    assert len(lines) == 2 * N_CASES + 1 and lines[-1]["scores"] == {"trust": 4, "useful": 5}
    # a half-written last line (a crash mid-write) is skipped
    with open(study.answers, "a") as f:
        f.write('{"type": "answer", "reader": "bo')
    assert AnswerLog(study, clock=clock).skipped == 1


# ---- over HTTP -------------------------------------------------------------------------------------------------
@pytest.fixture
def client(study_path):
    from fastapi.testclient import TestClient

    from explainendo.viewer.study_app import create_study_app

    clock = Clock()
    app = create_study_app(study_path, clock=clock)
    return TestClient(app), app.state.study, clock


def _answer_current(client, reader, label=None, confidence=4):
    state = client.get(f"/api/reader/{reader}").json()
    page = client.get(f"/reader/{reader}")
    assert page.status_code == 200 and state["next_case"] in page.text
    case = state["next_case"]
    return client.post(f"/reader/{reader}/answer", data={
        "session": state["session"], "case": case, "label": label or TRUTH[int(case[5:7])],
        "confidence": confidence, "client_ms": "1234", "served_at": ""}, follow_redirects=False)


def test_http_session_without_and_with_ai(client):
    http, study, clock = client
    home = http.get("/")
    assert home.status_code == 200 and "reader id" in home.text
    assert http.get("/start?reader=alice", follow_redirects=False).headers["location"] == "/reader/alice"
    assert http.get("/start?reader=mallory").status_code == 400
    page = http.get("/reader/alice")
    assert "without AI" in page.text and 'id="ai-label"' not in page.text and "rect class=\"box" not in page.text
    case = http.get("/api/reader/alice").json()["next_case"]
    frame = http.get(f"/frame/{case}")
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
    clock.advance(seconds=12)
    answered = _answer_current(http, "alice")
    assert answered.status_code == 303 and answered.headers["location"] == "/reader/alice"
    record = json.loads(study.answers.read_text().splitlines()[0])
    assert record["server_seconds"] == pytest.approx(12.0) and record["client_seconds"] == pytest.approx(1.234)
    assert record["arm"] == "without_ai" and record["position"] == 1 and record["truth"] == TRUTH[int(case[5:7])]
    # bob starts with AI: the model's label, probability, box and attribute panel are shown
    page = http.get("/reader/bob")
    assert "with AI" in page.text and 'id="ai-label"' in page.text and 'class="box primary"' in page.text
    assert 'data-attribute="tone"' in page.text
    # bad answers are refused with a message
    bad = http.post("/reader/bob/answer", data={"session": 1, "case": "case_00.png", "label": "maybe",
                                               "confidence": 3})
    assert bad.status_code == 400 and "maybe" in bad.text


def test_http_washout_is_refused_with_its_date(client):
    http, study, clock = client
    for _ in range(N_CASES):
        _answer_current(http, "alice")
    refused = http.get("/reader/alice")
    assert refused.status_code == 403 and "Session 2 is not open yet" in refused.text
    assert "2025-03-15" in refused.text  # 14 days after 2025-03-01
    assert http.get("/api/reader/alice").json()["opens"].startswith("2025-03-15")
    clock.advance(days=15)
    page = http.get("/reader/alice")
    assert page.status_code == 200 and "with AI" in page.text


def test_http_likert_after_the_with_ai_session(client):
    http, study, clock = client
    for _ in range(N_CASES):
        _answer_current(http, "bob")
    page = http.get("/reader/bob")
    assert "About the AI system" in page.text and "The heatmaps helped me" in page.text
    missing = http.post("/reader/bob/likert", data={"session": 1, "trust": 4})
    assert missing.status_code == 400 and "useful" in missing.text
    done = http.post("/reader/bob/likert", data={"session": 1, "trust": 4, "useful": 2}, follow_redirects=False)
    assert done.status_code == 303
    assert http.get("/reader/bob").status_code == 403  # then the washout before session 2


def test_view_cli_study_is_refused_for_a_bad_file(tmp_path):
    from typer.testing import CliRunner

    from explainendo.cli import app

    path = make_study(tmp_path, text=STUDY.format(washout=14).replace("positive: neoplastic", "positive: cancer"))
    result = CliRunner().invoke(app, ["view", str(tmp_path / "results"), "--study", str(path)])
    assert result.exit_code == 2 and "positive" in result.output
