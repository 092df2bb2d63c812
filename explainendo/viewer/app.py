"""The viewer's web app (FastAPI, Jinja2 templates, a little plain JavaScript; every file served from the package,
nothing from a CDN, so it works offline): :func:`create_app` over a ``diagnose`` output folder.

Pages: ``/`` the case table (sorted, filtered and paged on the server), ``/case/{i}`` a case (the frame with its
boxes, the attribute panel, the group contributions, the Grad-CAM maps toggled on the frame, the correction form).
JSON: ``/api/cases`` (a table page), ``/api/cases/{i}`` (the record), ``/api/cases/{i}/explanation``,
``/api/cases/{i}/maps/{name}.png``, ``POST /api/cases/{i}/intervene`` (``{"corrections": {attribute: class}}``).
An error is a page (or JSON ``{"error": ...}``) that says what is wrong; nothing crashes the server.
"""


import contextlib
import io
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from ..errors import ConfigError, ExplainendoError, InvalidImageError, MissingDependencyError
from .results import BROWSER_IMAGES, OOD_FILTERS, SORTABLE, NotInFolderError, Query, ResultsFolder

HERE = Path(__file__).resolve().parent
INSTALL_HINT = "pip install 'explainendo[viewer]' (fastapi, uvicorn, jinja2)"


def _require_web():
    try:
        import fastapi  # noqa: F401
        import jinja2  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(f"the viewer needs {exc.name}, which is not installed", hint=INSTALL_HINT) from exc


def _query(params) -> Query:
    """A :class:`Query` from URL parameters (an empty form field is the default)."""
    def number(name, cast, default):
        text = (params.get(name) or "").strip()
        if not text:
            return default
        try:
            value = cast(text)
        except ValueError:
            raise ConfigError(f"{name}={text!r} is not a number") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name}={text!r} is not a finite number")
        return value

    return Query(sort=params.get("sort") or "index", order=params.get("order") or "asc",
                 label=params.get("label") or "", status=params.get("status") or "", ood=params.get("ood") or "any",
                 fitter=params.get("fitter") or "", q=(params.get("q") or "").strip(),
                 p_min=number("p_min", float, None), p_max=number("p_max", float, None),
                 page=number("page", int, 1), per_page=number("per_page", int, 50)).checked()


def _status(exc: Exception) -> int:
    from .explainer import NoModelError

    if isinstance(exc, MissingDependencyError):
        return 500
    if isinstance(exc, (NotInFolderError, InvalidImageError)):
        return 404
    if isinstance(exc, NoModelError):
        return 409
    return 400


def create_app(results_dir, model: Any = None, images=None, cache: int = 32, warm_up: bool = True):
    """The viewer over ``results_dir`` (the ``--out`` folder of ``explainendo diagnose``).

    ``model``: a fitted :class:`~explainendo.engine.Diagnoser` or a model folder for explanations and corrections;
    None: the folder the run's ``ledger.json`` names (the viewer still shows the saved results when it is gone).
    ``images``: where the run's images are now, if they moved. ``cache``: explanations kept in memory.
    ``warm_up``: prepare the model's SHAP explainer in a background thread at once (the first explanation then
    costs what the next ones do).
    :class:`~explainendo.errors.ConfigError` for a missing folder or one that is not a diagnose output;
    :class:`~explainendo.errors.MissingDependencyError` without the ``[viewer]`` extra."""
    _require_web()
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles
    from fastapi.templating import Jinja2Templates

    from .._version import __version__
    from ..explain.card import INTENDED_USE
    from .explainer import CaseExplainer, attribute_panel, result_from_record

    results = ResultsFolder(results_dir, images=images)
    explainer = CaseExplainer(results, model=model, cache=cache)
    if warm_up and explainer.available:
        import threading

        def warm() -> None:
            try:
                explainer.warm_up()
            except Exception as exc:  # noqa: BLE001 - the first explanation will raise it, on its page
                import logging

                logging.getLogger(__name__).warning("preparing the SHAP explainer failed: %s", exc)

        threading.Thread(target=warm, name="explainendo-viewer-warm-up", daemon=True).start()
    app = FastAPI(title="explainendo viewer", version=__version__, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.results, app.state.explainer = results, explainer
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(version=__version__, intended_use=INTENDED_USE, folder=str(results.folder))

    def fmt(value, digits=3):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value if value not in (None, "") else "–"
        return f"{number:.{digits}f}" if math.isfinite(number) else "–"

    templates.env.filters["fmt"] = fmt

    def error_response(request: Request, exc: Exception):
        status = _status(exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": str(exc)}, status_code=status)
        return templates.TemplateResponse(request, "error.html", {"message": str(exc), "status": status},
                                          status_code=status)

    @app.exception_handler(ExplainendoError)
    async def _explainendo_error(request: Request, exc: ExplainendoError):
        return error_response(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected_error(request: Request, exc: Exception):  # a bug: said on the page, the server goes on
        message = f"unexpected {type(exc).__name__}: {exc} (a bug: please report it with this message)"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=500)
        return templates.TemplateResponse(request, "error.html", {"message": message, "status": 500},
                                          status_code=500)

    def table_link(query: Query, **changes) -> str:
        params = query.params(**changes)
        return "/?" + urlencode(params) if params else "/"

    def case_link(index: int, query: Query) -> str:
        params = query.params(page=1)
        return f"/case/{index}" + ("?" + urlencode(params) if params else "")

    # ---- the case table --------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def table(request: Request):
        results.refresh()
        query = _query(request.query_params)
        page = results.page(query)
        sort_links = {name: table_link(query, sort=name, page=1,
                                       order="desc" if query.sort == name and query.order == "asc" else "asc")
                      for name in SORTABLE}
        return templates.TemplateResponse(request, "table.html", {
            "page": page, "query": query, "results": results, "sort_links": sort_links,
            "case_links": {row["index"]: case_link(row["index"], query) for row in page.rows},
            "prev_link": table_link(query, page=page.page - 1) if page.page > 1 else None,
            "next_link": table_link(query, page=page.page + 1) if page.page < page.pages else None,
            "ood_filters": OOD_FILTERS, "note": explainer.note})

    @app.get("/api/cases")
    def cases(request: Request):
        results.refresh()
        page = results.page(_query(request.query_params))
        return {"total": page.total, "page": page.page, "pages": page.pages, "all_cases": page.all_cases,
                "rows": [{k: v for k, v in row.items() if k != "probability_value"} for row in page.rows]}

    # ---- one case --------------------------------------------------------------------------------------------------
    @app.get("/case/{index}", response_class=HTMLResponse)
    def case(request: Request, index: int, lesion: int | None = None):
        results.refresh()
        query = _query(request.query_params)
        record = results.record(index)
        row = results.row(index)
        result = result_from_record(record)
        frame = results.frame(index, record)
        chosen = result.primary if lesion is None else lesion
        if result.lesions and not 0 <= chosen < len(result.lesions):
            raise NotInFolderError(f"lesion {chosen} does not exist",
                                   hint=f"the case has {len(result.lesions)} lesion(s)")
        shown = result.lesions[chosen] if result.lesions else None
        previous, following, position, count = results.neighbours(index, query)
        explainable = explainer.available and shown is not None and frame.problem is None and not result.error
        return templates.TemplateResponse(request, "case.html", {
            "index": index, "row": row, "record": record, "result": result, "frame": frame, "lesion": shown,
            "lesion_index": chosen, "attributes": attribute_panel(shown.features, shown.interventions) if shown else [],
            "correctable": explainer.correctable() if explainable else {},
            "explainable": explainable, "model_note": explainer.note, "model_path": explainer.model_path,
            "card": results.card(index, record) is not None,
            "back": table_link(query), "position": position, "count": count,
            "previous": None if previous is None else case_link(previous, query),
            "next": None if following is None else case_link(following, query),
            "lesion_param": "" if lesion is None else f"?lesion={lesion}"})

    @app.get("/case/{index}/frame")
    def frame(index: int):
        found = results.frame(index)
        if found.problem is not None:
            raise InvalidImageError(found.problem, source=None,
                                    hint="looked in: " + ", ".join(found.looked_in) if found.looked_in else None)
        headers = {"Cache-Control": "private, max-age=3600"}
        kind = BROWSER_IMAGES.get(found.path.suffix.lower())
        if found.video_frame is None and kind is not None:
            return FileResponse(found.path, media_type=kind, headers=headers)
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(results.pixels(found)).save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png", headers=headers)

    @app.get("/case/{index}/card")
    def card(index: int):
        path = results.card(index)
        if path is None:
            raise NotInFolderError(f"case {index} has no saved card", hint="diagnose writes one per diagnosed image "
                                                                      "unless --no-cards")
        return FileResponse(path, media_type="text/html" if path.suffix.lower() in (".html", ".htm") else "image/png")

    @app.get("/api/cases/{index}")
    def case_record(index: int):
        found = results.frame(index)
        return {"case": index, "row": {k: v for k, v in results.row(index).items() if k != "probability_value"},
                "record": results.record(index),
                "frame": {"found": found.problem is None, "size": found.size, "problem": found.problem}}

    @app.get("/api/cases/{index}/explanation")
    def explanation(index: int, lesion: int | None = None):
        return explainer.explanation_dict(index, lesion)

    @app.get("/api/cases/{index}/maps/{name}.png")
    def cam(index: int, name: str, lesion: int | None = None):
        return Response(explainer.cam_png(index, name, lesion), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/api/cases/{index}/intervene")
    async def intervene(request: Request, index: int):
        try:
            body = await request.json()
        except ValueError:
            raise ConfigError("the correction is not JSON", hint='{"corrections": {"boundary": "clear"}}') from None
        if not isinstance(body, dict) or not isinstance(body.get("corrections"), dict):
            raise ConfigError("the body needs 'corrections': {attribute: class}",
                              hint='{"corrections": {"boundary": "clear"}}')
        corrections = {k: v for k, v in body["corrections"].items() if v not in (None, "")}
        lesion = body.get("lesion")
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(explainer.intervene, index, corrections,
                                       None if lesion in (None, "") else int(lesion))

    return app


def serve(results_dir, model=None, host: str = "127.0.0.1", port: int = 8765, images=None, log_level: str = "warning"):
    """Run the viewer with uvicorn until interrupted (:func:`create_app`'s arguments)."""
    _require_web()
    try:
        import uvicorn
    except ImportError as exc:
        raise MissingDependencyError("the viewer needs uvicorn, which is not installed", hint=INSTALL_HINT) from exc
    uvicorn.run(create_app(results_dir, model=model, images=images), host=host, port=port, log_level=log_level)


@contextlib.contextmanager
def background_server(app, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0):
    """Serve ``app`` with uvicorn in a thread of this process while the ``with`` block runs; yields its base URL
    (``port`` 0: a free port). For tests, benchmarks and notebooks; :func:`serve` for a person."""
    import socket
    import threading
    import time

    import uvicorn

    if port == 0:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="explainendo-viewer", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise ConfigError(f"the viewer did not start on {host}:{port}", hint="is the port taken?")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
