"""HTTP endpoints of the viewer's overlays: the extra folder's files, ds9 regions and VOTables as JSON.

Kept out of api.py (the image API) like status.py's pages; each is glue: read -> library -> JSON.
GET /extra/list                      the catalogs and region files of the extra folder
GET /extra/file?path=P               one of them, as it is (CSV and GeoJSON are read by the viewer itself)
GET /extra/regions?path=P  | POST    a ds9 region file (of the extra folder, or the request's body) as GeoJSON
GET /extra/votable?path=P  | POST    a VOTable (same) as {"columns", "rows"}
A POST carries a file the user picked in the browser; nothing is stored.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import NotFound, TooLarge
from ..overlays import extra, regions, votables

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "geojson": "application/geo+json",
               "votable": "application/x-votable+xml", "ds9": "text/plain; charset=utf-8"}
NO_CACHE = {"Cache-Control": "no-cache"}


async def list_files(request: Request) -> Response:
    listing = await run_in_threadpool(extra.list_extra, request.app.state.settings.extra_dir)
    return JSONResponse(listing, headers=NO_CACHE)


async def get_file(request: Request) -> Response:
    relative = request.query_params.get("path", "")
    found = extra.format_of(relative)
    extra.resolve(request.app.state.settings.extra_dir, relative)  # 403 or 404 first, whatever the name's suffix
    if found is None:
        raise NotFound(extra.NO_FILE, "path")  # only what the listing offers is served
    data = await run_in_threadpool(extra.read, request.app.state.settings.extra_dir, relative)
    return Response(data, media_type=MEDIA_TYPES[found[1]], headers=NO_CACHE)


async def region_file(request: Request) -> Response:
    data = await _source(request, regions.MAX_TEXT_BYTES, "regions")
    text = data.decode("utf-8", "replace")
    return JSONResponse(await run_in_threadpool(regions.to_geojson, text), headers=NO_CACHE)


async def votable(request: Request) -> Response:
    data = await _source(request, votables.MAX_BYTES, "votable")
    name = request.query_params.get("path", "").rpartition("/")[2]
    return JSONResponse(await run_in_threadpool(votables.to_table, data, name), headers=NO_CACHE)


async def _source(request: Request, limit: int, param: str) -> bytes:
    """The body of a POST (at most `limit` bytes), or the extra folder's file named by ?path=."""
    if request.method != "POST":
        return await run_in_threadpool(extra.read, request.app.state.settings.extra_dir,
                                       request.query_params.get("path", ""))
    too_large = TooLarge(f"the file is larger than {limit // 2**20} MB", param)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large  # a body without Content-Length, or lying about it
        chunks.append(chunk)
    return b"".join(chunks)


def routes() -> list[Route]:
    return [
        Route("/extra/list", list_files, methods=["GET", "HEAD"]),
        Route("/extra/file", get_file, methods=["GET", "HEAD"]),
        Route("/extra/regions", region_file, methods=["GET", "POST"]),
        Route("/extra/votable", votable, methods=["GET", "POST"]),
    ]
