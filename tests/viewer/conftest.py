"""A real diagnose output folder for the viewer's tests, made once per session (~15 s): a tiny hybrid gastric model
(ResNet-18 attribute heads at 32 px for one epoch, the handcrafted features, a logistic regression stacked in-sample,
the whole frame as the lesion, an OOD detector) diagnoses 8 generated frames and one unreadable file; then one frame
is deleted, so that one case's image is missing."""

import pytest

from explainendo import Diagnoser, InSample
from explainendo.commands import diagnose_images
from explainendo.explain import OODDetector
from explainendo.localize import WholeFrame
from explainendo.synth import generate
from explainendo.systems.gastric import gastric_heads, gastric_predictor
from explainendo.training import Training

from viewer_data import MISSING, N_FRAMES


@pytest.fixture(scope="session")
def viewer_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("viewer")
    train = generate("gastric", 40, seed=0, size=64).write(root / "train")
    heads = gastric_heads(0, image_size=32, pretrained=False, backbone="resnet18",
                          training=Training(epochs=1, batch_size=32, num_threads=1, device="cpu"))
    predictor = gastric_predictor(heads=heads, fitter="logistic_regression", stacking=InSample(),
                                  group_selection=None, seed=0)
    model = Diagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, ood=OODDetector()).fit(train)
    model_dir = model.save(root / "model")
    images = root / "images"
    generate("gastric", N_FRAMES, seed=1, size=64).write(images)
    (images / "zz_broken.png").write_bytes(b"not an image")  # sorted last: the error row
    out = root / "results"
    summary = diagnose_images(model_dir, images, out, cards=False, progress=False)
    assert summary["ok"] == N_FRAMES and summary["error"] == 1
    (images / MISSING).unlink()
    return {"root": root, "model": model, "model_dir": model_dir, "images": images, "out": out}
