"""A real, tiny gastric model shared by the video session, overlay and command-line tests (trained once, ~10 s):
the attribute heads on a random-initialised ResNet-18 at 32 px for one epoch, the handcrafted features, a logistic
regression stacked in-sample; the whole frame is the lesion. Clips come from explainendo.synth.clips."""

import pytest

from explainendo import GastricDiagnoser, InSample
from explainendo.localize import WholeFrame
from explainendo.synth import generate
from explainendo.synth.clips import make_clip
from explainendo.systems.gastric import gastric_heads, gastric_predictor
from explainendo.training import Training

#: two freezes of 10 frames: spans (12, 22) and (26, 36) of 42 frames
CLIP = dict(size=64, fps=25.0, approach_frames=8, hold_frames=4, frozen_frames=[10, 10], resume_frames=6)


@pytest.fixture(scope="session")
def video_model(tmp_path_factory):
    train = generate("gastric", 32, seed=0, size=64).write(tmp_path_factory.mktemp("video_train"))
    heads = gastric_heads(0, image_size=32, pretrained=False, backbone="resnet18",
                          training=Training(epochs=1, batch_size=32, num_threads=1, device="cpu"))
    predictor = gastric_predictor(heads=heads, fitter="logistic_regression", stacking=InSample(),
                                  group_selection=None, seed=0)
    return GastricDiagnoser(localizer=WholeFrame(remove_border=False), predictor=predictor, seed=0,
                            ood=None).fit(train)


@pytest.fixture(scope="session")
def saved_video_model(video_model, tmp_path_factory):
    return video_model.save(tmp_path_factory.mktemp("video_model") / "gastric")


@pytest.fixture(scope="session")
def clip():
    phantom = generate("gastric", 1, seed=3, size=96)
    box = phantom.table.loc[0, ["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)
    return make_clip(phantom.images[0], box, seed=0, **CLIP)


@pytest.fixture(scope="session")
def clip_mp4(clip, tmp_path_factory):
    return clip.write(tmp_path_factory.mktemp("video_clip") / "clip.mp4")
