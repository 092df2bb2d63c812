"""The model side of the viewer: a case's saved record turned back into a :class:`~explainendo.types.Result` (its
lesions, boxes and features as ``diagnose`` wrote them, the frame read again from the image file), explained on
demand (grouped SHAP and Grad-CAM, :meth:`Diagnoser.explain <explainendo.engine.Diagnoser.explain>`, cached), its
Grad-CAM maps drawn as transparent PNGs placed on the frame, and a clinician's attribute correction
(:meth:`Diagnoser.intervene <explainendo.engine.Diagnoser.intervene>`) answered with the new diagnosis.

Nothing is predicted again: the explanation reads the lesion's saved features and the crop of its saved box, so
what the viewer explains is what the run diagnosed.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ExplainendoError
from .results import NotInFolderError
from ..types import Box, Lesion, Result

#: Grad-CAM opacity on the frame (the video overlay's)
CAM_ALPHA = 0.45


def _number(value) -> float:
    return float("nan") if value is None else float(value)


def result_from_record(record: dict) -> Result:
    """A :class:`Result` from its ``to_dict()`` (a ``results.jsonl`` line), without pixels; a feature saved as
    ``null`` (not finite) is NaN again."""
    lesions = [Lesion(box=Box.from_dict(les["box"]), label=les["label"], probability=float(les["probability"]),
                      probabilities={k: float(v) for k, v in (les.get("probabilities") or {}).items()},
                      features={k: _number(v) for k, v in (les.get("features") or {}).items()},
                      tasks={t: {k: float(v) for k, v in p.items()} for t, p in (les.get("tasks") or {}).items()},
                      interventions=dict(les.get("interventions") or {}),
                      ood_score=les.get("ood_score"), ood=les.get("ood"))
               for les in record.get("lesions") or []]
    return Result(image=str(record.get("image") or ""), lesions=lesions,
                  frame_index=int(record.get("frame_index") or 0), timestamp=record.get("timestamp"),
                  predictor=record.get("predictor"), no_lesion=bool(record.get("no_lesion")), message=record.get("message"), error=record.get("error"),
                  detections=[Box.from_dict(b) for b in record.get("detections") or []],
                  ood_score=record.get("ood_score"), ood=record.get("ood"))


def attribute_panel(features: dict, corrected: dict | None = None) -> list[dict]:
    """The attribute heads' outputs of a lesion (its ``<attribute>.p_<class>`` features), one entry per attribute:
    ``{"name", "classes": [{"name", "p"}], "best", "corrected"}`` in feature order."""
    panel: dict[str, dict] = {}
    for key, p in features.items():
        if ".p_" not in key:
            continue
        attribute, cls = key.split(".p_", 1)
        entry = panel.setdefault(attribute, {"name": attribute, "classes": [], "best": None,
                                             "corrected": (corrected or {}).get(attribute)})
        value = None if p is None or not math.isfinite(float(p)) else float(p)
        entry["classes"].append({"name": cls, "p": value})
    for entry in panel.values():
        known = [c for c in entry["classes"] if c["p"] is not None]
        entry["best"] = max(known, key=lambda c: c["p"])["name"] if known else None
    return list(panel.values())


def _cam_png(cam: np.ndarray, size: tuple[int, int]) -> bytes:
    """A Grad-CAM map as an RGBA PNG of ``size`` ``(width, height)``: the jet colours at :data:`CAM_ALPHA`."""
    import cv2
    from PIL import Image

    cam = np.nan_to_num(np.asarray(cam, dtype=np.float32))
    if cam.size and (cam.min() < 0 or cam.max() > 1):  # a map not already in [0, 1]: scaled to it
        cam = (cam - cam.min()) / (cam.max() - cam.min() + 1e-7)
    if cam.shape != (size[1], size[0]):
        cam = cv2.resize(cam, size, interpolation=cv2.INTER_LINEAR)
    grey = np.clip(cam * 255.0, 0, 255).astype(np.uint8)
    rgb = cv2.applyColorMap(grey, cv2.COLORMAP_JET)[..., ::-1]
    alpha = np.full(grey.shape, int(255 * CAM_ALPHA), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


class NoModelError(ConfigError):
    """The viewer has no model, so it cannot explain or correct (HTTP 409); the message says why and what to pass."""


class CaseExplainer:
    """Explanations and corrections for the cases of a :class:`~explainendo.viewer.results.ResultsFolder`.

    ``model``: a fitted :class:`~explainendo.engine.Diagnoser`, a model folder, or None (the folder the run's
    ``ledger.json`` names, when it is still there; otherwise the viewer shows the saved results alone and says
    why). A model folder given explicitly must load (its error is raised); one taken from the ledger that does not
    load leaves the viewer without a model and :attr:`note` says why. ``cache``: explanations kept (the last
    ones asked for)."""

    def __init__(self, results, model: Any = None, cache: int = 32):
        self.results = results
        self.cache = int(cache)
        self.note: str | None = None
        self.model_path: str | None = None
        self._explanations: OrderedDict = OrderedDict()
        self._pngs: OrderedDict = OrderedDict()
        self._lock = threading.RLock()  # one model call at a time (torch and the SHAP explainer are not shared)
        self.model = self._model(model)
        self.table = self._measurements()

    # ---- the model ---------------------------------------------------------------------------------------------
    def _model(self, model):
        from ..engine import Diagnoser

        if isinstance(model, Diagnoser):
            return model
        if model is not None:
            from .. import bundle

            self.model_path = str(model)
            if not Path(model).is_dir():
                raise ConfigError("model folder not found", source=str(model),
                                  hint="--model takes a saved model folder")
            loaded = bundle.load(model)
            self._compare_with_ledger(Path(model))
            return loaded
        recorded = self.results.model_path()
        if not recorded:
            self.note = ("no model: the folder has no ledger.json naming the run's model, so explanations and "
                         "corrections are off; pass --model MODEL_FOLDER")
            return None
        folder = next((p for p in (Path(recorded), self.results.folder.parent / recorded) if p.is_dir()), None)
        if folder is None:
            self.note = (f"no model: the run's model folder {recorded} is not there any more, so explanations and "
                         "corrections are off; pass --model MODEL_FOLDER")
            return None
        from .. import bundle

        self.model_path = str(folder)
        try:
            loaded = bundle.load(folder)
        except ExplainendoError as exc:
            self.note = f"no model: the run's model folder {folder} does not load ({exc}); pass --model MODEL_FOLDER"
            return None
        self._compare_with_ledger(folder)
        return loaded

    def _compare_with_ledger(self, folder: Path) -> None:
        from ..bundle import CHECKSUMS, sha256_file

        recorded = self.results.ledger.get("model_sha256")
        checksums = folder / CHECKSUMS
        if recorded and checksums.is_file() and sha256_file(checksums) != recorded:
            self.note = (f"the model {folder} is not the one this run used (its checksums differ from the ledger's): "
                         "explanations and corrections are this model's, not the run's")

    def _measurements(self):
        table = self.results.ledger.get("table")
        if self.model is None or not table or not Path(table).is_file():
            return None
        import pandas as pd

        return pd.read_csv(table)

    @property
    def available(self) -> bool:
        return self.model is not None

    def correctable(self) -> dict[str, list[str]]:
        """``{attribute: [classes]}`` a clinician may correct (empty: no model, or no attribute heads)."""
        if self.model is None:
            return {}
        predictor = getattr(self.model, "predictor_", None)
        find = getattr(predictor, "correctable_attributes", None)
        return find() if callable(find) else {}

    def warm_up(self) -> None:
        """Pay the first explanation's one-off costs now (importing SHAP, building the fitter's SHAP explainer on its
        training background), so that the first case a person opens is as quick as the next."""
        if self.model is None:
            return
        build = getattr(getattr(self.model, "predictor_", None), "shap_explainer", None)
        if callable(build):
            with self._lock:
                build()

    def _require(self) -> None:
        if self.model is None:
            raise NoModelError(self.note or "no model", hint="explainendo view RESULTS --model MODEL_FOLDER")

    # ---- a case as a Result --------------------------------------------------------------------------------------
    def result(self, index: int, with_frame: bool = True) -> Result:
        record = self.results.record(index)
        result = result_from_record(record)
        if result.error:
            raise ExplainendoError(f"the run could not read this image: {result.error}", source=result.image)
        if result.no_lesion or not result.lesions:
            raise ExplainendoError("no lesion was found in this image, nothing to explain", source=result.image)
        if with_frame:
            result.frame = self.results.pixels(self.results.frame(index, record))
        return result

    def _lesion(self, result: Result, lesion: int | None) -> int:
        index = result.primary if lesion is None else int(lesion)
        if not 0 <= index < len(result.lesions):
            raise NotInFolderError(f"lesion {index} does not exist",
                                   hint=f"the case has {len(result.lesions)} lesion(s)")
        return index

    # ---- explanations ----------------------------------------------------------------------------------------------
    def explanation(self, index: int, lesion: int | None = None):
        """The :class:`~explainendo.types.Explanation` of a case's lesion (default: the primary), computed once."""
        self._require()
        key = (index, lesion)
        with self._lock:
            if key in self._explanations:
                self._explanations.move_to_end(key)
                return self._explanations[key]
            result = self.result(index)
            found = self.model.explain(result, self._lesion(result, lesion), table=self.table)
            self._explanations[key] = found
            while len(self._explanations) > self.cache:
                self._explanations.popitem(last=False)
            return found

    @staticmethod
    def _all_maps(explanation) -> dict[str, tuple[np.ndarray, bool, str]]:
        """``{name: (map, on the whole frame, button text)}``: each head's Grad-CAM (a frame-sized one, the
        landmark head's, covers the frame; the others the crop), and the localizer's own maps, which cover the frame:
        a soft mask (``localizer_map``) and where it looked for the box (``localizer_saliency``, when the
        explanation has one)."""
        height, width = explanation.frame.shape[:2]
        out = {}
        for name, cam in explanation.gradcams.items():
            cam = np.asarray(cam)
            out[name] = (cam, cam.shape == (height, width), name)
        if getattr(explanation, "localizer_map", None) is not None:
            out["localizer_mask"] = (np.asarray(explanation.localizer_map), True, "localizer mask")
        if getattr(explanation, "localizer_saliency", None) is not None:
            method = getattr(explanation, "localizer_saliency_method", None) or "saliency"
            out["localizer_saliency"] = (np.asarray(explanation.localizer_saliency), True, f"localizer ({method})")
        return out

    def _crop_rect(self, explanation, whole_frame: bool) -> tuple[int, int, int, int]:
        """Where a map lies on the frame, ``(x, y, width, height)``: the whole frame, or the crop the engine cut
        (the lesion box enlarged the diagnoser's ``enlarge``, clipped)."""
        height, width = explanation.frame.shape[:2]
        if whole_frame:
            return 0, 0, width, height
        enlarge = float(getattr(self.model, "enlarge", 1.0) or 1.0)
        box = explanation.lesion.box
        rows, cols = (box.enlarge(enlarge) if enlarge != 1.0 else box).pixel_slice(width, height)
        return cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start

    def maps(self, explanation) -> dict[str, dict]:
        """Each map of :meth:`_all_maps` with its place on the frame and its button's text."""
        out = {}
        for name, (_, whole_frame, text) in self._all_maps(explanation).items():
            x, y, w, h = self._crop_rect(explanation, whole_frame)
            out[name] = {"x": x, "y": y, "width": w, "height": h, "text": text}
        return out

    def cam_png(self, index: int, name: str, lesion: int | None = None) -> bytes:
        """The PNG of one map of a case's explanation, the size of the region it covers on the frame."""
        key = (index, lesion, name)
        with self._lock:
            if key in self._pngs:
                return self._pngs[key]
            explanation = self.explanation(index, lesion)
            maps = self._all_maps(explanation)
            if name not in maps:
                raise NotInFolderError(f"no Grad-CAM map {name!r} for this case",
                                       hint=f"maps: {', '.join(maps) or 'none'}")
            cam, whole_frame, _ = maps[name]
            _, _, w, h = self._crop_rect(explanation, whole_frame)
            png = _cam_png(cam, (w, h))
            self._pngs[key] = png
            while len(self._pngs) > 8 * self.cache:
                self._pngs.popitem(last=False)
            return png

    def explanation_dict(self, index: int, lesion: int | None = None) -> dict:
        """What the case page shows of an explanation (JSON-ready)."""
        ex = self.explanation(index, lesion)
        return {"case": index, "lesion": ex.lesion_index, **describe(ex),
                "maps": [{"name": name, "url": f"/api/cases/{index}/maps/{name}.png"
                          + ("" if lesion is None else f"?lesion={lesion}"), **place}
                         for name, place in self.maps(ex).items()]}

    # ---- a clinician's correction -----------------------------------------------------------------------------------
    def intervene(self, index: int, corrections: dict, lesion: int | None = None) -> dict:
        """The diagnosis made again after a clinician set ``corrections`` (``{attribute: class}``), with the
        group contributions on the corrected features: ``{"before", "after", "contributions", ...}``."""
        self._require()
        with self._lock:
            result = self.result(index)
            chosen = self._lesion(result, lesion)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                changed = self.model.intervene(result, corrections, lesion=chosen, explain=False)
                ex = self.model.explain(changed, chosen, table=self.table, gradcam=False)
            before, after = result.lesions[chosen], changed.lesions[chosen]
            return {"case": index, "lesion": chosen, "corrections": dict(after.interventions),
                    "before": _diagnosis(before), "after": _diagnosis(after), **describe(ex),
                    "attributes": attribute_panel(after.features, after.interventions),
                    "notes": [str(w.message) for w in caught if issubclass(w.category, UserWarning)]}


def _diagnosis(lesion: Lesion) -> dict:
    return {"label": lesion.label, "probability": float(lesion.probability),
            "probabilities": {k: float(v) for k, v in lesion.probabilities.items()}}


def describe(explanation) -> dict:
    """An explanation's diagnosis and group contributions (largest first), JSON-ready."""
    lesion = explanation.lesion
    return {"label": lesion.label, "probability": float(lesion.probability),
            "explained_class": explanation.explained_class, "space": explanation.space,
            "explainer": explanation.explainer, "expected_value": float(explanation.expected_value),
            "output": float(explanation.output),
            "contributions": [{"group": g, "value": words, "contribution": float(v)}
                              for g, words, v in explanation.contributions()]}
