"""An archive on Ray: ``explainendo diagnose MODEL FOLDER --engine ray`` (or :func:`diagnose_on_ray`).

::

    driver                                   Ray Data                               driver
    the folder's image paths, in order  ->   map_batches(_DiagnoseChunks):     ->   rows sorted back into input
    cut into the model's batches             each worker loads the model once       order, appended to results.csv
    (paths only travel, not pixels)          (explainendo.load), reads its          / results.jsonl, cards written
                                             images, returns rows (and cards)       (atomically), as the local run

* **Same rows as the local run.** Rows are built by :func:`explainendo.commands.diagnosis_row`, the function the
  local path uses; the paths are cut into the model's own batches (``batch_size``) from the run's first input, so
  every image is diagnosed in the same batch as locally (a network's float32 output can change in the 7th digit
  with its batch). The rows carry no timing field: ``results.csv`` and ``results.jsonl`` are the local run's, byte
  for byte, and so are ``results.json`` and ``broken.txt``; the cards are rendered by the workers and written by the
  driver under the same names.
* **Errors are rows.** An unreadable image is a row with status ``error`` (the engine's per-frame errors), never an
  exception; an error of the pipeline itself (a worker that dies) stops the run, and what was written stays.
* **Resume.** The driver keeps the ledger and the rows (:mod:`explainendo.resume`) exactly as the local run: a
  stopped ``--engine ray`` run resumes (by either engine) at the last whole batch, ``--retry-errors`` and
  ``--overwrite`` work the same way. Rows are written in input order as they arrive (the order Ray Data keeps with
  ``preserve_order``, checked by index here), so a killed run loses only the rows not yet written.
* **Where it runs.** ``address=None``: a local Ray started for the run and shut down after it, with the cores this
  process may use (``os.sched_getaffinity``) and ``workers`` (default: one per core) model workers, each pinned to
  its share of the cores, so that torch's thread count (one per core the process may use) does not oversubscribe
  them; an already initialised Ray (``ray.init`` by the caller) is used as it is and left running. ``address``: a
  running cluster (``ray://host:10001``, ``auto``); its workers read the model folder and the images at the
  driver's paths (a shared file system), and ``workers`` defaults to its CPU count.
* Ray is imported only here, when the engine is used; without it :func:`require_ray` raises
  :class:`~explainendo.errors.MissingDependencyError` naming ``pip install 'explainendo[ray]'``, before any work.
  Ray's usage statistics are off unless ``RAY_USAGE_STATS_ENABLED`` says otherwise: nothing is sent anywhere.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Optional

from .errors import ConfigError, MissingDependencyError

INSTALL_HINT = "pip install 'explainendo[ray]'"
#: the object store of a local Ray started for a run (MB): rows and cards pass through it, a few batches at a time
DEFAULT_OBJECT_STORE_MB = 256


def require_ray():
    """The ``ray`` module (with Ray Data), or :class:`MissingDependencyError` naming the install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"--engine ray needs Ray Data, which is not installed ({exc})",
                                     hint=INSTALL_HINT) from exc
    return ray


def chunks(names: list[str], start: int, batch: int) -> list[dict]:
    """The inputs ``names`` (input ``start`` onwards of the run) cut into the model's batches: one item per batch,
    ``{"start": index of its first input, "paths": [...]}``. ``start`` is a whole number of batches (a resumed run
    starts at one), so each image lands in the batch it has in an uninterrupted local run."""
    return [{"start": start + k, "paths": list(names[k:k + batch])} for k in range(0, len(names), batch)]


class _Slots:
    """A counter the workers of one run draw their number from (which share of the cores each is pinned to)."""

    def __init__(self):
        self.taken = 0

    def take(self) -> int:
        self.taken += 1
        return self.taken - 1


class _DiagnoseChunks:
    """The callable class of ``map_batches``: the model is loaded once per worker (``explainendo.load``: checksums
    verified, no code run); each call diagnoses its batches of paths and returns one row per image (the CSV row and
    JSONL record as JSON texts, the card's name and bytes)."""

    def __init__(self, model_dir: str, out: str, table=None, card_format: str = "html", cards: bool = True,
                 slots=None, threads: Optional[int] = None):
        if slots is not None and threads:
            _pin(slots, threads)
        from . import load
        from .commands import row_columns

        self.model = load(model_dir)
        self.columns = row_columns(self.model)
        self.out, self.table, self.card_format, self.cards = Path(out), table, card_format, cards

    def __call__(self, batch: dict) -> dict:
        from .commands import diagnosis_row

        got: dict[str, list] = {"index": [], "row": [], "record": [], "card_name": [], "card": []}
        with tempfile.TemporaryDirectory(prefix="explainendo-ray-cards-") as tmp:
            for start, paths in zip(batch["start"], batch["paths"]):
                results = self.model.predict([str(p) for p in paths], table=self.table, stream=True,
                                             keep_frames=self.cards)
                for i, d in enumerate(results, start=int(start)):
                    card: dict = {}

                    def write_card(name, save, card=card):
                        path = Path(tmp) / name
                        save(path)
                        card["name"], card["data"] = name, path.read_bytes()
                        path.unlink()
                        return self.out / "cards" / name  # where the driver writes it: the local run's path

                    row, record = diagnosis_row(self.model, d, i, self.columns, self.table, self.card_format,
                                                write_card if self.cards else None)
                    got["index"].append(i)
                    got["row"].append(json.dumps(row))
                    got["record"].append(json.dumps(record))
                    got["card_name"].append(card.get("name", ""))
                    got["card"].append(card.get("data", b""))
        return got


def _pin(slots, threads: int) -> None:
    """Pin this worker to its share (``threads`` cores) of the cores the node lets it use, by its number from
    ``slots``: torch then runs ``threads`` threads (one per core the process may use), side by side with the other
    workers instead of over them."""
    import ray

    try:
        cores = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this OS: leave the worker as it is
        return
    number = ray.get(slots.take.remote())
    first = (number * threads) % len(cores)
    mine = [cores[(first + k) % len(cores)] for k in range(min(threads, len(cores)))]
    os.sched_setaffinity(0, mine)


def _cores() -> int:
    from .torch_threads import default_threads

    return default_threads()


def ray_diagnoses(model_dir, names: list[str], start: int, batch: int, *, out, table=None,
                  card_format: str = "html", write_card: Optional[Callable] = None, address: Optional[str] = None,
                  workers: Optional[int] = None, object_store_mb: Optional[int] = None) -> Iterator[tuple[dict, dict]]:
    """``(row, record)`` of every input of ``names`` (inputs ``start`` onwards of a run), in input order, diagnosed on
    Ray Data; the driver side of ``diagnose_images(..., engine="ray")``, which writes them. ``write_card(name, save)``
    writes a card (the local run's function; None: no cards). See the module docstring for ``address``,
    ``workers`` and what a local Ray is started with."""
    ray = require_ray()
    if workers is not None and (isinstance(workers, bool) or int(workers) != workers or workers < 1):
        raise ConfigError(f"--workers {workers!r} must be a positive integer", hint="e.g. --workers 2")
    if object_store_mb is not None and object_store_mb < 80:
        raise ConfigError(f"an object store of {object_store_mb} MB is below Ray's minimum", hint="80 MB or more")
    if not names:
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started = not ray.is_initialized()
    local = address is None
    if started:
        if local:
            ray.init(num_cpus=_cores(), object_store_memory=(object_store_mb or DEFAULT_OBJECT_STORE_MB) * 2 ** 20,
                     include_dashboard=False, log_to_driver=True, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=True, configure_logging=False)
    try:
        yield from _run(ray, model_dir, names, start, batch, out=out, table=table, card_format=card_format,
                        write_card=write_card, workers=workers, pin=local)
    finally:
        if started:
            ray.shutdown()


def _run(ray, model_dir, names, start, batch, *, out, table, card_format, write_card, workers, pin):
    cpus = int(ray.cluster_resources().get("CPU", 1)) or 1
    workers = int(workers or cpus)
    items = chunks(names, start, batch)
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.enable_progress_bars)
    context.execution_options.preserve_order = True  # the rows come back in input order (still checked below)
    context.enable_progress_bars = False  # the run's own bar counts the rows written
    slots = ray.remote(num_cpus=0)(_Slots).remote() if pin else None
    try:
        dataset = ray.data.from_items(items, override_num_blocks=min(len(items), 2000))
        rows = dataset.map_batches(
            _DiagnoseChunks, batch_size=1, batch_format="numpy",
            fn_constructor_kwargs={"model_dir": str(model_dir), "out": str(out), "table": table,
                                   "card_format": card_format, "cards": write_card is not None, "slots": slots,
                                   "threads": max(1, cpus // workers) if pin else None},
            compute=ray.data.ActorPoolStrategy(size=workers),
            # a worker takes its share of the CPUs, so that `workers` of them fit (2 workers on 2 cores: 1 each)
            num_cpus=min(1.0, cpus / workers))
        pending: dict[int, dict] = {}
        expected = start
        for got in rows.iter_rows():
            pending[int(got["index"])] = got
            while expected in pending:
                got = pending.pop(expected)
                if write_card is not None and got["card_name"]:
                    data = bytes(got["card"])
                    write_card(str(got["card_name"]), lambda tmp: tmp.write_bytes(data))
                yield json.loads(got["row"]), json.loads(got["record"])
                expected += 1
        if pending or expected != start + len(names):
            raise RuntimeError(f"Ray returned rows up to input {expected} of {start + len(names)} and "
                               f"{len(pending)} out of order")
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved
        if slots is not None:
            ray.kill(slots)


def diagnose_on_ray(model_dir, images, out, *, address: Optional[str] = None, workers: Optional[int] = None,
                    object_store_mb: Optional[int] = None, **options) -> dict:
    """The Python API of ``explainendo diagnose MODEL FOLDER --out OUT --engine ray``: the images of ``images`` (a
    folder or one image) diagnosed on Ray into ``out``, with the files, rows and resume of
    :func:`explainendo.commands.diagnose_images` (``options``: its ``table``, ``cards``, ``card_format``,
    ``overwrite``, ``retry_errors``, ``progress``, ``say``). Returns its summary."""
    from .commands import diagnose_images

    options.setdefault("progress", False)
    return diagnose_images(Path(model_dir), Path(images), Path(out), engine="ray", ray_address=address,
                           workers=workers, ray_object_store_mb=object_store_mb, **options)
