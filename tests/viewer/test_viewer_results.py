"""The results folder in memory (explainendo.viewer.results): a row being written is left for later, a run that goes
on is read again when results.csv changes, a record is read through its offset, and a saved result comes back as the
same Result."""

import shutil

import pytest

from explainendo.errors import ConfigError
from explainendo.viewer import Query, ResultsFolder, attribute_panel, result_from_record

from viewer_data import N_FRAMES


def test_a_torn_last_row_is_left_out_and_a_growing_run_is_read_again(viewer_run, tmp_path):
    folder = tmp_path / "results"
    shutil.copytree(viewer_run["out"], folder)
    csv_lines = (folder / "results.csv").read_text().splitlines(keepends=True)
    jsonl_lines = (folder / "results.jsonl").read_text().splitlines(keepends=True)
    # a run stopped (or still going) after 3 rows, the 4th half written in both files
    (folder / "results.csv").write_text("".join(csv_lines[:4]) + csv_lines[4][:10])
    (folder / "results.jsonl").write_text("".join(jsonl_lines[:3]) + jsonl_lines[3][:50])
    results = ResultsFolder(folder)
    assert results.n == 3 and results.page(Query()).total == 3
    assert results.record(2)["image"] == results.row(2)["image"]
    assert results.refresh() is False                                     # nothing changed: one stat
    (folder / "results.csv").write_text("".join(csv_lines))
    (folder / "results.jsonl").write_text("".join(jsonl_lines))
    assert results.refresh() is True and results.n == N_FRAMES + 1


def test_records_come_back_as_the_results_the_run_saved(viewer_run):
    results = ResultsFolder(viewer_run["out"])
    for index in range(results.n):
        record = results.record(index)
        assert result_from_record(record).to_dict() == {k: v for k, v in record.items() if k != "card"}
    panel = attribute_panel(result_from_record(results.record(0)).features)
    tone = next(a for a in panel if a["name"] == "tone")
    assert [c["name"] for c in tone["classes"]] == ["unchanged", "reddened", "pale"]
    assert tone["best"] == max(tone["classes"], key=lambda c: c["p"])["name"] and tone["corrected"] is None


def test_neighbours_follow_the_tables_order(viewer_run):
    results = ResultsFolder(viewer_run["out"])
    query = Query(sort="probability", order="desc")
    order = [int(i) for i in results.view(query)]
    previous, following, position, count = results.neighbours(order[1], query)
    assert (previous, following, position, count) == (order[0], order[2], 2, results.n)
    assert results.neighbours(order[0], Query(status="error")) == (None, None, None, 1)  # not in that view
    with pytest.raises(ConfigError, match="cannot sort by"):
        results.view(Query(sort="colour"))
    with pytest.raises(ConfigError, match="does not exist"):
        results.record(results.n)


def test_a_video_frame_is_read_at_its_index(viewer_run, tmp_path):
    import cv2
    import numpy as np

    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    for k in range(5):
        writer.write(np.full((48, 64, 3), 40 * k, dtype=np.uint8))
    writer.release()
    folder = tmp_path / "results"
    shutil.copytree(viewer_run["out"], folder)
    first = ResultsFolder(folder).record(0)["image"]
    for name in ("results.csv", "results.jsonl"):  # case 0 becomes frame 3 of the clip, as a video's run names it
        path = folder / name
        path.write_text(path.read_text().replace(first, f"{clip}#3", 1))
    results = ResultsFolder(folder)
    frame = results.frame(0)
    assert frame.path == clip and frame.video_frame == 3 and frame.size == (64, 48) and frame.problem is None
    pixels = results.pixels(frame)
    assert pixels.shape == (48, 64, 3) and abs(float(pixels.mean()) - 120) < 8


def test_maps_lie_over_the_crop_or_the_whole_frame(viewer_run):
    import io
    from types import SimpleNamespace

    import numpy as np
    from PIL import Image

    from explainendo.types import Box, Explanation, Lesion, Result
    from explainendo.viewer import CaseExplainer

    explainer = CaseExplainer(ResultsFolder(viewer_run["out"]), model=viewer_run["model"])
    explainer.model = SimpleNamespace(enlarge=1.2)       # the diagnoser's crop enlargement
    frame = np.zeros((80, 100, 3), dtype=np.uint8)
    lesion = Lesion(box=Box(20, 20, 60, 50), label="a", probability=0.9)
    explanation = Explanation(result=Result(image="x.png", lesions=[lesion], frame=frame), shap={}, group_shap={},
                              expected_value=0.0, output=0.0, space="probability", explainer="grad-cam",
                              explained_class="a", gradcams={"tone": np.ones((7, 7)), "landmark": np.ones((80, 100))},
                              frame=frame, localizer_map=np.full((80, 100), 3.0))
    places = explainer.maps(explanation)
    assert places["tone"] == {"x": 16, "y": 17, "width": 48, "height": 36, "text": "tone"}   # box x1.2, whole pixels
    assert places["landmark"] == {"x": 0, "y": 0, "width": 100, "height": 80, "text": "landmark"}
    assert places["localizer_mask"]["width"] == 100 and places["localizer_mask"]["text"] == "localizer mask"
    explainer._explanations[(0, None)] = explanation
    tone = Image.open(io.BytesIO(explainer.cam_png(0, "tone")))
    assert tone.size == (48, 36) and tone.mode == "RGBA"
    assert Image.open(io.BytesIO(explainer.cam_png(0, "localizer_mask"))).size == (100, 80)
