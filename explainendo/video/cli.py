"""``explainendo video MODEL IN.mp4 --out OUT.mp4``: a saved model on a video, annotated frame by frame.

Writes the annotated video (the input's frame count, size and frame rate), one JSON line and one CSV row per frame
beside it (appended and flushed per frame, so a run stopped half-way keeps what it finished), and prints the
per-video decision and the freeze spans with their explanations. Exit status 2, before anything is written, when the
model or the video cannot be read.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from ..commands import _fail as fail  # the one CLI error exit


@dataclass(frozen=True)
class VideoInfo:
    """What the video's container says: frame rate (None when it does not say), size, frame count (may be 0 when
    the container does not say)."""

    fps: float | None
    width: int
    height: int
    n_frames: int


def probe_video(path: Path) -> VideoInfo:
    """Open ``path`` and decode its first frame: :class:`VideoInfo`, or InvalidImageError (missing, not a video,
    no readable frame)."""
    import cv2

    from ..errors import InvalidImageError

    path = Path(path)
    if not path.is_file():
        raise InvalidImageError("video file not found", source=str(path), hint="check the path")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InvalidImageError("cannot open the video (not a video, or its codec is missing)", source=str(path))
        ok, first = cap.read()
        if not ok or first is None:
            raise InvalidImageError("the video holds no readable frame", source=str(path))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return VideoInfo(fps if fps > 0 else None, int(first.shape[1]), int(first.shape[0]), max(count, 0))
    finally:
        cap.release()


def _outputs(video: Path, out: Optional[Path], jsonl: Optional[Path], csv_path: Optional[Path]):
    from ..errors import ConfigError

    out = Path(out) if out is not None else video.with_name(f"{video.stem}.explained.mp4")
    jsonl = Path(jsonl) if jsonl is not None else out.with_suffix(".jsonl")
    csv_path = Path(csv_path) if csv_path is not None else out.with_suffix(".csv")
    written = [out.resolve(), jsonl.resolve(), csv_path.resolve()]
    if video.resolve() in written:
        raise ConfigError("an output would overwrite the input video", source=str(video), hint="choose another --out")
    if len(set(written)) < 3:
        raise ConfigError("--out, --jsonl and --csv must be three different files")
    return out, jsonl, csv_path


def video_command(
    model: Path = typer.Argument(..., help="a saved model folder"),
    video: Path = typer.Argument(..., help="a video file (.mp4, .avi, .mov ...)"),
    out: Optional[Path] = typer.Option(None, "--out", help="the annotated video (mp4v); default "
                                                            "<VIDEO stem>.explained.mp4 beside the input"),
    jsonl: Optional[Path] = typer.Option(None, "--jsonl", help="one JSON line per frame (default: OUT with .jsonl)"),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="one CSV row per frame (default: OUT with .csv)"),
    explain: bool = typer.Option(True, "--explain/--no-explain",
                                 help="run the full explanation (SHAP, Grad-CAM) once per freeze"),
    realtime: bool = typer.Option(False, "--realtime",
                                  help="keep up with the video's timestamps: skip the frames the model cannot "
                                       "diagnose in time (they show the last diagnosis), counted"),
    top: int = typer.Option(3, "--top", min=0, help="explanation sentences shown and recorded per freeze"),
    reuse_box: bool = typer.Option(False, "--reuse-box/--no-reuse-box",
                                   help="skip the localizer on frames where the scene has not moved since the last "
                                        "localized frame (BoxReuse defaults), counted"),
    runtime: str = typer.Option("torch", "--runtime",
                                help="torch, or onnx: the networks' forward passes in onnxruntime (after "
                                     "explainendo export MODEL --onnx); explanations use torch either way"),
) -> None:
    """Diagnose a video frame by frame with a saved model; explain each freeze once; write the annotated video."""
    from .. import progress
    from ..bundle import load
    from ..engine import Diagnoser
    from ..errors import ConfigError, ExplainendoError
    from .overlay import Overlay, OverlayWriter
    from .session import VideoSession, VideoSummary

    try:
        info = probe_video(video)
        out, jsonl, csv_path = _outputs(video, out, jsonl, csv_path)
        diagnoser = load(model, runtime=runtime)
        if not isinstance(diagnoser, Diagnoser):
            raise ConfigError(f"the folder holds a {type(diagnoser).__name__}, not a diagnoser", source=str(model),
                              hint="give a model folder saved by a Diagnoser (explainendo train)")
        session = VideoSession(diagnoser, explain_on_freeze=explain, realtime=realtime,
                               reuse_box=reuse_box).check_params()
    except ExplainendoError as exc:
        fail(exc)
    fps = info.fps
    if fps is None:
        fps = 25.0
        typer.secho("warning: the video does not state its frame rate; the annotated video is written at 25 fps",
                    fg="yellow", err=True)
    classes = session.classes
    summary = VideoSummary(video=video.name, classes=classes, top=top)
    overlay = Overlay(top=top, enlarge=float(diagnoser.enlarge))
    fields = list(_fields(classes))
    for path in (out, jsonl, csv_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with OverlayWriter(out, fps, size=(info.width, info.height), overlay=overlay) as writer, \
                open(jsonl, "w") as fjson, open(csv_path, "w", newline="") as fcsv, \
                progress.task(f"video {video.name}", total=info.n_frames or None) as bar:
            rows = csv.DictWriter(fcsv, fieldnames=fields)
            rows.writeheader()
            for frame in session.run(video):
                writer.write(frame)
                fjson.write(json.dumps(frame.to_dict(top)) + "\n")
                rows.writerow(frame.to_row(classes, top))
                fjson.flush()
                fcsv.flush()
                summary.add(frame)
                notes = {"frozen": "yes" if frame.frozen else "no"}
                if realtime:
                    notes["skipped"] = summary.n_skipped
                bar.advance(1, **notes)
    except ExplainendoError as exc:
        fail(exc)
    for line in summary.lines():
        typer.echo(line)
    if writer.n_resized:
        typer.secho(f"warning: {writer.n_resized} frame(s) had another size and were resized", fg="yellow", err=True)
    typer.echo(f"annotated video: {out} ({writer.n_written} frames, {info.width}x{info.height}, {fps:g} fps)")
    typer.echo(f"per-frame records: {jsonl}, {csv_path}")


def _fields(classes: list[str]):
    """The CSV columns (those of :meth:`VideoFrame.to_row`)."""
    yield from ("index", "timestamp", "image", "status", "label", "probability")
    yield from (f"p_{c}" for c in classes)
    yield "smoothed_label"
    yield from (f"smoothed_p_{c}" for c in classes)
    yield from ("x1", "y1", "x2", "y2", "frozen", "freeze_started", "explained", "explanation", "explanation_error",
                "skipped", "box_reused", "error")
