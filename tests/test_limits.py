"""Every limit is a setting, and a request over it is refused early with the right 4xx (or 503 when busy), a message
and no side effect: the server goes on serving."""

from __future__ import annotations

import gzip
import io
import json
import threading
import time
from typing import Any

import numpy as np
import pytest
from astropy.io import fits
from PIL import Image
from starlette.websockets import WebSocketDisconnect

from tileserver.display import encode
from tileserver.store import pyramid as pyramid_module

from support.images import sky


def detail(r: Any) -> dict[str, Any]:
    return r.json()["detail"][0]


def refused(r: Any, status: int, param: str) -> None:
    assert r.status_code == status, r.text
    assert detail(r)["loc"] == ["query", param] and detail(r)["msg"], r.text


def test_image_pixels(client_for, make_fits, data_dir):
    client = client_for(max_image_pixels=2500)
    make_fits("big.fits", width=60, height=50)  # 3000 pixels
    make_fits("cube.fits", np.stack([sky(40, 40, seed=s) for s in (1, 2, 3)]))  # 1600 per channel: fine
    Image.fromarray(np.zeros((50, 60), np.uint8)).save(data_dir / "big.png")
    refused(client.get("/api", params={"FIF": "big.fits", "INFO": ""}), 413, "FIF")
    refused(client.get("/api", params={"FIF": "big.png", "INFO": ""}), 413, "FIF")
    assert "2500" in detail(client.get("/api", params={"FIF": "big.fits", "JTL": "0,0"}))["msg"]
    assert client.get("/api", params={"FIF": "cube.fits", "INFO": ""}).status_code == 200


def fits_with_cards(extra_cards: int, in_extension: bool = False) -> bytes:
    header = fits.Header({f"K{i:06d}": i for i in range(extra_cards)})
    data = sky(40, 30)
    hdus = [fits.PrimaryHDU(data, header)] if not in_extension else [fits.PrimaryHDU(), fits.ImageHDU(data, header)]
    buffer = io.BytesIO()
    fits.HDUList(hdus).writeto(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("name,content,status", [
    ("two_blocks.fits", lambda: fits_with_cards(40), 200),
    ("three_blocks.fits", lambda: fits_with_cards(80), 413),
    ("big_extension.fits", lambda: fits_with_cards(80, in_extension=True), 413),
    ("three_blocks.fits.gz", lambda: gzip.compress(fits_with_cards(80)), 413),
    ("two_blocks.fits.gz", lambda: gzip.compress(fits_with_cards(40)), 200),
    ("truncated.fits.gz", lambda: gzip.compress(fits_with_cards(80))[:500], 415),
])
def test_fits_header_size(client_for, data_dir, name, content, status):
    client = client_for(max_fits_header_bytes=2 * 2880)
    (data_dir / name).write_bytes(content())
    r = client.get("/api", params={"FIF": name, "INFO": ""})
    assert r.status_code == status, r.text
    if status == 413:
        assert "5760" in detail(r)["msg"]


def test_request_header_size(client_for):
    client = client_for(max_request_header_bytes=2048)
    assert client.get("/healthz", headers={"X-Pad": "a" * 1500}).status_code == 200
    r = client.get("/healthz", headers={"X-Pad": "a" * 2100})
    assert r.status_code == 431 and detail(r)["loc"] == ["header"] and "2048" in detail(r)["msg"]
    many = {f"X-H{i}": "v" for i in range(300)}  # many small headers count as much as one big one
    assert client.get("/healthz", headers=many).status_code == 431
    with pytest.raises(WebSocketDisconnect) as closed, client.websocket_connect("/ws", headers={"X-Pad": "a" * 4000}):
        pass
    assert closed.value.code == 1009


def test_request_header_size_on_the_real_server(live_server):
    """uvicorn's parser lets a megabyte of headers through; the app refuses it at the door."""
    import socket

    server = live_server("--max-request-header-bytes", "4096")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 1_000_000 + b"\r\n\r\n")
        head = sock.recv(200)
    assert head.startswith(b"HTTP/1.1 431 ")


def test_region_tiles_and_output_size(client_for, make_fits, monkeypatch):
    client = client_for(tile_size=64, max_region_tile_count=4)
    make_fits("r.fits", width=300, height=200)
    whole = {"FIF": "r.fits", "RGN": "1,1:300,200"}
    r = client.get("/api", params=whole)  # 5 x 4 full-resolution tiles
    refused(r, 413, "RGN")
    assert "4" in detail(r)["msg"] and "BIN" in detail(r)["msg"]
    assert client.get("/api", params={**whole, "BIN": "4"}).status_code == 200  # read from a coarser level
    # The JPEG format caps a side at 65535 pixels; a small cap stands in for it here.
    monkeypatch.setattr(encode, "JPEG_MAX_SIDE", 100)
    strip = {"FIF": "r.fits", "RGN": "1,1:128,20"}
    refused(client.get("/api", params=strip), 413, "RGN")
    assert client.get("/api", params={**strip, "CVT": "png"}).status_code == 200


def test_profile_length(client_for, make_fits):
    client = client_for(max_profile_length=50)
    make_fits("p.fits", width=100, height=100)
    refused(client.get("/api", params={"FIF": "p.fits", "PFL": "1,1:100,51"}), 413, "PFL")
    r = client.get("/api", params={"FIF": "p.fits", "PFL": "1,1:50,50"})
    assert r.status_code == 200 and len(r.json()["profile"]) == 50


@pytest.mark.parametrize("value", ["0", "-1", "1025", "2.5", "", "abc", "9" * 20])
def test_binning_range(client, make_fits, value):
    make_fits("b.fits", width=64, height=64)
    refused(client.get("/api", params={"FIF": "b.fits", "RGN": "1,1:64,64", "BIN": value}), 422, "BIN")


def test_query_length(client_for, make_fits):
    client = client_for(max_query_length=256)
    make_fits("q.fits", width=64, height=64)
    assert client.get("/api?FIF=q.fits&JTL=0,0&V=" + "a" * 200).status_code == 200
    refused(client.get("/api?FIF=q.fits&JTL=0,0&V=" + "a" * 250), 422, "query")


@pytest.mark.parametrize("query,param", [
    ("FIF=q.fits&JTL=0,0&JTL=0,0", "JTL"),
    ("FIF=q.fits&FIF=other.fits&INFO", "FIF"),
    ("FIF=q.fits&JTL=0,0&jtl=0,0", "JTL"),
    ("FIF=q.fits&JTL=0,0&CNT=1&CNT=2", "CNT"),
    ("FIF=q.fits&JTL=0,0" + "&CHAN=1" * 4097, "CHAN"),
    ("FIF=q.fits&JTL=0,0" + "&MINMAX=1:0,1" * 4097, "MINMAX"),
], ids=["JTL", "FIF", "jtl", "CNT", "CHANx4097", "MINMAXx4097"])
def test_repeated_parameters(client_for, make_fits, query, param):
    client = client_for(max_query_length=65536)
    make_fits("q.fits", width=64, height=64)
    refused(client.get("/api?" + query), 422, param)


@pytest.mark.parametrize("settings,send,code", [
    ({"ws_max_message_bytes": 64}, lambda ws: ws.send_json({"type": "ping", "pad": "x" * 64}), 1009),
    ({"ws_max_messages_per_second": 1}, lambda ws: [ws.send_json({"type": "ping"}) for _ in range(6)], 1008),
])
def test_websocket_frame_size_and_rate(client_for, settings, send, code):
    client = client_for(**settings)
    with client.websocket_connect("/ws") as ws:
        hello = ws.receive_json()
        assert hello["limits"]["message_bytes" if "ws_max_message_bytes" in settings else "messages_per_second"] \
            == next(iter(settings.values()))
        ws.send_json({"type": "ping"})  # within the limits: answered
        assert ws.receive_json()["type"] == "pong"
        send(ws)
        while (message := ws.receive())["type"] == "websocket.send":
            pass
    assert message["type"] == "websocket.close" and message["code"] == code


def test_concurrent_builds_queue_then_503(client_for, make_fits, monkeypatch):
    """One build at a time and one waiting: a third image asked for meanwhile gets 503 with Retry-After. Gzip'd
    FITS has no random access, so it is built before INFO answers (a plain FITS opens first and builds after)."""
    client = client_for(max_concurrent_builds=1)
    for name in ("a.fits.gz", "b.fits.gz", "c.fits.gz"):
        make_fits(name, width=64, height=64)
    entered, release = threading.Event(), threading.Event()
    real_build = pyramid_module.build

    def held_build(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        assert release.wait(60)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(pyramid_module, "build", held_build)
    results: dict[str, Any] = {}

    def ask(name: str) -> None:
        results[name] = client.get("/api", params={"FIF": name, "INFO": ""})

    first = threading.Thread(target=ask, args=("a.fits.gz",))
    first.start()
    assert entered.wait(30)  # a.fits builds (held); b.fits and c.fits come while it does
    others = [threading.Thread(target=ask, args=(name,)) for name in ("b.fits.gz", "c.fits.gz")]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 30
    while not results and time.monotonic() < deadline:  # one of them waits for the build slot, one is refused
        time.sleep(0.01)
    release.set()
    for thread in (first, *others):
        thread.join(60)
    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [200, 200, 503], statuses
    busy = next(r for r in results.values() if r.status_code == 503)
    assert int(busy.headers["Retry-After"]) > 0 and detail(busy)["msg"]
    name = next(n for n, r in results.items() if r.status_code == 503)
    assert client.get("/api", params={"FIF": name, "INFO": ""}).status_code == 200  # retried later: served


def test_limits_are_checked_settings(settings_for):
    from tileserver.errors import SettingError

    for name, bad in (("max_request_header_bytes", 10), ("max_query_length", 100), ("max_profile_length", 1),
                      ("max_region_tile_count", 0), ("max_image_pixels", 0), ("max_concurrent_builds", 0),
                      ("ws_max_message_bytes", 1)):
        with pytest.raises(SettingError, match=name):
            settings_for(**{name: bad})
    assert json.dumps(settings_for(max_request_header_bytes=4096).max_request_header_bytes) == "4096"
