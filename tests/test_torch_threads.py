"""One torch-threads context: an explicit count inside, the caller's count restored after."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from explainendo.errors import ConfigError
from explainendo.torch_threads import default_threads, torch_threads

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def threads_before():
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


def test_the_block_runs_with_n_threads_and_the_count_is_restored(threads_before):
    torch.set_num_threads(3)
    with torch_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
        with torch_threads(2):
            assert torch.get_num_threads() == 2
        assert torch.get_num_threads() == 1  # nested blocks restore in order
    assert torch.get_num_threads() == 3


def test_the_count_is_restored_after_an_error(threads_before):
    torch.set_num_threads(3)
    with pytest.raises(RuntimeError, match="boom"):
        with torch_threads(1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 3


def test_none_means_one_thread_per_usable_core_whatever_ran_before(threads_before):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_threads() == cores
    torch.set_num_threads(1)  # what importing ultralytics leaves behind
    with torch_threads(None) as n:
        assert n == cores and torch.get_num_threads() == cores
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_bad_counts_are_config_errors_and_change_nothing(bad, threads_before):
    with pytest.raises(ConfigError, match="num_threads"):
        with torch_threads(bad):
            pass
    assert torch.get_num_threads() == threads_before


def test_importing_ultralytics_keeps_torch_thread_count():
    # a fresh interpreter, so that this is ultralytics' first import (some releases set torch to one
    # thread at import; the installed one does it in select_device, see test_yolo_localizer)
    code = ("import torch; torch.set_num_threads(3)\n"
            "from explainendo.localize.yolo import import_ultralytics\n"
            "import_ultralytics(); import sys; print(torch.get_num_threads(), 'ultralytics' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "YOLO_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["3", "True"]
