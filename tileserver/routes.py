"""HTTP endpoints. Each is glue: parse -> engine -> response."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from . import __version__, encode, protocol
from .engine import Engine, Image
from .errors import InvalidParameter
from .pyramid import CorruptEntry

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "public, max-age=60, must-revalidate"
KEY_TTL = 1.0  # seconds an image path -> cache key resolution is trusted before the file is stat'ed again


class Api:
    """GET {api_path}: the IIP/VisiOmatic query language."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # FIF -> (time checked, cache key): re-checked every KEY_TTL s, so a rewritten file shows up promptly.
        self._keys: dict[tuple[str, str | None], tuple[float, str]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        raw = request.scope["query_string"]
        engine = self.engine
        if not raw:
            return HTMLResponse(BANNER.format(version=__version__))
        if len(raw) > engine.settings.max_query_length:
            raise InvalidParameter(f"the query is longer than {engine.settings.max_query_length} bytes", "query")
        # Hot path: a tile rendered before is one lookup away.
        hit = engine.tiles.get(raw)
        if hit is not None:
            fif_key, image_key, etag, data = hit
            checked = self._keys.get(fif_key)
            if checked and checked[1] == image_key and time.monotonic() - checked[0] < KEY_TTL:
                return self._tile_response(request, data, etag, image_key)
        query = protocol.parse(request.query_params.multi_items())
        image = await self._open(query)
        try:
            return await self._dispatch(request, raw, query, image)
        except CorruptEntry:
            # The cache entry broke under us (truncated, deleted): rebuild it and answer this request anyway.
            image = await self._open(query)
            return await self._dispatch(request, raw, query, image)

    async def _open(self, query: protocol.Query) -> Image:
        engine = self.engine
        fif_key = (query.fif, query.selector)
        now = time.monotonic()
        checked = self._keys.get(fif_key)
        if checked and now - checked[0] < KEY_TTL:
            image = engine.opened(checked[1])
            if image is not None:
                return image
        path, key = engine.key_for(query)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[fif_key] = (now, key)
        image = engine.opened(key)
        if image is None:
            image = await run_in_threadpool(engine.open, query)
        return image

    async def _dispatch(self, request: Request, raw: bytes, query: protocol.Query, image: Image) -> Response:
        engine = self.engine
        kind = query.kind
        if kind == "tile":
            etag = engine.etag(image, query)
            data = engine.tile(image, query)
            engine.tiles.put(raw, ((query.fif, query.selector), image.key, etag, data))
            return self._tile_response(request, data, etag, image.key)
        if kind == "info":
            return JSONResponse(engine.info(image), headers={"Cache-Control": "no-cache"})
        if kind == "obj":
            return PlainTextResponse(engine.iip_header(image))
        if kind == "value":
            return JSONResponse(engine.value(image, query))
        if kind == "profile":
            return JSONResponse(await run_in_threadpool(engine.profile, image, query))
        data, stem = await run_in_threadpool(engine.region, image, query)
        ext = "jpg" if query.output == "jpeg" else query.output
        return Response(data, media_type=encode.MEDIA_TYPES[query.output], headers={
            "Content-Disposition": f'inline; filename="{stem}.{ext}"',
            "Cache-Control": REVALIDATE,
            "ETag": engine.etag(image, query),
        })

    def _tile_response(self, request: Request, data: bytes, etag: str, image_key: str) -> Response:
        immutable = request.query_params.get("V") == image_key
        headers = {"ETag": etag, "Cache-Control": IMMUTABLE if immutable else REVALIDATE}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="image/jpeg", headers=headers)


BANNER = """<!doctype html><html><head><meta charset="utf-8"><title>tileserver API</title></head>
<body><h1>tileserver {version}</h1><p>This is the image API. Ask for <code>?FIF=path&amp;INFO</code>,
<code>?FIF=path&amp;JTL=z,i</code> and more: see <a href="../openapi.json">openapi.json</a>.</p></body></html>"""


async def viewer(request: Request) -> Response:
    settings = request.app.state.settings
    templates = request.app.state.templates
    root = request.scope.get("root_path", "").rstrip("/")
    return templates.TemplateResponse(request, "viewer.html", {
        "root": root,
        "api": root + settings.api_path,
        "image": request.query_params.get("image", settings.default_image),
        "version": __version__,
        "doc_url": root + settings.doc_path + "/" if settings.doc_dir else "",
    })


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")
