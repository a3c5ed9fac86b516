"""Logs an operator can use: one timestamp format (ISO 8601 with the zone) on every line of every process, an
access log with the path as the client asked for it under root_path, the user, the bytes and the duration; a level
setting; JSON lines on request. Real gunicorn and uvicorn."""

from __future__ import annotations

import base64
import json
import os
import re
import socket

import httpx
import pytest

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d"


def lines(server) -> list[str]:
    """The log lines (the file also holds the command's own banner on standard output: "tileserver 0.1.0: ...";
    a message of several lines, a traceback, continues on indented lines)."""
    return [line for line in server.log.read_text().splitlines() if line.strip() and
            not line.startswith(("tileserver ", " "))]


@pytest.fixture(autouse=True)
def config_home(tmp_path):
    (tmp_path / "config").mkdir()  # live_server's XDG_CONFIG_HOME: astropy warns (before any log set-up) without it


@pytest.mark.parametrize("workers", ["1", "2"])
def test_text_lines_and_the_access_log_under_a_root_path(live_server, make_fits, workers):
    make_fits("sky.fits", width=300, height=200)
    server = live_server("--workers", workers, "--root-path", "/vis", "--access-log")
    r = httpx.get(server.url + "/api", params={"FIF": "sky.fits", "INFO": ""}, timeout=60)
    assert r.status_code == 200
    server.stop()  # flush and finish: the shutdown lines are in the same format
    log = lines(server)
    assert log and all(re.match(rf"{STAMP} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \[\d+\] [\w.]+: ", line)
                       for line in log), "\n".join(log)
    [access] = [line for line in log if "/api?FIF=sky.fits" in line]
    match = re.search(r'tileserver.access: 127.0.0.1 - "GET (\S+)" (\d+) (\d+) ([\d.]+)ms$', access)
    assert match, access
    assert match.group(1) == "/vis/api?FIF=sky.fits&INFO="  # root_path once, as the client sent it
    assert (int(match.group(2)), int(match.group(3))) == (200, len(r.content))
    assert "/vis/vis" not in server.log.read_text()


def test_json_lines_and_the_level(live_server, make_fits):
    make_fits("sky.fits", width=300, height=200)
    server = live_server("--workers", "2", "--access-log", "--log-format", "json")
    assert httpx.get(server.url + "/api", params={"FIF": "sky.fits", "JTL": "0,0"}, timeout=60).status_code == 200
    server.stop()
    entries = [json.loads(line) for line in lines(server)]
    assert all(re.fullmatch(STAMP, e["time"]) and e["level"] for e in entries)
    [access] = [e for e in entries if e["logger"] == "tileserver.access" and "JTL" in e["path"]]
    assert access["status"] == 200 and access["method"] == "GET" and access["bytes"] > 0
    assert access["user"] == "-" and access["duration_ms"] >= 0

    quiet = live_server("--workers", "2", "--access-log", "--log-level", "warning")
    assert httpx.get(quiet.url + "/healthz", timeout=30).status_code == 200
    quiet.stop()
    assert not any(" INFO " in line for line in lines(quiet)), lines(quiet)


def test_a_websocket_frame_that_is_not_utf8_is_one_line_not_a_traceback(live_server):
    """Anyone can send one; the socket is closed as the protocol says (1007) and the log says so in one line."""
    server = live_server("--workers", "2")
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Origin: {server.url}\r\n\r\n".encode())
            assert s.recv(4096).startswith(b"HTTP/1.1 101 ")
            payload, mask = b"\xff\xfe\xfd", os.urandom(4)
            s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
            close = s.recv(4096)
            assert close[0] == 0x88 and int.from_bytes(close[2:4], "big") == 1007  # a close frame: invalid data
    assert httpx.get(server.url + "/healthz", timeout=30).status_code == 200
    server.stop()
    text = server.log.read_text()
    assert "Traceback" not in text and "UnicodeDecodeError" not in text
    faults = [line for line in lines(server) if "Invalid UTF-8" in line]
    assert len(faults) == 3 and all(" INFO " in line for line in faults), faults
