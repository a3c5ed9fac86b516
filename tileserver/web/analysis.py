"""HTTP endpoints of the viewer's measuring tools, each glue: parse -> open -> library -> JSON (or PNG).

GET /analysis/header?FIF=P                        every HDU's header (cards: keyword, value, comment)
GET /analysis/stats?FIF=P&shape=S[&CHAN=c]        statistics of the full-resolution pixels inside a shape
GET /analysis/contours?FIF=P&levels=L[&CHAN=c]    contour lines, in FITS pixels
GET /analysis/pixels?FIF=P&x=X&y=Y[&r=R][&CHAN=c] the values of the pixels around one
GET /analysis/colorbar?FIF=P[&CHAN=c][render]     the colour scale of the cuts under the render settings, as PNG
Shapes are FITS pixels: circle:x,y,r | ellipse:x,y,a,b,angle | box:x1,y1,x2,y2 | polygon:x1,y1,x2,y2,x3,y3...
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import access, datapath, iip
from ..display import analysis, encode
from ..engine import Engine, Image
from ..errors import InvalidParameter, TooLarge
from ..images.headers import read_headers

# Parameters of the image and its rendering that the tools share with the image API.
RENDER_KEYS = {"FIF", "CHAN", "MINMAX", "MIX", "CTW", "CNT", "BRT", "GAM", "STR", "CMP", "INV", "SAT", "NAN"}
MAX_CONTOUR_LEVELS = 50
MAX_CONTOUR_POINTS = 200_000
CONTOUR_SIDE = 1024  # contours are traced on the finest level no larger than this (binned data on big images)
MAX_TABLE_RADIUS = 10
COLORBAR_WIDTH = 256
NO_CACHE = {"Cache-Control": "no-cache"}


def _query(request: Request) -> iip.Query:
    items = [(k, v) for k, v in request.query_params.multi_items() if k in RENDER_KEYS]
    return iip.parse([*items, ("INFO", "")], access.user_of(request.scope))


async def _open(request: Request) -> tuple[Engine, iip.Query, Image]:
    engine: Engine = request.app.state.engine
    query = _query(request)
    return engine, query, await run_in_threadpool(engine.open, query)


def _channel(image: Image, query: iip.Query) -> int:
    """The 0-based channel the tool reads: CHAN, or the first."""
    n = image.geometry.nchannels
    c = query.channels[0] if query.channels else 1
    if c > n:
        raise InvalidParameter(f"CHAN {c} does not exist: the image has {n} channel(s)", "CHAN")
    return c - 1


def _number(request: Request, name: str, lo: float, hi: float) -> float:
    text = request.query_params.get(name)
    try:
        value = float(text) if text is not None else float("nan")
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:
        raise InvalidParameter(f"{name} must be a number from {lo:g} to {hi:g}", name)
    return value


def _fits_rows(engine: Engine, image: Image, c: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Full-resolution pixels x1..x2, y1..y2 (FITS, inclusive) of channel c, row 0 at y1 (FITS order)."""
    g = image.geometry
    x1, y1, x2, y2 = box
    ts = g.tile_size
    tiles = ((x2 - 1) // ts - (x1 - 1) // ts + 1) * ((g.height - y1) // ts - (g.height - y2) // ts + 1)
    # Channel c alone is read (and checked against its own checksums): a tool on one channel of a cube costs what
    # it does on a single image. The limits count its tile planes and bytes, as the API's regions do.
    if tiles > engine.settings.max_region_tile_count:
        raise TooLarge(f"the shape covers {tiles} full-resolution tiles, over the limit of "
                       f"{engine.settings.max_region_tile_count}", "shape")
    engine.check_budget(2 * 4 * (x2 - x1 + 1) * (y2 - y1 + 1), "shape")
    data = image.pyramid.region(g.levels - 1, x1 - 1, g.height - y2, x2, g.height - y1 + 1, (c,))
    return data[0, ::-1]


def _headers(engine: Engine, path: Path) -> list[dict]:
    # Through the door: the very file resolve() approved, and headers (user content) open nothing else.
    with engine.pinned(path) as pinned, datapath.sealed(pinned):
        return read_headers(pinned, engine.settings.max_fits_header_bytes, engine.settings.max_request_bytes)


async def header(request: Request) -> Response:
    engine, query, image = await _open(request)
    if image.meta["kind"] != "fits":
        hdus = [{"index": 0, "name": image.meta["kind"].upper(), "type": "description",
                 "cards": [[k, v, ""] for k, v in image.meta["header"].items()]}]
    else:
        path = engine.locate(query.fif, query.user)
        hdus = await run_in_threadpool(_headers, engine, path)
    return JSONResponse({"image": query.fif, "hdus": hdus}, headers=NO_CACHE)


async def stats(request: Request) -> Response:
    shape = analysis.parse_shape(request.query_params.get("shape", ""))
    engine, query, image = await _open(request)
    c = _channel(image, query)
    g = image.geometry
    box = analysis.pixel_box(shape, g.width, g.height)
    if box is None:
        raise InvalidParameter("the shape holds no pixel of the image", "shape")
    pixels = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    engine.check_budget(pixels * (4 + analysis.STATS_BYTES_PER_PIXEL), "shape")
    if shape.kind == "polygon" and pixels * (len(shape.numbers) // 2) > analysis.MAX_POLYGON_WORK:
        raise TooLarge(f"a polygon of {len(shape.numbers) // 2} corners over {pixels} pixels is too costly to "
                       "measure: use fewer corners or a smaller polygon", "shape")

    def measure() -> dict:
        return analysis.shape_stats(_fits_rows(engine, image, c, box), box[0], box[1], shape)

    result = await run_in_threadpool(engine.read, image, measure)
    unit = image.meta["header"].get("BUNIT", "")
    return JSONResponse({"channel": c + 1, "unit": unit if isinstance(unit, str) else "", **result}, headers=NO_CACHE)


def _level_bytes(image: Image, z: int) -> int:
    w, h = image.geometry.level_size(z)
    return 2 * 4 * w * h  # the level read, one channel, and its copies


def _level_cost(engine: Engine, image: Image, z: int) -> int:
    """How far reading all of level z, one channel, is over the limits (tile planes, memory): 0 when within them."""
    columns, rows = image.geometry.grid(z)
    over_planes = columns * rows - engine.settings.max_region_tile_count
    return max(0, over_planes) + max(0, _level_bytes(image, z) - engine.settings.max_request_bytes)


async def contours(request: Request) -> Response:
    levels = analysis.parse_levels(request.query_params.get("levels", ""), MAX_CONTOUR_LEVELS)
    engine, query, image = await _open(request)
    c = _channel(image, query)
    g = image.geometry
    z = g.levels - 1
    while z > 0 and (max(g.level_size(z)) > CONTOUR_SIDE or _level_cost(engine, image, z) > 0):
        z -= 1  # coarser until the level is small enough, in pixels and in tile planes and bytes
    if _level_cost(engine, image, z) > 0:
        engine.check_budget(_level_bytes(image, z), "levels")
        raise TooLarge("even the coarsest level of the image is over the server's limits for contours", "levels")
    p = 2 ** (g.levels - 1 - z)  # full-resolution pixels per level pixel
    w, h = g.level_size(z)

    def trace() -> list[dict]:
        data = image.pyramid.region(z, 0, 0, w, h, (c,))[0]
        # Level pixel (i, r), r from the top, is the mean of full-resolution pixels i*p.., r*p.. from the top.
        origin = ((p + 1) / 2, g.height - (p - 1) / 2)
        return analysis.contour_paths(data, levels, origin, (p, -p), MAX_CONTOUR_POINTS)

    lines = await run_in_threadpool(engine.read, image, trace)
    return JSONResponse({"channel": c + 1, "binning": p, "contours": lines}, headers=NO_CACHE)


async def pixels(request: Request) -> Response:
    x = int(_number(request, "x", 1, 2**31))
    y = int(_number(request, "y", 1, 2**31))
    r = int(_number(request, "r", 0, MAX_TABLE_RADIUS)) if "r" in request.query_params else 2
    engine, query, image = await _open(request)
    c = _channel(image, query)
    g = image.geometry
    if x > g.width or y > g.height:
        raise InvalidParameter(f"x, y must lie inside the image (1..{g.width}, 1..{g.height})", "x")
    box = (max(1, x - r), max(1, y - r), min(g.width, x + r), min(g.height, y + r))
    data = await run_in_threadpool(engine.read, image, lambda: _fits_rows(engine, image, c, box))
    rows = [[float(v) if np.isfinite(v) else None for v in row] for row in data[::-1]]  # top row first
    return JSONResponse({"channel": c + 1, "x": list(range(box[0], box[2] + 1)),
                         "y": list(range(box[3], box[1] - 1, -1)), "values": rows}, headers=NO_CACHE)


async def colorbar(request: Request) -> Response:
    engine, query, image = await _open(request)
    c = _channel(image, query)
    lo, hi = engine.cuts(image, query.render)[c]
    # A ramp of data values from the low cut to the high one, rendered as the tiles are (mono, this channel).
    data = np.linspace(lo, hi, COLORBAR_WIDTH, dtype=np.float64).astype(np.float32).reshape(1, 1, -1)
    render = iip.Render(**{**vars(query.render), "channel": c + 1})
    png = encode.image(engine.render_pixels(image, data, render, (c,)), "png", 100)
    return Response(png, media_type="image/png", headers={**NO_CACHE, "X-Cuts": f"{lo:.9g},{hi:.9g}"})


def routes() -> list[Route]:
    return [Route(f"/analysis/{name}", endpoint, methods=["GET", "HEAD"])
            for name, endpoint in (("header", header), ("stats", stats), ("contours", contours),
                                   ("pixels", pixels), ("colorbar", colorbar))]
