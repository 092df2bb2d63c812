"""Progress bars for long work (training epochs, fitter selection, benchmarks), with rate and ETA.

One live ``rich`` display at a time: :func:`task` adds a bar to the display that is already showing (the
demo's, a benchmark's) or opens one for the duration of the block. Bars show when standard error is a
terminal, or when ``EXPLAINENDO_PROGRESS=1``; ``EXPLAINENDO_PROGRESS=0`` turns them off (tests, logs).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

_ACTIVE: list = []


def enabled() -> bool:
    flag = os.environ.get("EXPLAINENDO_PROGRESS")
    if flag is not None:
        return flag.strip() not in ("", "0", "false", "no")
    return sys.stderr.isatty()


def _new_display():
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=False)


class _Bar:
    def __init__(self, display, task_id):
        self.display, self.task_id = display, task_id

    def advance(self, n: float = 1, **fields) -> None:
        if self.display is None:
            return
        self.display.advance(self.task_id, n)
        task = next((t for t in self.display.tasks if t.id == self.task_id), None)
        speed = task.speed if task is not None else None
        rate = f"{speed:.2f}/s" if speed else ""
        note = " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        self.display.update(self.task_id, rate=(rate + ("  " + note if note else "")).strip())


@contextlib.contextmanager
def task(description: str, total: float | None, completed: float = 0) -> Iterator[_Bar]:
    """A progress bar for ``total`` steps (``bar.advance()`` per step; keyword fields are shown beside it).
    ``completed``: steps done before the bar starts (a resumed run): shown as done, not counted in the rate."""
    if not enabled():
        yield _Bar(None, None)
        return
    if _ACTIVE:
        display = _ACTIVE[-1]
        task_id = display.add_task(description, total=total, completed=completed, rate="")
        try:
            yield _Bar(display, task_id)
        finally:
            display.update(task_id, visible=True)
        return
    display = _new_display()
    _ACTIVE.append(display)
    try:
        with display:
            task_id = display.add_task(description, total=total, completed=completed, rate="")
            yield _Bar(display, task_id)
    finally:
        _ACTIVE.pop()


@contextlib.contextmanager
def display() -> Iterator[None]:
    """Keep one display open around several tasks (the demo, a benchmark)."""
    if not enabled() or _ACTIVE:
        yield
        return
    shown = _new_display()
    _ACTIVE.append(shown)
    try:
        with shown:
            yield
    finally:
        _ACTIVE.pop()
