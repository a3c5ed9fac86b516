"""Domain errors to HTTP: the one table of statuses and the one JSON error body, {"detail": [{loc, msg, type}]}."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import errors

log = logging.getLogger("tileserver")

STATUS: dict[type[errors.TileServerError], int] = {
    errors.InvalidParameter: 422,
    errors.ImageNotFound: 404,
    errors.TileNotFound: 404,
    errors.Forbidden: 403,
    errors.TooLarge: 413,
    errors.UnsupportedImage: 415,
    errors.Overloaded: 503,
    errors.CacheFull: 507,
    errors.NotFound: 404,
}


def error_body(loc: list[str], msg: str, kind: str) -> dict[str, Any]:
    return {"detail": [{"loc": loc, "msg": msg, "type": kind}]}


def error_json(loc: list[str], msg: str, kind: str) -> bytes:
    """The body for senders below starlette (raw ASGI middlewares)."""
    return json.dumps(error_body(loc, msg, kind)).encode()


def error_response(exc: errors.TileServerError) -> JSONResponse:
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    headers = {"Retry-After": "5"} if status in (503, 507) else None
    return JSONResponse(error_body(["query", exc.param], exc.message, exc.kind), status_code=status, headers=headers)


async def domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.TileServerError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse(error_body(["path"], exc.detail, "http"), status_code=exc.status_code,
                        headers=getattr(exc, "headers", None))


async def server_error(request: Request, exc: Exception) -> Response:
    # Logged for the operator; the client gets no traceback and no path.
    log.exception("internal error on %s", request.url.path)
    return JSONResponse(error_body([], "internal server error", "server_error"), status_code=500)


HANDLERS = {errors.TileServerError: domain_error, HTTPException: http_error, Exception: server_error}
