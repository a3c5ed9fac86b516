"""Cross-origin access for the open standards' routes (IIIF, HiPS), whatever `cors_origins` says of the rest.

Their clients (OpenSeadragon, Mirador, Aladin Lite) live on other sites by design, and the specifications ask for
`Access-Control-Allow-Origin: *`. The header is set on every answer under the given path prefixes, errors included,
and CORS preflights there are answered here, before the API's own CORSMiddleware (which would refuse unlisted
origins). No credentials are ever allowed: a page on another site cannot read what a user's cookies would unlock.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = b"GET, HEAD, OPTIONS"
MAX_AGE = b"86400"


class OpenCors:
    def __init__(self, app: ASGIApp, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    def _covers(self, scope: Scope) -> bool:
        root = scope.get("root_path", "")
        path: str = scope["path"]
        if root and path.startswith(root):
            path = path[len(root):]
        return path.startswith(self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._covers(scope):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 204, "headers": [
                (b"access-control-allow-origin", b"*"), (b"access-control-allow-methods", METHODS),
                (b"access-control-allow-headers", b"*"), (b"access-control-max-age", MAX_AGE)]})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_open(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ())
                           if k.lower() not in (b"access-control-allow-origin", b"access-control-allow-credentials")]
                headers += [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", b"ETag, Link")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_open)
