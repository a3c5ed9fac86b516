"""Security headers on every HTTP response: what a page may load and run, who may frame it, what it tells others.

A route that needs another policy (a page embedding a third-party viewer) sets its own header; this middleware
only adds the ones a response lacks.
"""

from __future__ import annotations

from typing import Any

# The viewer loads everything from its own origin, as ES modules (no inline script, no import map, no eval), and
# talks to its own API and websocket ('self' covers ws:/wss: of the same host). Snapshots are shown from blob: URLs;
# the page's icon is a data: URL. Its SAMP panel, once the user connects, talks to the SAMP Web Profile hub on the
# user's own computer, at the address the Web Profile fixes.
SAMP_HUB = "http://127.0.0.1:21012 http://localhost:21012"
VIEWER_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    f"connect-src 'self' {SAMP_HUB}",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
])
# The Sphinx manual's theme runs a few inline scripts (colour scheme, search); it shows no user data.
MANUAL_POLICY = VIEWER_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'")

# Aladin Lite (the /aladin page of web/hips.py) compiles its WebAssembly core from a data: URL, runs workers from
# blob: URLs and styles its own widgets inline.
ALADIN_POLICY = "; ".join([
    VIEWER_POLICY.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")
    .replace(f"connect-src 'self' {SAMP_HUB}", "connect-src 'self' data: blob:")
    .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
    "worker-src 'self' blob:",
])

COMMON = (
    (b"x-content-type-options", b"nosniff"),  # a catalog served as text is never run as a script
    (b"x-frame-options", b"SAMEORIGIN"),      # frame-ancestors for browsers that predate it
    (b"referrer-policy", b"same-origin"),     # image names in URLs stay on this site
)


class SecurityHeaders:
    """`policies` maps path prefixes (under root_path) to their own Content-Security-Policy; others get
    VIEWER_POLICY."""

    def __init__(self, app: Any, policies: dict[str, str] | None = None) -> None:
        self.app = app
        self.policies = policies or {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = (*COMMON, (b"content-security-policy", self.policy(scope).encode()))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in defaults if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def policy(self, scope: dict[str, Any]) -> str:
        # The server prefixes the path with root_path, which a proxy may have kept too: /vis/vis/aladin.
        path, root = scope.get("path", ""), scope.get("root_path", "").rstrip("/")
        while root and path.startswith(root + "/"):
            path = path[len(root):]
        for prefix, policy in self.policies.items():
            if path == prefix or path.startswith(prefix + "/"):
                return policy
        return VIEWER_POLICY
