"""Issue 22: "the same seed gives the same result" for the EUS whole-frame CNN (the benchmark's "CNN, whole frame").

Two separate processes generate the same EUS phantoms, train the same seeded CNN through the system and predict the
same frames; one runs with another ``PYTHONHASHSEED`` and, where the machine has two cores or more, pinned to one
core (nothing may follow the cores the process may use). On one machine the probabilities and the trained weights
must be bit-identical. One torch thread each, so the two run side by side on two cores without oversubscribing
them; a different CPU (other vector kernels) or another thread count may change the figures (docs/architecture.md,
Conventions).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import hashlib, json, os, sys
from pathlib import Path
if os.environ.get("PIN_ONE_CORE") and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
from explainendo import EUSCystClassifier
from explainendo.synth import generate
from explainendo.systems import eus_cnn
from explainendo.training import Training

manifest = generate("eus", 20, seed=3, size=64, label_noise=0.1).write(Path(sys.argv[1]) / "phantoms")
model = EUSCystClassifier(approach="cnn", input="frame", seed=3, ood=None,
                          predictor=eus_cnn(2, seed=3, image_size=32,
                                            training=Training(epochs=2, batch_size=8, num_threads=1)))
model.fit(manifest)
results = model.predict([str(manifest.path(i)) for i in manifest.images()])
state = model.predictor_.network_.net_.state_dict()
weights = hashlib.sha256(b"".join(state[k].detach().cpu().numpy().tobytes() for k in sorted(state))).hexdigest()
print(json.dumps({"proba": [float(r.lesion.probabilities["mucinous"]).hex() for r in results], "weights": weights}))
"""


def _start(folder: Path, hash_seed: str, pin: bool) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": hash_seed, "EXPLAINENDO_PROGRESS": "0",
           "YOLO_OFFLINE": "1"}
    env.pop("PIN_ONE_CORE", None)
    if pin:
        env["PIN_ONE_CORE"] = "1"
    return subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_whole_frame_cnn_is_bit_identical_in_two_processes(tmp_path):
    first, second = _start(tmp_path / "a", "1", pin=False), _start(tmp_path / "b", "4242", pin=True)
    a, b = _result(first), _result(second)
    assert len(a["proba"]) == 20
    assert a["proba"] == b["proba"]  # float.hex: bit for bit
    assert a["weights"] == b["weights"]
