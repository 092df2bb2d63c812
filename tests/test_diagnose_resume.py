"""``explainendo diagnose`` resumes after a crash: a run killed with SIGKILL and started again with the same command
gives the rows of an uninterrupted run, each input once, in input order; a torn last row is cut off and done again;
another model or input list in the same folder is refused (``--overwrite`` starts again); unreadable images are
rows with an error, listed, and the run exits 0. The model is the tiny gastric one of tests/video/conftest.py
(~10 s), diagnosing in batches of 4 so that rows reach the disk while the run goes on."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

from explainendo import GastricDiagnoser, InSample
from explainendo.cli import app
from explainendo.commands import diagnose_images
from explainendo.errors import ConfigError
from explainendo.localize import WholeFrame
from explainendo.synth import generate
from explainendo.systems.gastric import gastric_heads, gastric_predictor
from explainendo.training import Training

runner = CliRunner()
N_IMAGES = 40


def _model(train, seed: int):
    heads = gastric_heads(seed, image_size=32, pretrained=False, backbone="resnet18",
                          training=Training(epochs=1, batch_size=32, num_threads=1, device="cpu"))
    predictor = gastric_predictor(heads=heads, fitter="logistic_regression", stacking=InSample(),
                                  group_selection=None, seed=seed)
    return GastricDiagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, batch_size=4,
                            seed=seed, ood=None).fit(train)  # the OOD flag: tests/test_ood_default.py


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    train = generate("gastric", 32, seed=0, size=64).write(root / "train")
    model = _model(train, seed=0).save(root / "model")
    images = root / "images"
    generate("gastric", N_IMAGES, seed=1, size=64).write(images)
    reference = root / "reference"  # the uninterrupted run
    summary = diagnose_images(model, images, reference, cards=False, progress=False)
    assert summary["ok"] == N_IMAGES and summary["resumed"] == 0
    return root, model, images, reference


def _cli(model, images, out, *extra):
    return [sys.executable, "-c", "from explainendo.cli import main; main()", "diagnose", str(model), str(images),
            "--out", str(out), "--no-cards", *extra]


def _rows(path):
    return len((path / "results.jsonl").read_text().splitlines()) if (path / "results.jsonl").exists() else 0


def _same_as_reference(out, reference):
    got, want = pd.read_csv(out / "results.csv", dtype=str), pd.read_csv(reference / "results.csv", dtype=str)
    assert list(got.columns) == list(want.columns)
    assert got["image"].is_unique and len(got) == len(want)
    pd.testing.assert_frame_equal(got, want)  # row for row, the probabilities to the written digits
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert records == [json.loads(line) for line in (reference / "results.jsonl").read_text().splitlines()]
    assert json.loads((out / "results.json").read_text()) == records
    assert [r["frame_index"] for r in records] == list(range(len(records)))


def test_killed_run_resumes_with_no_duplicate_and_no_missing_row(setup):
    root, model, images, reference = setup
    out = root / "killed"
    env = {**os.environ, "EXPLAINENDO_PROGRESS": "0"}
    run = subprocess.Popen(_cli(model, images, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while _rows(out) < 8 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL, run.stdout.read().decode()
    partial = _rows(out)
    assert 8 <= partial < N_IMAGES and not (out / "results.json").exists()
    again = subprocess.run(_cli(model, images, out), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{N_IMAGES} diagnosed" in again.stdout and f"resuming in {out}" in again.stderr
    _same_as_reference(out, reference)


def test_a_torn_last_line_is_cut_off_and_done_again(setup, tmp_path):
    root, model, images, reference = setup
    out = tmp_path / "torn"
    diagnose_images(model, images, out, cards=False, progress=False)
    csv_lines = (out / "results.csv").read_bytes().splitlines(keepends=True)
    jsonl_lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    # killed mid-way: 29 rows in the CSV and half of the 30th, 29 in the JSONL and half of the 30th
    (out / "results.csv").write_bytes(b"".join(csv_lines[:30]) + csv_lines[30][:17])
    (out / "results.jsonl").write_bytes(b"".join(jsonl_lines[:29]) + jsonl_lines[29][:25])
    (out / "results.json").unlink()
    said = []
    summary = diagnose_images(model, images, out, cards=False, progress=False, say=said.append)
    # resumed at the last whole batch (4): the batches, hence the float32 outputs, are an uninterrupted run's
    assert summary["resumed"] == 28 and summary["ok"] == N_IMAGES
    assert "28 of 40 inputs already done; 1 done again" in said[0] and "an unfinished row cut off" in said[0]
    _same_as_reference(out, reference)
    # a row in the CSV but not yet in the JSONL (killed between the two writes) is done again, once
    (out / "results.jsonl").write_bytes(b"".join(jsonl_lines[:35]))
    assert diagnose_images(model, images, out, cards=False, progress=False)["resumed"] == 32
    _same_as_reference(out, reference)
    # a finished run run again changes nothing
    assert diagnose_images(model, images, out, cards=False, progress=False)["resumed"] == N_IMAGES
    _same_as_reference(out, reference)


def test_another_model_or_input_list_is_refused_and_overwrite_starts_again(setup, tmp_path):
    root, model, images, reference = setup
    other_model = _model(root / "train" / "manifest.csv", seed=1).save(tmp_path / "other_model")
    out = tmp_path / "out"
    diagnose_images(model, images, out, cards=False, progress=False)
    before = (out / "results.csv").read_text()
    with pytest.raises(ConfigError, match=r"differs from this one in its model \(its checksums.sha256\)") as refused:
        diagnose_images(other_model, images, out, cards=False, progress=False)
    assert str(out) in str(refused.value) and "--overwrite" in str(refused.value)
    fewer = tmp_path / "fewer"
    generate("gastric", 5, seed=1, size=64).write(fewer)
    result = runner.invoke(app, ["diagnose", str(model), str(fewer), "--out", str(out), "--no-cards"])
    assert result.exit_code == 2 and "its input list" in result.output and "--overwrite" in result.output
    result = runner.invoke(app, ["diagnose", str(model), str(images), "--out", str(out), "--cards"])
    assert result.exit_code == 2 and "its --cards / --no-cards (False there, True now)" in result.output
    assert (out / "results.csv").read_text() == before  # the refused runs wrote nothing
    result = runner.invoke(app, ["diagnose", str(model), str(fewer), "--out", str(out), "--no-cards", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "5 diagnosed" in result.output and len(pd.read_csv(out / "results.csv")) == 5
    # results of unknown origin (no ledger) are not mixed either
    (out / "ledger.json").unlink()
    with pytest.raises(ConfigError, match="no ledger.json"):
        diagnose_images(model, fewer, out, cards=False, progress=False)


def test_broken_images_are_rows_listed_and_never_fatal(setup, tmp_path):
    root, model, images, reference = setup
    folder = tmp_path / "mixed"
    generate("gastric", 4, seed=2, size=64).write(folder)
    (folder / "gastric_00001b.png").write_bytes(b"\x89PNG garbage")
    (folder / "zz_empty.png").write_bytes(b"")
    out = tmp_path / "out"
    result = runner.invoke(app, ["diagnose", str(model), str(folder), "--out", str(out), "--no-cards"])
    assert result.exit_code == 0, result.output
    assert "4 diagnosed" in result.output and "2 unreadable" in result.output
    assert "gastric_00001b.png" in result.output and "zz_empty.png" in result.output
    table = pd.read_csv(out / "results.csv")
    assert list(table["image"].str.rsplit("/", n=1).str[-1]) == sorted(p.name for p in folder.glob("*.png"))
    assert list(table["status"]) == ["ok", "ok", "error", "ok", "ok", "error"]
    assert table.loc[table["status"] == "error", "message"].str.len().gt(0).all()
    assert len((out / "broken.txt").read_text().splitlines()) == 2
    # resumed: the errors stay (not tried again) unless --retry-errors, which does again what follows the last
    # whole batch before the first error (here: everything)
    said = []
    assert diagnose_images(model, folder, out, cards=False, progress=False, say=said.append)["resumed"] == 6
    (folder / "gastric_00001b.png").write_bytes((folder / "gastric_00001.png").read_bytes())
    summary = diagnose_images(model, folder, out, cards=False, progress=False, retry_errors=True)
    assert summary["resumed"] == 0 and summary["ok"] == 5 and summary["error"] == 1
    assert list(pd.read_csv(out / "results.csv")["status"]) == ["ok", "ok", "ok", "ok", "ok", "error"]
    assert (out / "broken.txt").read_text().startswith(str(folder / "zz_empty.png"))


def test_a_video_resumes_at_its_frame(setup, tmp_path):
    import cv2
    import numpy as np

    root, model, images, reference = setup
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    for image in generate("gastric", 10, seed=5, size=64).images:
        writer.write(np.ascontiguousarray(image[..., ::-1]))
    writer.release()
    whole, out = tmp_path / "whole", tmp_path / "out"
    assert diagnose_images(model, video, whole, cards=False, progress=False)["total"] == 10
    diagnose_images(model, video, out, cards=False, progress=False)
    jsonl = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    (out / "results.jsonl").write_bytes(b"".join(jsonl[:6]))  # killed after 6 frames' rows
    assert diagnose_images(model, video, out, cards=False, progress=False)["resumed"] == 4
    for name in ("results.csv", "results.jsonl", "results.json"):
        assert (out / name).read_text() == (whole / name).read_text()
