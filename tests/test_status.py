"""/status, /status.json, /metrics: counters per worker, merged across gunicorn workers; access control."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tileserver import config
from tileserver.errors import SettingError
from tileserver.store.progress import ProgressBoard
from tileserver.web.monitor import RecentCount, recent

from support.servers import wait_for

ADMIN = ("/status", "/status.json", "/metrics")


@pytest.fixture
def admin_client(client_for: Callable[..., TestClient]) -> Callable[..., TestClient]:
    """An in-process client calling from a given address (TestClient's default, 'testclient', is no address)."""
    return lambda host="127.0.0.1", **overrides: client_for(address=host, **overrides)


def test_status_json_counts_requests_tiles_and_errors(make_fits: Callable[..., Path], admin_client: Any) -> None:
    make_fits("a.fits", width=300, height=200)
    client = admin_client(tile_size=128)
    assert client.get("/api?FIF=a.fits&INFO").status_code == 200
    wait_for(lambda: list((Path(client.app.state.settings.cache_dir) / "entries").glob("*/manifest.json")),
             "the build")  # in the background: until then level 1 is a preview, which no cache keeps
    for _ in range(3):
        assert client.get("/api?FIF=a.fits&JTL=1,0").status_code == 200
    assert client.get("/api?FIF=a.fits&JTL=1,99").status_code == 404
    assert client.get("/api?FIF=a.fits&JTL=1,0&QLT=bad").status_code == 422
    response = client.get("/status.json")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    snap = response.json()
    [worker] = snap["workers"]
    assert worker["pid"] == os.getpid()
    assert worker["rss"] > 10 * 2**20
    assert snap["totals"] == {"requests": 6, "tiles": 3, "errors": 0, "client_errors": 2, "recent_errors": 0,
                              "tiles_per_second": snap["totals"]["tiles_per_second"]}
    assert snap["totals"]["tiles_per_second"] > 0
    memory = snap["memory_cache"]
    assert memory["hits"] == 2  # the 2nd and 3rd request of the same tile
    assert memory["hit_rate"] == round(memory["hits"] / (memory["hits"] + memory["misses"]), 4)
    [entry] = snap["disk_cache"]["entries"]
    assert (entry["image"], entry["hits"]) == ("a.fits", 3)
    assert entry["bytes"] == snap["disk_cache"]["bytes"] > 300 * 200 * 4 / 4  # the reduced levels (the file is
    # the full resolution)
    assert abs(entry["last_use"] - time.time()) < 3600
    assert snap["builds"] == []


@pytest.mark.parametrize("now, expected", [
    (1059.99, 4),
    (1060.0, 2),   # second 1000 (two events) has left the last minute
    (1089.99, 2),
    (1090.0, 1),
    (1118.99, 1),
    (1119.0, 0),   # an idle worker's rate decays to nothing
])
def test_recent_counts_cover_the_last_minute(now: float, expected: int) -> None:
    counter = RecentCount()
    for t in (1000.2, 1000.7, 1030.0, 1059.9):
        counter.add(t)
    published = json.loads(json.dumps(counter.buckets()))
    assert recent(published, now) == expected


def test_build_in_progress_shows_on_every_page(admin_client: Any, cache_dir: Path) -> None:
    client = admin_client()
    ProgressBoard(cache_dir / "progress").report("0123abcd", "big.fits", "levels", 0.4242)
    [build] = client.get("/status.json").json()["builds"]
    assert (build["key"], build["image"], build["stage"], build["fraction"]) == ("0123abcd", "big.fits", "levels",
                                                                                  0.4242)
    page = client.get("/status").text
    assert re.search(r"<td>big\.fits</td><td>levels</td><td>42 %</td>", page)
    assert "tileserver_builds_in_progress 1\n" in client.get("/metrics").text


SAMPLE = re.compile(r'^([a-z_]+)(\{[a-z_]+="[^"]*"\})? (-?[0-9.e+]+)$')


def parse_metrics(text: str) -> dict[str, float]:
    """Strict reading of the Prometheus text format: every sample follows its HELP and TYPE lines."""
    types: dict[str, str] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge") and name not in types
            types[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, line
        name = match.group(1)
        assert name in types, f"{name} has no TYPE line"
        assert not name.endswith("_total") or types[name] == "counter"
        samples[name + (match.group(2) or "")] = float(match.group(3))
    return samples


def test_metrics_are_prometheus_text_matching_status(make_fits: Callable[..., Path], admin_client: Any) -> None:
    make_fits("a.fits", width=300, height=200)
    client = admin_client(tile_size=128)
    for i in range(4):
        assert client.get(f"/api?FIF=a.fits&JTL=2,{i}").status_code == 200
    wait_for(lambda: list((Path(client.app.state.settings.cache_dir) / "entries").glob("*/manifest.json")),
             "the build")
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse_metrics(response.text)
    worker = f'{{worker="{os.getpid()}"}}'
    assert samples["tileserver_tiles_total" + worker] == 4
    assert samples["tileserver_requests_total" + worker] == 4
    assert samples["tileserver_errors_total" + worker] == 0
    assert samples["tileserver_disk_cache_images"] == 1
    assert samples["tileserver_worker_rss_bytes" + worker] > 0
    assert samples['tileserver_info{version="0.1.0"}'] == 1


def test_status_page_escapes_names(make_fits: Callable[..., Path], admin_client: Any) -> None:
    make_fits("a<b>&c.fits", width=200, height=100)
    client = admin_client()
    assert client.get("/api", params={"FIF": "a<b>&c.fits", "JTL": "0,0"}).status_code == 200
    wait_for(lambda: client.get("/api", params={"FIF": "a<b>&c.fits", "INFO": ""}).json()["built"], "the build")
    page = client.get("/status")
    assert page.headers["content-type"].startswith("text/html")
    assert "<td>a&lt;b&gt;&amp;c.fits</td>" in page.text
    assert "a<b>" not in page.text
    assert f"<td>{os.getpid()}</td>" in page.text


@pytest.mark.parametrize("allow, host, status", [
    ("127.0.0.0/8, ::1", "127.0.0.1", 200),
    ("127.0.0.0/8, ::1", "127.8.9.10", 200),
    ("127.0.0.0/8, ::1", "::1", 200),
    ("127.0.0.0/8, ::1", "192.168.1.20", 403),
    ("127.0.0.0/8, ::1", "testclient", 403),
    ("192.168.1.0/24", "192.168.1.20", 200),
    ("192.168.1.0/24", "127.0.0.1", 403),
    ("10.0.0.7", "10.0.0.7", 200),
    ("10.0.0.7", "10.0.0.8", 403),
    ("0.0.0.0/0, ::/0", "203.0.113.5", 200),
    ("", "127.0.0.1", 403),
])
def test_admin_allow(admin_client: Any, allow: str, host: str, status: int) -> None:
    client = admin_client(host, admin_allow=allow)
    for path in ADMIN:
        response = client.get(path)
        assert response.status_code == status, path
        if status == 403:
            assert "admin_allow" in response.json()["detail"][0]["msg"]
    assert client.get("/healthz").status_code == 200


def test_admin_pages_off(admin_client: Any) -> None:
    client = admin_client(admin_pages=False)
    for path in ADMIN:
        assert client.get(path).status_code == 404
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("allow", ["localhost", "10.0.0.0/33", "127.0.0.1,, nonsense"])
def test_bad_admin_allow_fails_at_start(settings_for: Callable[..., config.Settings], allow: str) -> None:
    with pytest.raises(SettingError, match="admin_allow"):
        settings_for(admin_allow=allow)


def test_status_merges_gunicorn_workers(make_fits: Callable[..., Path], live_server: Callable[..., Any]) -> None:
    make_fits("a.fits", width=300, height=200)
    server = live_server("--workers", "2", "--tile-size", "128")
    status = server.url + "/status.json"

    def workers() -> list[dict[str, Any]]:
        found = httpx.get(status).json()["workers"]
        return found if len(found) == 2 else []

    pids = {w["pid"] for w in wait_for(workers, "both workers on the status page")}
    assert len(pids) == 2 and all(w["rss"] > 0 for w in workers())
    for i in range(6):
        for _ in range(5):  # a fresh connection each time: spread over both workers
            assert httpx.get(f"{server.url}/api", params={"FIF": "a.fits", "JTL": f"2,{i}"}).status_code == 200
    snap = wait_for(lambda: (s := httpx.get(status).json())["totals"]["tiles"] == 30 and s, "30 tiles counted")
    assert sum(w["tiles"] for w in snap["workers"]) == 30
    assert snap["disk_cache"]["entries"][0]["hits"] == 30
    samples = parse_metrics(httpx.get(server.url + "/metrics").text)
    assert sum(v for k, v in samples.items() if k.startswith("tileserver_tiles_total")) == 30

    # A worker killed outright is replaced; the page drops it and lists its successor.
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    now = wait_for(lambda: (p := {w["pid"] for w in workers()}) and victim not in p and p, "a replacement worker")
    assert len(now) == 2 and len(now & pids) == 1
