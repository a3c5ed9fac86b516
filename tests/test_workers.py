"""Real multi-process servers (gunicorn, 2 uvicorn workers) sharing one disk cache, and the faults they survive:
killed workers and builders, concurrent first views, damaged or removed cache entries, LRU churn."""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tileserver.store.diskcache import cache_key
from tileserver.store.space import apparent_bytes
from tileserver.web import server

from support.images import sky
from support.servers import wait_for

WORKERS = ("--workers", "2")


def workers_of(master: int) -> set[int]:
    try:
        return set(map(int, Path(f"/proc/{master}/task/{master}/children").read_text().split()))
    except OSError:
        return set()


def flocks(path: Path) -> list[tuple[int, str, bool]]:
    """(pid, READ|WRITE, waiting) of every flock on the file at path, from /proc/locks."""
    try:
        inode = os.stat(path).st_ino
    except FileNotFoundError:
        return []
    out = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()[1:]
        waiting = fields[0] == "->"
        fields = fields[1:] if waiting else fields
        if fields[0] == "FLOCK" and fields[4].rsplit(":", 1)[1] == str(inode):
            out.append((int(fields[3]), fields[2], waiting))
    return out


def key_lock(data_dir: Path, cache_dir: Path, name: str) -> Path:
    return cache_dir / "locks" / (cache_key((data_dir / name).resolve(), None, 256) + ".lock")


def builds_logged(log: Path) -> int:
    return log.read_text(errors="replace").count("tileserver.cache: built ")


def tile(url: str, name: str, i: int, extra: str = "", timeout: float = 60) -> httpx.Response:
    """The final tile: a preview (no-store, while the level is being built) is asked for again."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{url}/api?FIF={name}&JTL=2,{i}{extra}", timeout=timeout)
        if response.headers.get("cache-control") != "no-store" or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


@pytest.fixture
def reference(client_for, tmp_path):
    """Tiles as a clean in-process build renders them (its own cache folder)."""
    client = client_for(cache_dir=str(tmp_path / "reference-cache"))

    def get(name: str, i: int, extra: str = "") -> bytes:
        r = wait_for(lambda: (r := client.get(f"/api?FIF={name}&JTL=2,{i}{extra}")).headers.get("cache-control")
                     != "no-store" and r, what="the final tile")
        assert r.status_code == 200, r.text
        return r.content

    return get


def test_bind_defaults_to_loopback(settings_for):
    settings = settings_for()
    assert settings.host == "127.0.0.1"
    assert server.gunicorn_options(settings)["bind"] == f"127.0.0.1:{settings.port}"
    assert server.gunicorn_options(settings_for(host="::1", workers=2))["bind"] == f"[::1]:{settings.port}"
    options = server.gunicorn_options(settings_for(workers=3, max_requests=1000, max_requests_jitter=50))
    assert (options["workers"], options["max_requests"], options["max_requests_jitter"]) == (3, 1000, 50)
    assert options["worker_class"] == "tileserver.web.server.Worker"


def test_killed_worker_is_replaced_and_sigterm_drains(live_server, make_fits, data_dir, cache_dir, reference):
    make_fits("a.fits", width=600, height=500)
    srv = live_server(*WORKERS)
    master = srv.proc.pid
    workers = wait_for(lambda: len(workers_of(master)) == 2 and workers_of(master), what="2 workers")
    victim = sorted(workers)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(workers_of(master)) == 2 and victim not in workers_of(master), what="a replacement")
    for i in range(6):
        assert tile(srv.url, "a.fits", i).content == reference("a.fits", i)
    # SIGTERM while a request is in flight: hold the build lock of a new image so that its request must wait (a
    # gzip'd file, which is built before it is shown: a plain one would be answered at once from previews).
    make_fits("b.fits.gz", width=600, height=500, seed=2)
    lock = key_lock(data_dir, cache_dir, "b.fits.gz")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(tile, srv.url, "b.fits.gz", 0)
        wait_for(lambda: any(waiting for _, _, waiting in flocks(lock)), what="the request to wait on the lock")
        os.kill(master, signal.SIGTERM)
        time.sleep(0.5)  # the workers are draining now, the request still waits
        assert srv.proc.poll() is None
        os.close(fd)
        response = pending.result(30)
    assert response.status_code == 200 and response.content == reference("b.fits.gz", 0)
    assert srv.proc.wait(30) == 0


def test_concurrent_first_views_build_once(live_server, make_fits, data_dir, cache_dir, reference, tmp_path):
    make_fits("new.fits", width=1200, height=900, seed=3)
    srv = live_server(*WORKERS)
    lock = key_lock(data_dir, cache_dir, "new.fits")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # every request must queue behind it: they all arrive before any build
    clients = 24
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(tile, srv.url, "new.fits", 5) for _ in range(clients)]
        wait_for(lambda: sum(waiting for _, _, waiting in flocks(lock)) >= 1, what="requests to queue")
        time.sleep(0.5)
        os.close(fd)
        responses = [f.result(60) for f in futures]
    assert [r.status_code for r in responses] == [200] * clients
    assert {r.content for r in responses} == {reference("new.fits", 5)}
    assert builds_logged(srv.log) == 1
    assert os.listdir(cache_dir / "tmp") == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killing_the_builder_leaves_nothing_stuck(live_server, make_fits, data_dir, cache_dir, reference, seed):
    name = f"big{seed}.fits.gz"  # a plain FITS of this size is built in 30 ms (too quick to catch): gzip'd, ~0.4 s
    make_fits(name, data=sky(2500, 2500, seed))
    srv = live_server(*WORKERS)
    master = srv.proc.pid
    wait_for(lambda: len(workers_of(master)) == 2, what="2 workers")
    lock = key_lock(data_dir, cache_dir, name)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(tile, srv.url, name, 7)
        holder = wait_for(lambda: [pid for pid, mode, waiting in flocks(lock) if mode == "WRITE" and not waiting],
                          what="a builder")[0]
        time.sleep(random.Random(seed).uniform(0.0, 0.5))  # somewhere in the build, or just after it
        if holder in workers_of(master):
            os.kill(holder, signal.SIGKILL)
        try:
            pending.result(60)
        except httpx.HTTPError:
            pass  # that request's worker died under it
    wait_for(lambda: len(workers_of(master)) == 2, what="a replacement")
    for i in (7, 0, 8):
        r = tile(srv.url, name, i)
        assert r.status_code == 200 and r.content == reference(name, i)
    assert os.listdir(cache_dir / "tmp") == []
    assert not [lock for lock in (cache_dir / "locks").iterdir() if flocks(lock)]  # no lock stuck


DAMAGE = {
    "truncate": lambda p: os.truncate(p, p.stat().st_size // 3),
    "zero-fill": lambda p: p.write_bytes(bytes(p.stat().st_size)),
    "delete": lambda p: p.unlink(),
}


def damage(data_dir: Path, cache_dir: Path, name: str, how: str) -> None:
    folder = cache_dir / "entries" / cache_key((data_dir / name).resolve(), None, 256)
    for level in folder.glob("level*.f32"):
        DAMAGE[how](level)


def test_damaged_entries_are_rebuilt_while_running_and_stopped(live_server, make_fits, data_dir, cache_dir,
                                                               reference):
    names = {how: f"{how}.fits" for how in DAMAGE}  # one image per kind of damage
    for n, name in enumerate(names.values()):
        make_fits(name, width=600, height=500, seed=5 + n)
    expected = {name: [reference(name, i) for i in range(6)] for name in names.values()}
    srv = live_server(*WORKERS)
    for name in names.values():
        assert [tile(srv.url, name, i).content for i in range(3)] == expected[name][:3]
    for how, name in names.items():
        damage(data_dir, cache_dir, name, how)  # while running: tiles not yet in memory come from damaged files
    for name in names.values():
        for _ in range(2):  # (through both workers, most likely)
            assert [tile(srv.url, name, i).content for i in range(6)] == expected[name]
    srv.stop()
    for how, name in names.items():
        damage(data_dir, cache_dir, name, how)  # while stopped
    srv = live_server(*WORKERS)
    for name in names.values():
        assert [tile(srv.url, name, i).content for i in range(6)] == expected[name]


def test_lru_of_two_images_under_rotation(live_server, make_fits, cache_dir):
    names = [f"img{n}.fits" for n in range(5)]
    for n, name in enumerate(names):
        make_fits(name, width=700, height=600, seed=10 + n)
    srv = live_server(*WORKERS, "--max-cache-image-count", "2", "--max-concurrent-builds", "3")
    entry_bytes = 0
    statuses: list[int] = []
    disk: list[int] = []
    stop = time.monotonic() + 6

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < stop:
                name = rng.choice(names)
                statuses.append(http.get(f"{srv.url}/api?FIF={name}&JTL=2,{rng.randrange(9)}").status_code)

    def watch() -> None:
        while time.monotonic() < stop:
            disk.append(apparent_bytes(cache_dir))
            time.sleep(0.05)

    with ThreadPoolExecutor(33) as pool:
        for future in [pool.submit(client, seed) for seed in range(32)] + [pool.submit(watch)]:
            future.result(60)
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    assert srv.proc.poll() is None
    # Images are shown from previews while built in the background: let the builds in flight finish.
    entries = wait_for(lambda: not os.listdir(cache_dir / "tmp") and list((cache_dir / "entries").iterdir()),
                       "the builds")
    assert len(entries) <= 2
    entry_bytes = max(apparent_bytes(e) for e in entries)
    # At any time: the bound, plus the builds in flight (2 workers x 3) that will publish and evict.
    assert max(disk) <= (2 + 2 * 3) * entry_bytes * 1.1
    assert os.listdir(cache_dir / "tmp") == []



def test_cache_folder_removed_while_serving(live_server, make_fits, cache_dir, reference):
    make_fits("a.fits", width=600, height=500)
    srv = live_server(*WORKERS)
    assert tile(srv.url, "a.fits", 0).status_code == 200
    # Shown at once from its source, built just after: removed once built (not under the builder's feet).
    wait_for(lambda: any((cache_dir / "entries").glob("*/manifest.json")) and not any((cache_dir / "tmp").iterdir()),
             what="the first build")
    shutil.rmtree(cache_dir)
    assert [tile(srv.url, "a.fits", i).content for i in range(6)] == [reference("a.fits", i) for i in range(6)]

    def rebuilt() -> bool:
        return any((cache_dir / "entries").glob("*/manifest.json"))

    wait_for(lambda: tile(srv.url, "a.fits", 0).status_code == 200 and rebuilt(), what="the entry to be rebuilt")
    make_fits("b.fits", width=600, height=500, seed=2)
    assert tile(srv.url, "b.fits", 0).content == reference("b.fits", 0)


def test_startup_cleans_leftovers_and_clear_cache(live_server, make_fits, cache_dir, data_dir):
    make_fits("a.fits", width=600, height=500)
    srv = live_server(*WORKERS)
    assert tile(srv.url, "a.fits", 0).status_code == 200
    srv.stop()
    for name in ("0123456789abcdef01234567.999999.build", "trash.0123456789abcdef01234567.999999.1"):
        (cache_dir / "tmp" / name).mkdir()
        (cache_dir / "tmp" / name / "level0.f32").write_bytes(bytes(1000))
    srv = live_server(*WORKERS)
    assert os.listdir(cache_dir / "tmp") == []
    assert len(list((cache_dir / "entries").iterdir())) == 1  # entries survive a restart
    srv.stop()
    srv = live_server("--workers", "1", "--clear-cache")
    assert list((cache_dir / "entries").iterdir()) == []
    assert tile(srv.url, "a.fits", 0).status_code == 200
    assert "Booting worker" not in srv.log.read_text()  # one worker: plain uvicorn, no gunicorn
