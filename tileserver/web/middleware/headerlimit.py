"""The first check of every request: the total size of its headers."""

from __future__ import annotations

from typing import Any

from ..errors import error_json


class HeaderLimit:
    """Refuses requests whose headers exceed `max_bytes` in total (431), before any route or middleware sees
    them. uvicorn's default HTTP parser sets no bound of its own; a proxy in front usually sets a tighter one."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])  # "name: value\r\n"
            if size > self.max_bytes:
                await self._refuse(scope, send)
                return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: dict[str, Any], send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1009, "reason": "request headers too large"})
            return
        body = error_json(["header"], f"the request headers exceed {self.max_bytes} bytes", "too_large")
        await send({"type": "http.response.start", "status": 431, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
