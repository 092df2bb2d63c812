"""How the EUS cyst features move when the cyst box is off, as a localizer's box is (issue 22).

The EUS hybrid trains on crops of the annotated cyst boxes and predicts on crops of the localizer's boxes, which
are a few percent too small or too large. This script draws EUS phantoms in which every cyst is a look-alike
(thin-walled mucinous, ``p_thin_wall=1``; oligocystic serous, ``p_oligocystic=1``: the wall decides), cuts each
cyst with its true box resized about its centre by each factor of ``--factors``, and prints, per factor:

1. the ROC AUC of wall columns alone for "mucinous" (the fixed band of ``cyst_echogenicity`` against the ring of
   ``wall_profile``) and their median per kind;
2. the accuracy of a logistic regression on the whole EUS texture suite trained on the exact boxes of the first
   ``--train`` cysts, without and with :class:`~explainendo.predict.BoxJitter` copies (the hybrid's mechanism, as
   ``HybridPredictor(box_jitter=...)`` with the handcrafted source alone), on the other cysts cut with the
   resized boxes.

    python benchmarks/eus_boxes.py                      # 400 phantoms at 256 px: about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

COLUMNS = ("cyst_echogenicity.wall_mean", "cyst_echogenicity.wall_surround_contrast",
           "wall_profile.peak_surround_contrast", "wall_profile.ring_width")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--train", type=int, default=240, help="cysts the regression trains on (the rest test)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--factors", default="0.85,0.9,0.95,1.0,1.05,1.1,1.15")
    ap.add_argument("--seed", type=int, default=3)
    a = ap.parse_args(argv)

    from sklearn.metrics import roc_auc_score

    from explainendo.bench import run_header
    from explainendo.features import LesionSamples
    from explainendo.handcrafted import HandcraftedFeatures
    from explainendo.predict import BoxJitter, HybridPredictor, InSample
    from explainendo.synth import generate
    from explainendo.systems.eus import eus_handcrafted_params
    from explainendo.types import Box

    print(run_header(), flush=True)
    start = time.perf_counter()
    phantoms = generate("eus", a.n, seed=a.seed, size=a.size, p_oligocystic=1.0, p_thin_wall=1.0)
    table = phantoms.table.reset_index(drop=True)
    images = [np.asarray(im) for im in phantoms.images]
    boxes = [Box(r.x1, r.y1, r.x2, r.y2) for r in table.itertuples()]
    mucinous = table["label"].eq("mucinous").to_numpy()
    print(f"{a.n} EUS phantoms at {a.size} px, all look-alikes ({int(mucinous.sum())} thin-walled mucinous, "
          f"{int((~mucinous).sum())} oligocystic serous), seed {a.seed}; the regression trains on {a.train}",
          flush=True)

    def samples(rows, factor):
        return LesionSamples.from_images([images[i] for i in rows], [boxes[i].enlarge(factor) for i in rows],
                                         enlarge=1.5, table=table.iloc[list(rows)].reset_index(drop=True))

    handcrafted = HandcraftedFeatures(params=eus_handcrafted_params())
    train = samples(range(a.train), 1.0)
    models = {name: HybridPredictor(sources=[handcrafted], fitter="logistic_regression", stacking=InSample(),
                                    positive_label="mucinous", seed=0, box_jitter=jitter).fit(train)
              for name, jitter in (("exact boxes", None), ("+ BoxJitter()", BoxJitter()))}
    test_rows = range(a.train, a.n)
    print(f"\n{'box x':>6} | " + " | ".join(f"{c.split('.')[0][:4]}.{c.split('.')[1]:<22}" for c in COLUMNS)
          + " | LR accuracy: exact boxes / + BoxJitter()")
    for factor in (float(f) for f in a.factors.split(",")):
        every = samples(range(a.n), factor)
        features = handcrafted.fit(every).transform(every)
        cells = []
        for column in COLUMNS:
            values = features[column].to_numpy()
            keep = np.isfinite(values)
            auc = roc_auc_score(mucinous[keep], values[keep])
            cells.append(f"AUC {auc:.3f}, {np.median(values[keep & mucinous]):6.3f} / "
                         f"{np.median(values[keep & ~mucinous]):6.3f}")
        test = samples(test_rows, factor)
        truth = test.table["label"].to_numpy()
        accuracy = [float(np.mean(m.predict(test) == truth)) for m in models.values()]
        print(f"{factor:6.2f} | " + " | ".join(f"{c:<27}" for c in cells)
              + f" | {accuracy[0]:.3f} / {accuracy[1]:.3f}", flush=True)
    print("\n(median thin-walled mucinous / oligocystic serous after each AUC)")
    print(f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
