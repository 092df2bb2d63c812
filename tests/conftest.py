import os
from pathlib import Path

import pytest


def _pin_xdist_worker() -> None:
    """Under pytest-xdist (``make test`` runs ``-n 2``) give each worker its own share of the cores, before torch
    is imported. Every network in the library runs with one thread per core the process may use
    (``torch_threads.default_threads`` reads the affinity), so two workers on the whole machine each ran two
    OpenMP threads on two cores: a CenterNet test took 15 s alone and 255 s in the suite. Pinned, each worker runs
    one thread per core of its own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count < 2 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return
    index = int(worker[2:]) % count
    share = [core for k, core in enumerate(cores) if k % count == index] or cores
    os.sched_setaffinity(0, share)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, str(len(share)))


_pin_xdist_worker()

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(__file__).resolve().parents[1] / ".venv" / "ultralytics-config"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public datasets beside the repo; tests that need them skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (the demo at its settings, ~9 min on one worker's core; the tutorial, ~3 min) run first:
    xdist's load scheduling hands tests out in collection order, so a long test collected late starts late and leaves
    the other worker idle at the end of ``make test``. A stable sort: every other test keeps its order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
