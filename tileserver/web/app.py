"""The web application: starlette routes over the engine. Only this layer knows about HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.templating import Jinja2Templates

from .. import access, config
from ..engine import Engine
from ..images import direct
from . import analysis, api, hips, iiif, overlays, samp, static, status, ws
from .errors import HANDLERS
from .files import DoorFiles
from .middleware import security
from .middleware.accesslog import AccessLog
from .middleware.counting import CountRequests
from .middleware.headerlimit import HeaderLimit
from .middleware.hosts import AllowedHosts
from .middleware.opencors import OpenCors
from .middleware.prefix import PrefixedPaths
from .middleware.proxy import ProxyMiddleware
from .monitor import Monitor


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


def npm_dir(package: str, build: str) -> Path | None:
    """A browser library from npm: shipped in the wheel as _share/{package}, or in a source checkout's
    node_modules (scripts/setup-tests.sh runs npm ci). None when neither is there."""
    here = Path(__file__).resolve().parents[1]  # the package folder, tileserver/
    for candidate in (here / "_share" / package, here.parent / "node_modules" / package / build):
        if candidate.is_dir():
            return candidate
    return None


# npm package, its folder of browser files, mount path: OpenSeadragon for IIIF pages (ours or other sites', see
# the manual's example), sampjs for the viewer's SAMP panel (loaded only when the user connects).
NPM_MOUNTS = (("openseadragon", "build/openseadragon", "/openseadragon"), ("sampjs", "", "/sampjs"))


def npm_mounts() -> list[Mount]:
    """The npm libraries that are installed (npm ci, or shipped in the wheel), each at its mount path."""
    found = [(npm_dir(package, build), path) for package, build, path in NPM_MOUNTS]
    return [Mount(path, DoorFiles(folder), name=path.strip("/")) for folder, path in found if folder is not None]


def leaflet_dir() -> Path:
    import xstatic.pkg.leaflet

    return Path(xstatic.pkg.leaflet.BASE_DIR)


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
    static_tag, static_mounts = static.mounts(client_dir, leaflet_dir())
    route_list = [
        Route("/", api.viewer, methods=["GET", "HEAD"]),
        Route(settings.api_path, iip_api, methods=["GET", "HEAD"]),
        Route("/healthz", api.healthz, methods=["GET", "HEAD"]),
        Route("/openapi.json", api.openapi_document, methods=["GET", "HEAD"]),
        Route("/list", api.list_folder, methods=["GET", "HEAD"]),
        Route("/progress", api.build_progress, methods=["GET", "HEAD"]),
        *iiif.routes(iip_api),
        WebSocketRoute("/ws", ws.LiveHub(engine, settings).endpoint),
        *static_mounts,
        *status.routes(settings),
        *overlays.routes(), *analysis.routes(),
        *hips.routes(engine),
        *samp.routes(),
        *npm_mounts(),
    ]
    if settings.doc_dir:
        route_list.append(Mount(settings.doc_path, DoorFiles(settings.doc_dir, html=True), name="manual"))
    monitor = Monitor(settings, engine)
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # A server's full-resolution tiles are copied from maps of its sources, under leases (not in a test's
        # in-process client, whose loop runs in another thread).
        direct.watch_leases(asyncio.get_running_loop())
        yield
        await run_in_threadpool(engine.close)  # builds in progress finish, open files close

    app = Starlette(
        routes=route_list,
        middleware=middleware(settings, engine, monitor),
        exception_handlers=HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.static_tag = static_tag
    app.state.templates = templates
    app.state.pid = os.getpid()
    app.state.monitor = monitor
    return app


def middleware(settings: config.Settings, engine: Engine, monitor: Monitor) -> list[Middleware]:
    """The middlewares, outermost first."""
    stack = [
        # Outermost: security headers on every answer, refusals included; oversized headers refused; then the
        # client's address and user, from trusted proxies only.
        Middleware(security.SecurityHeaders, policies={settings.doc_path: security.MANUAL_POLICY,
                                                       "/aladin": security.ALADIN_POLICY}),
        Middleware(HeaderLimit, max_bytes=settings.max_request_header_bytes),
        Middleware(AllowedHosts, allowed=settings.allowed_hosts, bind_host=settings.host),
        Middleware(ProxyMiddleware, trusted_proxies=settings.trusted_proxies, user_header=settings.user_header,
                   public=engine.anyone_may_read if settings.access_file else None,
                   secret=access.read_secret(settings.proxy_secret_file)),
        *([Middleware(AccessLog)] if settings.access_log else []),
        Middleware(PrefixedPaths), Middleware(CountRequests, monitor=monitor),
        # The standards' routes are open to every site (their clients live elsewhere); outside the API's CORS.
        Middleware(OpenCors, prefixes=("/iiif/", "/hips/"))]
    if settings.cors_origins:
        stack.append(Middleware(CORSMiddleware, allow_origins=config.comma_list(settings.cors_origins),
                                allow_methods=["GET", "HEAD"], expose_headers=["ETag"]))
    return stack


def app_from_environment() -> Starlette:
    """Factory for gunicorn/uvicorn workers: the parent passes the checked settings as TILESERVER_* variables."""
    settings = config.resolve({}, os.environ, config_file=None)
    return create_app(settings)


def request_once(settings: config.Settings, path: str) -> tuple[int, str, bytes]:
    """One GET answered in-process, for `tileserver --get PATH`: status, content type and body."""
    from starlette.testclient import TestClient

    with TestClient(create_app(settings), base_url="http://localhost") as client:  # a loopback name
        response = client.get(path)
    return response.status_code, response.headers.get("content-type", ""), response.content
