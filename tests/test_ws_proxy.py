"""The websocket tests of test_ws.py, through the shipped nginx and Apache configurations, in front of
`tileserver --workers 2 --root-path /vis`: progress across workers, live reload, abusers, 200 idle sockets."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from astropy.io import fits

from support import proxies
from support.images import sky, write_image
from support.servers import LiveServer, run_async, start_backend
from support.websocket import (
    check_abusers_are_closed_alone,
    check_idle_sockets,
    check_progress_across_workers,
    check_rewrite_is_noticed,
    write_slow_image,
)

pytestmark = pytest.mark.proxy


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    folder = tmp_path_factory.mktemp("ws-proxied")
    data = folder / "data"
    for name in ("sky.fits", "live-nginx.fits", "live-apache.fits"):
        write_image(data / name, 256, 256, seed=1)
    for name in ("slow-nginx.fits.gz", "slow-apache.fits.gz"):
        write_slow_image(data, name)
    server = start_backend(data, folder / "cache", "--workers", "2", "--root-path", "/vis",
                           "--ws-heartbeat-interval", "1", "--ws-watch-interval", "0.2")
    yield server, data
    server.stop()


@pytest.fixture(scope="module", params=["nginx", "apache"])
def ws_url(request: pytest.FixtureRequest, backend: tuple[LiveServer, Path]) -> Iterator[str]:
    server, _ = backend
    proxy = proxies.start_nginx([server.port]) if request.param == "nginx" else proxies.start_apache(server.port)
    yield proxy.url.replace("http://", "ws://", 1) + "/vis/ws"
    proxy.stop()


def proxy_name(request: pytest.FixtureRequest) -> str:
    return request.node.callspec.params["ws_url"]


def test_progress_across_workers(ws_url: str, request: pytest.FixtureRequest) -> None:
    ready = run_async(check_progress_across_workers(ws_url, f"slow-{proxy_name(request)}.fits.gz"))
    assert ready["type"] == "ready"


def test_rewrite_is_noticed(ws_url: str, backend: tuple[LiveServer, Path], request: pytest.FixtureRequest) -> None:
    _, data = backend
    name = f"live-{proxy_name(request)}.fits"

    def rewrite() -> None:
        time.sleep(0.05)  # a distinct mtime
        fits.PrimaryHDU(sky(256, 256, seed=2) + 3000).writeto(data / name, overwrite=True)

    old, new = run_async(check_rewrite_is_noticed(ws_url, name, rewrite))
    assert old != new


def test_abusers_are_closed_alone(ws_url: str) -> None:
    run_async(check_abusers_are_closed_alone(ws_url, "sky.fits"))


def test_200_idle_sockets(ws_url: str) -> None:
    run_async(check_idle_sockets(ws_url, 200))
