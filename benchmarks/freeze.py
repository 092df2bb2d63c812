"""Freeze detection: precision and recall of ``FreezeDetector`` on generated clips with known frozen spans.

    python benchmarks/freeze.py            # 40 clips (20 gastric, 20 ERCP) at 128 and at 256 px, seed 1
    python benchmarks/freeze.py --quick    # 12 clips at 128 px
    python benchmarks/freeze.py --mp4      # also each clip written as mp4v and read back (a lossy codec)

Each clip (``explainendo.synth.clips.generate_clips``) approaches a phantom's lesion, rests on it with tremor and
sensor noise, freezes 0, 1 or 2 times (10-60 frames each), and resumes; half the clips print a running clock, half
are JPEG-recompressed at a quality drawn per frame from 85-95, so frozen frames are not pixel-identical. The
detector runs with its defaults over every clip (``detect_freezes``) and is scored by
``explainendo.evaluate.video.freeze_detection_scores``, summed over the clips:

* frame-wise: precision and recall of the frames called frozen;
* span-wise: a detected span matches a true one at temporal IoU >= 0.5 (one to one);
* the boundary error of the matched spans (detected - true start and end, frames), and the confirmation delay
  (frames from a span's first frame until ``started`` is reported: ``min_frames - 1`` by design);

each with 95% Wilson intervals, per clip size, per system and per condition (clean / clock / JPEG / both).
Goal: every precision and recall >= 0.95. The detector's defaults were chosen on clips of seed 0 (see
docs/video.md); the default seed here is 1, so the figures are not measured on the clips they were tuned on.
``--mp4`` adds the same clips after an mp4v round trip at OpenCV's default bitrate: a stress case that is not part
of the goal (the codec drops the tremor of a resting scope and re-encodes frozen frames at every key frame).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def score_clips(clips, sources, detector):
    """Summed scores, per-clip scores, boundary errors and seconds per frame."""
    from explainendo.evaluate.video import FreezeScores, freeze_detection_scores, match_spans
    from explainendo.video import detect_freezes

    total, per_clip, starts, ends = FreezeScores(), [], [], []
    seconds, frames = 0.0, 0
    for clip, source in zip(clips, sources):
        t0 = time.perf_counter()
        found = detect_freezes(source, detector)
        seconds += time.perf_counter() - t0
        frames += len(clip)
        scores = freeze_detection_scores(clip.frozen_spans, found, len(clip))
        total = total + scores
        per_clip.append(scores)
        for i, j, _ in match_spans(clip.frozen_spans, found):
            starts.append(found[j].start - clip.frozen_spans[i].start)
            ends.append(found[j].end - clip.frozen_spans[i].end)
    return total, per_clip, np.asarray(starts), np.asarray(ends), seconds / max(frames, 1)


def print_scores(title: str, scores) -> None:
    table = scores.table()
    cells = [f"{r.level} {r.metric} {r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] ({r.numerator}/{r.denominator})"
             for r in table.itertuples()]
    print(f"  {title}")
    for cell in cells:
        print(f"    {cell}")


def condition(clip) -> str:
    clock, jpeg = clip.meta["clock"], clip.meta["compression"] is not None
    return {(False, False): "clean", (True, False): "clock", (False, True): "jpeg", (True, True): "clock+jpeg"}[
        (clock, jpeg)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 clips at 128 px")
    parser.add_argument("--clips", type=int, default=None, help="number of clips (default 40; 12 with --quick)")
    parser.add_argument("--sizes", type=int, nargs="*", default=None, help="clip sizes in px (default 128 256)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mp4", action="store_true", help="also score the clips after an mp4v round trip")
    parser.add_argument("--dsoc", default=None, help="also count false freezes on the real DSOC clips in this "
                                                     "folder (dsoc-cholangioscopy: no frozen span in them)")
    args = parser.parse_args()
    n_clips = args.clips or (12 if args.quick else 40)
    sizes = args.sizes or ([128] if args.quick else [128, 256])

    from explainendo.bench import run_header
    from explainendo.evaluate.video import FreezeScores
    from explainendo.io import iter_frames
    from explainendo.synth.clips import CLIP_DESIGN, generate_clips
    from explainendo.video import FreezeDetector

    print(run_header())
    detector = FreezeDetector()
    print(f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:])}".rstrip())
    print(f"detector: {detector!r} -> {detector.get_params()}")
    print(f"clips: {n_clips} per size (gastric and ERCP alternating), seed {args.seed}, sizes {sizes}, "
          f"design {CLIP_DESIGN}")
    failures = []
    for size in sizes:
        t0 = time.perf_counter()
        clips = generate_clips(n_clips, seed=args.seed, size=size)
        made = time.perf_counter() - t0
        n_frames = sum(len(c) for c in clips)
        n_frozen = sum(int(c.frozen.sum()) for c in clips)
        n_spans = sum(len(c.frozen_spans) for c in clips)
        print(f"\n== {size} x {size} px: {len(clips)} clips, {n_frames} frames ({n_frozen} frozen), {n_spans} frozen "
              f"spans, {sum(not c.frozen_spans for c in clips)} clips without a freeze; generated in {made:.1f} s")
        variants = [("frames as generated", [c.frames for c in clips])]
        if args.mp4:
            folder = Path(tempfile.mkdtemp(prefix="explainendo-freeze-"))
            decoded = []
            for i, clip in enumerate(clips):
                path = clip.write(folder / f"clip_{i:03d}.mp4")
                decoded.append(np.stack([f.image for f in iter_frames(path)]))
            variants.append(("after an mp4v round trip (stress case, not in the goal)", decoded))
        for name, sources in variants:
            total, per_clip, starts, ends, spf = score_clips(clips, sources, detector)
            print(f"-- {name}: detector {spf * 1e3:.2f} ms per frame")
            print_scores("all clips", total)
            if len(starts):
                print(f"    span boundaries (detected - true, frames): start median {np.median(starts):+.0f}, "
                      f"|start| max {np.abs(starts).max()}, within 2 frames {np.mean(np.abs(starts) <= 2):.3f}; "
                      f"end median {np.median(ends):+.0f}, |end| max {np.abs(ends).max()}, within 2 frames "
                      f"{np.mean(np.abs(ends) <= 2):.3f}")
            print(f"    confirmation delay: {detector.min_frames - 1} frames after a span's first frame "
                  f"({(detector.min_frames - 1) / 25.0:.2f} s at 25 fps)")
            groups: dict[str, FreezeScores] = {}
            for clip, scores in zip(clips, per_clip):
                for key in (clip.meta["system"], condition(clip)):
                    groups[key] = groups.get(key, FreezeScores()) + scores
            for key in sorted(groups):
                g = groups[key]
                print(f"    {key:<11} frame P {g.frame_precision:.3f} R {g.frame_recall:.3f} | span P "
                      f"{g.span_precision:.3f} R {g.span_recall:.3f} ({g.span_tp + g.span_fn} true spans)")
            if name == "frames as generated":
                worst = min(total.frame_precision, total.frame_recall, total.span_precision, total.span_recall)
                if not worst >= 0.95:
                    failures.append(f"{size} px: lowest precision/recall {worst:.3f}")
    if args.dsoc:
        dsoc_false_freezes(args.dsoc, detector)
    print("\ngoal (every precision and recall >= 0.95 on the generated frames): "
          + ("met" if not failures else "NOT met: " + "; ".join(failures)))


def dsoc_false_freezes(folder, detector) -> None:
    """Real frames in real order: each DSOC video's exported frames as a clip (``io.video_clips``). They hold no
    frozen span, so every frame the detector calls frozen is a false freeze."""
    from explainendo.io import iter_frames, load_dsoc, video_clips
    from explainendo.video import detect_freezes

    clips = video_clips(load_dsoc(folder))
    frames = flagged = 0
    for name, paths in clips.items():
        spans = detect_freezes((f.image for f in iter_frames(paths) if f.ok), detector)
        frames += len(paths)
        flagged += sum(span.end - span.start for span in spans)
        if spans:
            print(f"    DSOC {name}: false freezes {spans}")
    print(f"-- real DSOC clips ({len(clips)} videos, {frames} frames in their exported order): {flagged} frames "
          f"called frozen ({flagged / max(frames, 1):.3%}); no frozen span is in them")


if __name__ == "__main__":
    main()
