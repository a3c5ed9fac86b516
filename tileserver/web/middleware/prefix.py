"""One URL for an app served under root_path, whether or not the reverse proxy strips that prefix."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class PrefixedPaths:
    """Serve {root_path}/x whether the reverse proxy strips root_path or passes the path unchanged.

    The ASGI server prefixes every path with root_path, so a proxy that strips it gets /vis/x routed as /x; one
    that passes /vis/x unchanged arrives as /vis/vis/x, which we bring back to /vis/x. Direct requests to
    {root_path}/x work the same way, so one URL serves through the proxy and on the server's own port."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root = scope.get("root_path", "")
        if root and scope["type"] in ("http", "websocket"):
            path, twice = scope["path"], root + root
            if path == twice or path.startswith(twice + "/"):
                raw = scope.get("raw_path")
                scope = {**scope, "path": path[len(root):],
                         "raw_path": raw[len(root.encode()):] if raw else raw}
        await self.app(scope, receive, send)
