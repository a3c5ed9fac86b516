"""The access log: one line per HTTP request, after its answer, with the client (as the trusted proxy names it),
the user, the method, the path as the client asked for it (root_path once, query included), the status, the bytes
of the body and the time it took. Inside ProxyMiddleware, which sets the client and the user."""

from __future__ import annotations

import logging
import time
from typing import Any

from ... import access

log = logging.getLogger("tileserver.access")


class AccessLog:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        answer = {"status": 0, "bytes": 0}

        async def counting_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self._write(scope, answer["status"] or 500, answer["bytes"], time.perf_counter() - start)

    def _write(self, scope: dict[str, Any], status: int, size: int, seconds: float) -> None:
        path = requested_path(scope)
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        client = scope.get("client")
        fields = {"client": client[0] if client else "-", "user": access.user_of(scope) or "-",
                  "method": scope["method"], "path": path, "status": status, "bytes": size,
                  "duration_ms": round(seconds * 1000, 1)}
        log.info('%(client)s %(user)s "%(method)s %(path)s" %(status)d %(bytes)d %(duration_ms).1fms', fields,
                 extra=fields)


def requested_path(scope: dict[str, Any]) -> str:
    """The path as seen from outside, root_path once: the ASGI server prefixes root_path to what it received, which
    is /vis/api from a proxy that keeps the prefix (giving /vis/vis/api) and /api from one that strips it."""
    root = scope.get("root_path", "").rstrip("/").encode()
    raw = scope.get("raw_path") or scope["path"].encode()
    while root and (raw == root or raw.startswith(root + b"/")):
        raw = raw[len(root):]
    return (root + raw).decode("latin-1")
