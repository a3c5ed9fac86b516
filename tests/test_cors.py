"""Cross-origin access: none by default; `cors_origins` opens the API (and the websocket) to the listed sites."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

A, B, C = "https://a.example.org", "https://b.example.org", "https://evil.example.com"
PREFLIGHT = {"Access-Control-Request-Method": "GET"}


@pytest.fixture
def images(make_fits):
    make_fits("s.fits", width=64, height=64)


def acao(r):
    return r.headers.get("access-control-allow-origin")


def test_no_cross_origin_access_by_default(client, images):
    for path in ("/api?FIF=s.fits&INFO", "/api?FIF=s.fits&JTL=0,0", "/api?FIF=nope.fits&INFO", "/healthz"):
        r = client.get(path, headers={"Origin": A})
        assert r.status_code in (200, 404) and acao(r) is None, path
    r = client.options("/api?FIF=s.fits&INFO", headers={"Origin": A, **PREFLIGHT})
    assert r.status_code == 405 and acao(r) is None


def test_listed_origins_only(client_for, images):
    client = client_for(cors_origins=f"{A}, {B}")
    for origin in (A, B):
        r = client.get("/api?FIF=s.fits&JTL=0,0", headers={"Origin": origin})
        assert r.status_code == 200 and acao(r) == origin
        assert "etag" in r.headers["access-control-expose-headers"].lower()  # the client may revalidate tiles
    for path in ("/api?FIF=s.fits&JTL=0,0", "/api?FIF=s.fits&INFO"):
        r = client.get(path, headers={"Origin": C})
        assert r.status_code == 200 and acao(r) is None
    # Errors carry the header too, so that a page on an allowed site can read the message.
    r = client.get("/api?FIF=s.fits&JTL=9,9", headers={"Origin": A})
    assert r.status_code == 404 and acao(r) == A and r.json()["detail"][0]["msg"]
    assert "access-control-allow-credentials" not in r.headers  # no cookies across sites


def test_preflight(client_for, images):
    client = client_for(cors_origins=A)
    r = client.options("/api?FIF=s.fits&INFO", headers={"Origin": A, **PREFLIGHT})
    assert r.status_code == 200 and acao(r) == A
    assert {m.strip() for m in r.headers["access-control-allow-methods"].split(",")} == {"GET", "HEAD"}
    assert client.options("/api", headers={"Origin": C, **PREFLIGHT}).status_code == 400
    denied = client.options("/api", headers={"Origin": A, "Access-Control-Request-Method": "DELETE"})
    assert denied.status_code == 400 and "DELETE" not in denied.headers.get("access-control-allow-methods", "")


def test_any_origin(client_for, images):
    client = client_for(cors_origins="*")
    r = client.get("/api?FIF=s.fits&INFO", headers={"Origin": C})
    assert r.status_code == 200 and acao(r) == "*"


@pytest.mark.parametrize("origins,origin,accepted", [
    ("", A, False),
    (A, A, True),
    (A, C, False),
    ("*", C, True),
    ("", "http://testserver", True),  # the server's own pages are always welcome
])
def test_websocket_origin(client_for, origins, origin, accepted):
    client = client_for(cors_origins=origins)
    with client.websocket_connect("/ws", headers={"Origin": origin}) as ws:
        try:
            message = ws.receive_json()
        except WebSocketDisconnect as closed:
            assert not accepted and closed.code == 1008
        else:
            assert accepted and message["type"] == "hello"
