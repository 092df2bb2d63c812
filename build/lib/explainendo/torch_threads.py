"""One context for torch's thread count: every place in the package that trains or runs a network uses it.

torch's intra-op thread count is process-wide state, and whatever ran before decides it: importing
ultralytics sets it to 1, a notebook may have set it to anything. A network trained or run inside
``with torch_threads(n):`` runs with exactly ``n`` threads (``None``: one per CPU core this process may
use), and the count it found is restored on the way out, even after an error. Nested blocks restore in
order. (Inter-op threads are left alone: torch lets a process set them only once.)
"""

from __future__ import annotations

import operator
import os
from contextlib import contextmanager
from typing import Iterator

from .errors import ConfigError


def default_threads() -> int:
    """The cores this process may run on (``os.sched_getaffinity`` where the OS has it, else
    ``os.cpu_count()``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@contextmanager
def torch_threads(n: int | None = None) -> Iterator[int]:
    """Run the block with ``n`` torch intra-op threads (``None``: :func:`default_threads`), then restore
    the previous count. Yields the count in force. ``n`` below 1 is a :class:`ConfigError`."""
    import torch

    count = default_threads() if n is None else _positive(n)
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(before)


def _positive(n) -> int:
    try:
        count = operator.index(n)  # int and numpy integers; not bool, float or str
    except TypeError:
        count = 0
    if isinstance(n, bool) or count < 1:
        raise ConfigError(f"num_threads must be a positive integer or None, got {n!r}",
                          hint="None uses one thread per CPU core")
    return count
