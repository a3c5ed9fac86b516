"""The websocket channel: protocol and limits in-process, then progress across workers, live reload, floods and
many idle sockets on a real multi-worker server (the `check_*` coroutines of tests/support/websocket.py, which
test_ws_proxy.py runs through nginx and Apache too)."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import numpy as np
import pytest
import simplejpeg
from starlette.datastructures import Headers
from starlette.websockets import WebSocketDisconnect

from tileserver import config
from tileserver.store.progress import ProgressBoard
from tileserver.web.app import create_app
from tileserver.web.ws import origin_allowed

from support.images import sky
from support.servers import run_async
from support.websocket import (
    BOUND,
    SLOW_SIDE,
    Socket,
    check_abusers_are_closed_alone,
    check_idle_sockets,
    check_progress_across_workers,
    check_rewrite_is_noticed,
    write_slow_image,
)

# -- in-process ----------------------------------------------------------------------------------------------------

def receive_until(ws: Any, *types: str) -> list[dict[str, Any]]:
    """Messages (heartbeats skipped) up to and including the first of one of `types`."""
    out = []
    while True:
        message = ws.receive_json()
        if message["type"] == "ping":
            continue
        out.append(message)
        if message["type"] in types:
            return out


def test_subscribe_gives_ready_with_the_info(client, make_fits):
    make_fits("sky.fits", width=300, height=200)
    with client.websocket_connect("/ws") as ws:
        hello = ws.receive_json()
        assert hello["type"] == "hello" and hello["limits"]["subscriptions"] == 16
        ws.send_json({"type": "subscribe", "image": "sky.fits"})
        messages = receive_until(ws, "ready", "error")
        info = client.get("/api", params={"FIF": "sky.fits", "INFO": ""}).json()
    ready = messages[-1]
    assert ready["type"] == "ready" and ready["image"] == "sky.fits"
    assert ready["info"]["cache_tag"] == info["cache_tag"] and ready["info"]["full_size"] == [300, 200]
    fractions = [m["fraction"] for m in messages if m["type"] == "progress"]
    assert fractions == sorted(set(fractions))


@pytest.mark.parametrize("message, kind, text", [
    ("not json", "value_error", "JSON objects"),
    ("[1, 2]", "value_error", "JSON objects"),
    ('{"type": "dance"}', "value_error", "unknown message type"),
    ('{"type": "subscribe"}', "value_error", "needs an 'image'"),
    ('{"type": "subscribe", "image": 7}', "value_error", "needs an 'image'"),
    ('{"type": "subscribe", "image": "../secret.fits"}', "forbidden", "stay inside"),
    ('{"type": "subscribe", "image": "/etc/passwd"}', "forbidden", "stay inside"),
    ('{"type": "subscribe", "image": "missing.fits"}', "not_found", "no such image"),
    ('{"type": "subscribe", "image": ""}', "value_error", "FIF"),
    ('{"type": "subscribe", "image": "a.fits[bad selector!]"}', "not_found", "no such image"),
])
def test_bad_messages_get_readable_errors(client, data_dir, message, kind, text):
    with client.websocket_connect("/ws") as ws:
        ws.receive_json()
        ws.send_text(message)
        error = receive_until(ws, "error", "ready")[-1]
        ws.send_json({"type": "ping"})
        assert receive_until(ws, "pong")[-1] == {"type": "pong"}  # the socket stays usable
    assert error["type"] == "error" and error["kind"] == kind and text in error["message"]
    assert str(data_dir) not in error["message"] and "Traceback" not in error["message"]


@pytest.mark.parametrize("send, code", [
    (lambda ws: ws.send_text(json.dumps({"type": "ping", "pad": "x" * 5000})), 1009),
    (lambda ws: ws.send_text("é" * 2100), 1009),  # 4200 bytes in 2100 characters
    (lambda ws: ws.send_bytes(b'{"type": "ping"}'), 1003),
    (lambda ws: [ws.send_json({"type": "ping"}) for _ in range(200)], 1008),
])
def test_violations_close_the_socket(client, send, code):
    with client.websocket_connect("/ws") as ws:
        ws.receive_json()
        send(ws)
        while (message := ws.receive())["type"] == "websocket.send":
            pass
    assert message["type"] == "websocket.close" and message["code"] == code and message["reason"]


def test_subscription_limit(client_for, make_fits):
    make_fits("a.fits", width=100, height=100)
    client = client_for(ws_max_subscriptions=2)
    with client.websocket_connect("/ws") as ws:
        ws.receive_json()
        for name in ("a.fits", "b.fits"):
            ws.send_json({"type": "subscribe", "image": name})
            receive_until(ws, "ready", "error")
        ws.send_json({"type": "subscribe", "image": "c.fits"})
        error = receive_until(ws, "error")[-1]
        assert error["kind"] == "too_large" and "at most 2 images" in error["message"]
        ws.send_json({"type": "unsubscribe", "image": "b.fits"})
        ws.send_json({"type": "subscribe", "image": "a.fits"})  # already watched: the state again, no new slot
        assert receive_until(ws, "ready")[-1]["image"] == "a.fits"
        ws.send_json({"type": "subscribe", "image": "c.fits"})
        assert receive_until(ws, "error")[-1]["kind"] == "not_found"  # a free slot again


@pytest.mark.parametrize("origin, host, forwarded, allowed, ok", [
    (None, "example.org", None, "", True),  # not a browser
    ("http://example.org", "example.org", None, "", True),
    ("https://example.org", "example.org", None, "", True),
    ("http://example.org:8009", "example.org:8009", None, "", True),
    ("http://EXAMPLE.org:8009", "example.org:8009", None, "", True),
    ("http://example.org:8080", "example.org", None, "", True),  # a proxy dropped the Host port
    ("http://example.org:9999", "example.org:8009", None, "", False),
    ("http://evil.example", "example.org", None, "", False),
    ("http://example.org.evil.example", "example.org", None, "", False),
    ("null", "example.org", None, "", False),
    ("file://", "example.org", None, "", False),
    ("http://public.example", "127.0.0.1:8009", "public.example", "", True),
    ("http://app.example", "example.org", None, "http://app.example", True),
    ("http://other.example", "example.org", None, "http://app.example, http://x.example", False),
    ("http://other.example", "example.org", None, "*", True),
])
def test_origin_allowed(origin, host, forwarded, allowed, ok):
    raw = {"host": host}
    if origin is not None:
        raw["origin"] = origin
    if forwarded:
        raw["x-forwarded-host"] = forwarded
    origins = frozenset(o.strip() for o in allowed.split(",") if o.strip())
    assert origin_allowed(Headers(raw), origins) is ok


def test_cross_site_origin_is_refused(client):
    with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == 1008
    with client.websocket_connect("/ws", headers={"origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_idle_timeout_spares_clients_that_answer(client_for):
    client = client_for(ws_heartbeat_interval=0.25, ws_idle_timeout=1)
    with client.websocket_connect("/ws") as lively, client.websocket_connect("/ws") as silent:
        lively.receive_json()
        for _ in range(9):  # 2.25 s of heartbeats, over twice the idle timeout
            assert lively.receive_json()["type"] == "ping"
            lively.send_json({"type": "pong"})
        messages = []
        while (message := silent.receive())["type"] == "websocket.send":
            messages.append(json.loads(message["text"])["type"])
    assert messages[0] == "hello" and set(messages[1:]) == {"ping"}
    assert message["code"] == 1000 and message["reason"] == "idle timeout"


def test_idle_timeout_must_exceed_heartbeat(settings_for):
    with pytest.raises(config.SettingError, match="ws_idle_timeout"):
        create_app(settings_for(ws_heartbeat_interval=30, ws_idle_timeout=30))


def test_progress_board(tmp_path):
    board = ProgressBoard(tmp_path / "progress", min_interval=3600)
    assert board.read("k") is None
    board.report("k", "a.fits", "reading", 0.0)
    board.report("k", "a.fits", "reading", 0.5)  # throttled: same stage, too soon
    assert (board.read("k")["stage"], board.read("k")["fraction"]) == ("reading", 0.0)
    board.report("k", "a.fits", "tiling", 0.25)  # a new stage is always written
    assert (board.read("k")["stage"], board.read("k")["fraction"]) == ("tiling", 0.25)
    board.report("k", "a.fits", "done", 1.0)
    assert board.read("k") is None and list((tmp_path / "progress").iterdir()) == []
    (tmp_path / "progress" / "bad.json").write_text("{not json")
    assert board.read("bad") is None
    board.clean(max_age=-1)
    assert list((tmp_path / "progress").iterdir()) == []


# -- a real server ---------------------------------------------------------------------------------------------------

def ws_url(server: Any) -> str:
    return server.url.replace("http://", "ws://", 1) + "/ws"


def test_progress_from_another_worker(live_server, data_dir):
    write_slow_image(data_dir, "slow.fits.gz")
    server = live_server("--workers", "2", "--tile-size", "64")
    ready = run_async(check_progress_across_workers(ws_url(server), "slow.fits.gz"))
    assert ready["info"]["full_size"] == [SLOW_SIDE, SLOW_SIDE]


def test_rewrite_yields_changed_and_new_tiles(live_server, make_fits):
    make_fits("live.fits", width=256, height=256, seed=1)
    server = live_server("--workers", "2", env={"TILESERVER_WS_WATCH_INTERVAL": "0.2"})
    # The new exposure: dark left half, bright right half (FITS x is the display x).
    new = sky(256, 256, seed=2)
    new[:, 128:] += 3000
    tiles = []

    def tile(tag: str | None = None) -> np.ndarray:
        params = {"FIF": "live.fits", "JTL": "0,0", "MINMAX": "1:0,3200", **({"V": tag} if tag else {})}
        r = httpx.get(server.url + "/api", params=params, timeout=BOUND)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
        return simplejpeg.decode_jpeg(r.content, colorspace="GRAY")[:, :, 0].astype(np.float32)

    def rewrite() -> None:
        tiles.append(tile())
        time.sleep(0.05)  # a distinct mtime even on coarse-grained file systems
        make_fits("live.fits", data=new)

    # A tile URL carries the cache tag (V=) it was made for: the new tag gets the new data at once, from any worker.
    _, new_tag = run_async(check_rewrite_is_noticed(ws_url(server), "live.fits", rewrite))
    old, fresh = tiles[0], tile(new_tag)
    assert abs(old[:, 128:].mean() - old[:, :128].mean()) < 10  # the old exposure was uniform sky
    assert fresh[:, 128:].mean() - fresh[:, :128].mean() > 100  # the new data
    value = httpx.get(server.url + "/api", params={"FIF": "live.fits", "VAL": "200,10", "V": new_tag},
                      timeout=BOUND).json()
    assert value["values"][0] == pytest.approx(float(new[9, 199]))


def test_abusive_clients_are_closed_alone(live_server, make_fits):
    make_fits("sky.fits", width=300, height=200)
    server = live_server("--workers", "2")
    run_async(check_abusers_are_closed_alone(ws_url(server), "sky.fits"))


def test_200_idle_sockets_survive_heartbeats(live_server):
    server = live_server("--workers", "2", env={"TILESERVER_WS_HEARTBEAT_INTERVAL": "1"})
    run_async(check_idle_sockets(ws_url(server), 200))


def test_under_a_root_path(live_server, make_fits):
    make_fits("sky.fits", width=300, height=200)
    server = live_server("--root-path", "/vis", env={"TILESERVER_WS_WATCH_INTERVAL": "0.2"})
    assert ws_url(server).endswith("/vis/ws")

    async def check() -> None:
        sock = await Socket.open(ws_url(server))
        await sock.send({"type": "subscribe", "image": "sky.fits"})
        assert (await sock.until("ready"))[-1]["info"]["full_size"] == [300, 200]
        await sock.ws.close()

    run_async(check())
