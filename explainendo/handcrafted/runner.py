"""The batch runner: many crops through the selected extractors into one feature table.

Per crop, the crop is validated and prepared once (:class:`~explainendo.handcrafted.base.PreparedCrop`,
shared by all extractors), then each extractor writes its columns. Failures never kill the batch:

* an invalid crop (empty, NaN, wrong shape or dtype) gives a row of NaN and one warning naming the crop;
* an extractor whose value is undefined for a crop (an empty mask for the aspect ratio) or that fails
  gives NaN in its own columns and one warning naming the extractor and the crop;
* with ``strict=True`` either case raises :class:`~explainendo.errors.FeatureExtractionError` instead.

Warnings go to the ``explainendo.handcrafted`` logger, never ``warnings.warn``, and numpy floating-point
warnings are errors inside the extractors (``np.errstate``: divide, invalid and overflow raise), so a
division by zero cannot slip through as a silent ``inf`` or a ``RuntimeWarning``: it becomes an explicit
NaN with its warning.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import FeatureExtractionError, InvalidImageError
from ..features import LesionSamples
from .base import EXTRACTORS, Extractor, PreparedCrop, UndefinedFeature
from .colour_constancy import correct
from .params import load_params

logger = logging.getLogger("explainendo.handcrafted")


def build_extractors(params: Mapping[str, Any]) -> list[Extractor]:
    """Instantiate the extractors a validated params dict selects, in its order."""
    return [EXTRACTORS.get(name)(**params.get(name, {})) for name in params["extractors"]]


def feature_columns(extractors: Sequence[Extractor]) -> list[str]:
    return [column for extractor in extractors for column in extractor.columns]


def _describe_crop(index: int, crop: Any, name: Any) -> str:
    shape = getattr(crop, "shape", None)
    where = f"crop {index}" + (f" ({name})" if name is not None else "")
    return where + (f", shape {tuple(shape)}" if shape is not None else f", {type(crop).__name__}")


def extract(crops: Sequence[Any] | LesionSamples, masks: Sequence[np.ndarray | None] | None = None,
            boxes: Sequence[Any] | None = None, params: Any = None, strict: bool = False,
            names: Sequence[Any] | None = None) -> pd.DataFrame:
    """Handcrafted features of many crops: one row per crop, columns ``<group>.<name>`` (float64).

    Parameters
    ----------
    crops : list of images ((H, W) grey or (H, W, 3|4) RGB(A); any dtype :func:`explainendo.io.as_rgb_uint8`
        reads: uint8, uint16, bool, float in [0, 1] or [0, 255]), a
        (N, H, W, C) array, or a :class:`~explainendo.features.LesionSamples` (its crops, boxes and masks).
    masks : optional crop-sized boolean masks (``None`` entries allowed); used by the aspect ratio.
    boxes : optional :class:`~explainendo.types.Box` (or ``(x1, y1, x2, y2)``) per crop; used by the aspect
        ratio when no mask is given.
    params : a params YAML path, a (partial) dict or ``None`` for ``default_params.yaml``'s values.
    strict : raise :class:`~explainendo.errors.FeatureExtractionError` on the first undefined value or bad
        crop instead of writing NaN and logging a warning.
    names : optional per-crop names (image file names) used in warnings.
    """
    frames = None
    if isinstance(crops, LesionSamples):
        samples = crops
        crops, frames = samples.crops, samples.frames
        boxes = samples.boxes if boxes is None else boxes
        masks = samples.masks if masks is None else masks
        if names is None and "image" in samples.table:
            names = list(samples.table["image"])
    params = load_params(params)
    extractors = build_extractors(params)
    return run_extractors(extractors, params["preprocess"], crops, masks=masks, boxes=boxes, strict=strict,
                          names=names, colour=params["colour_constancy"], frames=frames)


def run_extractors(extractors: Sequence[Extractor], preprocess: Mapping[str, Any], crops: Sequence[Any],
                   masks: Sequence[np.ndarray | None] | None = None, boxes: Sequence[Any] | None = None,
                   strict: bool = False, names: Sequence[Any] | None = None, colour: Mapping[str, Any] | None = None,
                   frames: Sequence[Any] | None = None, threads: int | None = None) -> pd.DataFrame:
    """Run already-built extractors over crops (see :func:`extract` for the failure policy). ``colour``: the
    params' ``colour_constancy`` section, applied to every crop first (with ``frames``, the crops' frames,
    for ``reference: frame``; :mod:`explainendo.handcrafted.colour_constancy`). ``threads``: crops extracted in
    parallel (None: :func:`extraction_threads`; ``strict=True`` runs one thread, so the first bad crop in order is
    the one raised); every crop's row is the same whatever the count."""
    crops = list(crops)  # a (N, H, W, C) array becomes N crops
    n = len(crops)
    for label, values in (("masks", masks), ("boxes", boxes), ("names", names), ("frames", frames)):
        if values is not None and len(values) != n:
            raise FeatureExtractionError(f"{len(values)} {label} for {n} crops",
                                         hint=f"give one entry per crop in {label} (None where absent)")
    if colour is not None:
        crops = correct(crops, None if frames is None else list(frames), colour,
                        names=None if names is None else list(names), strict=strict)
    columns = feature_columns(extractors)
    spans, start = [], 0
    for extractor in extractors:
        spans.append((extractor, start, start + len(extractor.columns)))
        start += len(extractor.columns)
    table = np.full((n, len(columns)), np.nan, dtype=np.float64)

    def rows(indices) -> None:
        # once per batch (entering it per call costs more than the small extractors); underflow to 0 is fine.
        # np.errstate is per thread: every worker enters its own
        with np.errstate(divide="raise", invalid="raise", over="raise", under="ignore"):
            for i in indices:
                _extract_one(i, crops[i], None if names is None else names[i], spans, table, preprocess,
                             None if boxes is None else boxes[i], None if masks is None else masks[i], strict)

    workers = 1 if strict or n < 2 else min(n, extraction_threads() if threads is None else max(1, int(threads)))
    if workers == 1:
        rows(range(n))
    else:  # each worker fills its own rows (crop i -> row i): the table is the one-thread table, bit for bit
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(workers, thread_name_prefix="explainendo-handcrafted") as pool:
            for future in [pool.submit(rows, range(k, n, workers)) for k in range(workers)]:
                future.result()
    return pd.DataFrame(table, columns=columns)


def extraction_threads() -> int:
    """Threads :func:`run_extractors` spreads a batch's crops over: ``EXPLAINENDO_HANDCRAFTED_THREADS`` (e.g. 2 on
    an otherwise idle two-core machine: OpenCV and numpy's large array operations release the GIL), else 1. One is
    the default because on a shared, oversubscribed machine a second thread measured slower (issue 21: 94 against
    136 ms per 640 x 480 frame of the colon suite at load average 6 on 2 cores); ``benchmarks/colon.py --parts speed``
    measures both."""
    import os

    value = os.environ.get("EXPLAINENDO_HANDCRAFTED_THREADS", "").strip()
    return max(1, int(value)) if value.isdigit() else 1


def _extract_one(i: int, crop: Any, name: Any, spans: list, table: np.ndarray, preprocess: Mapping[str, Any],
                 box: Any, mask: Any, strict: bool) -> None:
    """Fill row ``i`` of ``table``; see :func:`extract` for the failure policy."""
    try:
        prepared = PreparedCrop(crop, box=box, mask=mask, **preprocess)
    except InvalidImageError as error:
        where = _describe_crop(i, crop, name)
        if strict:
            raise FeatureExtractionError(f"{where}: {error}", hint=error.hint or "fix or drop this crop") from error
        logger.warning("handcrafted: %s is not a usable image (%s); all its features are NaN", where, error)
        return
    for extractor, lo, hi in spans:
        try:
            values = np.asarray(extractor.compute(prepared), dtype=np.float64)
            if values.shape != (hi - lo,):
                raise FeatureExtractionError(
                    f"{extractor.name} returned {values.shape[0] if values.ndim else 'a scalar'} values "
                    f"for {hi - lo} columns", hint="this is a bug in the extractor")
            table[i, lo:hi] = values
        except FeatureExtractionError:
            raise
        except Exception as error:  # noqa: BLE001 - one crop's failure must not kill the batch
            where = _describe_crop(i, crop, name)
            reason = str(error) if isinstance(error, UndefinedFeature) else f"{type(error).__name__}: {error}"
            if strict:
                raise FeatureExtractionError(f"{extractor.name} is undefined for {where}: {reason}",
                                             source=extractor.name,
                                             hint="fix the input or run with strict=False to get NaN") from error
            logger.warning("handcrafted: %s is undefined for %s (%s); its %d columns are NaN",
                           extractor.name, where, reason, hi - lo)
