"""Who a request comes from, as a trusted reverse proxy says (the rules themselves are in tileserver/access.py)."""

from __future__ import annotations

import functools
import hmac
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ... import access

_NAME_SELECTOR = re.compile(r"\[[^\]/]*\]$")  # an extension selector at the end of a FIF value: file.fits[SCI]


class ProxyMiddleware:
    """Believes what a trusted proxy says about a request: the client's address and scheme (X-Forwarded-For and
    -Proto) and, when `user_header` is given, the authenticated user. Must wrap everything else.

    With `secret`, a proxy is trusted only when it sends that secret too (access.SECRET_HEADER), which is then removed
    from the request. With `public` (access control on: whether anyone, anonymous included, may read an image),
    responses are marked private unless anyone may see them: a shared cache (nginx's proxy_cache) must not hand
    one user's tiles to another, but may keep the tiles of folders open to everyone."""

    def __init__(self, app: Any, trusted_proxies: str, user_header: str = "",
                 public: Callable[[str], bool] | None = None, secret: bytes = b"") -> None:
        self.networks = access.parse_networks(trusted_proxies)
        self.header = user_header.strip().lower().encode("latin-1")
        self.public = public
        self.secret = secret
        self.direct = app
        hosts = [str(net) for net in self.networks]
        # uvicorn's own handling of X-Forwarded-*, on the addresses we trust (it checks the peer again itself).
        self.proxied: Any = ProxyHeadersMiddleware(app, trusted_hosts=hosts) if hosts else app
        # Asked on every request, of a handful of peer addresses.
        self._trusted = functools.lru_cache(maxsize=4096)(lambda host: access.is_trusted(host, self.networks))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.direct(scope, receive, send)
            return
        sent = [v for k, v in scope["headers"] if k == access.SECRET_HEADER]
        if sent:  # never seen by the routes, nor logged
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != access.SECRET_HEADER]}
        proven = not self.secret or (len(sent) == 1 and hmac.compare_digest(sent[0], self.secret))
        peer = scope.get("client")
        trusted = proven and self._trusted(peer[0] if peer else None)
        scope[access.USER_KEY] = self._user(scope) if trusted and self.header else None
        if self.public is not None and not self._public(scope):
            send = _privately(send)
        await (self.proxied if trusted else self.direct)(scope, receive, send)

    def _user(self, scope: dict[str, Any]) -> str | None:
        values = [v for k, v in scope["headers"] if k == self.header]
        if len(values) != 1:
            return None  # absent, or repeated (a client's own header slipped through next to the proxy's)
        name = values[0].decode("utf-8", "replace").strip()
        if not name or len(name) > access.MAX_USER_LENGTH or not name.isprintable():
            return None
        return name

    def _public(self, scope: dict[str, Any]) -> bool:
        """Whether anyone may see the answer: an anonymous request sees nothing more, and an image (FIF) of a
        folder open to everyone is the same for all."""
        if scope[access.USER_KEY] is None:
            return True
        assert self.public is not None
        images = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("FIF", [])
        return len(images) == 1 and self.public(_NAME_SELECTOR.sub("", images[0]))


def _privately(send: Any) -> Any:
    async def send_private(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v.replace(b"public", b"private") if k.lower() == b"cache-control" else v)
                       for k, v in message.get("headers", ())]
            message = {**message, "headers": headers}
        await send(message)

    return send_private
