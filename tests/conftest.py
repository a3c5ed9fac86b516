"""Shared fixtures: seeded test images, settings on temporary folders, in-process and real servers, browser pages.

The helpers they use live in tests/support/, where test modules import them from (never from here)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from tileserver import config
from tileserver.web.app import create_app

import support
from support import door
from support.browser import CHROMIUM_ARGS, cancelled, chromium_path
from support.images import sky, tan_header
from support.servers import LiveServer, server_env
from support.viewer import start_server

# The one door, audited over the whole suite (support/door.py): a test whose request opened a served file without
# tileserver.datapath fails.
sys.addaudithook(door.audit)


@pytest.fixture(autouse=True)
def door_audit() -> Iterator[None]:
    start = len(door.BYPASSES)
    yield
    assert not door.BYPASSES[start:], f"opened without the door (tileserver.datapath): {door.BYPASSES[start:]}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def make_fits(data_dir: Path) -> Callable[..., Path]:
    """Write a FITS file into the data folder: make_fits("a.fits", data, header={...}, bitpix=16, ...)."""

    def make(name: str, data: np.ndarray | None = None, header: dict[str, Any] | None = None,
             width: int = 600, height: int = 400, seed: int = 1, wcs: bool = True) -> Path:
        if data is None:
            data = sky(width, height, seed)
        hdu = fits.PrimaryHDU(data)
        if wcs and data.ndim >= 2:
            hdu.header.update(tan_header(data.shape[-1], data.shape[-2]))
        for key, value in (header or {}).items():
            hdu.header[key] = value
        path = data_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        hdu.writeto(path, overwrite=True)
        return path

    return make


@pytest.fixture
def settings_for(data_dir: Path, cache_dir: Path) -> Callable[..., config.Settings]:
    """Checked settings on the test's folders, with overrides: settings_for(tile_size=128)."""

    def make(**overrides: Any) -> config.Settings:
        # TestClient's requests name the host "testserver", which a loopback server would not answer otherwise.
        values = {"data_dir": str(data_dir), "cache_dir": str(cache_dir), "allowed_hosts": "testserver", **overrides}
        return config.resolve(values, environ={}, config_file=Path(os.devnull))

    return make


@pytest.fixture
def client_for(settings_for: Callable[..., config.Settings]) -> Iterator[Callable[..., Any]]:
    from starlette.testclient import TestClient

    clients: list[TestClient] = []

    def make(address: str | None = None, **overrides: Any) -> TestClient:
        """An in-process client; `address` is the client address the app sees (default: TestClient's own)."""
        extra = {"client": (address, 50000)} if address else {}
        client = TestClient(create_app(settings_for(**overrides)), raise_server_exceptions=False, **extra)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(client_for: Callable[..., Any]) -> Any:
    return client_for()


@pytest.fixture
def live_server(tmp_path: Path, data_dir: Path, cache_dir: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start real servers: live_server("--workers", "2"). Data and cache folders are the test's."""
    servers: list[LiveServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> LiveServer:
        full_env = {**server_env(data_dir, cache_dir, tmp_path / "config"), **(env or {})}
        server = LiveServer(list(args), full_env, tmp_path / f"server{len(servers)}.log")
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def pytest_addoption(parser: Any) -> None:
    parser.addoption("--manual-figures", action="store_true",
                     help="also write the screenshots the manual shows into doc/_static/ (see tests/support)")


def pytest_configure(config: Any) -> None:
    support.write_manual_figures = bool(config.getoption("--manual-figures"))


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """The one Playwright of the run (a second one in the same process would find the first one's event loop)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    instance = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
    yield instance
    instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records console errors and failed requests (asserted empty by the tests)."""
    # bypass_csp: the tests drive pages with evaluated expressions (wait_for_function), which the server's
    # Content-Security-Policy rightly forbids to the page itself; test_security_headers.py runs the viewer under it.
    context = browser.new_context(viewport={"width": 1200, "height": 800}, bypass_csp=True)
    page = context.new_page()
    page.console_errors = []
    page.failed_requests = []
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    page.on("requestfailed", lambda req: not cancelled(req) and page.failed_requests.append(req.url))
    page.on("response", lambda resp: resp.status >= 400 and page.failed_requests.append(f"{resp.status} {resp.url}"))
    yield page
    context.close()


@pytest.fixture(scope="module")
def server(folders: dict[str, Path]) -> Iterator[LiveServer]:
    """The browser tests' server, one per module, over the module's own `folders` fixture (root, data, cache)."""
    srv = start_server(folders)
    yield srv
    srv.stop()


@pytest.fixture
def cube256(make_fits: Any) -> str:
    """A 256-channel cube of 128² (no WCS): what costs follow on routes that read every channel."""
    rng = np.random.default_rng(3)
    make_fits("cube256.fits", rng.normal(100, 5, (256, 128, 128)).astype(np.float32), wcs=False)
    return "cube256.fits"
