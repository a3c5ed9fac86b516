"""The viewer's static files (its client and Leaflet) under a versioned URL: {root}/static/{tag}/client/... and
{root}/static/{tag}/leaflet/..., where the tag changes whenever any of those files does. Browsers and proxies then
keep them for a year without asking again, and a new version is fetched at once. The unversioned /client and
/leaflet stay, revalidated on every use, for pages and tools that name them directly."""

from __future__ import annotations

import hashlib
from pathlib import Path

from starlette.routing import Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .files import DoorFiles

IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"no-cache"


def content_tag(*folders: Path) -> str:
    """A short hash of every file's name and bytes: the same files give the same tag on every worker and host."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class CacheControl:
    """Sets Cache-Control on the answers of a static app."""

    def __init__(self, app: ASGIApp, value: bytes) -> None:
        self.app = app
        self.value = value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", self.value)]}
            await send(message)

        await self.app(scope, receive, send_with)


def mounts(client_dir: Path, leaflet_dir: Path) -> tuple[str, list[Mount]]:
    """(tag, routes): the versioned and the plain mounts of the client and of Leaflet."""
    tag = content_tag(client_dir, leaflet_dir)
    client, leaflet = DoorFiles(client_dir), DoorFiles(leaflet_dir)
    versioned = Router([Mount("/client", app=client), Mount("/leaflet", app=leaflet)])
    return tag, [
        Mount("/static", routes=[Mount(f"/{tag}", app=CacheControl(versioned, IMMUTABLE))]),
        Mount("/client", app=CacheControl(client, REVALIDATE), name="client"),
        Mount("/leaflet", app=CacheControl(leaflet, REVALIDATE), name="leaflet"),
    ]
