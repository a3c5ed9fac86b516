"""The web application: starlette routes over the engine. Only this layer knows about HTTP."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from . import config, errors, routes
from .engine import Engine

log = logging.getLogger("tileserver")

STATUS = {
    errors.InvalidParameter: 422,
    errors.ImageNotFound: 404,
    errors.TileNotFound: 404,
    errors.Forbidden: 403,
    errors.TooLarge: 413,
    errors.UnsupportedImage: 415,
    errors.Overloaded: 503,
    errors.CacheFull: 507,
}


def share_dir(name: str) -> Path:
    """A folder shipped with the package: inside the wheel, or at the top of a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_share" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise config.SettingError(f"the package's {name}/ folder is missing: reinstall tileserver")


def leaflet_dir() -> Path:
    import xstatic.pkg.leaflet

    return Path(xstatic.pkg.leaflet.BASE_DIR)


def error_response(exc: errors.TileServerError) -> JSONResponse:
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    headers = {"Retry-After": "5"} if status in (503, 507) else None
    body = {"detail": [{"loc": ["query", exc.param], "msg": exc.message, "type": exc.kind}]}
    return JSONResponse(body, status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> Response:
    return error_response(exc)  # type: ignore[arg-type]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    body = {"detail": [{"loc": ["path"], "msg": exc.detail, "type": "http"}]}
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


async def _server_error(request: Request, exc: Exception) -> Response:
    # Logged for the operator; the client gets no traceback and no path.
    log.exception("internal error on %s", request.url.path)
    body = {"detail": [{"loc": [], "msg": "internal server error", "type": "server_error"}]}
    return JSONResponse(body, status_code=500)


def create_app(settings: config.Settings) -> Starlette:
    engine = Engine(settings)
    client_dir = Path(settings.client_dir) if settings.client_dir else share_dir("client")
    template_dir = Path(settings.template_dir) if settings.template_dir else share_dir("templates")
    templates = Jinja2Templates(directory=str(template_dir))
    api = routes.Api(engine)
    route_list = [
        Route("/", routes.viewer, methods=["GET", "HEAD"]),
        Route(settings.api_path, api, methods=["GET", "HEAD"]),
        Route("/healthz", routes.healthz, methods=["GET", "HEAD"]),
        Mount("/client", StaticFiles(directory=client_dir), name="client"),
        Mount("/leaflet", StaticFiles(directory=leaflet_dir()), name="leaflet"),
    ]
    doc_dir = Path(settings.doc_dir) if settings.doc_dir else None
    if doc_dir and doc_dir.is_dir():
        route_list.append(Mount(settings.doc_path, StaticFiles(directory=doc_dir, html=True), name="manual"))
    middleware = []
    if settings.cors_origins:
        origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
        middleware.append(Middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "HEAD"],
                                     expose_headers=["ETag"]))
    app = Starlette(
        routes=route_list,
        middleware=middleware,
        exception_handlers={
            errors.TileServerError: _domain_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.templates = templates
    app.state.pid = os.getpid()
    return app


def app_from_environment() -> Starlette:
    """Factory for gunicorn/uvicorn workers: the parent passes the checked settings as TILESERVER_* variables."""
    settings = config.resolve({}, os.environ, config_file=None)
    return create_app(settings)
