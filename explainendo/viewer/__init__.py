"""The results viewer: ``explainendo view RESULTS_DIR`` opens a local web app over a ``diagnose`` output folder.

* :class:`ResultsFolder`, :class:`Query` (``results.py``): the folder in memory: ``results.csv`` read once (sorted,
  filtered and paged with NumPy), each case's record read from ``results.jsonl`` through an index of line offsets.
* :class:`CaseExplainer` (``explainer.py``): a case's record back as a :class:`~explainendo.types.Result` with its
  frame, explained on demand (grouped SHAP, Grad-CAM; cached) and corrected by a clinician
  (:meth:`Diagnoser.intervene <explainendo.engine.Diagnoser.intervene>`).
* :func:`create_app`, :func:`serve` (``app.py``): the FastAPI app (Jinja2 templates and plain JavaScript shipped in
  the package; no CDN, works offline) and uvicorn, bound to 127.0.0.1 unless told otherwise.
* :class:`Study`, :class:`AnswerLog` (``study.py``), :func:`create_study_app` (``study_app.py``): a reader study's
  reading session (``explainendo view RESULTS --study study.yaml``; ``docs/reader_study.md``).

Needs the ``[viewer]`` extra (fastapi, uvicorn, jinja2); ``docs/viewer.md`` shows it. Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

#: public name -> submodule that defines it
_EXPORTS = {
    **dict.fromkeys(["FrameFile", "NotInFolderError", "Page", "Query", "ResultsFolder"], "results"),
    **dict.fromkeys(["CaseExplainer", "NoModelError", "attribute_panel", "result_from_record"], "explainer"),
    **dict.fromkeys(["create_app", "serve"], "app"),
    **dict.fromkeys(["AnswerLog", "Study", "WashoutError"], "study"),
    **dict.fromkeys(["create_study_app", "serve_study"], "study_app"),
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from .app import create_app, serve
    from .explainer import CaseExplainer, NoModelError, attribute_panel, result_from_record
    from .study import AnswerLog, Study, WashoutError
    from .study_app import create_study_app, serve_study
    from .results import FrameFile, NotInFolderError, Page, Query, ResultsFolder
