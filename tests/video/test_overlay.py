"""Overlay and OverlayWriter: the panel on the left, the input's size kept, the freeze marker and the Grad-CAM on the
explained region, unreadable frames drawn, the annotated mp4 with the input's frame count and size."""

import cv2
import numpy as np
import pytest

from explainendo.errors import ConfigError
from explainendo.types import Box, Explanation, Lesion, Result
from explainendo.video import (FreezeState, Overlay, OverlayWriter, SmoothedLabel, VideoFrame, VideoSession,
                               attribute_rows, top_gradcam)


def _changed(a, b):
    return np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 0


def _hand_made_frame(frozen=True, size=(120, 160)):
    """A frozen frame with a 40 x 30 px lesion and an explanation whose tone map is hot on the crop's right half."""
    rng = np.random.default_rng(0)
    image = rng.integers(60, 200, (*size, 3), dtype=np.uint8)
    box = Box(100, 60, 140, 90)
    lesion = Lesion(box=box, label="neoplastic", probability=0.8,
                    probabilities={"non_neoplastic": 0.2, "neoplastic": 0.8},
                    features={"tone.p_unchanged": 0.1, "tone.p_reddened": 0.7, "tone.p_pale": 0.2,
                              "surface.p_smooth": 0.4, "surface.p_rough": 0.6, "lbp.hist_0": 0.3})
    result = Result(image="frame", lesions=[lesion], frame_index=3, timestamp=0.12, frame=image)
    cam = np.zeros((30, 40))
    cam[:, 20:] = 1.0
    explanation = Explanation(result=result, shap={}, group_shap={"tone": 0.4, "surface": -0.1}, expected_value=0.0,
                              output=0.3, space="log-odds", explainer="tree", explained_class="neoplastic",
                              gradcams={"surface": np.ones((30, 40)), "tone": cam})
    state = FreezeState(3, 0.12, frozen, started=frozen, start_index=0 if frozen else None)
    return VideoFrame(result=result, freeze=state, smoothed=SmoothedLabel("neoplastic", lesion.probabilities),
                      explanation=explanation if frozen else None, explained=frozen, image=image)


def test_the_panel_is_on_the_left_and_the_size_is_the_inputs():
    frame = _hand_made_frame(frozen=False)
    before = frame.image.copy()
    drawn = Overlay(panel_width=0.25).draw(frame)
    assert drawn.shape == before.shape and drawn.dtype == np.uint8
    assert np.array_equal(frame.image, before)  # drawn on a copy
    changed = _changed(drawn, before)
    assert changed[:, :40].mean() > 0.95  # the panel: the left quarter, darkened and written on
    assert not changed[:, 42:80].any()  # between the panel and the box (and its caption): untouched
    assert changed[60, 100:140].all()  # the box's top edge
    assert not changed[:20, 130:].any()  # no freeze marker on a live frame


def test_a_frozen_frame_shows_the_marker_and_the_top_heads_grad_cam_on_its_region():
    frame = _hand_made_frame(frozen=True)
    before = frame.image.copy()
    drawn = Overlay(panel_width=0.25, font_scale=0.3).draw(frame)
    changed = _changed(drawn, before)
    assert changed[2:8, 135:158].mean() > 0.9  # "FROZEN", top right
    # tone (the top group), blended on the crop only: its hot half turns red (blue drops), its cold half blue
    hot = drawn[64:88, 122:138].astype(int) - before[64:88, 122:138].astype(int)
    cold = drawn[64:88, 103:118].astype(int) - before[64:88, 103:118].astype(int)
    assert hot[..., 2].mean() < -20 and cold[..., 0].mean() < -20
    assert hot[..., 2].mean() < hot[..., 0].mean() - 20 and cold[..., 0].mean() < cold[..., 2].mean() - 20
    assert not changed[95:118, 100:140].any() and not changed[20:44, 100:140].any()  # outside the region
    assert top_gradcam(frame.explanation)[0] == "tone"
    assert top_gradcam(Explanation(result=frame.result, shap={}, group_shap={}, expected_value=0, output=0,
                                   space="probability", explainer="grad-cam", explained_class="neoplastic",
                                   gradcams={"diagnosis": np.zeros((4, 4))})) is None  # a flat map: nothing


def test_attribute_rows_and_a_cnn_frame():
    rows = attribute_rows({"tone.p_unchanged": 0.1, "tone.p_reddened": 0.7, "tone.p_pale": 0.2,
                           "surface.p_smooth": float("nan"), "surface.p_rough": 0.6, "lbp.hist_0": 3.0})
    assert rows == [("tone", "reddened", 0.7), ("surface", "rough", 0.6)]
    frame = _hand_made_frame(frozen=False)
    frame.result.lesions[0].features = {}  # a CNN: the panel lists the class probabilities
    assert Overlay().draw(frame).shape == frame.image.shape


def test_an_unreadable_frame_is_drawn_on_a_black_canvas_of_the_videos_size():
    frame = VideoFrame(result=Result(image="item", frame_index=4, error="cannot decode"),
                       freeze=FreezeState(4, None, False), smoothed=SmoothedLabel(None, {}))
    drawn = Overlay().draw(frame, size=(90, 60))
    assert drawn.shape == (60, 90, 3) and drawn.any()
    with pytest.raises(ConfigError, match="no pixels"):
        Overlay().draw(frame)
    with pytest.raises(ConfigError, match="panel_width"):
        Overlay(panel_width=0).draw(frame, size=(90, 60))


def test_the_annotated_video_has_the_inputs_frame_count_and_size(video_model, clip_mp4, clip, tmp_path):
    cap = cv2.VideoCapture(str(clip_mp4))
    n_in, w_in, h_in = (int(cap.get(p)) for p in (cv2.CAP_PROP_FRAME_COUNT, cv2.CAP_PROP_FRAME_WIDTH,
                                                   cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    out = tmp_path / "annotated.mp4"
    with OverlayWriter(out, clip.fps, overlay=Overlay(enlarge=video_model.enlarge)) as writer:
        for frame in VideoSession(video_model, explain_on_freeze=False).run(clip_mp4):
            drawn = writer.write(frame)
            assert drawn.shape == (h_in, w_in, 3)
    cap = cv2.VideoCapture(str(out))
    count = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        assert bgr.shape == (h_in, w_in, 3)
        count += 1
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(clip.fps)
    cap.release()
    assert count == n_in == len(clip) and writer.n_written == n_in and writer.n_resized == 0


def test_frames_without_pixels_before_the_first_readable_one_wait_for_the_size(video_model, clip, tmp_path):
    frames = [None, clip.frames[0], None, clip.frames[1]]
    with OverlayWriter(tmp_path / "gaps.mp4", 25.0) as writer:
        drawn = [writer.write(f) for f in VideoSession(video_model, fps=25.0).run(frames)]
    assert drawn[0] is None and all(d.shape == (64, 64, 3) for d in drawn[1:])
    assert writer.n_written == 4
    empty = OverlayWriter(tmp_path / "empty.mp4", 25.0)
    empty.write(VideoFrame(result=Result(image="x", error="lost"), freeze=FreezeState(0, None, False),
                           smoothed=SmoothedLabel(None, {})))
    with pytest.raises(ConfigError, match="size is unknown"):
        empty.close()
