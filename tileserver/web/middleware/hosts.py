"""Which Host names the server answers: against DNS rebinding.

A web page can make the browser send requests to a server on the visitor's loopback (a quick look on port 8009) by
giving its own host name the address 127.0.0.1 after the page has loaded: the browser then believes the server is
the page's own site and lets the page read the answers. The one thing such a request cannot hide is its Host
header, which names the attacker's domain. So a server bound to loopback answers only loopback names (localhost,
*.localhost, 127.x.y.z, ::1) and those listed in `allowed_hosts`; anything else gets 421 before any route runs.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from ..errors import error_json

LOOPBACK_NAMES = ("localhost", "localhost.")


def is_loopback_bind(host: str) -> bool:
    if host.strip("[]") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str:
    """The name of a Host header value, without its port, lower case ('[::1]:8009' -> '::1')."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


@functools.lru_cache(maxsize=1024)  # asked on every request, of a handful of names
def is_loopback_name(name: str) -> bool:
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True  # RFC 6761: *.localhost resolves to loopback, never to a foreign address
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class AllowedHosts:
    def __init__(self, app: Any, allowed: str, bind_host: str) -> None:
        self.app = app
        names = {n.strip().lower().rstrip(".") for n in allowed.split(",") if n.strip()}
        self.any = "*" in names or (not names and not is_loopback_bind(bind_host))
        self.loopback = not names or is_loopback_bind(bind_host)
        self.names = frozenset(names)

    def admits(self, value: str) -> bool:
        name = host_name(value)
        return self.any or name.rstrip(".") in self.names or (self.loopback and is_loopback_name(name))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
        if self.admits(host):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "host name not served here"})
            return
        body = error_json(["header", "host"], "this server does not answer to that host name (see the setting "
                          "allowed_hosts)", "misdirected")
        await send({"type": "http.response.start", "status": 421, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
