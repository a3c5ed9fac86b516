"""The web application: starlette routes over the engine. Only this layer knows about HTTP."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import access, config, errors
from ..engine import Engine
from . import api, hips, overlays, status, ws

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
    here = Path(__file__).resolve().parents[1]  # the package folder, tileserver/
    for candidate in (here / "_share" / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    raise config.SettingError(f"the package's {name}/ folder is missing: reinstall tileserver")


def manual_dir(settings: config.Settings) -> Path | None:
    """The built HTML manual: doc_dir, or else the one shipped in the wheel or built in a source checkout."""
    if settings.doc_dir:
        return Path(settings.doc_dir) if Path(settings.doc_dir).is_dir() else None
    here = Path(__file__).resolve().parents[1]  # the package folder, tileserver/
    for candidate in (here / "_share" / "doc", here.parent / "doc" / "_build" / "html"):
        if (candidate / "index.html").is_file():
            return candidate
    return None


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


class PrefixedPaths:
    """Serve {root_path}/x whether the reverse proxy strips root_path or passes the path unchanged.

    The ASGI server prefixes every path with root_path, so a proxy that strips it gets /vis/x routed as /x; one
    that passes /vis/x unchanged arrives as /vis/vis/x, which we bring back to /vis/x. Direct requests to
    {root_path}/x work the same way, so one URL serves through the proxy and on the server's own port."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")
        if root and scope["type"] in ("http", "websocket"):
            path, twice = scope["path"], root + root
            if path == twice or path.startswith(twice + "/"):
                raw = scope.get("raw_path")
                scope = {**scope, "path": path[len(root):],
                         "raw_path": raw[len(root.encode()):] if raw else raw}
        await self.app(scope, receive, send)


def create_app(settings: config.Settings) -> Starlette:
    # doc_dir names the manual actually served ("" for none): the viewer links to it only then.
    settings = dataclasses.replace(settings, doc_dir=str(manual_dir(settings) or ""))
    engine = Engine(settings)
    if settings.store_url:
        from ..cluster.node import attach

        attach(engine, settings)
    client_dir = Path(settings.client_dir) if settings.client_dir else share_dir("client")
    template_dir = Path(settings.template_dir) if settings.template_dir else share_dir("templates")
    templates = Jinja2Templates(directory=str(template_dir))
    iip_api = api.Api(engine)
    route_list = [
        Route("/", api.viewer, methods=["GET", "HEAD"]),
        Route(settings.api_path, iip_api, methods=["GET", "HEAD"]),
        Route("/healthz", api.healthz, methods=["GET", "HEAD"]),
        Route("/openapi.json", api.openapi_document, methods=["GET", "HEAD"]),
        Route("/list", api.list_folder, methods=["GET", "HEAD"]),
        Route("/progress", api.build_progress, methods=["GET", "HEAD"]),
        WebSocketRoute("/ws", ws.LiveHub(engine, settings).endpoint),
        Mount("/client", StaticFiles(directory=client_dir), name="client"),
        Mount("/leaflet", StaticFiles(directory=leaflet_dir()), name="leaflet"),
        *status.routes(settings),
        *overlays.routes(),
        *hips.routes(engine),
    ]
    if settings.doc_dir:
        route_list.append(Mount(settings.doc_path, StaticFiles(directory=settings.doc_dir, html=True), name="manual"))
    monitor = status.Monitor(settings, engine)
    middleware = [
        # Outermost: oversized headers refused; then the client's address and user, from trusted proxies only.
        Middleware(access.HeaderLimit, max_bytes=settings.max_request_header_bytes),
        Middleware(access.ProxyMiddleware, trusted_proxies=settings.trusted_proxies, user_header=settings.user_header,
                   public=engine.anyone_may_read if settings.access_file else None,
                   secret=access.read_secret(settings.proxy_secret_file)),
        Middleware(PrefixedPaths), Middleware(status.CountRequests, monitor=monitor)]
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
    app.state.monitor = monitor
    return app


def app_from_environment() -> Starlette:
    """Factory for gunicorn/uvicorn workers: the parent passes the checked settings as TILESERVER_* variables."""
    settings = config.resolve({}, os.environ, config_file=None)
    return create_app(settings)
