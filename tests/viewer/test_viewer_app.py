"""The viewer over HTTP (FastAPI's TestClient, no server, no browser): the case table sorted, filtered and paged on
the server; a case page with its frame, box, attributes and correction form; the explanation and its Grad-CAM
maps; a correction through the model's intervention; and every error as a page or JSON that says what is wrong."""

import html
import io
import json
import shutil

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from explainendo.errors import ConfigError
from explainendo.viewer import create_app

from viewer_data import MISSING, N_FRAMES


@pytest.fixture(scope="module")
def client(viewer_run):
    return TestClient(create_app(viewer_run["out"], model=viewer_run["model"]))


def _rows(client, **params):
    response = client.get("/api/cases", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _case_of(client, name):
    return next(r["index"] for r in _rows(client, per_page=100)["rows"] if r["name"] == name)


def test_table_lists_every_case_in_input_order(client):
    page = client.get("/")
    assert page.status_code == 200
    assert f"{N_FRAMES + 1} of {N_FRAMES + 1} cases" in page.text
    assert 'href="/static/viewer.css"' in page.text and "http" not in page.text.split("<body>")[0]  # nothing remote
    data = _rows(client)
    assert [r["index"] for r in data["rows"]] == list(range(N_FRAMES + 1))
    assert data["rows"][-1]["status"] == "error" and data["rows"][0]["ood"] in ("true", "false")


def test_table_sorts_by_probability_and_text_both_ways(client):
    down = [float(r["probability"])
            for r in _rows(client, sort="probability", order="desc")["rows"] if r["probability"]]
    up = [float(r["probability"]) for r in _rows(client, sort="probability")["rows"] if r["probability"]]
    assert down == sorted(down, reverse=True) and up == sorted(up) and len(up) == N_FRAMES
    assert _rows(client, sort="probability")["rows"][-1]["status"] == "error"          # no probability: last
    assert _rows(client, sort="probability", order="desc")["rows"][-1]["status"] == "error"
    statuses = [r["status"] for r in _rows(client, sort="status", order="desc")["rows"]]
    assert statuses == sorted(statuses, reverse=True)
    ties = [r["index"] for r in _rows(client, sort="status", order="desc")["rows"] if r["status"] == "ok"]
    assert ties == sorted(ties)                                                           # ties keep input order
    page = client.get("/?sort=probability&order=desc").text
    assert "probability ▼" in page and 'href="/?sort=probability">' in page            # a second click reverses


def test_table_filters_and_pages(client):
    assert [r["status"] for r in _rows(client, status="error")["rows"]] == ["error"]
    labels = {r["label"] for r in _rows(client, status="ok")["rows"]}
    for label in labels:
        assert {r["label"] for r in _rows(client, label=label)["rows"]} == {label}
    flagged = _rows(client, ood="flagged")["total"] + _rows(client, ood="not_flagged")["total"]
    assert flagged + _rows(client, ood="unknown")["total"] == N_FRAMES + 1
    assert [r["name"] for r in _rows(client, q="00003")["rows"]] == ["gastric_00003.png"]
    probabilities = [float(r["probability"]) for r in _rows(client, status="ok")["rows"]]
    middle = float(np.median(probabilities))
    assert all(float(r["probability"]) >= middle for r in _rows(client, p_min=middle)["rows"])
    fitter = _rows(client)["rows"][0]["predictor"]
    assert fitter and {r["predictor"] for r in _rows(client, fitter=fitter)["rows"]} == {fitter}
    assert _rows(client, fitter="no such fitter")["total"] == 0
    page2 = _rows(client, per_page=4, page=2)
    assert page2["pages"] == 3 and [r["index"] for r in page2["rows"]] == [4, 5, 6, 7]
    assert _rows(client, per_page=4, page=99)["page"] == 3                                 # past the end: the last
    page = client.get("/", params={"per_page": 4, "page": 2, "status": "ok"}).text
    assert "page 2 of 2" in page and 'id="prev-page"' in page and "no case matches" not in page
    assert "no case matches these filters" in client.get("/?q=nothing-like-this").text


@pytest.mark.parametrize("query, words", [("sort=nope", "cannot sort by 'nope'"), ("p_min=abc", "is not a number"),
                                          ("ood=maybe", "ood filter 'maybe' is unknown")])
def test_bad_table_queries_are_pages_that_say_why(client, query, words):
    response = client.get("/?" + query)
    assert response.status_code == 400 and words in html.unescape(response.text) and 'id="error"' in response.text
    assert client.get("/api/cases?" + query).json()["error"].count(words.split("'")[0]) >= 1


def test_case_page_shows_frame_box_attributes_and_correction_form(client, viewer_run):
    page = client.get("/case/2?sort=probability&order=desc")
    assert page.status_code == 200
    text = page.text
    assert 'id="frame-image" src="/case/2/frame"' in text and 'viewBox="0 0 64 64"' in text
    assert 'class="box primary" x="0.0" y="0.0"' in text and 'width="64.0" height="64.0"' in text
    for attribute in ("boundary", "tone", "location"):
        assert f'data-attribute="{attribute}"' in text and f'<select name="{attribute}"' in text
    assert 'data-explainable="1"' in text and 'src="/static/case.js"' in text
    assert "in the table's view" in text and 'id="next-case"' in text
    frame = client.get("/case/2/frame")
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(frame.content)).size == (64, 64)
    record = client.get("/api/cases/2").json()
    assert record["frame"] == {"found": True, "size": [64, 64], "problem": None}
    assert record["record"]["lesions"][0]["features"]


def test_explanation_gives_contributions_and_maps_on_the_frame(client):
    data = client.get("/api/cases/1/explanation").json()
    assert data["label"] and data["contributions"] and data["space"]
    total = data["expected_value"] + sum(c["contribution"] for c in data["contributions"])
    assert total == pytest.approx(data["output"], abs=1e-3)                     # SHAP additivity, as the card
    names = [m["name"] for m in data["maps"]]
    assert {"boundary", "tone"} <= set(names)
    tone = next(m for m in data["maps"] if m["name"] == "tone")
    assert (tone["x"], tone["y"], tone["width"], tone["height"]) == (0, 0, 64, 64)   # the whole frame is the crop
    png = client.get(tone["url"])
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(png.content))
    assert picture.mode == "RGBA" and picture.size == (64, 64)
    assert client.get("/api/cases/1/maps/nothing.png").status_code == 404


def test_correction_calls_the_intervention_and_returns_the_new_diagnosis(client, viewer_run):
    before = client.get("/api/cases/3/explanation").json()
    response = client.post("/api/cases/3/intervene", json={"corrections": {"boundary": "clear", "tone": "reddened",
                                                                           "surface": ""}})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["corrections"] == {"boundary": "clear", "tone": "reddened"}              # an empty choice: as read
    assert data["before"]["probability"] == pytest.approx(before["probability"])
    # the same as the library's intervention on the saved result
    from explainendo.viewer import result_from_record

    record = client.get("/api/cases/3").json()["record"]
    expected = viewer_run["model"].intervene(result_from_record(record), data["corrections"], explain=False)
    assert data["after"]["probability"] == pytest.approx(expected.probability)
    assert data["after"]["label"] == expected.label
    assert data["after"]["probability"] != pytest.approx(data["before"]["probability"])
    corrected = {a["name"]: a for a in data["attributes"]}
    assert corrected["boundary"]["corrected"] == "clear" and corrected["tone"]["best"] == "reddened"
    assert data["contributions"] and data["label"] == expected.label


@pytest.mark.parametrize("body, status, words", [
    ({"corrections": {"colour": "red"}}, 400, "attributes it can correct: bleeding"),
    ({"corrections": {"tone": "blue"}}, 400, "'blue' is not a class of attribute 'tone'"),
    ({"corrections": {}}, 400, "non-empty mapping"),
    ({"wrong": 1}, 400, "needs 'corrections'"),
])
def test_bad_corrections_say_why(client, body, status, words):
    response = client.post("/api/cases/0/intervene", json=body)
    assert response.status_code == status and words in response.json()["error"]
    assert client.post("/api/cases/0/intervene", content=b"{no json").status_code == 400


def test_missing_case_missing_image_and_unreadable_image_are_explained(client, viewer_run):
    missing = client.get("/case/999")
    assert missing.status_code == 404 and "case 999 does not exist" in missing.text
    assert client.get("/api/cases/999/explanation").status_code == 404
    gone = _case_of(client, MISSING)
    page = client.get(f"/case/{gone}")
    assert page.status_code == 200 and "image file not found" in page.text and 'id="frame-problem"' in page.text
    assert "--images FOLDER" in page.text and 'data-explainable="0"' in page.text
    assert 'data-attribute="tone"' in page.text                                   # the saved attributes still show
    frame = client.get(f"/case/{gone}/frame")
    assert frame.status_code == 404 and "image file not found" in frame.text
    assert "image file not found" in client.get(f"/api/cases/{gone}/explanation").json()["error"]
    broken = N_FRAMES  # the last input
    page = client.get(f"/case/{broken}")
    assert page.status_code == 200 and "unreadable" in page.text and 'data-explainable="0"' in page.text
    assert "could not read this image" in client.get(f"/api/cases/{broken}/explanation").json()["error"]
    assert client.get(f"/case/{broken}/card").status_code == 404                 # --no-cards: none saved


def test_images_moved_since_the_run_are_found_with_images_option(viewer_run, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(viewer_run["images"], moved)
    results = tmp_path / "results"
    shutil.copytree(viewer_run["out"], results)
    for name in ("results.jsonl", "results.csv"):  # the run's image paths point nowhere now
        path = results / name
        path.write_text(path.read_text().replace(str(viewer_run["images"]), "/nowhere/images"))
    ledger = json.loads((results / "ledger.json").read_text())
    ledger["inputs"] = "/nowhere/images"
    (results / "ledger.json").write_text(json.dumps(ledger))
    lost = TestClient(create_app(results, model=viewer_run["model"]))
    assert "image file not found: /nowhere/images/gastric_00000.png" in lost.get("/case/0").text
    found = TestClient(create_app(results, model=viewer_run["model"], images=moved))
    assert found.get("/case/0/frame").status_code == 200


def test_without_the_model_the_saved_results_still_show(viewer_run, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(viewer_run["out"], results)
    ledger = json.loads((results / "ledger.json").read_text())
    ledger["model"] = str(tmp_path / "deleted_model")
    (results / "ledger.json").write_text(json.dumps(ledger))
    client = TestClient(create_app(results))
    assert "is not there any more" in client.get("/").text
    page = client.get("/case/0")
    assert page.status_code == 200 and 'data-explainable="0"' in page.text and 'data-attribute="tone"' in page.text
    assert "<select" not in page.text.split('id="attributes"')[1]                   # nothing to correct with
    response = client.get("/api/cases/0/explanation")
    assert response.status_code == 409 and "--model" in response.json()["error"]
    assert client.post("/api/cases/0/intervene", json={"corrections": {"tone": "pale"}}).status_code == 409


def test_the_model_comes_from_the_ledger_or_from_model(viewer_run):
    from_ledger = create_app(viewer_run["out"])                # the folder ledger.json names
    assert from_ledger.state.explainer.available and from_ledger.state.explainer.note is None
    data = TestClient(from_ledger).get("/api/cases/0/explanation").json()
    assert data["contributions"]
    with pytest.raises(ConfigError, match="model folder not found"):
        create_app(viewer_run["out"], model=viewer_run["root"] / "no_model")


def test_a_folder_that_is_not_a_diagnose_output_is_refused(viewer_run, tmp_path):
    with pytest.raises(ConfigError, match="results folder not found"):
        create_app(tmp_path / "nothing")
    with pytest.raises(ConfigError, match="not a diagnose output folder: results.csv and results.jsonl missing"):
        create_app(viewer_run["images"])



def test_an_unexpected_error_is_said_and_the_server_goes_on(viewer_run, monkeypatch):
    app = create_app(viewer_run["out"], model=viewer_run["model"], warm_up=False)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.explainer, "explanation_dict", broken)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/api/cases/0/explanation")
    assert response.status_code == 500 and "unexpected RuntimeError: boom" in response.json()["error"]
    assert client.get("/case/0").status_code == 200
