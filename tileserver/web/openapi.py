"""The OpenAPI 3.1 description of the HTTP API, built from the same constants the parser checks against."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..config import Settings
from ..names import COLORMAPS, REGION_FORMATS, STRETCHES

ERROR = {"$ref": "#/components/schemas/Error"}
INT = r"[+-]?\d{1,9}"
IIIF_DISPLAY = ("CHAN", "MINMAX", "MIX", "CTW", "CNT", "BRT", "GAM", "STR", "CMP", "INV", "QLT", "SAT", "V")


def _param(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema, **extra}


def _flag(name: str, description: str) -> dict[str, Any]:
    return _param(name, description, {"type": "string", "maxLength": 16}, allowEmptyValue=True)


def _array(name: str, description: str, pattern: str) -> dict[str, Any]:
    return _param(name, description, {"type": "array", "maxItems": 64, "items": {"type": "string",
                                                                                   "pattern": pattern}},
                  style="form", explode=True)


def api_parameters() -> list[dict[str, Any]]:
    number = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?"
    return [
        _param("FIF", "Image path relative to the data folder; `file.fits[2]` or `file.fits[SCI]` selects an "
               "extension.", {"type": "string", "minLength": 1, "maxLength": 1024}, required=True),
        _flag("INFO", "Return the JSON description of the image."),
        _flag("obj", "Return the IIP text header (`obj=IIP,1.0`)."),
        _param("JTL", "Tile `z,i`: z=0 is the coarsest level, i = column + columns(z) x row, row 0 at the top.",
               {"type": "string", "pattern": rf"^{INT},{INT}$"}),
        _param("CHAN", "Channel (1-based): the first one selects mono mode; for VAL/PFL, the channels to report.",
               {"type": "array", "maxItems": 64, "items": {"type": "integer", "minimum": 1, "maximum": 99999}},
               style="form", explode=True),
        _array("MINMAX", "Intensity cuts `c:min,max` of channel c.", rf"^\d{{1,5}}:{number},{number}$"),
        _array("MIX", "RGB weights `c:r,g,b` of channel c (colour mode); unlisted channels are interpolated.",
               rf"^\d{{1,5}}:{number},{number},{number}$"),
        _param("CTW", "IIP colour-twist matrix `r1,r2..;g1,g2..;b1,b2..` (one weight per channel and row).",
               {"type": "string", "maxLength": 4096}),
        _param("CNT", "Contrast, 0 to 1000 (`eq`: histogram equalisation; `st`: full min-max range).",
               {"type": "string", "pattern": rf"^({number}|eq|st)$"}),
        _param("BRT", "Brightness, -100 to 100.", {"type": "number", "minimum": -100, "maximum": 100}),
        _param("GAM", "Display gamma, 0.2 to 5: out = 255.49 v^(1/GAM) (`log`: logarithmic stretch).",
               {"type": "string", "pattern": rf"^({number}|log)$"}),
        _param("STR", "Stretch applied before gamma.", {"type": "string", "enum": list(STRETCHES)}),
        _param("CMP", "Colormap (mono mode).", {"type": "string", "enum": list(COLORMAPS)}),
        _flag("INV", "Invert the intensities."),
        _param("QLT", "JPEG quality.", {"type": "integer", "minimum": 0, "maximum": 100}),
        _param("SAT", "Colour saturation (colour mode), 0 to 5.", {"type": "number", "minimum": 0, "maximum": 5}),
        _param("NAN", "Colour of blank (NaN) pixels, `rrggbb` in hex (default: the blank_color setting).",
               {"type": "string", "pattern": "^#?[0-9a-fA-F]{6}$"}),
        _param("RGN", "Region `x1,y1:x2,y2` in full-resolution pixels, 1-based, inclusive, y from the top.",
               {"type": "string", "pattern": rf"^{INT},{INT}:{INT},{INT}$"}),
        _param("BIN", "Binning factor of a region.", {"type": "integer", "minimum": 1, "maximum": 1024}),
        _param("CVT", "Output format of a region.", {"type": "string", "enum": list(REGION_FORMATS)}),
        _param("VAL", "Pixel values at FITS pixel `x,y` (1-based).", {"type": "string", "pattern": rf"^{INT},{INT}$"}),
        _param("PFL", "Profile of values along the line `x1,y1:x2,y2` (FITS pixels).",
               {"type": "string", "pattern": rf"^{INT},{INT}:{INT},{INT}$"}),
        _param("V", "The image's cache tag (INFO `cache_tag`): makes the tile URL immutable.",
               {"type": "string", "maxLength": 64}),
    ]


def _path(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def iiif_paths() -> dict[str, Any]:
    """IIIF Image API 3.0 (web/iiif.py): the spec's path grammar, and our display parameters in the query."""
    num = r"(\d+(\.\d+)?|\.\d+)"
    ident = _path("identifier", "The image's FIF path, extension selector included, percent-encoded as one segment "
                  "(`dir%2Fimage.fits%5B1%5D`).", {"type": "string", "minLength": 1, "maxLength": 1024})
    display = [p for p in api_parameters() if p["name"] in IIIF_DISPLAY]
    cors = {"Access-Control-Allow-Origin": {"schema": {"type": "string", "const": "*"}}}
    image_types = {t: {"schema": {"type": "string", "format": "binary"}}
                   for t in ("image/jpeg", "image/png", "image/webp")}
    image = [
        ident,
        _path("region", "`full`, `square`, `x,y,w,h` (pixels from the top left) or `pct:x,y,w,h`.",
              {"type": "string", "pattern": rf"^(full|square|\d{{1,9}},\d{{1,9}},\d{{1,9}},\d{{1,9}}|"
                                            rf"pct:{num},{num},{num},{num})$"}),
        _path("size", "`max`, `w,`, `,h`, `w,h`, `!w,h`, `pct:n`; `^` first to upscale.",
              {"type": "string", "pattern": rf"^\^?(max|pct:{num}|!?\d{{1,9}},\d{{0,9}}|,\d{{1,9}})$"}),
        _path("rotation", "Degrees clockwise, 0 to 360; `!` first mirrors.",
              {"type": "string", "pattern": rf"^!?{num}$"}),
        _path("quality", "The image's quality.", {"type": "string", "enum": ["default", "color", "gray", "bitonal"]}),
        _path("format", "The encoding.", {"type": "string", "enum": ["jpg", "png", "webp"]}),
    ]
    errors = {str(c): {"description": d, "content": {"application/json": {"schema": ERROR}}}
              for c, d in ((400, "Malformed request, or a size over the limits"), (403, "Path outside the data folder"),
                           (404, "No such image"), (501, "A format the spec names that is not offered"))}
    return {
        "/iiif/3/{identifier}/info.json": {"get": {
            "summary": "IIIF image information", "operationId": "iiif_info", "parameters": [ident, *display],
            "responses": {"200": {"description": "The image information document (JSON-LD)", "headers": cors,
                                  "content": {"application/ld+json": {"schema": {"type": "object"}},
                                              "application/json": {"schema": {"type": "object"}}}},
                          "304": {"description": "Not modified"}, **errors}}},
        "/iiif/3/{identifier}/{region}/{size}/{rotation}/{quality}.{format}": {"get": {
            "summary": "IIIF image request", "operationId": "iiif_image", "parameters": [*image, *display],
            "responses": {"200": {"description": "The image", "headers": cors, "content": image_types},
                          "304": {"description": "Not modified"}, **errors}}},
        "/iiif/3/{identifier}": {"get": {
            "summary": "IIIF base URI", "operationId": "iiif_base", "parameters": [ident],
            "responses": {"303": {"description": "Redirect to info.json"}, **errors}}},
    }


def samp_paths() -> dict[str, Any]:
    """What the viewer's SAMP client asks of the server (web/samp.py)."""
    def error(*codes: int) -> dict[str, Any]:
        return {str(c): {"description": d, "content": {"application/json": {"schema": ERROR}}}
                for c, d in ((403, "Path outside the extra folder"), (404, "Not an image or file of this server"),
                             (415, "Not a CSV catalog"), (422, "Invalid parameter")) if c in codes}

    return {
        "/samp/image": {"get": {
            "summary": "The data-folder image that a file: URL names (SAMP image.load.fits)",
            "operationId": "samp_image",
            "parameters": [_param("url", "A file: URL, as SAMP clients send.", {"type": "string", "maxLength": 5000},
                                  required=True)],
            "responses": {"200": {"description": "`{\"image\": FIF}`",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          **error(404, 422)}}},
        "/samp/votable": {"get": {
            "summary": "A CSV catalog of the extra folder as a VOTable (SAMP table.load.votable)",
            "operationId": "samp_votable",
            "parameters": [_param("path", "The catalog's path in the extra folder.",
                                  {"type": "string", "maxLength": 1024}, required=True)],
            "responses": {"200": {"description": "The VOTable", "content": {
                "application/x-votable+xml": {"schema": {"type": "string"}}}}, **error(403, 404, 415)}}},
    }


def _errors(*codes: int) -> dict[str, Any]:
    text = {304: "Not modified (If-None-Match matched the ETag)", 403: "Path outside the data folder",
            404: "No such image or tile", 413: "Region, profile or image over a limit",
            415: "Unreadable or unsupported file", 422: "Invalid parameter", 503: "Busy: retry after Retry-After s",
            507: "The cache disk is full"}
    out: dict[str, Any] = {}
    for code in codes:
        body = {"content": {"application/json": {"schema": ERROR}}} if code != 304 else {}
        out[str(code)] = {"description": text[code], **body}
    return out


def _path_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def hips_paths() -> dict[str, Any]:
    """The HiPS files of an image with a celestial WCS (HiPS 1.0); every answer carries CORS `*`."""
    ident = _path_param("id", "The image's FIF value (selector included), percent-encoded as one path segment.",
                        {"type": "string", "minLength": 1, "maxLength": 1024})
    fmt = _path_param("format", "Tile format: rendered JPEG, or FITS float32 values of the first channel.",
                      {"type": "string", "enum": ["jpg", "fits"]})
    text = {"text/plain": {"schema": {"type": "string"}}}
    binary = {t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/jpeg", "application/fits")}

    def get(op: str, summary: str, params: list[dict[str, Any]], content: dict[str, Any]) -> dict[str, Any]:
        codes = (403, 404, 422, 503) if op == "hipsProperties" else (304, 403, 404, 422, 503)
        return {"get": {"summary": summary, "operationId": op, "parameters": params, "responses": {
            "200": {"description": summary, "content": content}, **_errors(*codes)}}}

    return {
        "/hips/{id}/properties": get("hipsProperties", "HiPS properties", [ident], text),
        "/hips/{id}/Moc.fits": get("hipsMoc", "The image's footprint as a MOC",
                                   [ident], {"application/fits": binary["application/fits"]}),
        "/hips/{id}/Norder3/Allsky.{format}": get("hipsAllsky", "The order-3 preview", [ident, fmt], binary),
        "/hips/{id}/Norder{order}/Dir{dir}/Npix{npix}.{format}": get("hipsTile", "A HiPS tile", [
            ident,
            _path_param("order", "HEALPix order of the tile.", {"type": "integer", "minimum": 0, "maximum": 29}),
            _path_param("dir", "npix // 10000 * 10000.", {"type": "integer", "minimum": 0}),
            _path_param("npix", "Nested HEALPix index of the tile.", {"type": "integer", "minimum": 0}),
            fmt], binary),
        "/aladin": {"get": {"summary": "Aladin Lite page of an image's HiPS", "operationId": "aladin",
                            "parameters": [_param("image", "The image (FIF value).",
                                                  {"type": "string", "maxLength": 1024})],
                            "responses": {"200": {"description": "HTML page",
                                                  "content": {"text/html": {"schema": {"type": "string"}}}},
                                          **_errors(404)}}},
    }


def _op(op_id: str, summary: str, params: list[dict[str, Any]], content: str, *codes: int,
        body: str | None = None) -> dict[str, Any]:
    """One operation; `body` names the media type of a request body (a file the user picked), as free text."""
    out: dict[str, Any] = {"summary": summary, "operationId": op_id, "parameters": params, "responses": {
        "200": {"description": "OK", "content": {content: {"schema": {"type": "object" if "json" in content
                                                                     else "string"}}}}, **_errors(*codes)}}
    if body:
        out["requestBody"] = {"required": True, "content": {body: {"schema": {"type": "string", "maxLength": 65536}}}}
    return out


def viewer_paths() -> dict[str, Any]:
    """The routes of the viewer around the API: listings, progress, the extra folder and its parsers, the
    admin pages. Described so that the fuzz tests reach them, POST bodies included."""
    path = _param("path", "A path relative to the folder.", {"type": "string", "maxLength": 1024})
    fif = _param("FIF", "Image path relative to the data folder.", {"type": "string", "maxLength": 1024},
                 required=True)
    return {
        "/": {"get": _op("viewer", "The viewer page", [_param("image", "The image to show (FIF value).",
                                                               {"type": "string", "maxLength": 1024})],
                         "text/html")},
        "/list": {"get": _op("list", "Folders and images of a data sub-folder", [path], "application/json",
                             403, 404)},
        "/progress": {"get": _op("progress", "Build progress of an image", [fif], "application/json",
                                 403, 404, 422)},
        "/extra/list": {"get": _op("extraList", "Catalogs and region files of the extra folder", [],
                                   "application/json")},
        "/extra/file": {"get": _op("extraFile", "One file of the extra folder", [path], "text/plain",
                                   403, 404, 413)},
        "/extra/regions": {
            "get": _op("regionsFile", "A ds9 region file of the extra folder, as GeoJSON", [path],
                       "application/json", 403, 404, 413, 422),
            "post": _op("regionsPost", "A ds9 region file (the body), as GeoJSON", [], "application/json",
                        413, 422, body="text/plain")},
        "/extra/votable": {
            "get": _op("votableFile", "A VOTable of the extra folder, as rows", [path], "application/json",
                       403, 404, 413, 422),
            "post": _op("votablePost", "A VOTable (the body), as rows", [], "application/json", 413, 422,
                        body="application/x-votable+xml")},
        "/status.json": {"get": _op("statusJson", "Workers, caches and builds (admin clients only)", [],
                                    "application/json", 403)},
        "/metrics": {"get": _op("metrics", "Prometheus metrics (admin clients only)", [], "text/plain", 403)},
        "/status": {"get": _op("status", "The status page (admin clients only)", [], "text/html", 403)},
    }


def analysis_paths() -> dict[str, Any]:
    """The viewer's measuring tools (web/analysis.py): the image and its display parameters as for /api."""
    from .analysis import RENDER_KEYS

    render = [p for p in api_parameters() if p["name"] in RENDER_KEYS]
    image = [p for p in api_parameters() if p["name"] in ("FIF", "CHAN")]
    number = r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?"
    coordinate = {"type": "number", "minimum": 1, "maximum": 2**31}

    def get(op: str, summary: str, params: list[dict[str, Any]], content: str = "application/json") -> Any:
        return {"get": _op(op, summary, params, content, 403, 404, 413, 415, 422)}

    return {
        "/analysis/header": get("analysisHeader", "Every HDU's header", image[:1]),
        "/analysis/stats": get("analysisStats", "Statistics of the full-resolution pixels inside a shape", [
            *image, _param("shape", "FITS pixels: `circle:x,y,r`, `ellipse:x,y,a,b,angle`, `box:x1,y1,x2,y2` or "
                           "`polygon:x1,y1,x2,y2,x3,y3...`.", {"type": "string", "maxLength": 4096}, required=True)]),
        "/analysis/contours": get("analysisContours", "Contour lines in FITS pixels", [
            *image, _param("levels", "Up to 50 comma-separated levels.",
                           {"type": "string", "pattern": rf"^{number}(,{number}){{0,49}}$"}, required=True)]),
        "/analysis/pixels": get("analysisPixels", "The values of the pixels around one", [
            *image, _param("x", "FITS pixel x (1-based).", coordinate, required=True),
            _param("y", "FITS pixel y (1-based).", coordinate, required=True),
            _param("r", "Half-width of the table, 0 to 10.", {"type": "integer", "minimum": 0, "maximum": 10})]),
        "/analysis/colorbar": get("analysisColorbar", "The colour scale of the cuts, as PNG", render, "image/png"),
    }


def document(settings: Settings) -> dict[str, Any]:
    image_types = {t: {"schema": {"type": "string", "format": "binary"}}
                   for t in ("image/jpeg", "image/png", "image/webp", "application/fits")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "tileserver", "version": __version__,
                 "description": "Tiles, snapshots, values and profiles of huge scientific images, in the "
                                "IIP/VisiOmatic query language."},
        "servers": [{"url": settings.root_path or "/"}],
        "paths": {
            settings.api_path: {"get": {
                "summary": "The image API",
                "description": "Exactly one of INFO, obj, JTL, RGN, VAL, PFL says what to return.",
                "operationId": "api",
                "parameters": api_parameters(),
                "responses": {
                    "200": {"description": "A tile or region (image), INFO/VAL/PFL (JSON) or obj (text).",
                            "content": {**image_types, "application/json": {"schema": {"type": "object"}},
                                        "text/plain": {"schema": {"type": "string"}}}},
                    **_errors(304, 403, 404, 413, 415, 422, 503, 507),
                },
            }},
            "/healthz": {"get": {"summary": "Liveness check", "operationId": "healthz", "responses": {"200": {
                "description": 'status "ok", or "degraded" (with problems) while the disk cache cannot write',
                "content": {"application/json": {"schema": {
                    "type": "object", "required": ["status"],
                    "properties": {"status": {"type": "string", "enum": ["ok", "degraded"]},
                                   "problems": {"type": "array", "items": {"type": "string"}}}}}}}}}},
            "/openapi.json": {"get": {"summary": "This description", "operationId": "openapi",
                                      "responses": {"200": {"description": "OpenAPI document", "content": {
                                          "application/json": {"schema": {"type": "object"}}}}}}},
            **hips_paths(),
            **iiif_paths(),
            **samp_paths(),
            **viewer_paths(),
            **analysis_paths(),
        },
        "components": {"schemas": {"Error": {
            "type": "object", "required": ["detail"],
            "properties": {"detail": {"type": "array", "items": {
                "type": "object", "required": ["loc", "msg", "type"],
                "properties": {"loc": {"type": "array", "items": {"type": "string"}},
                               "msg": {"type": "string"}, "type": {"type": "string"}}}}},
        }}},
    }
