"""``explainendo video MODEL IN.mp4``: the annotated video with the input's frame count and size, one JSON line and one
CSV row per frame, the per-video decision and the freezes printed; exit status 2 for a model or video it cannot read."""

import csv
import json

import cv2
from typer.testing import CliRunner

from explainendo.cli import app

runner = CliRunner()


def _frames(path):
    cap = cv2.VideoCapture(str(path))
    shapes = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        shapes.append(bgr.shape)
    cap.release()
    return shapes


def test_video_writes_the_annotated_video_and_the_per_frame_records(saved_video_model, clip_mp4, tmp_path):
    out = tmp_path / "out" / "annotated.mp4"
    r = runner.invoke(app, ["video", str(saved_video_model), str(clip_mp4), "--out", str(out)])
    assert r.exit_code == 0, r.output
    source, written = _frames(clip_mp4), _frames(out)
    assert len(written) == len(source) and set(written) == set(source) == {(64, 64, 3)}
    records = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert [d["index"] for d in records] == list(range(len(source)))
    with open(out.with_suffix(".csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(source) and {"p_neoplastic", "smoothed_label", "frozen", "explanation"} <= set(rows[0])
    assert "decision by frozen:" in r.output and "decision by vote:" in r.output
    explained = [d for d in records if d["explained"]]
    assert explained and all(d["explanation"] for d in explained)
    assert "freeze frames" in r.output and "explained at frame" in r.output


def test_no_explain_and_real_time(saved_video_model, clip_mp4, tmp_path):
    jsonl = tmp_path / "frames.jsonl"
    r = runner.invoke(app, ["video", str(saved_video_model), str(clip_mp4), "--out", str(tmp_path / "o.mp4"),
                            "--jsonl", str(jsonl), "--csv", str(tmp_path / "frames.csv"), "--no-explain", "--realtime"])
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(records) == len(_frames(clip_mp4)) == len(_frames(tmp_path / "o.mp4"))
    assert not any(d["explained"] for d in records) and "explained at" not in r.output
    assert "skipped to keep up" in r.output


def test_exit_code_2_for_a_model_or_video_it_cannot_read(saved_video_model, clip_mp4, tmp_path):
    out = tmp_path / "never.mp4"
    r = runner.invoke(app, ["video", str(tmp_path / "no_model"), str(clip_mp4), "--out", str(out)])
    assert r.exit_code == 2 and "model folder not found" in r.output
    r = runner.invoke(app, ["video", str(saved_video_model), str(tmp_path / "missing.mp4"), "--out", str(out)])
    assert r.exit_code == 2 and "video file not found" in r.output
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video")
    r = runner.invoke(app, ["video", str(saved_video_model), str(fake), "--out", str(out)])
    assert r.exit_code == 2 and "error:" in r.output
    not_a_model = tmp_path / "folder"
    not_a_model.mkdir()
    r = runner.invoke(app, ["video", str(not_a_model), str(clip_mp4), "--out", str(out)])
    assert r.exit_code == 2 and "error:" in r.output
    r = runner.invoke(app, ["video", str(saved_video_model), str(clip_mp4), "--out", str(clip_mp4)])
    assert r.exit_code == 2 and "overwrite the input" in r.output
    assert not out.exists()


def test_a_damaged_frame_in_the_middle_of_the_video_is_recorded_and_the_video_goes_on(saved_video_model, clip_mp4,
                                                                                         tmp_path):
    data = bytearray(clip_mp4.read_bytes())  # the clip's bytes at 40% overwritten: frames lost mid-video
    k = int(len(data) * 0.4)
    data[k:k + 300] = bytes((b * 7 + 3) % 256 for b in range(300))
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    out = tmp_path / "annotated.mp4"
    r = runner.invoke(app, ["video", str(saved_video_model), str(damaged), "--out", str(out), "--no-explain"])
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    n = len(_frames(clip_mp4))
    assert [d["index"] for d in records] == list(range(n))  # every frame has its record, the lost ones too
    lost = [d["index"] for d in records if d["error"]]
    assert lost and 0 < lost[0] and lost[-1] < n - 1 and "could not be decoded" in records[lost[0]]["error"]
    assert all(d["label"] for d in records[lost[-1] + 1:])  # diagnosed again after the damage
    assert "unreadable" in r.output
