"""Shared fixtures: seeded test images, settings on temporary folders, in-process and real servers."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from astropy.io import fits

from tileserver import config
from tileserver.web.app import create_app

ROOT = Path(__file__).resolve().parent.parent

# -- the one door, audited over the whole suite ---------------------------------------------------------------------
# Every file a request reaches must be opened by tileserver.datapath (the door). This hook sees every open, listing
# and scan of the process: one made by the server's side (any thread but the test's own) inside a folder the door
# serves, but not by the door itself, is a bypass, and fails the test that caused it (see the fixture below).
# Servers started as subprocesses are not seen here; their opens are the same code.
_BYPASSES: list[str] = []


def _door_audit(event: str, args: tuple[Any, ...]) -> None:
    if event not in ("open", "os.listdir", "os.scandir") or threading.current_thread() is threading.main_thread():
        return
    from tileserver import datapath

    target = args[0] if args else None
    if target is None or isinstance(target, int) or datapath.through_door():
        return
    path = os.path.abspath(os.fsdecode(target)) if isinstance(target, (str, bytes, os.PathLike)) else ""
    if any(root != "/" and datapath.inside(root, path) for root in list(datapath.ROOTS)):
        _BYPASSES.append(f"{event} {path} in {threading.current_thread().name}")


sys.addaudithook(_door_audit)


@pytest.fixture(autouse=True)
def door_audit() -> Iterator[None]:
    start = len(_BYPASSES)
    yield
    assert not _BYPASSES[start:], f"opened without the door (tileserver.datapath): {_BYPASSES[start:]}"

ARTIFACTS = ROOT / "test-artifacts"


def sky(width: int, height: int, seed: int = 1, nan_box: bool = False) -> np.ndarray:
    """A (height, width) float32 sky: noise around 100 plus a few bright stars. FITS row 0 is the bottom."""
    rng = np.random.default_rng(seed)
    data = rng.normal(100.0, 5.0, (height, width)).astype(np.float32)
    for _ in range(max(1, width * height // 20000)):
        x, y = rng.integers(0, width), rng.integers(0, height)
        data[max(0, y - 1):y + 2, max(0, x - 1):x + 2] += rng.uniform(200, 5000)
    if nan_box:
        data[: height // 8, : width // 8] = np.nan
    return data


def tan_header(width: int, height: int) -> dict[str, Any]:
    return {
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0, "CRVAL2": 2.0,
        "CRPIX1": width / 2 + 0.5, "CRPIX2": height / 2 + 0.5,
        "CD1_1": -5.5e-5, "CD1_2": 0.0, "CD2_1": 0.0, "CD2_2": 5.5e-5, "RADESYS": "ICRS",
    }


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll until probe() is true (and return it); a test failure after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def stop_group(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop a child started with start_new_session=True, and everything it started: SIGTERM, then SIGKILL."""
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


class LiveServer:
    """A real `tileserver` process on a free loopback port."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.args = [sys.executable, "-m", "tileserver", "--no-browser", "--port", str(self.port), *args]
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.root_path = ""
        if "--root-path" in args:
            self.root_path = args[args.index("--root-path") + 1].rstrip("/")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.root_path}"

    def start(self, timeout: float = 30.0) -> LiveServer:
        self._logfile = open(self.log, "wb")
        self.proc = subprocess.Popen(self.args, env=self.env, stdout=self._logfile, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        stop_group(self.proc)
        if hasattr(self, "_logfile"):
            self._logfile.close()


@pytest.fixture
def live_server(tmp_path: Path, data_dir: Path, cache_dir: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start real servers: live_server("--workers", "2"). Data and cache folders are the test's."""
    servers: list[LiveServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> LiveServer:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
        full_env.update({"TILESERVER_DATA_DIR": str(data_dir), "TILESERVER_CACHE_DIR": str(cache_dir),
                         "XDG_CONFIG_HOME": str(tmp_path / "config")})
        full_env.update(env or {})
        server = LiveServer(list(args), full_env, tmp_path / f"server{len(servers)}.log")
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is not installed: run .ci/run or apt-get install chromium")
    return path


CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


def cancelled(request: Any) -> bool:
    """A request the page itself gave up (Leaflet drops the tiles of a view it left, or of settings just changed):
    not a failure of the server."""
    return (request.failure or "") == "net::ERR_ABORTED"


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


PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@contextmanager
def watched_page(browser: Any, **context_options: Any) -> Iterator[tuple[Any, list[str]]]:
    """A page in a browser context of its own (a phone, a second user...) and the list of its console errors and
    failed requests, which the test asserts empty."""
    context = browser.new_context(**{"bypass_csp": True, **context_options})  # as in the page fixture
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("requestfailed", lambda r: not cancelled(r) and errors.append(r.url))
        yield page, errors
    finally:
        context.close()


def save_artifact(name: str, data: bytes) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(data)
    return path


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion in a thread of its own: the session's Playwright browser keeps an event loop
    running in the main thread, where run_async() would refuse to start."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
