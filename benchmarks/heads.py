"""Speed of the shared-backbone attribute heads (issue 6).

    nice python benchmarks/heads.py            # batch 16 at 224 px, 7 repeats
    nice python benchmarks/heads.py --quick    # batch 8 at 128 px, 3 repeats

1. Inference on a batch of lesions: one classifier (backbone + one head) vs the shared backbone with the
   six crop heads (one forward), vs all seven heads (the landmark head adds one forward of the same backbone
   on the frames), vs seven separate networks (ENDOANGEL-ED's design). Goal: heads <= 1.3x one classifier.
2. Grad-CAM for all heads of one lesion crop (one forward + one cheap backward per head). Goal <= 100 ms.

The repeats are interleaved (one of each per round) and the median is reported, so a busy machine
slows every variant alike. Both wall time and process CPU time are given: on a shared, busy box the CPU
time (summed over torch's threads) is the fairer measure of the work; with ``--threads 1`` it is what the
wall time would be on an idle core. The machine, threads and load average are printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.image_size, args.batch, args.repeats = 128, 8, 3

    import numpy as np
    import torch

    from explainendo.heads import AttributeHeads, create_backbone
    from explainendo.training import Training
    from explainendo.heads.attribute_heads import _build_network
    from explainendo.specs import GASTRIC_ATTRIBUTES
    from explainendo.synth import generate

    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{args.threads}, load average {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"backbone {args.backbone}, input {args.image_size} px, batch {args.batch}, {args.repeats} repeats")

    torch.manual_seed(0)
    crop_specs = [s for s in GASTRIC_ATTRIBUTES if s.input == "crop"]
    one = _build_network(create_backbone(args.backbone, pretrained=False), crop_specs[:1]).eval()
    shared = _build_network(create_backbone(args.backbone, pretrained=False), GASTRIC_ATTRIBUTES).eval()
    seven = [_build_network(create_backbone(args.backbone, pretrained=False), [s]).eval()
             for s in GASTRIC_ATTRIBUTES]
    crops = torch.rand(args.batch, 3, args.image_size, args.image_size)
    frames = torch.rand(args.batch, 3, args.image_size, args.image_size)

    variants = {
        "one classifier (1 head)": lambda: one(crops),
        "shared backbone, 6 crop heads": lambda: shared(crops),
        "shared backbone, all 7 heads (+ frame forward)": lambda: shared(crops, frames),
        "seven separate networks": lambda: [net(frames if s.input == "frame" else crops)
                                            for net, s in zip(seven, GASTRIC_ATTRIBUTES)],
    }
    times = {k: [] for k in variants}
    cpu = {k: [] for k in variants}
    with torch.no_grad():
        for fn in variants.values():
            fn()  # warm-up
        for _ in range(args.repeats):
            for name, fn in variants.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                fn()
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
    base = statistics.median(times["one classifier (1 head)"])
    base_cpu = statistics.median(cpu["one classifier (1 head)"])
    print("\n| variant | wall ms per batch | x one classifier (wall) | CPU ms per batch | x one classifier (CPU) |"
          "\n|---|---|---|---|---|")
    for name, values in times.items():
        med, med_cpu = statistics.median(values), statistics.median(cpu[name])
        print(f"| {name} | {med * 1000:.1f} | {med / base:.2f} | {med_cpu * 1000:.1f} | {med_cpu / base_cpu:.2f} |")

    # Grad-CAM for every head of one lesion, on a fitted model (a short fit on a few phantoms)
    samples = generate("gastric", 16, seed=0, size=256).to_samples()
    model = AttributeHeads(backbone=args.backbone, image_size=args.image_size, augment=None, seed=0,
                           training=Training(epochs=1, batch_size=8, num_threads=args.threads)).fit(samples)
    torch.set_num_threads(args.threads)
    one_lesion = samples.subset([0])
    crop_heads = [a for a in model.trained_attributes_ if a != "landmark"]
    cam_times = {"Grad-CAM, 6 crop heads of one crop": lambda: model.gradcam(one_lesion, attributes=crop_heads),
                 "Grad-CAM, all 7 heads (+ landmark on the frame)": lambda: model.gradcam(one_lesion)}
    cam_results = {k: [] for k in cam_times}
    cam_cpu = {k: [] for k in cam_times}
    for fn in cam_times.values():
        fn()
    for _ in range(max(args.repeats, 5)):
        for name, fn in cam_times.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            maps = fn()
            cam_results[name].append(time.perf_counter() - start)
            cam_cpu[name].append(time.process_time() - start_cpu)
    assert all(np.isfinite(m[0]).all() for m in maps.values())
    print(f"\n| Grad-CAM ({args.image_size} px) | wall ms (median) | CPU ms (median) | goal |\n|---|---|---|---|")
    for name, values in cam_results.items():
        print(f"| {name} | {statistics.median(values) * 1000:.1f} | {statistics.median(cam_cpu[name]) * 1000:.1f} "
              "| <= 100 ms |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
