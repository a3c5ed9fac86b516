"""Reloads that cannot kill: SIGHUP (systemctl reload) re-reads the access rules in every worker, keeps the last good
ones when the file is bad, works with one worker too, and drops no request under load. Real gunicorn and uvicorn.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from astropy.io import fits

from support import proxies
from support.servers import LiveServer

SECRET = "reload-test-secret-0123456789"
RULES = "[folders]\npublic = *\nprivate = alice\n"


def write_fits(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(np.random.default_rng(1).normal(100, 5, (64, 64)).astype(np.float32)).writeto(path)


@pytest.fixture
def rules(tmp_path: Path, data_dir: Path) -> Path:
    write_fits(data_dir / "public" / "p.fits")
    write_fits(data_dir / "private" / "a.fits")
    path = tmp_path / "access.conf"
    path.write_text(RULES, encoding="utf-8")
    return path


def start(live_server, rules: Path, tmp_path: Path, workers: int, *args: str) -> LiveServer:
    secret = tmp_path / "secret"
    secret.write_text(SECRET, encoding="utf-8")
    return live_server("--workers", str(workers), "--access-file", str(rules), "--proxy-secret-file", str(secret),
                       *args)


def status_as(server: LiveServer, user: str) -> int:
    """One request as the proxy sends it for `user`, on a new connection (so gunicorn may hand it to any worker)."""
    headers = {"X-Remote-User": user, "X-Tileserver-Proxy-Secret": SECRET, "Connection": "close"}
    return httpx.get(server.url + "/api", params={"FIF": "private/a.fits", "INFO": ""}, headers=headers,
                     timeout=30).status_code


def settle(server: LiveServer, user: str, expected: int, timeout: float = 30) -> None:
    """Wait until the old workers are gone and every answer is `expected`, then check twenty in a row."""
    deadline = time.monotonic() + timeout
    while status_as(server, user) != expected:
        assert time.monotonic() < deadline, f"{user} never got {expected}:\n{server.log.read_text()[-3000:]}"
        time.sleep(0.2)
    time.sleep(1)  # the previous generation of workers finishes its last requests
    assert [status_as(server, user) for _ in range(20)] == [expected] * 20


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_for_log(server: LiveServer, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log.read_text():
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{server.log.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
def test_hup_reloads_the_rules_and_a_bad_file_keeps_the_last_good_ones(live_server, rules, tmp_path, workers):
    server = start(live_server, rules, tmp_path, workers)
    assert server.proc is not None
    master = server.proc.pid
    assert status_as(server, "alice") == 200 and status_as(server, "dave") == 403

    rules.write_text(RULES.replace("private = alice", "private = alice, dave"), encoding="utf-8")
    os.kill(master, signal.SIGHUP)
    settle(server, "dave", 200)

    rules.write_text("[folders]\nprivate = @nobody\n", encoding="utf-8")  # a typo: an unknown group
    os.kill(master, signal.SIGHUP)
    wait_for_log(server, "access rules not reloaded")
    assert "unknown group" in server.log.read_text()
    settle(server, "dave", 200)  # still the last good rules, in every worker
    if workers > 1:
        # A worker started later (a crash, max_requests) gets the same last good rules, not the bad file.
        os.kill(children(master)[0], signal.SIGKILL)
        settle(server, "dave", 200)
        assert len(children(master)) == workers
    assert server.proc.poll() is None

    rules.write_text(RULES, encoding="utf-8")
    os.kill(master, signal.SIGHUP)
    settle(server, "dave", 403)
    assert status_as(server, "alice") == 200


@pytest.mark.proxy
def test_reload_under_load_drops_nothing(live_server, rules, tmp_path):
    """Clients straight to the server on new connections, and through the shipped nginx on its kept-alive
    upstream connections (nginx retries a request that meets a connection the server just closed, as browsers
    do): while the workers are replaced three times, every request is answered."""
    server = start(live_server, rules, tmp_path, 2, "--root-path", "/vis")
    assert server.proc is not None
    nginx = proxies.start_nginx([server.port])
    stop = threading.Event()
    outcomes: list[str] = []

    def load(base: str, headers: dict[str, str]) -> None:
        with httpx.Client(timeout=30, headers=headers) as client:
            while not stop.is_set():
                for params in ({"JTL": "0,0"}, {"INFO": ""}):
                    try:
                        r = client.get(base + "/vis/api", params={"FIF": "public/p.fits", **params})
                        outcomes.append(str(r.status_code))
                    except httpx.HTTPError as e:
                        outcomes.append(f"{base}: {type(e).__name__}: {e}")

    direct = f"http://127.0.0.1:{server.port}"
    threads = [threading.Thread(target=load, args=(direct, {"Connection": "close"})) for _ in range(2)]
    threads += [threading.Thread(target=load, args=(nginx.url, {})) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            time.sleep(1.5)
            os.kill(server.proc.pid, signal.SIGHUP)
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        nginx.stop()
    assert server.log.read_text().count("access rules reloaded") >= 3
    assert len(outcomes) > 50 and set(outcomes) == {"200"}, {o: outcomes.count(o) for o in set(outcomes)}
