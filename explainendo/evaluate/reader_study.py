"""A finished reader study (``explainendo view RESULTS --study study.yaml``) as the paper's tables.

:func:`analyse_reader_study` reads the study file and its answers file and returns a :class:`ReaderStudyReport`:

* ``per_reader``: each reader's accuracy, sensitivity, specificity, PPV, NPV with Wilson intervals in each arm,
  then the model on the same cases (McNemar of each reader against the model): :func:`readers.reader_metrics`.
* ``man_machine``: per experience level the readers' mean ± SD, and the model with its Wilson intervals, per arm
  (:func:`readers.man_machine_table`).
* ``agreement``: Fleiss' kappa among all readers and within each level, per arm (:func:`readers.reader_agreement`).
* ``groups``: Mann-Whitney U of per-reader accuracy between every two experience levels, per arm.
* ``with_without``: each reader's accuracy without and with AI and Wilcoxon's signed-rank test across readers
  (:func:`readers.accuracy_with_without_ai`).
* ``likert``: per questionnaire item the median and quartiles, Wilcoxon's signed-rank test against the scale's
  neutral middle (e.g. 3 of 5), and Mann-Whitney U between every two levels.
* ``reading_time``: seconds per case (server clock: page served to answer received; browser clock alongside)
  per arm and level, and the Wilcoxon test of each reader's median time with vs without AI.
* ``mrmc``: the Obuchowski-Rockette analysis (Hillis ddf, readers and cases random) of with vs without AI, on the
  AUC of an ordinal score made from each call and its confidence (``positive`` call with confidence ``k`` of ``L``:
  ``L + k``; a negative call: ``L + 1 - k``, so the score runs from "certainly negative" 1 to "certainly positive"
  ``2L``), and on accuracy (:mod:`explainendo.evaluate.mrmc`).

Labels are binarised: the study's ``positive`` label against the rest. Only readers who read every case in both
arms enter the paired and MRMC analyses (the others are listed in ``notes``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import EvaluationError
from .comparison import _markdown_table
from .mrmc import MRMCResult, obuchowski_rockette
from .ranks import mann_whitney_u, wilcoxon_signed_rank
from .readers import (EXPERIENCE_LEVELS, accuracy_with_without_ai, man_machine_table, reader_agreement,
                      reader_metrics)

ARM_TITLES = {"without_ai": "without AI", "with_ai": "with AI"}


@dataclass
class ReaderStudyReport:
    """The tables of one reader study (:func:`analyse_reader_study`); ``answers`` is the long table of answers."""

    name: str
    answers: pd.DataFrame
    per_reader: pd.DataFrame
    man_machine: dict[str, pd.DataFrame]
    agreement: pd.DataFrame
    groups: pd.DataFrame
    with_without: pd.DataFrame
    with_without_test: dict
    likert: pd.DataFrame
    reading_time: pd.DataFrame
    reading_time_test: dict
    mrmc: dict[str, MRMCResult]
    notes: list[str] = field(default_factory=list)

    def mrmc_table(self) -> pd.DataFrame:
        return pd.concat([m.summary() for m in self.mrmc.values()], ignore_index=True) if self.mrmc else pd.DataFrame()

    def to_markdown(self) -> str:
        def md(frame: pd.DataFrame, index: bool = False) -> str:
            if frame is None or frame.empty:
                return "_none_"
            shown = frame.map(lambda v: f"{v:.4g}" if isinstance(v, (float, np.floating)) else v)
            return _markdown_table(shown if index else shown.set_index(shown.columns[0]))

        parts = [f"# Reader study: {self.name}", ""]
        for arm, table in self.man_machine.items():
            parts += [f"## Readers by experience vs the model, {ARM_TITLES.get(arm, arm)}", "", md(table, True), ""]
        parts += ["## Each reader", "", md(self.per_reader[["arm", "reader", "level", "accuracy", "accuracy_low",
                                                            "accuracy_high", "sensitivity", "specificity",
                                                            "p_accuracy_vs_model"]]), ""]
        parts += ["## Agreement (Fleiss' kappa)", "", md(self.agreement), ""]
        parts += ["## Experience levels compared (Mann-Whitney U of reader accuracy)", "", md(self.groups), ""]
        parts += ["## With vs without AI (Wilcoxon signed-rank across readers)", "", md(self.with_without), "",
                  f"Wilcoxon: statistic {self.with_without_test.get('statistic')}, "
                  f"p = {self.with_without_test.get('pvalue')}", ""]
        parts += ["## MRMC (Obuchowski-Rockette, Hillis ddf; readers and cases random)", "", md(self.mrmc_table()), ""]
        parts += ["## Likert questionnaire", "", md(self.likert), ""]
        parts += ["## Reading time (seconds per case)", "", md(self.reading_time), "",
                  f"Wilcoxon (reader median time with vs without AI): p = {self.reading_time_test.get('pvalue')}", ""]
        if self.notes:
            parts += ["## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(parts) + "\n"

    def save(self, out) -> dict[str, Path]:
        """Write ``reader_study.md``, one CSV per table and ``reader_study.json`` (the MRMC numbers) to ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files = {"markdown": out / "reader_study.md"}
        files["markdown"].write_text(self.to_markdown(), encoding="utf-8")
        tables = {"answers": self.answers, "per_reader": self.per_reader, "agreement": self.agreement,
                  "groups": self.groups, "with_without": self.with_without, "likert": self.likert,
                  "reading_time": self.reading_time, "mrmc": self.mrmc_table(),
                  **{f"man_machine_{arm}": t for arm, t in self.man_machine.items()}}
        for name, table in tables.items():
            path = out / f"{name}.csv"
            table.to_csv(path, index=name.startswith("man_machine"))
            files[name] = path
        summary = {"name": self.name, "notes": self.notes, "with_without": self.with_without_test,
                   "reading_time": self.reading_time_test,
                   "mrmc": {k: {"f": m.f, "df1": m.df1, "ddf": m.ddf, "pvalue": m.pvalue,
                                "means": {str(t): float(v) for t, v in m.treatment_means.items()},
                                "covariances": m.covariances,
                                "differences": m.differences.to_dict(orient="records")}
                            for k, m in self.mrmc.items()}}
        files["json"] = out / "reader_study.json"
        files["json"].write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
        return files


def confidence_score(called_positive, confidence, levels: int) -> np.ndarray:
    """The ordinal score of a call and its confidence: ``levels + k`` for a positive call with confidence ``k``,
    ``levels + 1 - k`` for a negative one (1 = certainly negative ... ``2 levels`` = certainly positive)."""
    k = np.asarray(confidence, dtype=float)
    return np.where(np.asarray(called_positive, dtype=bool), levels + k, levels + 1 - k)


def analyse_reader_study(study, answers=None, results=None, confidence: float = 0.95) -> ReaderStudyReport:
    """The tables of a reader study (module docstring). ``study``: a
    :class:`~explainendo.viewer.study.Study` or a study file; ``answers``: the answers file (default: the study's);
    ``results``: the diagnose folder (default: the study's), whose ``label`` column gives the model's calls."""
    from ..viewer.results import ResultsFolder
    from ..viewer.study import Study, read_answers

    if not isinstance(study, Study):
        study = Study.load(study, results=None if results is None else ResultsFolder(results))
    path = Path(answers) if answers is not None else study.answers
    if not path.is_file():
        raise EvaluationError("answers file not found", source=str(path),
                              hint="the reading session (explainendo view RESULTS --study FILE) writes it")
    records = read_answers(path)
    frame = pd.DataFrame([r for r in records if r.get("type") == "answer"])
    if frame.empty:
        raise EvaluationError("the answers file holds no answer", source=str(path))
    frame = frame[frame["case"].isin(study.cases) & frame["reader"].isin(study.readers)]
    frame = frame.drop_duplicates(["reader", "session", "case"], keep="first")
    notes = []
    levels = {r.id: r.experience for r in study.readers.values()}
    cases = study.cases
    truth = np.array([study.truth[c] == study.positive for c in cases], dtype=int)
    folder = ResultsFolder(study.results)
    model_calls = np.array([int(folder.row(study.case_index[c]).get("label", "") == study.positive) for c in cases])

    calls, scores, complete = {}, {}, {}
    for arm in ("without_ai", "with_ai"):
        part = frame[frame["arm"] == arm]
        wide = part.pivot(index="case", columns="reader", values="label").reindex(cases)
        conf = part.pivot(index="case", columns="reader", values="confidence").reindex(cases)
        full = [r for r in study.readers if r in wide.columns and wide[r].notna().all()]
        for r in study.readers:
            if r not in full and r in wide.columns:
                notes.append(f"reader {r} has not read every case {ARM_TITLES[arm]} ({int(wide[r].notna().sum())} "
                             f"of {len(cases)}): left out of that arm")
        complete[arm] = full
        calls[arm] = (wide[full] == study.positive).astype(int)
        scores[arm] = pd.DataFrame({r: confidence_score(calls[arm][r], conf[r], study.confidence_levels) for r in full},
                                   index=cases)

    per_reader, man_machine, agreement, groups = [], {}, [], []
    for arm in ("without_ai", "with_ai"):
        if len(complete[arm]) == 0:
            continue
        arm_levels = {r: levels[r] for r in complete[arm]}
        table = reader_metrics(truth, calls[arm], positive=1, levels=arm_levels, model=("model", model_calls),
                               confidence=confidence)
        table.insert(0, "arm", arm)
        per_reader.append(table)
        man_machine[arm] = man_machine_table(truth, calls[arm], arm_levels, positive=1, model=("model", model_calls),
                                             confidence=confidence)
        if len(complete[arm]) >= 2:
            agree = reader_agreement(calls[arm], arm_levels)
            agree.insert(0, "arm", arm)
            agreement.append(agree)
        accuracy = {r: float(np.mean(calls[arm][r].to_numpy() == truth)) for r in complete[arm]}
        present = [lv for lv in EXPERIENCE_LEVELS if lv in arm_levels.values()] + sorted(
            set(arm_levels.values()) - set(EXPERIENCE_LEVELS))
        for a, b in combinations(present, 2):
            xa = [accuracy[r] for r in accuracy if arm_levels[r] == a]
            xb = [accuracy[r] for r in accuracy if arm_levels[r] == b]
            test = mann_whitney_u(xa, xb)
            groups.append({"arm": arm, "group_a": a, "group_b": b, "n_a": len(xa), "n_b": len(xb),
                           "median_a": float(np.median(xa)), "median_b": float(np.median(xb)), "U": test.statistic,
                           "pvalue": test.pvalue, "rank_biserial": test.details["rank_biserial"]})

    both = [r for r in complete["without_ai"] if r in complete["with_ai"]]
    with_without, ww_test = pd.DataFrame(), {}
    mrmc = {}
    if len(both) >= 2:
        with_without, test = accuracy_with_without_ai(truth, calls["without_ai"][both], calls["with_ai"][both],
                                                      positive=1, levels={r: levels[r] for r in both})
        ww_test = test.to_dict()
        for fom, data in (("auc", scores), ("accuracy", None)):
            if fom == "auc":
                x = np.stack([data[arm][both].to_numpy(dtype=float).T for arm in ("without_ai", "with_ai")])
            else:
                x = np.stack([(calls[arm][both].to_numpy().T == truth[None, :]).astype(float)
                              for arm in ("without_ai", "with_ai")])
            try:
                mrmc[fom] = obuchowski_rockette(x, truth.astype(bool), fom=fom, treatments=["without_ai", "with_ai"],
                                                readers=both, confidence=confidence)
            except EvaluationError as exc:
                notes.append(f"MRMC on {fom}: {exc}")
    else:
        notes.append(f"{len(both)} reader(s) read every case in both arms: the paired tests and MRMC need two")

    likert = _likert(records, study, levels)
    reading, reading_test = _reading_time(frame, levels, both)
    return ReaderStudyReport(
        name=study.name, answers=frame.reset_index(drop=True),
        per_reader=pd.concat(per_reader, ignore_index=True) if per_reader else pd.DataFrame(),
        man_machine=man_machine, agreement=pd.concat(agreement, ignore_index=True) if agreement else pd.DataFrame(),
        groups=pd.DataFrame(groups), with_without=with_without, with_without_test=ww_test, likert=likert,
        reading_time=reading, reading_time_test=reading_test, mrmc=mrmc, notes=notes)


def _likert(records, study, levels) -> pd.DataFrame:
    rows = [r for r in records if r.get("type") == "likert" and r.get("reader") in study.readers]
    seen, kept = set(), []
    for r in rows:
        if r["reader"] not in seen:
            seen.add(r["reader"])
            kept.append(r)
    out = []
    neutral = (study.likert_scale + 1) / 2.0
    for item in study.likert:
        values = {r["reader"]: float(r["scores"][item.id]) for r in kept if item.id in r.get("scores", {})}
        if not values:
            continue
        v = np.array(list(values.values()))
        row = {"item": item.id, "text": item.text, "n": v.size, "median": float(np.median(v)),
               "q1": float(np.percentile(v, 25)), "q3": float(np.percentile(v, 75)), "mean": float(v.mean()),
               "agree_share": float(np.mean(v > neutral))}
        if v.size >= 2:
            test = wilcoxon_signed_rank(v, np.full(v.size, neutral))
            row.update(wilcoxon_vs_neutral=test.statistic, p_vs_neutral=test.pvalue)
        present = [lv for lv in EXPERIENCE_LEVELS if lv in {levels[r] for r in values}] + sorted(
            {levels[r] for r in values} - set(EXPERIENCE_LEVELS))
        for a, b in combinations(present, 2):
            xa = [s for r, s in values.items() if levels[r] == a]
            xb = [s for r, s in values.items() if levels[r] == b]
            row[f"p_{a}_vs_{b}"] = mann_whitney_u(xa, xb).pvalue
        out.append(row)
    return pd.DataFrame(out)


def _reading_time(frame: pd.DataFrame, levels, both) -> tuple[pd.DataFrame, dict]:
    rows = []
    frame = frame.assign(level=frame["reader"].map(levels))
    for (arm, level), part in [((a, "all readers"), frame[frame["arm"] == a]) for a in ("without_ai", "with_ai")] + [
            ((a, lv), frame[(frame["arm"] == a) & (frame["level"] == lv)])
            for a in ("without_ai", "with_ai") for lv in dict.fromkeys(levels.values())]:
        seconds = pd.to_numeric(part["server_seconds"], errors="coerce").dropna().to_numpy()
        browser = pd.to_numeric(part.get("client_seconds", pd.Series(dtype=float)), errors="coerce").dropna()
        if seconds.size == 0:
            continue
        rows.append({"arm": arm, "group": level, "answers": int(seconds.size), "median_s": float(np.median(seconds)),
                     "mean_s": float(seconds.mean()), "q1_s": float(np.percentile(seconds, 25)),
                     "q3_s": float(np.percentile(seconds, 75)),
                     "browser_median_s": float(browser.median()) if len(browser) else np.nan})
    test = {}
    if len(both) >= 2:
        med = frame.assign(s=pd.to_numeric(frame["server_seconds"], errors="coerce")).groupby(["reader", "arm"])["s"].median()
        pairs = [(med.get((r, "with_ai")), med.get((r, "without_ai"))) for r in both]
        pairs = [(a, b) for a, b in pairs if a is not None and b is not None and np.isfinite(a) and np.isfinite(b)]
        if len(pairs) >= 2:
            test = wilcoxon_signed_rank([a for a, _ in pairs], [b for _, b in pairs]).to_dict()
    return pd.DataFrame(rows), test
