"""A zero-downtime upgrade as the manual describes it, for real: under a little load, `kill -USR2` on the gunicorn
master starts a new master (a new `python -m tileserver`, so new code) with its own workers on the same listening
socket, then `kill -TERM` on the old master lets its workers finish their requests: no request fails."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from support.servers import LiveServer, wait_for


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def inherited_socket(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return b"GUNICORN_FD=" in f.read()
    except OSError:
        return False


def test_usr2_upgrade_under_load_drops_nothing(live_server: Callable[..., LiveServer],
                                               make_fits: Callable[..., Path]) -> None:
    make_fits("a.fits", width=300, height=200)
    server = live_server("--workers", "2")
    assert server.proc is not None
    old = server.proc.pid
    old_workers = set(children(old))
    stop = threading.Event()
    outcomes: list[str] = []

    def load() -> None:
        with httpx.Client(timeout=30, headers={"Connection": "close"}) as client:  # any worker may answer
            while not stop.is_set():
                for params in ({"JTL": "0,0"}, {"INFO": ""}):
                    try:
                        outcomes.append(str(client.get(server.url + "/api", params={"FIF": "a.fits", **params})
                                            .status_code))
                    except httpx.HTTPError as e:
                        outcomes.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    new = 0
    try:
        time.sleep(1)
        started = server.log.read_text().count("Application startup complete")
        os.kill(old, signal.SIGUSR2)
        new = wait_for(lambda: next((p for p in children(old) if inherited_socket(p)), 0), "the new master")
        wait_for(lambda: server.log.read_text().count("Application startup complete") >= started + 2,
                 "the new master's workers to start", 60)
        new_workers = set(children(new))
        assert len(new_workers) == 2 and not new_workers & old_workers
        os.kill(old, signal.SIGTERM)  # the old master drains its workers and leaves
        server.proc.wait(60)
        time.sleep(1)  # the new generation alone
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        if new:
            os.kill(new, signal.SIGTERM)
            wait_for(lambda: not os.path.exists(f"/proc/{new}") or _zombie(new), "the new master to stop", 60)
    assert len(outcomes) > 20 and set(outcomes) == {"200"}, {o: outcomes.count(o) for o in set(outcomes)}


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
