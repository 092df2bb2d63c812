"""Crash-safe, resumable results folders: what lets ``explainendo diagnose`` be killed at any point (``kill -9``,
a power cut) and started again with the same command, losing and duplicating nothing.

A run's folder holds

* ``ledger.json``: the run's identity (:func:`run_identity`: the model's ``checksums.sha256`` digest, the input
  list's digest, the ``--table`` file's digest, the card settings and the row columns), written once, atomically,
  when the run starts. A later run into the same folder resumes only when its identity is the same; otherwise
  :func:`open_ledger` refuses (:class:`~explainendo.errors.ConfigError` naming the folder, what differs and
  ``--overwrite``), so two runs' rows are never mixed;
* the rows (:class:`AppendedRows`): ``results.csv`` and ``results.jsonl``, one row per input **in input order**
  (by construction: inputs are diagnosed in order and each row is appended, flushed, and fsync'd every
  ``SYNC_SECONDS``). Which inputs are done is read from the rows themselves: the first ``n`` inputs, ``n`` being
  the number of complete rows both files hold. A torn last line (a write cut short) and a row written to one
  file but not yet the other are cut off (the files are truncated to the last row both hold), and those inputs
  are diagnosed again;
* files written whole at the end (``results.json``, ``broken.txt``) and each card: :func:`atomic_write` (a
  temporary file in the same folder, fsync'd, then ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import ConfigError

LEDGER = "ledger.json"
LEDGER_FORMAT = "explainendo-diagnose-ledger"
LEDGER_VERSION = 1
#: the rows are fsync'd to disk at least this often (every row is flushed to the operating system at once, which
#: is what survives ``kill -9``; the fsync bounds what a power cut can take)
SYNC_SECONDS = 2.0
#: the identity keys a resumed run must share with the ledger, and how a difference is described
IDENTITY_KEYS = {"model_sha256": "model (its checksums.sha256)", "inputs_sha256": "input list",
                 "table_sha256": "--table file", "cards": "--cards / --no-cards", "card_format": "--card-format",
                 "columns": "row columns"}


def atomic_write(path: Path, write: Callable[[Path], Any]) -> Path:
    """Write ``path`` whole or not at all: ``write(tmp)`` writes a temporary file beside it (same suffix, so a
    writer that chooses the format by suffix still works), which is fsync'd and moved over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """:func:`atomic_write` of a text (UTF-8)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def remove_temporaries(folder: Path) -> int:
    """Delete what :func:`atomic_write` left in ``folder`` when its process was killed; returns how many."""
    stale = list(Path(folder).glob(".tmp-*")) if Path(folder).is_dir() else []
    for path in stale:
        path.unlink()
    return len(stale)


def sha256_lines(lines: Iterable[str]) -> str:
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf-8") + b"\n")
    return h.hexdigest()


def run_identity(model_dir: Path, source: Path, inputs: str, table: Path | None, cards: bool, card_format: str,
                 columns: list[str]) -> dict:
    """What a resumed run must share with the run that wrote the folder (:data:`IDENTITY_KEYS`; the paths are
    recorded for the messages). ``source``: the images argument; ``inputs``: its input list's digest."""
    from .bundle import CHECKSUMS, sha256_file

    return {"model": str(model_dir), "model_sha256": sha256_file(Path(model_dir) / CHECKSUMS),
            "inputs": str(source), "inputs_sha256": inputs, "table": None if table is None else str(table),
            "table_sha256": None if table is None else sha256_file(Path(table)),
            "cards": bool(cards), "card_format": card_format if cards else None, "columns": list(columns)}


def open_ledger(out: Path, identity: dict, outputs: Iterable[str]) -> bool:
    """Start or resume the run in ``out``; True when resuming. ``outputs``: the names of the files the run writes
    (a folder holding any of them without a ledger is refused: they are another run's, of unknown identity)."""
    path = Path(out) / LEDGER
    if not path.is_file():
        found = [name for name in outputs if (Path(out) / name).exists()]
        if found:
            raise ConfigError(f"the folder holds {found} but no {LEDGER}: results of a run whose model and inputs "
                              "are unknown, which this run will not mix with its own", source=str(out),
                              hint="pass --overwrite to delete them and start again, or choose another --out")
        atomic_write_text(path, json.dumps({"format": LEDGER_FORMAT, "format_version": LEDGER_VERSION,
                                            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **identity}, indent=1))
        return False
    try:
        ledger = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{LEDGER} cannot be read ({exc})", source=str(out),
                          hint="pass --overwrite to delete this folder's results and start again") from None
    if ledger.get("format") != LEDGER_FORMAT or ledger.get("format_version") != LEDGER_VERSION:
        raise ConfigError(f"{LEDGER} is not a version-{LEDGER_VERSION} diagnose ledger "
                          f"(format {ledger.get('format')!r}, version {ledger.get('format_version')!r})",
                          source=str(out), hint="pass --overwrite to start again, or choose another --out")
    differ = [f"{what} ({_short(ledger.get(key))} there, {_short(identity[key])} now)"
              for key, what in IDENTITY_KEYS.items() if ledger.get(key) != identity[key]]
    if differ:
        raise ConfigError("the folder holds the rows of another run (model " + str(ledger.get("model")) + ", inputs "
                          + str(ledger.get("inputs")) + "), which differs from this one in its " + "; its ".join(differ)
                          + ": the two runs' rows would be mixed",
                          source=str(out), hint="resume it with the same command, choose another --out, or pass "
                                                "--overwrite to delete its results and start again")
    return True


def _short(value) -> str:
    if isinstance(value, str) and len(value) == 64:
        return value[:12]  # a digest
    if isinstance(value, list):
        return f"{len(value)} columns"
    return repr(value)


def _complete_ends(data: bytes, record_ends: Callable[[list[bytes]], list[int]]) -> list[int]:
    lines = data.split(b"\n")
    lines = [line + b"\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    return record_ends(lines)


def _csv_ends(lines: list[bytes]) -> list[int]:
    """Byte offsets after each complete CSV record (the header first): a record is complete when it parses
    (strict quoting), ends with a newline and has the header's number of fields."""
    width = None
    text = [line.decode("utf-8", errors="replace") for line in lines]
    sizes = [len(line) for line in lines]
    reader = csv.reader(iter(text), strict=True)
    ends, consumed = [], 0
    try:
        for row in reader:
            stop = reader.line_num
            last = lines[stop - 1]
            width = len(row) if width is None else width
            if not last.endswith(b"\n") or len(row) != width:
                break
            consumed = sum(sizes[:stop])
            ends.append(consumed)
    except csv.Error:  # a quoted field left open: a torn record
        pass
    return ends


def _jsonl_ends(lines: list[bytes]) -> list[int]:
    ends, offset = [], 0
    for line in lines:
        if not line.endswith(b"\n"):
            break
        try:
            json.loads(line)
        except ValueError:
            break
        offset += len(line)
        ends.append(offset)
    return ends


class AppendedRows:
    """``results.csv`` (header ``columns``) and ``results.jsonl`` of ``out``, appended one row per input.

    :meth:`recover` reads what a previous run left (repairing a torn tail) and returns its rows; :meth:`append`
    writes one row to both files (flushed; fsync'd at least every ``SYNC_SECONDS``); :meth:`close` syncs."""

    def __init__(self, out: Path, columns: list[str], csv_name: str = "results.csv",
                 jsonl_name: str = "results.jsonl"):
        self.csv_path, self.jsonl_path = Path(out) / csv_name, Path(out) / jsonl_name
        self.columns = list(columns)
        self._csv = self._jsonl = self._writer = None
        self._synced = time.monotonic()

    def recover(self, keep: Callable[[list[dict]], int] | None = None) -> tuple[list[dict], bool]:
        """The complete rows both files hold, as CSV dicts, after cutting off what is not one: a torn last line,
        a row in one file only. Returns ``(rows, torn)``; ``torn``: something was cut off.

        ``keep(rows)``: how many of those rows to keep (e.g. up to the first error, to diagnose it again); the
        files are truncated after them."""
        csv_data = self.csv_path.read_bytes() if self.csv_path.exists() else b""
        jsonl_data = self.jsonl_path.read_bytes() if self.jsonl_path.exists() else b""
        csv_ends = _complete_ends(csv_data, _csv_ends)
        jsonl_ends = _complete_ends(jsonl_data, _jsonl_ends)
        if csv_ends:
            header = next(csv.reader([csv_data[:csv_ends[0]].decode("utf-8")]))
            if header != self.columns:
                raise ConfigError(f"{self.csv_path.name}'s header {header} is not this run's columns {self.columns}",
                                  source=str(self.csv_path), hint="pass --overwrite to start again")
        rows_ends = csv_ends[1:]
        header_end = csv_ends[0] if csv_ends else 0

        def ends(n: int) -> tuple[int, int]:
            return (rows_ends[n - 1] if n else header_end), (jsonl_ends[n - 1] if n else 0)

        done = min(len(rows_ends), len(jsonl_ends))
        torn = ends(done) != (len(csv_data), len(jsonl_data))
        text = csv_data[header_end:ends(done)[0]].decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text, newline=""), fieldnames=self.columns))
        if keep is not None:
            done = min(done, int(keep(rows)))
            rows = rows[:done]
        for path, size, keep_bytes in zip((self.csv_path, self.jsonl_path), (len(csv_data), len(jsonl_data)),
                                          ends(done)):
            if path.exists() and size != keep_bytes:
                os.truncate(path, keep_bytes)
        return rows, torn

    def open(self) -> "AppendedRows":
        """Open both files for appending (the CSV header is written when the file is empty)."""
        self._csv = open(self.csv_path, "a", newline="", encoding="utf-8")
        self._jsonl = open(self.jsonl_path, "a", encoding="utf-8")
        self._writer = csv.DictWriter(self._csv, fieldnames=self.columns)
        if self._csv.tell() == 0:
            self._writer.writeheader()
            self._csv.flush()
        return self

    def append(self, row: dict, record: dict) -> None:
        """One input's row: the CSV first, then the JSONL (a row in the CSV alone is cut off on resume)."""
        self._writer.writerow(row)
        self._csv.flush()
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        if time.monotonic() - self._synced >= SYNC_SECONDS:
            self.sync()

    def sync(self) -> None:
        for f in (self._csv, self._jsonl):
            if f is not None and not f.closed:
                f.flush()
                os.fsync(f.fileno())
        self._synced = time.monotonic()

    def close(self) -> None:
        self.sync()
        for f in (self._csv, self._jsonl):
            if f is not None:
                f.close()

    def __enter__(self) -> "AppendedRows":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def records(self) -> Iterable[str]:
        """The JSONL lines (without their newline), read back one at a time (flat memory)."""
        with open(self.jsonl_path, encoding="utf-8") as f:
            for line in f:
                yield line.rstrip("\n")
