"""Identities that cannot be forged, through the shipped nginx and Apache configurations with basic auth in front of
`tileserver --workers 2` with an access file: the proxy names the user it authenticated, in every location (the
websocket too), and proves itself with the shared secret; a client's own user header is never believed, and a
local process that reaches the server without the secret is anonymous."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from support import proxies
from support.images import write_image
from support.servers import LiveServer, start_backend

pytestmark = pytest.mark.proxy

RULES = "[folders]\npublic = *\nprivate = alice\n"
USERS = {"alice": "wonderland", "bob": "builder"}


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("identity")
    for name, seed in (("public/p.fits", 1), ("private/a.fits", 2)):
        write_image(folder / "data" / name, 200, 150, seed=seed)
    (folder / "access.conf").write_text(RULES, encoding="utf-8")
    server = start_backend(folder / "data", folder / "cache", "--workers", "2", "--root-path", "/vis",
                           "--access-file", str(folder / "access.conf"),
                           "--proxy-secret-file", str(proxies.secret_file(folder)))
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["nginx", "apache"])
def proxy(request: pytest.FixtureRequest, backend: LiveServer) -> Iterator[proxies.Proxy]:
    folder = Path(proxies._prefix("htpasswd"))
    lines = [f"{user}:" + subprocess.run(["openssl", "passwd", "-apr1", password], check=True, capture_output=True,
                                         text=True).stdout.strip() + "\n" for user, password in USERS.items()]
    (folder / "htpasswd").write_text("".join(lines), encoding="utf-8")
    os.chmod(folder / "htpasswd", 0o644)  # read by the proxies' workers
    start = proxies.start_nginx if request.param == "nginx" else proxies.start_apache
    started = start([backend.port] if request.param == "nginx" else backend.port, htpasswd=folder / "htpasswd")
    yield started
    started.stop()


def info(base: str, fif: str, auth: tuple[str, str] | None = None, **headers: str) -> int:
    return httpx.get(base + "/vis/api", params={"FIF": fif, "INFO": ""}, auth=auth, headers=headers,
                     timeout=60).status_code


def test_the_proxy_names_the_user_and_only_the_proxy(proxy: proxies.Proxy) -> None:
    alice, bob = ("alice", USERS["alice"]), ("bob", USERS["bob"])
    assert info(proxy.url, "private/a.fits") == 401  # the proxy asks for a password
    assert info(proxy.url, "private/a.fits", alice) == 200
    assert info(proxy.url, "public/p.fits", bob) == 200
    # bob says he is alice, in every spelling a client can: the proxy replaces the header with his own name.
    for forged in ({"X-Remote-User": "alice"}, {"x-remote-user": "alice"},
                   {"X-Remote-User": "alice", "X-Tileserver-Proxy-Secret": proxies.PROXY_SECRET}):
        assert info(proxy.url, "private/a.fits", bob, **forged) == 403, forged
    # Every location: the tile route under its proxy cache, the listing, the upload routes.
    tile = httpx.get(proxy.url + "/vis/api", params={"FIF": "private/a.fits", "JTL": "0,0"}, auth=bob,
                     headers={"X-Remote-User": "alice"}, timeout=60)
    assert tile.status_code == 403
    listing = httpx.get(proxy.url + "/vis/list", auth=bob, headers={"X-Remote-User": "alice"}, timeout=60).json()
    assert {e["name"] for e in listing["entries"]} == {"public"}


def subscribe(proxy: proxies.Proxy, user: str, forged: str | None = None) -> dict:
    token = base64.b64encode(f"{user}:{USERS[user]}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", **({"X-Remote-User": forged} if forged else {})}
    url = proxy.url.replace("http://", "ws://") + "/vis/ws?FIF=private%2Fa.fits"
    with connect(url, additional_headers=headers, open_timeout=10) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        ws.send(json.dumps({"type": "subscribe", "image": "private/a.fits"}))
        while (message := json.loads(ws.recv(timeout=30)))["type"] in ("progress", "ping"):
            pass
        return message


def test_the_websocket_location_sets_the_user_too(proxy: proxies.Proxy) -> None:
    assert subscribe(proxy, "alice")["type"] == "ready"
    refused = subscribe(proxy, "bob", forged="alice")
    assert refused["type"] == "error" and refused["kind"] == "forbidden", refused


def test_a_local_process_without_the_secret_is_anonymous(backend: LiveServer) -> None:
    direct = f"http://127.0.0.1:{backend.port}"  # loopback, a trusted proxy address: every local account is here
    assert info(direct, "private/a.fits", **{"X-Remote-User": "alice"}) == 403
    assert info(direct, "private/a.fits", **{"X-Remote-User": "alice", "X-Tileserver-Proxy-Secret": "guess"}) == 403
    assert info(direct, "public/p.fits") == 200
    # The status pages see a forged forwarded address as what it is: the local process's own.
    assert httpx.get(direct + "/vis/status.json", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
