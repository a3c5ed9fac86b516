"""Real servers for the tests: free loopback ports, polling, stopping process groups, and `tileserver` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tileserver.cluster.services import free_port, listening, stop_group

__all__ = ["LiveServer", "free_port", "listening", "run_async", "server_env", "start_backend", "stop_group",
           "wait_for"]


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    """Poll until probe() is true (and return it); a test failure after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


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


def server_env(data: Path, cache: Path, config_home: Path) -> dict[str, str]:
    """This process's environment without its TILESERVER_ settings, serving `data` with its cache in `cache`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILESERVER_")}
    env.update(TILESERVER_DATA_DIR=str(data), TILESERVER_CACHE_DIR=str(cache), XDG_CONFIG_HOME=str(config_home))
    return env


def start_backend(data: Path, cache: Path, *args: str) -> LiveServer:
    """A real tileserver on the given data and cache folders, as the live_server fixture starts them, for fixtures
    that outlive one test. Its log goes next to the cache folder."""
    env = server_env(data, cache, cache.parent / "config")
    return LiveServer(list(args), env, cache.with_name(cache.name + ".log")).start()


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion in a thread of its own: the session's Playwright browser keeps an event loop
    running in the main thread, where asyncio.run() would refuse to start."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
