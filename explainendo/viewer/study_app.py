"""The reading session of a reader study in the browser (``explainendo view RESULTS --study study.yaml``): a FastAPI
app over a :class:`~explainendo.viewer.study.Study` and its answers file.

Pages: ``/`` (the reader gives their id), ``/reader/{id}`` (where the reader is: the next unanswered case of the
current session, the Likert questionnaire after the last case of the with-AI session, the washout notice before
session 2 opens, or the end). A case in the *without AI* arm shows the frame only; in the *with AI* arm also the
model's box, label and probability, the saved attribute panel and, when the model is at hand, its Grad-CAM maps
toggled on the frame. ``POST /reader/{id}/answer`` (label, confidence 1..N) and ``POST /reader/{id}/likert`` write
one JSON line each, fsync'd, then send the reader on (post / redirect / get, so a reload never answers twice).
The time per case is kept twice: on the server, from the page served to the answer received, and in the browser,
from the page shown to the button pressed. JSON: ``GET /api/reader/{id}`` (the reader's state).

The viewer's own pages (the case table, corrections) are not served in study mode: a reader in the without-AI arm
must not see the model's answers. (No ``from __future__ import annotations`` here: FastAPI reads the route
functions' annotations at run time.)
"""

import datetime as dt
import io
import math
from typing import Any, Callable

from ..errors import ConfigError, ExplainendoError, InvalidImageError
from .app import HERE, _require_web
from .results import BROWSER_IMAGES, NotInFolderError, ResultsFolder
from .study import AnswerLog, Study, WashoutError, utc_now


def create_study_app(study, results=None, model: Any = None, images=None,
                     clock: Callable[[], dt.datetime] = utc_now, warm_up: bool = True):
    """The reading-session app of ``study`` (a :class:`Study` or a study file). ``results``: the diagnose output
    folder (default: the study file's ``results``); ``model`` / ``images`` as for
    :func:`~explainendo.viewer.create_app` (the model only draws the with-AI arm's Grad-CAM maps); ``clock``: the
    time now, UTC (tests move it past the washout)."""
    _require_web()
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates

    from .._version import __version__
    from ..explain.card import INTENDED_USE
    from .explainer import CaseExplainer, attribute_panel, result_from_record

    if not isinstance(study, Study):
        folder = None if results is None else ResultsFolder(results, images=images)
        study = Study.load(study, results=folder)
    folder = ResultsFolder(study.results, images=images)
    log = AnswerLog(study, clock=clock)
    explainer = CaseExplainer(folder, model=model)
    if warm_up and explainer.available:
        import threading

        threading.Thread(target=_quiet(explainer.warm_up), name="explainendo-study-warm-up", daemon=True).start()
    served: dict[tuple[str, int, str], dt.datetime] = {}

    app = FastAPI(title="explainendo reader study", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.study, app.state.log, app.state.results = study, log, folder
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(version=__version__, intended_use=INTENDED_USE, folder=f"reader study: {study.name}",
                                 study=study)

    def fmt(value, digits=3):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value if value not in (None, "") else "–"
        return f"{number:.{digits}f}" if math.isfinite(number) else "–"

    templates.env.filters["fmt"] = fmt

    def status_of(exc: Exception) -> int:
        if isinstance(exc, WashoutError):
            return 403
        if isinstance(exc, (NotInFolderError, InvalidImageError)):
            return 404
        return 400

    @app.exception_handler(ExplainendoError)
    async def _error(request: Request, exc: ExplainendoError):
        status = status_of(exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc)}, status_code=status)
        return templates.TemplateResponse(request, "error.html", {"message": str(exc), "status": status},
                                          status_code=status)

    def case_name(case: str) -> int:
        if case not in study.case_index:
            raise NotInFolderError(f"case {case!r} is not in the study")
        return study.case_index[case]

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request):
        return templates.TemplateResponse(request, "study_home.html", {"readers": list(study.readers)})

    @app.get("/start")
    def start(reader: str = ""):
        study.reader(reader.strip())
        return RedirectResponse(f"/reader/{reader.strip()}", status_code=303)

    @app.get("/reader/{reader_id}", response_class=HTMLResponse)
    def reading(request: Request, reader_id: str):
        state = log.state(reader_id)
        common = {"reader": state.reader, "state": state}
        if state.done:
            return templates.TemplateResponse(request, "study_done.html", common)
        if state.opens is not None:
            first = log.finished(reader_id, 1)
            return templates.TemplateResponse(request, "study_washout.html", {
                **common, "opens": state.opens, "first_finished": first}, status_code=403)
        if state.likert_due:
            return templates.TemplateResponse(request, "study_likert.html", common)
        case = state.next_case
        index = case_name(case)
        now = clock()
        served.setdefault((reader_id, state.session, case), now)
        context = {**common, "case": case, "index": index, "served_at": served[(reader_id, state.session, case)],
                   "with_ai": state.arm == "with_ai", "frame": folder.frame(index)}
        if state.arm == "with_ai":
            record = folder.record(index)
            result = result_from_record(record)
            lesion = result.lesions[result.primary] if result.lesions else None
            context.update(result=result, lesion=lesion,
                           attributes=attribute_panel(lesion.features, lesion.interventions) if lesion else [],
                           explainable=explainer.available and lesion is not None and context["frame"].problem is None)
        return templates.TemplateResponse(request, "study_case.html", context)

    @app.post("/reader/{reader_id}/answer")
    async def answer(request: Request, reader_id: str):
        form = await _form(request)
        session, confidence = _whole(form, "session"), _whole(form, "confidence")
        case, label = form.get("case", ""), form.get("label", "")
        client_ms, served_at = form.get("client_ms", ""), form.get("served_at", "")
        when = served.get((reader_id, session, case))
        if when is None and served_at:  # the server restarted since it served the page
            try:
                when = dt.datetime.fromisoformat(served_at)
            except ValueError:
                when = None
        try:
            client = float(client_ms) if client_ms else None
        except ValueError:
            client = None
        log.answer(reader_id, session, case, label, confidence, served_at=when, client_ms=client)
        served.pop((reader_id, session, case), None)
        return RedirectResponse(f"/reader/{reader_id}", status_code=303)

    @app.post("/reader/{reader_id}/likert")
    async def likert(request: Request, reader_id: str):
        form = await _form(request)
        session = _whole(form, "session")
        log.questionnaire(reader_id, session, {i.id: form.get(i.id) for i in study.likert if form.get(i.id)})
        return RedirectResponse(f"/reader/{reader_id}", status_code=303)

    @app.get("/api/reader/{reader_id}")
    def reader_state(reader_id: str):
        s = log.state(reader_id)
        return {"reader": s.reader.id, "experience": s.reader.experience, "session": s.session, "arm": s.arm,
                "answered": s.answered, "total": s.total, "next_case": s.next_case, "likert_due": s.likert_due,
                "opens": s.opens.isoformat() if s.opens else None, "done": s.done}

    @app.get("/frame/{case}")
    def frame(case: str):
        found = folder.frame(case_name(case))
        if found.problem is not None:
            raise InvalidImageError(found.problem)
        kind = BROWSER_IMAGES.get(found.path.suffix.lower())
        if found.video_frame is None and kind is not None:
            return FileResponse(found.path, media_type=kind)
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(folder.pixels(found)).save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png")

    @app.get("/api/ai/{case}/maps")
    def maps(case: str):
        index = case_name(case)
        if not explainer.available:
            raise ConfigError("no model: the Grad-CAM maps need --model")
        ex = explainer.explanation(index)
        return {"maps": [{"name": n, "url": f"/api/ai/{case}/maps/{n}.png", **place}
                         for n, place in explainer.maps(ex).items()]}

    @app.get("/api/ai/{case}/maps/{name}.png")
    def cam(case: str, name: str):
        return Response(explainer.cam_png(case_name(case), name), media_type="image/png")

    return app


async def _form(request) -> dict[str, str]:
    """A posted HTML form (``application/x-www-form-urlencoded``), parsed with the standard library (FastAPI's
    ``Form`` needs python-multipart, which the viewer does not require)."""
    from urllib.parse import parse_qsl

    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _whole(form: dict, name: str) -> int:
    try:
        return int(form.get(name, ""))
    except ValueError:
        raise ConfigError(f"the form's {name} {form.get(name)!r} is not a whole number") from None


def _quiet(function):
    def run():
        try:
            function()
        except Exception as exc:  # noqa: BLE001 - the first map request will raise it, on its page
            import logging

            logging.getLogger(__name__).warning("preparing the explainer failed: %s", exc)
    return run


def serve_study(study, results=None, model=None, host: str = "127.0.0.1", port: int = 8765, images=None):
    """Run the reading session with uvicorn until interrupted (:func:`create_study_app`'s arguments)."""
    import uvicorn

    uvicorn.run(create_study_app(study, results=results, model=model, images=images), host=host, port=port,
                log_level="warning")

