"""HiPS endpoints: {root_path}/hips/{id}/... for every image with a celestial WCS, and the Aladin Lite page.

{id} is the FIF value (extension selector included) percent-encoded as one path segment, so it is read from the
raw path, before any decoding could turn an encoded "/" into a separator. Every answer, errors included, carries
`Access-Control-Allow-Origin: *`: Aladin Lite pages live on other origins, and HiPS are public data by design
(access rules still apply: an image a user may not read has no HiPS for that user).

GET /hips/{id}/                                   a redirect to the Aladin Lite page of the image
GET /hips/{id}/properties                         the HiPS description (text)
GET /hips/{id}/Moc.fits                           the footprint (MOC 2.0 FITS)
GET /hips/{id}/Norder3/Allsky.{jpg|fits}          the order-3 preview
GET /hips/{id}/Norder{k}/Dir{d}/Npix{n}.{jpg|fits} a tile (d = n // 10000 * 10000)
GET /aladin?image={FIF}                           Aladin Lite v3 showing the image's HiPS over the sky
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route, get_route_path
from starlette.types import Scope

from .. import __version__, access, iip
from ..engine import Engine
from ..errors import ImageNotFound, InvalidParameter, NotFound, TileServerError
from ..sky.service import HipsService
from ..store.tilecache import CachedTile
from .api import none_match
from .errors import error_response
from .files import DoorFiles

CORS = {"Access-Control-Allow-Origin": "*"}
REVALIDATE = "public, max-age=60, must-revalidate"
MEDIA = {"jpg": "image/jpeg", "fits": "application/fits"}
MAX_ID_BYTES = 3 * 1024  # a percent-encoded path of the longest allowed length (1024 characters)
_TILE = re.compile(r"Norder(\d{1,2})/Dir(\d{1,19})/Npix(\d{1,19})\.(jpg|fits)", re.ASCII)
_ALLSKY = re.compile(r"Norder3/Allsky\.(jpg|fits)", re.ASCII)
NO_FILE = "no such HiPS file: ask for properties, Moc.fits, Norder3/Allsky.jpg or Norder{k}/Dir{d}/Npix{n}.jpg"


def split_path(request: Request) -> tuple[str, str]:
    """(FIF, the rest of the path) of /hips/{id}/{rest}, the id percent-decoded exactly once."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    at = raw.rfind(b"/hips/")  # an encoded id holds no "/", and no HiPS file name contains "hips/"
    segment, _, rest = raw[at + len(b"/hips/"):].partition(b"/")
    if len(segment) > MAX_ID_BYTES:
        raise InvalidParameter("the image id is too long", "id")
    try:
        ident = unquote(segment.decode("ascii"), errors="strict")
        tail = unquote(rest.decode("ascii"), errors="strict")
    except UnicodeError:
        raise InvalidParameter("the image id must be UTF-8, percent-encoded as one path segment", "id") from None
    if not ident:
        raise ImageNotFound("name an image: /hips/{id}/ with id the FIF value, percent-encoded", "id")
    return ident, tail


class HipsEndpoint:
    def __init__(self, engine: Engine, service: HipsService) -> None:
        self.engine, self.service = engine, service

    async def respond(self, request: Request) -> Response:
        try:
            response = await self.handle(request)
        except TileServerError as exc:
            response = error_response(exc)
        response.headers.update(CORS)
        return response

    async def handle(self, request: Request) -> Response:
        ident, tail = split_path(request)
        query = iip.parse([("FIF", ident), ("INFO", "")], access.user_of(request.scope))
        image = await run_in_threadpool(self.engine.open, query)  # access rules are checked on the way
        service = self.service
        if tail == "":
            root = request.scope.get("root_path", "").rstrip("/")
            return RedirectResponse(f"{root}/aladin?image={quote(ident, safe='')}", status_code=303)
        if tail == "properties":
            text = await run_in_threadpool(service.properties, image, quote(ident, safe=""))
            return PlainTextResponse(text, headers={"Cache-Control": REVALIDATE})
        if tail == "Moc.fits":
            data = await run_in_threadpool(service.moc, image)
            return Response(data, media_type=MEDIA["fits"], headers={"Cache-Control": REVALIDATE})
        allsky = _ALLSKY.fullmatch(tail)
        if allsky:
            tile = await run_in_threadpool(service.allsky, image, allsky.group(1))
            return self._send(request, tile, allsky.group(1))
        match = _TILE.fullmatch(tail)
        if match is None:
            raise NotFound(NO_FILE, "path")
        order, folder, npix = (int(v) for v in match.groups()[:3])
        if folder != npix // 10000 * 10000:
            raise NotFound(f"tile {npix} is in Dir{npix // 10000 * 10000}", "path")
        tile = await run_in_threadpool(service.tile, image, order, npix, match.group(4))
        return self._send(request, tile, match.group(4))

    def _send(self, request: Request, tile: CachedTile, fmt: str) -> Response:
        headers = {"ETag": tile.etag.decode(), "Cache-Control": REVALIDATE}
        if none_match(request.scope, tile.etag):
            return Response(status_code=304, headers=headers)
        return Response(tile.data, media_type=MEDIA[fmt], headers=headers)


def aladin_dir() -> Path | None:
    """Aladin Lite's files: shipped in the wheel, or installed by `npm ci` in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_share" / "aladin-lite", here.parent / "node_modules" / "aladin-lite" / "dist"):
        if (candidate / "aladin.js").is_file():
            return candidate
    return None


async def aladin_page(request: Request) -> Response:
    settings = request.app.state.settings
    root = request.scope.get("root_path", "").rstrip("/")
    if aladin_dir() is None:
        raise NotFound("Aladin Lite is not installed with this server (run `npm ci` in the source tree)",
                            "path")
    return request.app.state.templates.TemplateResponse(request, "aladin.html", {
        "root": root,
        "image": request.query_params.get("image", settings.default_image),
        "version": __version__,
    })  # its Content-Security-Policy, what Aladin Lite needs: middleware/security.py ALADIN_POLICY


class RawRoute(Route):
    """A route matched on the raw, still percent-encoded path, so that {id} may hold an encoded "/". Its `path` is
    the documented template; the endpoint parses the path itself (split_path)."""

    def __init__(self, path: str, raw: bytes, endpoint: Any) -> None:
        super().__init__(path, endpoint, methods=["GET", "HEAD"])
        self.raw = re.compile(b"/hips/[^/]*" + raw, re.ASCII)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or not get_route_path(scope).startswith("/hips/"):
            return Match.NONE, {}
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        if not self.raw.fullmatch(raw[raw.rfind(b"/hips/"):]):
            return Match.NONE, {}
        child = {"endpoint": self.endpoint, "path_params": {}}
        return (Match.FULL if scope["method"] in (self.methods or ()) else Match.PARTIAL), child


def routes(engine: Engine) -> list[BaseRoute]:
    respond = HipsEndpoint(engine, HipsService(engine)).respond
    out: list[BaseRoute] = [
        RawRoute("/hips/{id}/properties", b"/properties", respond),
        RawRoute("/hips/{id}/Moc.fits", b"/Moc\\.fits", respond),
        RawRoute("/hips/{id}/Norder3/Allsky.{format}", b"/Norder3/Allsky\\.[a-z]+", respond),
        RawRoute("/hips/{id}/Norder{order}/Dir{dir}/Npix{npix}.{format}", b"/Norder\\d+/Dir\\d+/Npix\\d+\\.[a-z]+",
                 respond),
        # Last: the image's address (a redirect to its Aladin Lite page), and any other file name (a 404 with CORS).
        RawRoute("/hips/{id}", b"(/.*)?", respond),
        Route("/aladin", aladin_page, methods=["GET", "HEAD"]),
    ]
    folder = aladin_dir()
    if folder is not None:
        out.append(Mount("/aladin-lite", DoorFiles(folder), name="aladin-lite"))
    return out
