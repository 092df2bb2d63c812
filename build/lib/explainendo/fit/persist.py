"""A fitted fitter on disk without pickle: xgboost's own JSON, or skops with an explicit list of trusted types.

``save_fitter(fitter, directory) -> spec`` writes ``model.json`` (xgboost) or ``model.skops`` (sklearn) and
returns ``{"format", "path"}``; ``load_fitter(directory, spec)`` reads it back. A skops file holding any
type outside sklearn's defaults and :data:`TRUSTED_SKOPS_TYPES` is refused, never loaded.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, ModelFileError

#: the only non-default types a skops fitter file may contain
TRUSTED_SKOPS_TYPES = [
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
]


def save_fitter(fitter, directory) -> dict:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if type(fitter).__name__ == "XGBClassifier":
        fitter.save_model(str(directory / "model.json"))
        return {"format": "xgboost_json", "path": "model.json"}
    import skops.io as sio

    data = sio.dumps(fitter)
    foreign = sorted(set(sio.get_untrusted_types(data=data)) - set(TRUSTED_SKOPS_TYPES))
    if foreign:
        raise ConfigError(f"the fitter contains types a model file may not hold: {foreign}",
                          hint="use one of the built-in fitters (explainendo.fit.list_fitters())")
    (directory / "model.skops").write_bytes(data)
    return {"format": "skops", "path": "model.skops"}


def load_fitter(directory, spec: dict):
    path = Path(directory) / str((spec or {}).get("path", ""))
    fmt = (spec or {}).get("format")
    if fmt == "xgboost_json":
        from xgboost import XGBClassifier

        fitter = XGBClassifier()
        try:
            fitter.load_model(str(path))
        except Exception as exc:  # noqa: BLE001 - xgboost raises its own XGBoostError
            raise ModelFileError(f"not a valid xgboost JSON model ({exc})", source=str(path)) from None
        return fitter
    if fmt == "skops":
        import skops.io as sio

        try:
            untrusted = set(sio.get_untrusted_types(file=str(path)))
        except Exception as exc:  # noqa: BLE001 - skops raises several types for a damaged file
            raise ModelFileError(f"not a valid skops file ({exc})", source=str(path)) from None
        foreign = sorted(untrusted - set(TRUSTED_SKOPS_TYPES))
        if foreign:
            raise ModelFileError(f"fitter file holds untrusted types {foreign}; refused", source=str(path),
                                 hint="only explainendo's built-in fitters can be loaded")
        return sio.load(str(path), trusted=sorted(untrusted))
    raise ModelFileError(f"unknown fitter format {fmt!r}", source=str(path))
