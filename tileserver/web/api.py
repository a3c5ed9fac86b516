"""HTTP endpoints. Each is glue: parse -> engine -> response."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from .. import __version__, access, iip
from ..display import encode
from ..engine import Engine, Image
from ..errors import InvalidParameter, Overloaded, SourceChanged
from ..images import listing
from ..lifecycle import PREVIEW as PREVIEW_TAG
from ..store.pyramid import CorruptEntry
from ..store.tilecache import CachedTile, TileKey, deep_size

IMMUTABLE = b"public, max-age=31536000, immutable"  # the URL names the image's cache tag (V=): its bytes never change
REVALIDATE = b"public, max-age=60, must-revalidate"
PREVIEW = b"no-store"  # a level still being built: no cache (browser, proxy) may keep what will change
INLINE_CHANNELS = 4  # tiles of images with at most this many channels render on the event loop (~0.3 ms each)
KEY_TTL = 1.0  # seconds an image path -> cache key resolution is trusted before the file is stat'ed again
MAX_PATHS = 10_000  # image paths whose cache key is remembered, per worker


@dataclass(frozen=True)
class KnownTile:
    """What a query string seen before resolves to, so that a repeat costs a few dict lookups, no parsing."""

    fif: tuple[str, str | None]
    key: TileKey
    cache_control: bytes


class Api:
    """GET {api_path}: the IIP/VisiOmatic query language.

    The fast path answers a tile query string seen before from the memory cache without parsing it, leaving the
    event loop only to send. Tiles render inline on the event loop: at ~0.3 ms that beats a hop to a thread and
    back. Opening an image (a build, or waiting for another worker's), regions and profiles run in threads so
    that they never stall the other requests of the worker.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.tiles = engine.tiles
        # Query strings of tiles served, for the fast path: about as many as the memory cache can hold tiles, and
        # their keys (display settings: a long query makes a big one) in an eighth of the cache's bytes.
        self._known: dict[bytes, KnownTile] = {}
        self._max_known = max(1024, 2 * engine.settings.max_cache_tile_count)
        self._known_bytes, self._max_known_bytes = 0, max(4 << 20, engine.settings.max_cache_tile_bytes // 8)
        # FIF -> (time checked, cache key): re-checked every KEY_TTL s, so a rewritten file shows up promptly.
        self._keys: dict[tuple[str, str | None], tuple[float, str]] = {}
        self._opening: dict[str, asyncio.Future[Image]] = {}  # one open (or build) per image, however many ask

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        known = self._known.get(scope["query_string"])
        if known is not None:
            checked = self._keys.get(known.fif)
            if checked is not None and checked[1] == known.key.image and time.monotonic() - checked[0] < KEY_TTL:
                tile = self.tiles.get(known.key)
                if tile is not None:
                    self.engine.authorize(known.fif[0], access.user_of(scope))  # multi-user: before a cache answers
                    await send_tile(scope, send, tile, known.cache_control)
                    return
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response | TileResponse:
        raw = request.scope["query_string"]
        engine = self.engine
        if not raw:
            return HTMLResponse(BANNER.format(version=__version__))
        if len(raw) > engine.settings.max_query_length:
            raise InvalidParameter(f"the query is longer than {engine.settings.max_query_length} bytes", "query")
        # The items as starlette's query_params has them (latin-1, blanks kept), without building its multidict.
        query = iip.parse(parse_qsl(raw.decode("latin-1"), keep_blank_values=True), access.user_of(request.scope))
        engine.authorize(query.fif, query.user)  # _open() may answer from its memory of paths without locate()
        image = await self._open(query)
        try:
            return await self._dispatch(request, raw, query, image)
        except SourceChanged:
            # The file was rewritten under the version we serve: open the new one (a new key) and answer with it.
            engine.forget(image.key, image)
            self._keys.pop((query.fif, query.selector), None)
            return await self._dispatch(request, raw, query, await self._open(query))
        except CorruptEntry:
            # The cache entry broke under us (truncated, zero-filled, deleted): the engine dropped it; reopen,
            # which rebuilds it, and answer this request anyway.
            image = await self._open(query)
            try:
                return await self._dispatch(request, raw, query, image)
            except CorruptEntry:
                raise Overloaded("the image's cache is being rebuilt; try again in a moment") from None

    async def _open(self, query: iip.Query) -> Image:
        engine = self.engine
        fif = (query.fif, query.selector)
        now = time.monotonic()
        checked = self._keys.get(fif)
        # A V= naming another version comes from a client told of a rewrite (websocket): stat the file now.
        if checked is None or now - checked[0] >= KEY_TTL or (
                query.version and not names_version(query.version, checked[1])):
            _, key = engine.key_for(query)
            if len(self._keys) >= MAX_PATHS:
                self._keys.clear()
            self._keys[fif] = (now, key)
            image = engine.opened(key)
            if image is not None:
                if image.pyramid.published():
                    engine.cache.touch(key)  # the disk LRU sees the use
                    return image
                # Evicted or removed by another process: reopen rather than serve unlinked files for ever.
                engine.forget(key, image)
        else:
            key = checked[1]
            image = engine.opened(key)
            if image is not None:
                return image
        future = self._opening.get(key)
        if future is None:
            future = asyncio.ensure_future(run_in_threadpool(engine.open, query))
            self._opening[key] = future
            future.add_done_callback(lambda f: self._opened(key, f))
        # Shielded: a client that goes away does not cancel the open that other requests wait for.
        return await asyncio.shield(future)

    def _opened(self, key: str, future: asyncio.Future[Image]) -> None:
        self._opening.pop(key, None)
        if not future.cancelled():
            future.exception()  # retrieved here, so an error nobody waited for is not logged as lost

    async def _dispatch(self, request: Request, raw: bytes, query: iip.AnyQuery,
                        image: Image) -> Response | TileResponse:
        engine = self.engine
        if isinstance(query, iip.TileQuery):
            return await self._tile(request, raw, query, image)
        # Off the event loop, whatever the image: on a cube of hundreds of channels, a value reads hundreds of
        # tiles and an INFO serialises hundreds of histograms; /healthz and the tiles of others must not wait.
        if isinstance(query, iip.InfoQuery):
            return JSONResponse(await run_in_threadpool(engine.info, image), headers={"Cache-Control": "no-cache"})
        if isinstance(query, iip.ObjQuery):
            return PlainTextResponse(engine.iip_header(image))
        if isinstance(query, iip.ValueQuery):
            return JSONResponse(await run_in_threadpool(engine.value, image, query))
        if isinstance(query, iip.ProfileQuery):
            return JSONResponse(await run_in_threadpool(engine.profile, image, query))
        engine.region_plan(image, query)  # a region outside the image or over a limit is refused before any 304
        etag = engine.etag(image, query)
        cache_control = (REVALIDATE if image.final else PREVIEW).decode()
        if none_match(request.scope, etag.encode()):
            return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})
        data, stem = await run_in_threadpool(engine.region, image, query)
        ext = "jpg" if query.output == "jpeg" else query.output
        return Response(data, media_type=encode.MEDIA_TYPES[query.output], headers={
            "Content-Disposition": content_disposition(f"{stem}.{ext}"),
            "Cache-Control": cache_control,
            "ETag": etag,
        })

    async def _tile(self, request: Request, raw: bytes, query: iip.TileQuery, image: Image) -> TileResponse:
        image.geometry.tile_box(*query.tile)  # no such tile: 404, even to If-None-Match: *
        z = query.tile[0]
        final = image.level_final(z)
        # The level's state is part of the tile's identity: a preview never answers for the final tile, and is
        # kept by no cache (no-store; not in the memory cache, nor on the fast path).
        key = TileKey(image.tag_for(z), query.tile, query.render)
        if not final:
            cache_control = PREVIEW
        elif query.version and names_version(query.version, image.key):
            cache_control = IMMUTABLE  # a final tile never changes under this image version
        else:
            cache_control = REVALIDATE
        tile = self.tiles.get(key) if final else None
        key_bytes = None
        if tile is None:
            etag = self.engine.etag(image, query).encode()
            if none_match(request.scope, etag):
                return TileResponse(CachedTile(etag, b""), cache_control)  # no need to render what the client has
            if image.geometry.nchannels <= INLINE_CHANNELS:
                data = self.engine.tile(image, query)
            else:  # a cube's tile reads and mixes every channel: a thread's work
                data = await run_in_threadpool(self.engine.tile, image, query)
            tile = CachedTile(etag, data)
            if not final:
                return TileResponse(tile, cache_control)
            key_bytes = deep_size(key)  # measured once, for both the tile cache and the index of query strings
            self.tiles.put(key, tile, key_bytes)
        if raw not in self._known:
            if len(self._known) >= self._max_known or self._known_bytes >= self._max_known_bytes:
                self._known.clear()
                self._known_bytes = 0
            self._known_bytes += len(raw) + (deep_size(key) if key_bytes is None else key_bytes)
        self._known[raw] = KnownTile((query.fif, query.selector), key, cache_control)
        return TileResponse(tile, cache_control)


def names_version(tag: str, key: str) -> bool:
    """Whether a cache tag (V=) names the image version `key`: its final tag, or its preview's, which a client given
    it during the build keeps until it reloads."""
    return tag.removesuffix(PREVIEW_TAG) == key


class TileResponse:
    """An ASGI response for a tile: the fast path's, without building a starlette Response."""

    def __init__(self, tile: CachedTile, cache_control: bytes) -> None:
        self.tile, self.cache_control = tile, cache_control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_tile(scope, send, self.tile, self.cache_control)


async def send_tile(scope: Scope, send: Send, tile: CachedTile, cache_control: bytes) -> None:
    if none_match(scope, tile.etag):
        await send({"type": "http.response.start", "status": 304,
                    "headers": [(b"etag", tile.etag), (b"cache-control", cache_control)]})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"image/jpeg"), (b"content-length", b"%d" % len(tile.data)),
        (b"etag", tile.etag), (b"cache-control", cache_control)]})
    await send({"type": "http.response.body", "body": tile.data})


def content_disposition(name: str) -> str:
    """An inline Content-Disposition for any file name (RFC 6266): an ASCII fallback without quotes or controls,
    and the name itself in UTF-8 as filename*. A header must be Latin-1, and a " would end the name early."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f'inline; filename="{fallback}"; filename*=UTF-8\'\'{quote(name, safe="")}'


def none_match(scope: Scope, etag: bytes) -> bool:
    """Whether the request's If-None-Match names etag (weak comparison, as RFC 9110 asks for this header)."""
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            if value.strip() == b"*":
                return True
            return any(tag.strip().removeprefix(b"W/") == etag for tag in value.split(b","))
    return False


BANNER = """<!doctype html><html><head><meta charset="utf-8"><title>tileserver API</title></head>
<body><h1>tileserver {version}</h1><p>This is the image API. Ask for <code>?FIF=path&amp;INFO</code>,
<code>?FIF=path&amp;JTL=z,i</code> and more: see <a href="../openapi.json">openapi.json</a>.</p></body></html>"""


async def viewer(request: Request) -> Response:
    settings = request.app.state.settings
    templates = request.app.state.templates
    root = request.scope.get("root_path", "").rstrip("/")
    return templates.TemplateResponse(request, "viewer.html", {
        "root": root,
        # The client's files and Leaflet, under a URL that changes with their content: cached for good.
        "static": f"{root}/static/{request.app.state.static_tag}",
        "api": root + settings.api_path,
        "image": request.query_params.get("image", settings.default_image),
        "version": __version__,
        "doc_url": root + settings.doc_path + "/" if settings.doc_dir else "",
        # The client opens the websocket only when the server has one (a failed handshake is a console error).
        "ws": root + "/ws" if any(getattr(r, "path", None) == "/ws" for r in request.app.routes) else "",
    })


async def list_folder(request: Request) -> Response:
    """GET /list?path=sub/dir: the folders and images of a data sub-folder, for the viewer's image browser."""
    engine = request.app.state.engine
    lister = engine.remote.list_folder if engine.remote else functools.partial(listing.list_folder, engine.data_dir)
    folder = await run_in_threadpool(lister, request.query_params.get("path", ""), engine.cache,
                                     engine.settings.tile_size, engine.grant(access.user_of(request.scope)))
    return JSONResponse(folder, headers={"Cache-Control": "no-cache"})


async def build_progress(request: Request) -> Response:
    """GET /progress?FIF=path: how far the image's pyramid build is, for clients without the websocket.
    state: "building" (with stage and fraction), "ready", or "waiting" (not built and not building here)."""
    engine = request.app.state.engine
    query = iip.parse([("FIF", request.query_params.get("FIF", "")), ("INFO", "")], access.user_of(request.scope))
    _, key = engine.key_for(query)
    build = engine.build_status(key)
    if build is not None:
        body = {"image": query.fif, "state": "building", "stage": build["stage"], "fraction": build["fraction"]}
    else:
        ready = engine.opened(key) is not None or engine.cache.contains(key)
        body = {"image": query.fif, "state": "ready" if ready else "waiting"}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def openapi_document(request: Request) -> Response:
    from .openapi import document

    return JSONResponse(document(request.app.state.settings))


async def healthz(request: Request) -> Response:
    """200 while the worker answers, status "ok", or "degraded" while the disk cache cannot write (a full disk:
    cached images are served, others answer 507). Degraded is no reason to restart or bypass the server, hence 200;
    the figures are on the admin pages (/status.json)."""
    full = request.app.state.engine.cache.full.state()
    if full is None:
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})
    problem = "the cache disk is full: images not cached yet are answered 507 until it has room again"
    return JSONResponse({"status": "degraded", "problems": [problem]}, headers={"Cache-Control": "no-store"})
