"""``explainendo diagnose --engine ray`` (:mod:`explainendo.archive_ray`): on a local two-worker Ray (2 CPUs, a 200 MB
object store) an archive of 24 phantoms and 2 broken files gives the local run's files row for row (results.csv and
results.jsonl byte for byte: they hold no timing field), the same cards and the same broken list; a stopped run
resumes on Ray; without Ray the engine is a typed error before any work, and importing explainendo never imports
Ray. The model is the tiny gastric one of tests/test_diagnose_resume.py (batches of 4)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from explainendo.cli import app
from explainendo.commands import diagnose_images
from explainendo.errors import ConfigError, MissingDependencyError
from explainendo.synth import generate

from test_diagnose_resume import _model

ray = pytest.importorskip("ray")
runner = CliRunner()
N_IMAGES = 24
BROKEN = ("00_broken.png", "m_broken.jpg")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    train = generate("gastric", 32, seed=0, size=64).write(root / "train")
    model = _model(train, seed=0).save(root / "model")
    images = root / "images"
    generate("gastric", N_IMAGES, seed=1, size=64).write(images)
    (images / BROKEN[0]).write_bytes(b"\x89PNG not really")
    (images / BROKEN[1]).write_bytes(b"")
    local = root / "local"
    summary = diagnose_images(model, images, local, cards=False, progress=False)
    assert summary["ok"] == N_IMAGES and summary["error"] == 2
    ray.init(num_cpus=2, object_store_memory=200 * 2 ** 20, include_dashboard=False, configure_logging=False)
    try:
        yield root, model, images, local
    finally:
        ray.shutdown()


def _same_files(out, local):
    """The same files, byte for byte (the records' card paths name each run's own folder)."""
    for name in ("results.csv", "results.jsonl", "results.json", "broken.txt"):
        assert (out / name).read_text().replace(str(out), "OUT") == (local / name).read_text().replace(
            str(local), "OUT"), name


def test_ray_gives_the_local_rows(setup):
    root, model, images, local = setup
    out = root / "on_ray"
    from explainendo.archive_ray import diagnose_on_ray

    summary = diagnose_on_ray(model, images, out, workers=2, cards=False)
    assert summary["ok"] == N_IMAGES and summary["error"] == 2 and summary["resumed"] == 0
    _same_files(out, local)  # row for row: the CSV text itself (no timing column to drop)
    broken = (out / "broken.txt").read_text()
    assert all(name in broken for name in BROKEN)
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["frame_index"] for r in records] == list(range(N_IMAGES + 2))


def test_ray_writes_the_local_cards(setup):
    """Cards are rendered by the workers and written by the driver under the local run's names (3 images and a
    broken one: a card costs ~1 s here)."""
    root, model, images, _ = setup
    few = root / "few"
    few.mkdir()
    for path in sorted(images.glob("gastric_*"))[:3] + [images / BROKEN[0]]:
        shutil.copy(path, few / path.name)
    local, out = root / "few_local", root / "few_ray"
    diagnose_images(model, few, local, cards=True, progress=False)
    from explainendo.archive_ray import diagnose_on_ray

    diagnose_on_ray(model, few, out, workers=1, cards=True)  # one batch: one worker
    _same_files(out, local)
    names = sorted(p.name for p in (out / "cards").iterdir())
    assert names == sorted(p.name for p in (local / "cards").iterdir()) and len(names) == 3
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [Path(r["card"]).name for r in records if "card" in r] == names
    assert all((out / "cards" / name).stat().st_size > 1000 for name in names)


def test_ray_resumes_a_stopped_run(setup):
    root, model, images, local = setup
    out = root / "stopped"
    shutil.copytree(local, out)
    for name in ("results.json", "broken.txt"):
        (out / name).unlink()
    for name, keep in (("results.csv", 10), ("results.jsonl", 9)):  # header + 9 rows; 9 -> the batch of 8
        lines = (out / name).read_text().splitlines(keepends=True)
        (out / name).write_text("".join(lines[:keep]))
    result = runner.invoke(app, ["diagnose", str(model), str(images), "--out", str(out), "--engine", "ray",
                                 "--workers", "2", "--no-cards"])
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output and "8 of 26 inputs already done" in result.output
    assert f"{N_IMAGES} diagnosed" in result.output and "2 unreadable" in result.output
    _same_files(out, local)


def test_without_ray_a_typed_error_before_any_work(setup, monkeypatch, tmp_path):
    root, model, images, _ = setup
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if it were not installed
    monkeypatch.setitem(sys.modules, "ray.data", None)
    with pytest.raises(MissingDependencyError, match="Ray") as info:
        diagnose_images(model, images, tmp_path / "out", engine="ray", progress=False)
    assert "pip install 'explainendo[ray]'" in str(info.value)
    assert not (tmp_path / "out").exists()
    result = runner.invoke(app, ["diagnose", str(model), str(images), "--out", str(tmp_path / "cli"),
                                 "--engine", "ray"])
    assert result.exit_code == 2 and "explainendo[ray]" in result.output
    assert not (tmp_path / "cli").exists()


def test_engine_options_are_checked(setup, tmp_path):
    root, model, images, _ = setup
    with pytest.raises(ConfigError, match="not an engine"):
        diagnose_images(model, images, tmp_path / "a", engine="spark", progress=False)
    with pytest.raises(ConfigError, match="apply to --engine ray"):
        diagnose_images(model, images, tmp_path / "b", workers=2, progress=False)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    with pytest.raises(ConfigError, match="stream"):
        diagnose_images(model, video, tmp_path / "c", engine="ray", progress=False)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_importing_explainendo_does_not_import_ray():
    code = ("import sys, explainendo, explainendo.commands, explainendo.cli, explainendo.archive_ray; "
            "assert 'ray' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
