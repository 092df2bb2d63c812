"""The reader study end to end in a real headless browser (Playwright driving the system's Chromium; skipped only
when there is none): two simulated readers read their two sessions of a crossover study, one closes the browser
half-way and resumes, the second session is refused until the washout has passed, the with-AI session ends with
the Likert questionnaire; then the answers file is complete and the analysis makes the paper's tables from it."""

import datetime as dt
import json

import pytest

from explainendo.evaluate import analyse_reader_study
from explainendo.viewer.app import background_server
from explainendo.viewer.study_app import create_study_app

from study_data import MODEL, N_CASES, TRUTH, make_study
from test_viewer_browser import chromium


class Clock:
    def __init__(self):
        self.now = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)

    def __call__(self):
        return self.now


def _call(reader, arm, case):
    """The simulated readers: alice (expert) errs once without AI; bob (novice) errs twice without AI and follows
    the model (one error) with it."""
    k = int(case[5:7])
    other = {"neoplastic": "non_neoplastic", "non_neoplastic": "neoplastic"}
    if arm == "with_ai":
        return (MODEL[k] if reader == "bob" else TRUTH[k]), 4
    wrong = {"alice": {3}, "bob": {0, 5}}[reader]
    return (other[TRUTH[k]] if k in wrong else TRUTH[k]), (2 if k in wrong else 5)


def _read(page, clock, reader, count):
    from playwright.sync_api import expect

    for _ in range(count):
        expect(page.locator("#study-case")).to_be_visible()
        case, arm = page.get_attribute("#study-case", "data-case"), page.get_attribute("#study-case", "data-arm")
        if arm == "with_ai":
            expect(page.locator("#ai-label")).to_be_visible()
            expect(page.locator("rect.box.primary")).to_have_count(1)
            expect(page.locator("#attributes tr[data-attribute=tone]")).to_be_visible()
        else:
            expect(page.locator("#ai-label")).to_have_count(0)
            expect(page.locator("rect.box")).to_have_count(0)
        assert page.evaluate("document.getElementById('frame-image').naturalWidth") == 64
        label, confidence = _call(reader, arm, case)
        page.check(f"input[name=label][value={label}]")
        page.check(f"input[name=confidence][value='{confidence}']")
        clock.now += dt.timedelta(seconds=20 if arm == "with_ai" else 30)
        page.click("#submit-answer")


def _likert(page, scores):
    from playwright.sync_api import expect

    expect(page.locator("#study-likert")).to_be_visible()
    for item, score in scores.items():
        page.check(f"input[name={item}][value='{score}']")
    page.click("#submit-likert")


def _start(browser, url, reader):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    page.fill("#reader-id", reader)
    page.click("#start")
    return context, page, errors


def test_two_readers_crossover_in_chromium_then_the_analysis(tmp_path):
    binary = chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import expect, sync_playwright

    study_path, clock = make_study(tmp_path), Clock()
    app = create_study_app(study_path, clock=clock)
    study = app.state.study
    with background_server(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary)
        try:
            # alice, session 1 without AI: three cases, then the browser is closed
            context, page, errors = _start(browser, url, "alice")
            expect(page.locator("#arm")).to_have_text("without AI")
            _read(page, clock, "alice", 3)
            expect(page.locator("#position")).to_have_text("4")
            context.close()
            assert len(study.answers.read_text().splitlines()) == 3   # saved as given
            # ... and opened again: she goes on at her fourth case
            context, page, errors = _start(browser, url, "alice")
            expect(page.locator("#position")).to_have_text("4")
            _read(page, clock, "alice", N_CASES - 3)
            expect(page.locator("#study-washout")).to_contain_text("2025-03-15")   # 14 days washout
            # bob, session 1 with AI, then the questionnaire
            context_b, page_b, errors_b = _start(browser, url, "bob")
            expect(page_b.locator("#arm")).to_have_text("with AI")
            _read(page_b, clock, "bob", N_CASES)
            _likert(page_b, {"trust": 4, "useful": 3})
            expect(page_b.locator("#study-washout")).to_be_visible()
            # the washout passes: the second sessions
            clock.now += dt.timedelta(days=15)
            page.reload()
            expect(page.locator("#arm")).to_have_text("with AI")
            _read(page, clock, "alice", N_CASES)
            _likert(page, {"trust": 5, "useful": 4})
            expect(page.locator("#study-done")).to_be_visible()
            page_b.reload()
            _read(page_b, clock, "bob", N_CASES)
            expect(page_b.locator("#study-done")).to_be_visible()
            page.screenshot(path=str(tmp_path / "study_done.png"))
            assert not errors and not errors_b, errors + errors_b
        finally:
            browser.close()

    lines = [json.loads(x) for x in study.answers.read_text().splitlines()]
    answers = [r for r in lines if r["type"] == "answer"]
    assert len(answers) == 2 * 2 * N_CASES and len([r for r in lines if r["type"] == "likert"]) == 2
    assert {(r["reader"], r["arm"]) for r in answers} == {(a, b) for a in ("alice", "bob")
                                                          for b in ("without_ai", "with_ai")}
    assert all(r["server_seconds"] in (20.0, 30.0) for r in answers)
    assert all(r["client_seconds"] is not None and r["client_seconds"] >= 0 for r in answers)

    report = analyse_reader_study(study_path)
    per = report.per_reader.set_index(["arm", "reader"])
    assert per.loc[("without_ai", "alice"), "accuracy"] == pytest.approx(7 / 8)
    assert per.loc[("without_ai", "bob"), "accuracy"] == pytest.approx(6 / 8)
    assert per.loc[("with_ai", "alice"), "accuracy"] == pytest.approx(1.0)
    assert per.loc[("with_ai", "bob"), "accuracy"] == pytest.approx(7 / 8)
    assert per.loc[("with_ai", "model"), "accuracy"] == pytest.approx(7 / 8)
    assert set(report.man_machine) == {"without_ai", "with_ai"}
    assert "expert" in report.man_machine["without_ai"].index
    assert set(report.mrmc) == {"auc", "accuracy"}
    assert report.mrmc["accuracy"].treatment_means.tolist() == pytest.approx([13 / 16, 15 / 16])
    assert report.with_without["change"].tolist() == pytest.approx([1 / 8, 1 / 8])
    assert report.likert.set_index("item").loc["trust", "median"] == pytest.approx(4.5)
    times = report.reading_time.set_index(["arm", "group"])
    assert times.loc[("with_ai", "all readers"), "median_s"] == pytest.approx(20.0)
    assert times.loc[("without_ai", "all readers"), "median_s"] == pytest.approx(30.0)
    files = report.save(tmp_path / "tables")
    assert "MRMC" in files["markdown"].read_text()
