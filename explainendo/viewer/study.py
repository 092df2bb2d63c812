"""A reader study over a ``diagnose`` output folder: the study file (YAML), each reader's schedule (crossover of the
arms *without AI* and *with AI* with a washout between the two sessions, the case order shuffled per reader and
session from a seed) and the answers file (JSON lines, each answer appended and fsync'd as it is given, so a
closed browser or a stopped server loses nothing and a reader resumes at the next unanswered case).

The study file (``docs/reader_study.md`` has the whole format)::

    name: endoangel-ed-readers
    results: results              # the diagnose --out folder (relative to this file); `explainendo view` may give it
    answers: answers.jsonl        # default: <study file stem>.answers.jsonl beside the study file
    labels: [neoplastic, non_neoplastic]
    positive: neoplastic
    confidence_levels: 5          # the reader's confidence 1..5
    truth: {csv: images/manifest.csv, case_column: image, label_column: label}   # or {column: <results.csv column>}
    cases: all                    # or a list of file names of the results' rows
    readers:
      - {id: r01, experience: expert}
      - {id: r02, experience: novice, first_arm: with_ai}   # first_arm: optional, else balanced from the seed
    schedule: {washout_days: 14, second_session_from: 2025-07-01, seed: 7}
    likert:
      scale: 5
      items:
        - {id: trust, text: "I trust the system's diagnoses"}

Only the standard library, NumPy and PyYAML: no web framework (``study_app.py`` adds that).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError, ManifestError

#: the two arms, in the order a crossover alternates them
ARMS = ("without_ai", "with_ai")
#: the keys a study file may have
STUDY_KEYS = {"name", "results", "answers", "labels", "positive", "confidence_levels", "truth", "cases", "readers",
              "schedule", "likert", "instructions"}


class WashoutError(ConfigError):
    """A reader asked for the second session before the washout ended (HTTP 403 in the study app)."""


@dataclass(frozen=True)
class Reader:
    """A reader: ``id``, ``experience`` (novice / junior / senior / expert, or any level the study names) and the arm
    of the first session."""

    id: str
    experience: str
    first_arm: str

    def arm(self, session: int) -> str:
        return self.first_arm if session == 1 else ARMS[1 - ARMS.index(self.first_arm)]


@dataclass(frozen=True)
class LikertItem:
    id: str
    text: str


@dataclass
class Study:
    """A loaded, validated study file (:meth:`load`). ``cases`` are the file names of the results' rows in the
    study, ``truth`` their true labels, ``case_index`` their row in the results folder."""

    path: Path
    name: str
    results: Path | None
    answers: Path
    labels: tuple[str, ...]
    positive: str
    confidence_levels: int
    cases: list[str]
    truth: dict[str, str]
    case_index: dict[str, int]
    readers: dict[str, Reader]
    washout_days: float
    second_session_from: dt.date | None
    seed: int
    likert_scale: int
    likert: list[LikertItem]
    instructions: str = ""
    digest: str = ""

    # ---- loading ----------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path, results=None) -> "Study":
        """Read and check ``path``; ``results`` (a folder or a :class:`~explainendo.viewer.results.ResultsFolder`)
        overrides the file's ``results``. :class:`~explainendo.errors.ConfigError` names the file and the field
        that is wrong; :class:`~explainendo.errors.ManifestError` a truth CSV that is."""
        import yaml

        from .results import ResultsFolder

        path = Path(path)
        if not path.is_file():
            raise ConfigError("study file not found", source=str(path), hint="docs/reader_study.md shows the format")
        text = path.read_text(encoding="utf-8")
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML ({exc})", source=str(path)) from None
        if not isinstance(raw, dict):
            raise ConfigError("a study file is a YAML mapping (name, labels, truth, readers ...)", source=str(path))
        unknown = sorted(set(raw) - STUDY_KEYS)
        if unknown:
            raise ConfigError(f"unknown field(s) {unknown}", source=str(path), hint=f"fields: {sorted(STUDY_KEYS)}")
        base = path.parent

        def bad(field_name: str, message: str, hint: str | None = None):
            return ConfigError(f"{field_name}: {message}", source=str(path), hint=hint)

        if isinstance(results, ResultsFolder):
            folder = results
        else:
            where = results if results is not None else raw.get("results")
            if where is None:
                raise bad("results", "no results folder", hint="set results: FOLDER or pass it to `explainendo view`")
            where = Path(where)
            folder = ResultsFolder(where if where.is_absolute() or results is not None else base / where)
        names = [folder.row(i)["name"] for i in range(folder.n)]
        index = {}
        for i, name in enumerate(names):
            index.setdefault(name, i)

        labels = raw.get("labels")
        if not isinstance(labels, list) or len(labels) < 2 or len(set(map(str, labels))) != len(labels):
            raise bad("labels", f"needs two or more distinct labels, got {labels!r}",
                      hint="labels: [neoplastic, non_neoplastic]")
        labels = tuple(str(v) for v in labels)
        positive = str(raw.get("positive", labels[0]))
        if positive not in labels:
            raise bad("positive", f"{positive!r} is not one of the labels {list(labels)}")
        levels = raw.get("confidence_levels", 5)
        if not isinstance(levels, int) or isinstance(levels, bool) or not 2 <= levels <= 10:
            raise bad("confidence_levels", f"must be a whole number in 2..10, got {levels!r}")

        cases = raw.get("cases", "all")
        if cases == "all":
            cases = list(index)
        elif isinstance(cases, list) and cases:
            cases = [str(c) for c in cases]
            missing = [c for c in cases if c not in index]
            if missing:
                raise bad("cases", f"{len(missing)} case(s) are not rows of the results folder: {missing[:5]}",
                          hint=f"cases are the file names of the rows, e.g. {names[:3]}")
            if len(set(cases)) != len(cases):
                raise bad("cases", "lists a case twice")
        else:
            raise bad("cases", f"must be 'all' or a list of case file names, got {cases!r}")
        truth = _truth(raw.get("truth"), folder, index, base, path, labels)
        no_truth = [c for c in cases if c not in truth]
        if no_truth:
            if raw.get("cases", "all") == "all":
                cases = [c for c in cases if c in truth]
            else:
                raise bad("truth", f"{len(no_truth)} case(s) have no true label: {no_truth[:5]}")
        if len(cases) < 2:
            raise bad("cases", f"the study has {len(cases)} case(s) with a true label; it needs at least two")

        schedule = raw.get("schedule") or {}
        if not isinstance(schedule, dict):
            raise bad("schedule", "must be a mapping (washout_days, second_session_from, seed)")
        extra = sorted(set(schedule) - {"washout_days", "second_session_from", "seed", "design"})
        if extra:
            raise bad("schedule", f"unknown key(s) {extra}", hint="washout_days, second_session_from, seed")
        if schedule.get("design", "crossover") != "crossover":
            raise bad("schedule.design", f"{schedule.get('design')!r}: only 'crossover' is supported")
        washout = schedule.get("washout_days", 14)
        if not isinstance(washout, (int, float)) or isinstance(washout, bool) or washout < 0:
            raise bad("schedule.washout_days", f"must be a number of days >= 0, got {washout!r}")
        opens = schedule.get("second_session_from")
        if opens is not None and not isinstance(opens, dt.date):
            try:
                opens = dt.date.fromisoformat(str(opens))
            except ValueError:
                raise bad("schedule.second_session_from", f"{opens!r} is not a date", hint="YYYY-MM-DD") from None
        if isinstance(opens, dt.datetime):
            opens = opens.date()
        seed = schedule.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise bad("schedule.seed", f"must be a whole number >= 0, got {seed!r}")

        readers = _readers(raw.get("readers"), seed, bad)
        likert = raw.get("likert") or {}
        if not isinstance(likert, dict):
            raise bad("likert", "must be a mapping (scale, items)")
        scale = likert.get("scale", 5)
        if not isinstance(scale, int) or isinstance(scale, bool) or not 3 <= scale <= 10:
            raise bad("likert.scale", f"must be a whole number in 3..10, got {scale!r}")
        items = []
        for k, item in enumerate(likert.get("items") or []):
            if isinstance(item, str):
                item = {"id": f"item{k + 1}", "text": item}
            if not isinstance(item, dict) or not item.get("id") or not item.get("text"):
                raise bad(f"likert.items[{k}]", f"needs an id and a text, got {item!r}")
            items.append(LikertItem(str(item["id"]), str(item["text"])))
        if len({i.id for i in items}) != len(items):
            raise bad("likert.items", "two items share an id")
        answers = Path(raw.get("answers") or f"{path.stem}.answers.jsonl")
        name = str(raw.get("name") or path.stem)
        return cls(path=path, name=name, results=folder.folder, answers=answers if answers.is_absolute() else base / answers,
                   labels=labels, positive=positive, confidence_levels=levels, cases=cases, truth=truth,
                   case_index={c: index[c] for c in cases}, readers=readers, washout_days=float(washout),
                   second_session_from=opens, seed=seed, likert_scale=scale, likert=items,
                   instructions=str(raw.get("instructions") or ""),
                   digest=hashlib.sha256(text.encode()).hexdigest()[:16])

    # ---- the schedule -----------------------------------------------------------------------------------------
    def reader(self, reader_id: str) -> Reader:
        try:
            return self.readers[str(reader_id)]
        except KeyError:
            raise ConfigError(f"reader {reader_id!r} is not in the study", source=str(self.path),
                              hint="ask the study's organiser for your reader id") from None

    def order(self, reader_id: str, session: int) -> list[str]:
        """The cases in the order reader ``reader_id`` reads them in ``session`` (1 or 2): a permutation drawn from
        the study's seed, the reader and the session (the same every time, different for each reader and session)."""
        rng = np.random.default_rng([self.seed, zlib.crc32(str(reader_id).encode()), int(session)])
        return [self.cases[i] for i in rng.permutation(len(self.cases))]

    def second_session_opens(self, first_finished: dt.datetime | None) -> dt.datetime | None:
        """When session 2 opens for a reader whose first session ended at ``first_finished`` (UTC): after the
        washout (``washout_days``) and not before ``second_session_from``."""
        if first_finished is None:
            return None
        opens = first_finished + dt.timedelta(days=self.washout_days)
        if self.second_session_from is not None:
            opens = max(opens, dt.datetime.combine(self.second_session_from, dt.time(), tzinfo=dt.timezone.utc))
        return opens


def _truth(spec, folder, index, base, path, labels) -> dict[str, str]:
    """``{case file name: true label}`` from the truth CSV or a results.csv column."""
    if not isinstance(spec, dict) or not (("csv" in spec) ^ ("column" in spec)):
        raise ConfigError("truth: needs either csv: FILE (with case_column, label_column) or column: NAME (a "
                          "results.csv column)", source=str(path),
                          hint="truth: {csv: images/manifest.csv, case_column: image, label_column: label}")
    out = {}
    if "column" in spec:
        column = str(spec["column"])
        for i in range(folder.n):
            row = folder.row(i)
            if column not in row:
                raise ConfigError(f"truth.column: results.csv has no column {column!r}", source=str(path))
            if row[column] != "":
                out.setdefault(row["name"], row[column])
    else:
        csv_path = Path(spec["csv"])
        csv_path = csv_path if csv_path.is_absolute() else base / csv_path
        case_column, label_column = str(spec.get("case_column", "image")), str(spec.get("label_column", "label"))
        if not csv_path.is_file():
            raise ConfigError("truth.csv: file not found", source=str(csv_path))
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in (case_column, label_column) if c not in (reader.fieldnames or [])]
            if missing:
                raise ManifestError(f"truth CSV has no column(s) {missing}", source=str(csv_path),
                                    hint=f"columns: {reader.fieldnames}; set truth.case_column / truth.label_column")
            for row in reader:
                name = Path(row[case_column].replace("\\", "/")).name if "#" not in row[case_column] else row[case_column]
                if row[label_column] != "":
                    out[name] = row[label_column]
    wrong = sorted({v for v in out.values() if v not in labels})
    if wrong:
        raise ManifestError(f"true labels {wrong[:5]} are not among the study's labels {list(labels)}",
                            source=str(path), hint="make labels: list the truth's labels")
    return out


def _readers(spec, seed, bad) -> dict[str, Reader]:
    if not isinstance(spec, list) or len(spec) < 1:
        raise bad("readers", "needs a list of readers, e.g. [{id: r01, experience: expert}]")
    parsed = []
    for k, item in enumerate(spec):
        if not isinstance(item, dict) or not item.get("id"):
            raise bad(f"readers[{k}]", f"needs an id, got {item!r}")
        extra = sorted(set(item) - {"id", "experience", "first_arm"})
        if extra:
            raise bad(f"readers[{k}]", f"unknown key(s) {extra}", hint="id, experience, first_arm")
        first = item.get("first_arm")
        if first is not None and first not in ARMS:
            raise bad(f"readers[{k}].first_arm", f"{first!r} is not one of {list(ARMS)}")
        parsed.append((str(item["id"]), str(item.get("experience") or "unknown"), first))
    ids = [p[0] for p in parsed]
    if len(set(ids)) != len(ids):
        raise bad("readers", f"reader ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    # balanced crossover: within each experience level, readers in a seeded random order alternate the first arm
    rng = np.random.default_rng(seed)
    first_arms = {}
    for level in dict.fromkeys(p[1] for p in parsed):
        members = [p for p in parsed if p[1] == level and p[2] is None]
        start = int(rng.integers(2))
        for n, k in enumerate(rng.permutation(len(members))):
            first_arms[members[k][0]] = ARMS[(start + n) % 2]
    return {i: Reader(i, level, first or first_arms[i]) for i, level, first in parsed}


@dataclass
class ReaderState:
    """Where a reader is: ``session`` (1, 2, or 3 when done), its ``arm``, the ``answered`` cases of that session,
    the ``next_case`` (None when the session's cases are done), ``likert_due`` (the questionnaire is next),
    ``opens`` (when session 2 opens, if it is not open yet)."""

    reader: Reader
    session: int
    arm: str | None
    answered: int
    total: int
    next_case: str | None
    likert_due: bool = False
    opens: dt.datetime | None = None
    done: bool = False


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class AnswerLog:
    """The answers file: JSON lines appended and fsync'd one by one (``type`` ``answer`` or ``likert``), held in
    memory as well. A line left half written by a crash is skipped on reading (and reported in ``skipped``)."""

    def __init__(self, study: Study, clock: Callable[[], dt.datetime] = utc_now):
        self.study, self.path, self.clock = study, study.answers, clock
        self._lock = threading.RLock()
        self.records: list[dict] = []
        self.skipped = 0
        self._answered: dict[tuple[str, int], dict[str, dict]] = {}
        self._likert: dict[tuple[str, int], dict] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        self.skipped += 1
                        continue
                    self._index(record)

    def _index(self, record: dict) -> None:
        self.records.append(record)
        key = (str(record.get("reader")), int(record.get("session", 0)))
        if record.get("type") == "answer":
            self._answered.setdefault(key, {}).setdefault(str(record.get("case")), record)
        elif record.get("type") == "likert":
            self._likert.setdefault(key, record)

    def append(self, record: dict) -> dict:
        record = {"study": self.study.name, "study_digest": self.study.digest, **record}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
            self._index(record)
        return record

    def answered(self, reader_id: str, session: int) -> dict[str, dict]:
        return self._answered.get((reader_id, session), {})

    def likert(self, reader_id: str, session: int) -> dict | None:
        return self._likert.get((reader_id, session))

    def state(self, reader_id: str) -> ReaderState:
        """Where reader ``reader_id`` is in the study now."""
        reader = self.study.reader(reader_id)
        total = len(self.study.cases)
        for session in (1, 2):
            arm = reader.arm(session)
            done = self.answered(reader.id, session)
            if len(done) < total:
                if session == 2:
                    opens = self.study.second_session_opens(self.finished(reader.id, 1))
                    if opens is not None and self.clock() < opens:
                        return ReaderState(reader, 2, arm, len(done), total, None, opens=opens)
                following = next(c for c in self.study.order(reader.id, session) if c not in done)
                return ReaderState(reader, session, arm, len(done), total, following)
            if arm == "with_ai" and self.study.likert and self.likert(reader.id, session) is None:
                return ReaderState(reader, session, arm, total, total, None, likert_due=True)
        return ReaderState(reader, 3, None, total, total, None, done=True)

    def finished(self, reader_id: str, session: int) -> dt.datetime | None:
        """When the reader's session ended (its last answer or questionnaire), UTC."""
        times = [r["answered_at"] for r in self.answered(reader_id, session).values()]
        q = self.likert(reader_id, session)
        if q is not None:
            times.append(q["answered_at"])
        if len(self.answered(reader_id, session)) < len(self.study.cases):
            return None
        return max(dt.datetime.fromisoformat(t) for t in times)

    # ---- writing ----------------------------------------------------------------------------------------------
    def answer(self, reader_id: str, session: int, case: str, label: str, confidence: int,
               served_at: dt.datetime | None = None, client_ms: float | None = None) -> dict:
        """Record reader ``reader_id``'s answer to ``case`` in ``session``: checked against where the reader is (the
        answer must be to the case the reader was shown; a second answer to a case is not recorded: the first
        stands), appended and fsync'd. Returns the record (``duplicate: True`` when it was already answered)."""
        reader = self.study.reader(reader_id)
        if label not in self.study.labels:
            raise ConfigError(f"label {label!r} is not one of {list(self.study.labels)}")
        if not 1 <= int(confidence) <= self.study.confidence_levels:
            raise ConfigError(f"confidence {confidence!r} must lie in 1..{self.study.confidence_levels}")
        if case not in self.study.case_index:
            raise ConfigError(f"case {case!r} is not in the study")
        with self._lock:  # the check and the write together: two submits of one page record one answer
            previous = self.answered(reader.id, session).get(case)
            if previous is not None:
                return {**previous, "duplicate": True}
            state = self.state(reader.id)
            if state.opens is not None:
                raise WashoutError(f"session 2 opens on {state.opens:%Y-%m-%d %H:%M} UTC (the washout)")
            if state.done or state.session != session or state.next_case is None:
                raise ConfigError(f"reader {reader.id} is not reading session {session} now",
                                  hint="reload the page: it shows where you are")
            now = self.clock()
            order = self.study.order(reader.id, session)
            return self.append({
                "type": "answer", "reader": reader.id, "experience": reader.experience, "session": session,
                "arm": reader.arm(session), "case": case, "position": order.index(case) + 1, "label": label,
                "confidence": int(confidence), "truth": self.study.truth[case],
                "served_at": served_at.isoformat() if served_at else None, "answered_at": now.isoformat(),
                "server_seconds": (now - served_at).total_seconds() if served_at else None,
                "client_seconds": None if client_ms is None else float(client_ms) / 1000.0})

    def questionnaire(self, reader_id: str, session: int, scores: dict[str, int]) -> dict:
        """Record the Likert questionnaire at the end of the with-AI session (every item, each in 1..scale)."""
        reader = self.study.reader(reader_id)
        items = [i.id for i in self.study.likert]
        missing = [i for i in items if i not in scores]
        if missing:
            raise ConfigError(f"the questionnaire misses item(s) {missing}", hint="answer every statement")
        clean = {}
        for item in items:
            try:
                value = int(scores[item])
            except (TypeError, ValueError):
                raise ConfigError(f"item {item!r}: {scores[item]!r} is not a score") from None
            if not 1 <= value <= self.study.likert_scale:
                raise ConfigError(f"item {item!r}: {value} is outside 1..{self.study.likert_scale}")
            clean[item] = value
        with self._lock:
            if self.likert(reader.id, session) is not None:
                return {**self.likert(reader.id, session), "duplicate": True}
            state = self.state(reader.id)
            if not (state.likert_due and state.session == session):
                raise ConfigError(f"reader {reader.id} has no questionnaire due for session {session}",
                                  hint="it comes after the last case of the with-AI session")
            return self.append({"type": "likert", "reader": reader.id, "experience": reader.experience,
                                "session": session, "arm": reader.arm(session), "scores": clean,
                                "answered_at": self.clock().isoformat()})


def read_answers(path) -> list[dict]:
    """The records of an answers file (half-written lines skipped)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


__all__ = ["ARMS", "AnswerLog", "LikertItem", "Reader", "ReaderState", "Study", "WashoutError", "read_answers",
           "utc_now"]
