"""Cross-validation summaries as "mean ± SD" (the ERCP paper's 5-fold format, Kim et al., Sci Rep 2021).

For ``K`` folds with scores ``s_1 .. s_K``: ``mean = 1/K sum s_k`` and ``SD = sqrt(1/(K-1) sum (s_k - mean)^2)``
(the sample SD, ddof = 1, as papers report it). The SD describes fold-to-fold spread; it is not a confidence
interval for the mean (folds share training data, Bengio & Grandvalet 2004).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import EvaluationError


def cv_summary(fold_scores, by: str | None = None, decimals: int = 3, percent: bool = False) -> pd.DataFrame:
    """Summarise per-fold scores as mean ± SD.

    ``fold_scores``: a DataFrame with one row per fold and one numeric column per metric, a mapping
    ``metric -> [score per fold]``, or a list of ``{metric: score}`` dicts (one per fold). Non-numeric
    columns other than ``by`` (e.g. a ``fold`` column) and a column named ``fold`` are ignored.
    ``by``: a column naming the model (or setting) each row belongs to, to summarise several at once.

    Returns one row per metric (and per ``by`` value) with columns ``metric``, ``[by]``, ``n_folds``,
    ``mean``, ``sd`` and ``summary`` (the text ``"0.812 ± 0.034"``; with ``percent=True``
    ``"81.2 ± 3.4"`` with ``decimals - 2`` places). NaN fold scores are an error: say which fold failed.
    """
    frame = _as_frame(fold_scores)
    if by is not None and by not in frame.columns:
        raise EvaluationError(f"by={by!r} is not a column of fold_scores (columns: {list(frame.columns)})")
    metric_cols = [c for c in frame.columns if c != by and c != "fold" and pd.api.types.is_numeric_dtype(frame[c])]
    if not metric_cols:
        raise EvaluationError("fold_scores has no numeric metric columns", hint="pass e.g. {'accuracy': [...]}")
    nan = frame[metric_cols].isna()
    if nan.any().any():
        bad = {c: frame.index[nan[c]].tolist() for c in metric_cols if nan[c].any()}
        raise EvaluationError(f"fold_scores has missing scores {bad}", hint="rerun or drop the failed folds")
    rows = []
    grouped = [(None, frame)] if by is None else list(frame.groupby(by, sort=False))
    for key, part in grouped:
        if len(part) < 2:
            raise EvaluationError(f"{len(part)} fold(s){'' if key is None else f' for {by}={key!r}'}; an SD "
                                  "needs at least two", hint="pass one row per fold")
        for col in metric_cols:
            values = part[col].to_numpy(dtype=float)
            mean, sd = float(values.mean()), float(values.std(ddof=1))
            row = {"metric": col}
            if by is not None:
                row[by] = key
            row.update({"n_folds": len(values), "mean": mean, "sd": sd,
                        "summary": format_mean_sd(mean, sd, decimals, percent)})
            rows.append(row)
    return pd.DataFrame(rows)


def format_mean_sd(mean: float, sd: float, decimals: int = 3, percent: bool = False) -> str:
    """``"0.812 ± 0.034"`` (or ``"81.2 ± 3.4"`` with ``percent=True``)."""
    if percent:
        places = max(decimals - 2, 0)
        return f"{100 * mean:.{places}f} ± {100 * sd:.{places}f}"
    return f"{mean:.{decimals}f} ± {sd:.{decimals}f}"


def _as_frame(fold_scores) -> pd.DataFrame:
    if isinstance(fold_scores, pd.DataFrame):
        frame = fold_scores.reset_index(drop=True)
    elif isinstance(fold_scores, Mapping):
        try:
            frame = pd.DataFrame({k: np.asarray(v) for k, v in fold_scores.items()})
        except ValueError as exc:
            raise EvaluationError(f"fold_scores metrics have different numbers of folds ({exc})") from None
    elif isinstance(fold_scores, (list, tuple)) and fold_scores and all(isinstance(r, Mapping) for r in fold_scores):
        frame = pd.DataFrame(list(fold_scores))
    else:
        raise EvaluationError(f"fold_scores must be a DataFrame, a mapping metric -> scores or a list of dicts, "
                              f"got {type(fold_scores).__name__}")
    if frame.empty:
        raise EvaluationError("fold_scores is empty", hint="pass one row per fold")
    return frame
