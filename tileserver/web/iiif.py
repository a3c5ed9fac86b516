"""IIIF Image API 3.0 routes: {root_path}/iiif/3/{id}/info.json, {root_path}/iiif/3/{id}/{region}/{size}/{rotation}/
{quality}.{format}, and the base URI {root_path}/iiif/3/{id}, which redirects to info.json.

{id} is the FIF value (extension selector included) percent-encoded as one path segment; it is confined and
access-checked exactly like FIF. Our display parameters (CNT, BRT, GAM, MINMAX, STR, CMP, INV, CHAN, MIX, CTW, SAT,
QLT, V) go in the query string and pass through the same parser as the API's. Errors follow the spec: 400 for a
malformed request, 404 for an unknown image, 501 for a format the spec names but we do not offer; the body is our
usual JSON error. CORS comes from middleware.opencors, on every answer under /iiif/.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.convertors import StringConvertor
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .. import access, errors, iiif, iip
from ..engine import Engine, Image
from ..store.pyramid import CorruptEntry
from ..store.tilecache import CachedTile
from .api import IMMUTABLE, REVALIDATE, Api, none_match
from .errors import error_body

PREFIX = "/iiif/3/"
PATH_PARAMS = ("identifier", "region", "size", "rotation", "quality", "format")
# The API's commands have no meaning here: a FIF in the query would contradict the path.
API_COMMANDS = {"FIF", "INFO", "obj", "JTL", "RGN", "BIN", "CVT", "VAL", "PFL"}
STATUS = {
    errors.InvalidParameter: 400,
    errors.TileNotFound: 400,
    errors.NotImplementedFeature: 501,
    errors.ImageNotFound: 404,
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.TooLarge: 413,
    errors.UnsupportedImage: 415,
    errors.Overloaded: 503,
    errors.CacheFull: 507,
}
LD_JSON = f'application/ld+json;profile="{iiif.CONTEXT}"'
PROFILE_LINK = f'<{iiif.PROFILE_URI}>;rel="profile"'


class QueryCommand(errors.InvalidParameter):
    """An API command (FIF, JTL...) in an IIIF query string."""


@dataclass(frozen=True)
class IiifKey:
    """Memory-cache key of an image answer: everything that changes its bytes."""

    image: str
    canonical: str
    render: iip.Render


def split(rest: str) -> tuple[str, str, tuple[str, ...]]:
    """The path after /iiif/3/ -> (identifier, "info" | "image" | "base", image parameters). Read from the right,
    as the spec's implementation notes advise: an identifier whose slashes a client left unencoded still works."""
    if rest.endswith("/info.json"):
        return rest[: -len("/info.json")], "info", ()
    parts = rest.split("/")
    if len(parts) >= 5 and ("." in parts[-1] or iiif.looks_like_region(parts[-4])):
        return "/".join(parts[:-4]), "image", tuple(parts[-4:])
    return rest.rstrip("/"), "base", ()


# The documented templates, and what each really matches: the path arrives percent-decoded, so the identifier's
# encoded slashes are slashes by now and a {param} (which stops at "/") would cut it. Every route hands the whole
# rest of the path to split(), which reads it from the right.
TEMPLATES = {
    "/iiif/3/{identifier}/info.json": r"^/iiif/3/(?P<rest>.+/info\.json)$",
    "/iiif/3/{identifier}/{region}/{size}/{rotation}/{quality}.{format}": r"^/iiif/3/(?P<rest>.+(?:/[^/]*){4})$",
    "/iiif/3/{identifier}": r"^/iiif/3/(?P<rest>.+)$",
}


def routes(api: Api) -> list[Route]:
    endpoint = Iiif(api).endpoint
    out = []
    for template, pattern in TEMPLATES.items():
        route = Route(template, endpoint, methods=["GET", "HEAD"])
        route.path_regex, route.param_convertors = re.compile(pattern), {"rest": StringConvertor()}
        out.append(route)
    return out


class Iiif:
    def __init__(self, api: Api) -> None:
        self.api = api  # its open() shares one build per image with the API's requests
        self.engine: Engine = api.engine

    def limits(self, image: Image) -> iiif.Limits:
        """This image's limits: the answers of an image of many channels are smaller (every channel is read)."""
        s, g = self.engine.settings, image.geometry
        return iiif.limits_for(g.tile_size, s.max_region_tile_count, g.nchannels, s.max_request_bytes)

    async def endpoint(self, request: Request) -> Response:
        try:
            return await self.handle(request)
        except errors.TileServerError as exc:
            return error_response(exc)

    async def handle(self, request: Request) -> Response:
        ident, kind, params = split(request.path_params["rest"])
        if not ident:
            raise errors.ImageNotFound("name an image: /iiif/3/{identifier}/info.json", "identifier")
        query = self._query(request, ident)
        base = str(request.base_url) + PREFIX.lstrip("/") + quote(ident, safe="")
        if kind == "base":
            self.engine.locate(query.fif, query.user)  # 404 now rather than after the redirect
            return RedirectResponse(base + "/info.json", status_code=303)
        self.engine.authorize(query.fif, query.user)
        image = await self.api._open(query)
        if kind == "info":
            return self._info(request, image, base)
        image_request = iiif.parse_request(*params)
        try:
            return await self._image(request, image, query, image_request, base)
        except CorruptEntry:
            # The cache entry broke under us: drop it, reopen (which rebuilds it) and answer anyway.
            self.engine.forget(image.key, image)
            image = await self.api._open(query)
            return await self._image(request, image, query, image_request, base)

    def _query(self, request: Request, ident: str) -> iip.Query:
        raw = request.scope["query_string"]
        if len(raw) > self.engine.settings.max_query_length:
            raise errors.InvalidParameter(f"the query is longer than {self.engine.settings.max_query_length} bytes",
                                          "query")
        items = request.query_params.multi_items()
        for name in iip.group(items):
            if name in API_COMMANDS:
                raise QueryCommand(f"{name} is an API command; IIIF names the image in its path and takes "
                                              "only display parameters in the query", name)
        # Rendering parameters through the API's own parser: one grammar, one set of checks.
        return iip.parse([*items, ("FIF", ident), ("INFO", "")], access.user_of(request.scope))

    def _info(self, request: Request, image: Image, base: str) -> Response:
        g = image.geometry
        body = iiif.info(base, g.width, g.height, g.tile_size, g.levels, self.limits(image))
        etag = '"' + hashlib.sha1(repr((image.key, base, self.engine.settings_tag)).encode()).hexdigest()[:20] + '"'
        headers = {"ETag": etag, "Cache-Control": REVALIDATE.decode(), "Link": PROFILE_LINK}
        if none_match(request.scope, etag.encode()):
            return Response(status_code=304, headers=headers)
        accept = request.headers.get("accept", "")
        # JSON-LD unless the client asks for plain JSON only (the spec's content negotiation).
        plain = "application/json" in accept and "application/ld+json" not in accept
        return JSONResponse(body, headers=headers, media_type="application/json" if plain else LD_JSON)

    async def _image(self, request: Request, image: Image, query: iip.Query, req: iiif.ImageRequest,
                     base: str) -> Response:
        g = image.geometry
        limits = self.limits(image)
        plan = iiif.plan(req, g.width, g.height, limits)
        read = iiif.choose_read(plan, g.width, g.height, g.tile_size, g.levels, limits.max_tiles)
        # What the read and the output take, every channel read, checked before any pixel is read (413 past it).
        out_pixels = plan.out_w * plan.out_h * (2 if req.rotation % 90 else 1)  # an arbitrary angle grows it
        nread = len(self.engine.channels_read(image, query.render) or range(g.nchannels))
        self.engine.check_budget(4 * nread * ((read.x1 - read.x0) * (read.y1 - read.y0) + out_pixels), "size")
        canonical = iiif.canonical(req, plan, g.width, g.height)
        key = IiifKey(image.key, canonical, query.render)
        cache_control = (IMMUTABLE if query.version == image.key else REVALIDATE).decode()
        headers = {"Cache-Control": cache_control, "Link": f'{PROFILE_LINK}, <{base}/{canonical}>;rel="canonical"'}
        tile = self.engine.tiles.get(key)
        if tile is None:
            ident = repr((image.key, canonical, query.render, self.engine.settings_tag))
            etag = ('"' + hashlib.sha1(ident.encode()).hexdigest()[:20] + '"').encode()
            if none_match(request.scope, etag):
                return Response(status_code=304, headers={**headers, "ETag": etag.decode()})
            data = await run_in_threadpool(self._render, image, query, req, plan, read)
            tile = CachedTile(etag, data)
            self.engine.tiles.put(key, tile)
        headers["ETag"] = tile.etag.decode()
        if none_match(request.scope, tile.etag):
            return Response(status_code=304, headers=headers)
        stem = image.name.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "image"
        headers["Content-Disposition"] = f'inline; filename="{quote(stem)}.{req.format}"'
        return Response(tile.data, media_type=iiif.MEDIA_TYPES[req.format], headers=headers)

    def _render(self, image: Image, query: iip.Query, req: iiif.ImageRequest, plan: iiif.Plan,
                read: iiif.Read) -> bytes:
        channels = self.engine.channels_read(image, query.render)
        data = image.pyramid.region(read.z, read.x0, read.y0, read.x1, read.y1, channels)
        data = iiif.resample(data, read.box, plan.out_w, plan.out_h)
        pixels = iiif.finish(self.engine.render_pixels(image, data, query.render, channels), req)
        quality = self.engine.settings.quality if query.render.quality is None else query.render.quality
        return iiif.encode(pixels, req.format, quality)


def error_response(exc: errors.TileServerError) -> JSONResponse:
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    if isinstance(exc, QueryCommand):
        return _error(400, ["query", exc.param], exc)
    if exc.param == "FIF" and status == 400:
        status = 404  # an identifier that names no image (e.g. an extension the file lacks) is unknown
    param = "identifier" if exc.param == "FIF" else exc.param
    return _error(status, ["path" if param in PATH_PARAMS else "query", param], exc)


def _error(status: int, loc: list[str], exc: errors.TileServerError) -> JSONResponse:
    body = error_body(loc, exc.message, exc.kind)
    headers = {"Retry-After": "5"} if status in (503, 507) else None
    return JSONResponse(body, status_code=status, headers=headers)
