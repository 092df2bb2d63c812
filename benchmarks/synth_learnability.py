"""Can a small CNN learn each gastric phantom attribute from the lesion crop in a short CPU training?

    python benchmarks/synth_learnability.py            # 1600 train / 400 held-out images, 12 epochs
    python benchmarks/synth_learnability.py --quick    # 400 / 200 images, 4 epochs: checks that it runs,
                                                       # too short to learn (accuracies stay near chance)

A 4-block CNN (16-32-64-64 channels, batch norm, max pooling, global average pooling) with one linear head
per attribute, trained jointly with AdamW and a one-cycle schedule on 96 px crops (``enlarge=1.2``) of
``generate("gastric", ...)`` with seed 10 (train) and seed 11 (held out: other patients). Prints the
held-out accuracy of each attribute after every epoch, with the machine named.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime, timezone

import numpy as np

ATTRIBUTES = {"bleeding": ("no", "yes"), "elevation": ("no", "yes"), "depression": ("no", "yes"),
              "boundary": ("unclear", "clear"), "surface": ("smooth", "rough"),
              "tone": ("unchanged", "reddened", "pale")}


def _tensors(phantoms, crop: int):
    import cv2
    import torch

    samples = phantoms.to_samples(enlarge=1.2)
    x = np.stack([cv2.resize(c, (crop, crop), interpolation=cv2.INTER_AREA) for c in samples.crops])
    x = torch.tensor(x.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    y = {a: torch.tensor([cls.index(v) for v in samples.table["attr." + a]]) for a, cls in ATTRIBUTES.items()}
    return x, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--crop", type=int, default=96)
    args = parser.parse_args()
    n_train, n_val, epochs = (400, 200, 4) if args.quick else (1600, 400, 12)

    import torch
    from torch import nn

    from explainendo.synth import generate

    torch.manual_seed(0)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    t0 = time.perf_counter()
    x_train, y_train = _tensors(generate("gastric", n_train, seed=10, size=256), args.crop)
    x_val, y_val = _tensors(generate("gastric", n_val, seed=11, size=256), args.crop)
    print(f"phantoms drawn and cropped in {time.perf_counter() - t0:.0f} s")

    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 64),
                                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.heads = nn.ModuleDict({a: nn.Linear(64, len(c)) for a, c in ATTRIBUTES.items()})

        def forward(self, x):
            z = self.features(x)
            return {a: h(z) for a, h in self.heads.items()}

    net = Net()
    opt = torch.optim.AdamW(net.parameters(), 3e-3, weight_decay=1e-4)
    steps = epochs * ((len(x_train) + 63) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x_train))
        for i in range(0, len(x_train), 64):
            idx = order[i:i + 64]
            x = x_train[idx].flip(3) if torch.rand(1).item() < 0.5 else x_train[idx]
            out = net(x)
            loss = sum(loss_fn(out[a], y_train[a][idx]) for a in ATTRIBUTES)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        net.eval()
        with torch.no_grad():
            out = net(x_val)
        acc = {a: round((out[a].argmax(1) == y_val[a]).float().mean().item(), 3) for a in ATTRIBUTES}
        print(f"epoch {epoch + 1:>2} ({time.perf_counter() - t0:.0f} s): {acc}", flush=True)


if __name__ == "__main__":
    main()
